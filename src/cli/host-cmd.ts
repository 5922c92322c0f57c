import type { Command } from 'commander';
import { detectDatapath } from '../driver/host.js';

/**
 * `dovesnap host …`: what the daemon finds out about this host, for scripts/up.sh to use the same
 * answer (it records the datapath in /run/dovesnap/datapath for `make status` and the tests).
 */
export function addHostCommand(program: Command): void {
  const host = program.command('host').description('what dovesnap finds out about this host (as the daemon does)');
  host
    .command('datapath')
    .description(
      "print the Open vSwitch datapath dovesnap's bridges use here: system (kernel openvswitch module) or netdev (userspace)",
    )
    .action(() => {
      process.stdout.write(`${detectDatapath()}\n`);
    });
}
