import { runCommand } from '../net/exec.js';

/**
 * Flow tables dovesnap owns outright (the mirror bridge, the stack-mirror loopback): written
 * whole with `ovs-ofctl replace-flows`, which changes only what differs.
 */
export async function replaceFlows(bridge: string, flows: string): Promise<void> {
  await runCommand('ovs-ofctl', ['-O', 'OpenFlow13', 'replace-flows', bridge, '-'], {
    input: flows,
    timeoutMs: 10_000,
  });
}

/**
 * The input port numbers that some flow of the bridge matches on: which ports the controller
 * has programmed (FAUCET gives every port it runs a flow in its VLAN table).
 */
export async function inPortsWithFlows(bridge: string): Promise<Set<number>> {
  const r = await runCommand('ovs-ofctl', ['-O', 'OpenFlow13', '--no-names', 'dump-flows', bridge], {
    timeoutMs: 10_000,
  });
  return parseInPorts(r.stdout);
}

/** Pure: the `in_port=N` numbers of `ovs-ofctl dump-flows` output. */
export function parseInPorts(dump: string): Set<number> {
  const out = new Set<number>();
  for (const m of dump.matchAll(/\bin_port=([0-9]+)\b/g)) out.add(Number(m[1]));
  return out;
}
