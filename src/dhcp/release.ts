import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { runCommand, runInNetns, type CommandResult } from '../net/exec.js';
import { waitNeighbourSettled } from '../net/links.js';
import type { DhcpLease } from './lease.js';

/**
 * Releases a container's lease from the host, for when its client could not: some engines move
 * the container's end of the veth back into the host's namespace before they tell the driver
 * that the container left, and the client, still in the container's namespace, then has
 * nothing to send from. That end is still wired to the switch port, with the MAC the server
 * knows: the release is sent through it, from a scratch namespace that holds it with the
 * leased address for the moment it takes.
 */

export interface ReleaseRequest {
  /** The container's end of the veth, back in the host's namespace. */
  readonly link: string;
  readonly mac: string;
  readonly lease: DhcpLease;
}

const SENDER = fileURLToPath(new URL('./release-send.js', import.meta.url));

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** Whether `ip` is on the lease's own subnet (the server answers directly) or behind its router. */
export function onLink(lease: DhcpLease, ip: string): boolean {
  const size = 2 ** (32 - lease.prefixLength);
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(lease.address) / size);
}

export async function releaseThroughLink(req: ReleaseRequest, opts: { timeoutMs?: number } = {}): Promise<void> {
  const { lease } = req;
  if (lease.serverId === undefined) throw new Error('the lease names no server (option 54)');
  const nextHop = onLink(lease, lease.serverId) ? lease.serverId : lease.router;
  if (nextHop === undefined)
    throw new Error(`server ${lease.serverId} is off the lease's subnet and the lease has no router`);
  const ns = `dsrel${randomBytes(4).toString('hex')}`;
  const inNs = (...args: string[]): Promise<CommandResult> => runCommand('ip', ['-n', ns, ...args]);
  await runCommand('ip', ['netns', 'add', ns]);
  let moved = false;
  try {
    await runCommand('ip', ['link', 'set', 'dev', req.link, 'netns', ns]);
    moved = true;
    await inNs('link', 'set', 'dev', req.link, 'up');
    await inNs('addr', 'add', `${lease.address}/${lease.prefixLength}`, 'dev', req.link, 'nodad');
    if (nextHop !== lease.serverId) await inNs('route', 'add', 'default', 'via', nextHop, 'dev', req.link);
    await runInNetns(`/run/netns/${ns}`, process.execPath, [SENDER, req.mac, lease.address, lease.serverId], {
      timeoutMs: opts.timeoutMs ?? 5000,
    });
    // The datagram waits in the kernel for the next hop's MAC: keep the namespace until it left.
    await waitNeighbourSettled(`/run/netns/${ns}`, req.link, nextHop, opts.timeoutMs ?? 5000);
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    // Back to the host, where Docker's DeleteEndpoint removes the pair as usual.
    if (moved)
      await runCommand('ip', ['-n', ns, 'link', 'set', 'dev', req.link, 'down', 'netns', String(process.pid)]).catch(
        () => undefined,
      );
    await runCommand('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}
