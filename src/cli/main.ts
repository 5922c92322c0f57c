#!/usr/bin/env node
import { Command } from 'commander';
import { runDaemon } from './daemon-cmd.js';
import { runStatus } from './status-cmd.js';
import { runSetupConfig } from './setup-config-cmd.js';
import { addSettingsCommand } from './settings-cmd.js';
import { addHostCommand } from './host-cmd.js';
import { addFaucetCommand } from './faucet-cmd.js';
import { runGraph } from './graph-cmd.js';
import { addNarwhalCommand } from './narwhal-cmd.js';
import { runAttach, runDetach } from './attach-cmd.js';
import { registerLabCommands } from './lab-cmd.js';
import { labImages } from '../lab/image-source.js';
import { registerLabImageCommands } from './lab-image-cmd.js';
import { errorMessage, isDovesnapError } from '../util/errors.js';
import { statusUrl } from '../config/environment.js';

/** `dovesnap`: the daemon and the operator's tools. Each verb lives in its own module. */
const program = new Command();
program.name('dovesnap').description('Docker networks on Open vSwitch, controlled by FAUCET').version('0.1.0');

program
  .command('daemon')
  .description('run the Docker network plugin (serves /run/docker/plugins/dovesnap.sock and the status API)')
  .option(
    '--mirror_bridge_out <iface>',
    'interface where the mirror bridge sends all mirrored traffic (env MIRROR_BRIDGE_OUT)',
  )
  .option(
    '--mirror_bridge_in <iface>',
    "interface whose traffic (the previous host of a mirror river) is passed on to the mirror bridge's out interface (env MIRROR_BRIDGE_IN)",
  )
  .option(
    '--stacking_interfaces <list>',
    "FAUCET stacking: DP:PORT:IFACE,... this host's interfaces and the remote switch ports they link to (env STACKING_INTERFACES)",
  )
  .option('--stack_priority1 <dp>', 'FAUCET stacking: the DP that is the stack root (env STACK_PRIORITY1)')
  .option(
    '--stack_mirror_interface <dp:port>',
    'FAUCET stacking: where mirrored traffic of all hosts ends up (env STACK_MIRROR_INTERFACE)',
  )
  .option(
    '--default_ofcontrollers <list>',
    'OpenFlow controllers of networks created without ovs.bridge.controller (env STACK_OFCONTROLLERS)',
  )
  .action(runDaemon);

program
  .command('status')
  .description('show dovesnap networks and their containers')
  .option('--json', 'print the status API document as JSON')
  .option('--url <url>', 'status API base URL', statusUrl())
  .action(runStatus);

program
  .command('graph')
  .description('draw how dovesnap networks, containers, ports, the mirror bridge and the stack are wired (Graphviz)')
  .option('-o, --output <file>', 'output file: .png, .svg or .dot', 'dovesnapviz.png')
  .option(
    '--status <list>',
    'status API addresses to merge into one picture, HOST:PORT[,HOST:PORT…]',
    statusUrl('127.0.0.1:9401'),
  )
  .action(runGraph);

program
  .command('setup-config')
  .description(
    'create faucet.yaml and gauge.yaml in $FAUCET_PREFIX/etc/faucet if they are missing (existing files are kept)',
  )
  .option('--faucet-dir <dir>', 'directory for FAUCET and Gauge configuration')
  .action(runSetupConfig);

// What scripts/up.sh and scripts/status.sh ask, answered by the daemon's own code (one source).
addSettingsCommand(program);
addHostCommand(program);
addFaucetCommand(program);

addNarwhalCommand(program);
registerLabImageCommands(registerLabCommands(program, labImages));

program
  .command('attach')
  .description("give a running container one more interface (pipework's command line; see dovesnap attach --help)");
program
  .command('detach')
  .description('remove what dovesnap attach made for a container (dovesnap detach GUEST [-i CIF])');

const fail = (err: unknown): void => {
  process.stderr.write(`dovesnap: ${errorMessage(err)}\n`);
  process.exitCode = isDovesnapError(err) ? 2 : 1;
};

// attach and detach take pipework's command line, whose options come after the first operand
// and whose MACs and addresses may look like options: commander does not parse them.
const [verb, ...rest] = process.argv.slice(2);
if (verb === 'attach') runAttach(rest).catch(fail);
else if (verb === 'detach') runDetach(rest).catch(fail);
else program.parseAsync(process.argv).catch(fail);
