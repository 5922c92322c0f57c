#!/usr/bin/env node
import { Command } from 'commander';
import type { DaemonFlags } from './daemon-cmd.js';
import { errorMessage, isDovesnapError } from '../util/errors.js';
import { statusUrl } from '../config/environment.js';

/**
 * `dovesnap`: the daemon and the operator's tools. Each verb lives in its own module, imported
 * only when that verb runs: the daemon then holds none of the other commands' code (the lab,
 * zod, the graph, narwhal), which is several MB of its idle memory (docs/benchmarks.md, "Daemon
 * memory, idle"). So no module here imports a command module statically: an action imports its
 * own with `await import()`, and a command whose module declares its options is listed in
 * MODULE_COMMANDS below.
 */
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
  .option(
    '--faucetconfrpc_addr <host>',
    "write FAUCET's configuration through the faucetconfrpc server on this host (env FAUCETCONFRPC_ADDR; unset: the local faucet.yaml)",
  )
  .option('--faucetconfrpc_port <port>', 'the faucetconfrpc server port (env FAUCETCONFRPC_PORT, 59999)')
  .option(
    '--faucetconfrpc_keydir <dir>',
    'directory of the client key, certificate and the CA (env FAUCETCONFRPC_KEYDIR, /etc/dovesnap/confrpc)',
  )
  .option(
    '--faucetconfrpc_client <name>',
    'file name of the client certificate and key, without .crt/.key (env FAUCETCONFRPC_CLIENT, faucetconfrpc)',
  )
  .option(
    '--faucetconfrpc_connretries <n>',
    'connection attempts to the faucetconfrpc server at start-up before reporting it away (env FAUCETCONFRPC_CONNRETRIES, 5)',
  )
  .action(async (flags: DaemonFlags) => (await import('./daemon-cmd.js')).runDaemon(flags));

program
  .command('status')
  .description('show dovesnap networks and their containers')
  .option('--json', 'print the status API document as JSON')
  .option('--url <url>', 'status API base URL', statusUrl())
  .action(async (opts: { json?: boolean; url: string }) => (await import('./status-cmd.js')).runStatus(opts));

program
  .command('graph')
  .description('draw how dovesnap networks, containers, ports, the mirror bridge and the stack are wired (Graphviz)')
  .option('-o, --output <file>', 'output file: .png, .svg or .dot', 'dovesnapviz.png')
  .option(
    '--status <list>',
    'status API addresses to merge into one picture, HOST:PORT[,HOST:PORT…]',
    statusUrl('127.0.0.1:9401'),
  )
  .action(async (opts: { output: string; status: string }) => (await import('./graph-cmd.js')).runGraph(opts));

program
  .command('setup-config')
  .description(
    'create faucet.yaml and gauge.yaml in $FAUCET_PREFIX/etc/faucet if they are missing (existing files are kept)',
  )
  .option('--faucet-dir <dir>', 'directory for FAUCET and Gauge configuration')
  .action(async (opts: { faucetDir?: string }) => (await import('./setup-config-cmd.js')).runSetupConfig(opts));

/**
 * Commands whose modules declare their own options and subcommands, by verb. A module is loaded
 * when the command line names its verb, or names none of the known verbs (help, `--help`, a
 * typo), so that help lists every command. A new command of this kind is one entry here.
 */
const MODULE_COMMANDS = new Map<string, (program: Command) => Promise<unknown>>([
  // What scripts/up.sh and scripts/status.sh ask, answered by the daemon's own code (one source).
  ['settings', async (p) => (await import('./settings-cmd.js')).addSettingsCommand(p)],
  ['host', async (p) => (await import('./host-cmd.js')).addHostCommand(p)],
  ['faucet', async (p) => (await import('./faucet-cmd.js')).addFaucetCommand(p)],
  ['narwhal', async (p) => (await import('./narwhal-cmd.js')).addNarwhalCommand(p)],
  // scripts/up.sh (CONFRPC=1) makes the server's keys with it when they are missing.
  ['confrpc', async (p) => (await import('./confrpc-cmd.js')).addConfrpcCommand(p)],
  [
    'lab',
    async (p) => {
      const [lab, images, labImage] = await Promise.all([
        import('./lab-cmd.js'),
        import('../lab/image-source.js'),
        import('./lab-image-cmd.js'),
      ]);
      labImage.registerLabImageCommands(lab.registerLabCommands(p, images.labImages));
    },
  ],
]);
/** attach and detach: pipework's command line, run without commander (below). */
const PIPEWORK_VERBS = ['attach', 'detach'];

const [verb, ...rest] = process.argv.slice(2);

/** The module commands this command line needs: the one it names, none for another verb, all for help or a typo. */
function neededModuleCommands(): string[] {
  if (verb !== undefined && MODULE_COMMANDS.has(verb)) return [verb];
  if (verb !== undefined && (PIPEWORK_VERBS.includes(verb) || program.commands.some((c) => c.name() === verb)))
    return [];
  return [...MODULE_COMMANDS.keys()];
}
for (const name of neededModuleCommands()) await MODULE_COMMANDS.get(name)?.(program);

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
if (verb === 'attach') (await import('./attach-cmd.js')).runAttach(rest).catch(fail);
else if (verb === 'detach') (await import('./attach-cmd.js')).runDetach(rest).catch(fail);
else program.parseAsync(process.argv).catch(fail);
