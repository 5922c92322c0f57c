import { runCommand } from '../net/exec.js';

/**
 * Flow tables dovesnap owns outright (the mirror bridge, the stack-mirror loopback): written
 * whole with `ovs-ofctl replace-flows`, which changes only what differs.
 */
export async function replaceFlows(bridge: string, flows: string): Promise<void> {
  await runCommand('ovs-ofctl', ['-O', 'OpenFlow13', 'replace-flows', bridge, '-'], { input: flows, timeoutMs: 10_000 });
}

