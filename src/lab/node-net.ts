import { netnsOfPid, renameLink, runIp } from '../net/links.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import type { LabRoute } from './model.js';

/**
 * A node's interfaces as the file declares them. Docker names a container's interfaces itself
 * (eth0, eth1, … in an order it does not promise), so once the container runs the lab finds each
 * interface by the MAC Docker reports for its network, renames it to the declared name, sets
 * the addresses Docker did not, and the routes, all from the host through the node's network
 * namespace: nothing in the node's image is needed for it.
 */

export interface LinkSeen {
  readonly name: string;
  readonly mac: string;
}

export interface WantedName {
  /**
   * The MACs the interface may have: Docker's, and the one a `mac_prefix` label makes of it
   * (the daemon applies it when it resolves the container, which may be before or after this).
   */
  readonly macs: readonly string[];
  readonly name: string;
}

/**
 * The renames that turn `seen` into `wanted`, as [from, to] steps. Names may be swapped
 * (eth0 must become eth1 while eth1 becomes eth0), so each interface that moves goes through a
 * temporary name first, and no step ever takes a name still in use.
 */
export function renameSteps(seen: readonly LinkSeen[], wanted: readonly WantedName[]): [string, string][] {
  const byMac = new Map(seen.map((l) => [l.mac.toLowerCase(), l.name]));
  const moves: { from: string; to: string }[] = [];
  for (const w of wanted) {
    const from = w.macs.map((m) => byMac.get(m.toLowerCase())).find((n) => n !== undefined);
    if (from === undefined)
      throw new DovesnapError(
        ErrorCode.NotFound,
        `no interface with MAC ${w.macs.join(' or ')} (for ${w.name}) in the node`,
      );
    if (from !== w.name) moves.push({ from, to: w.name });
  }
  const moving = new Set(moves.map((m) => m.from));
  const blocked = seen.filter((l) => !moving.has(l.name)).map((l) => l.name);
  for (const m of moves) {
    if (blocked.includes(m.to))
      throw new DovesnapError(
        ErrorCode.Conflict,
        `cannot name an interface ${m.to}: the node already has an interface of that name that the lab did not make`,
      );
  }
  const steps: [string, string][] = [];
  for (const [i, m] of moves.entries()) steps.push([m.from, `dslab${i}`]);
  for (const [i, m] of moves.entries()) steps.push([`dslab${i}`, m.to]);
  return steps;
}

async function ipIn(pid: number, args: readonly string[]): Promise<{ stdout: string }> {
  return { stdout: await runIp(args, netnsOfPid(pid)) };
}

export async function linksOf(pid: number): Promise<LinkSeen[]> {
  const { stdout } = await ipIn(pid, ['-j', 'link', 'show']);
  const rows = JSON.parse(stdout) as { ifname: string; address?: string; link_type?: string }[];
  return rows
    .filter((r) => r.link_type === 'ether' && r.address !== undefined)
    .map((r) => ({ name: r.ifname, mac: r.address ?? '' }));
}

export async function renameInterfaces(pid: number, wanted: readonly WantedName[]): Promise<void> {
  const steps = renameSteps(await linksOf(pid), wanted);
  const renamed = new Set(steps.map(([, to]) => to));
  for (const [from, to] of steps) await renameLink(netnsOfPid(pid), from, to);
  // Renaming needs the link down; Docker had them up, and so must the node.
  for (const name of renamed)
    if (wanted.some((w) => w.name === name)) await ipIn(pid, ['link', 'set', 'dev', name, 'up']);
}

/**
 * Waits until each of `names` has carrier: dovesnap raises a port's host end once FAUCET has
 * programmed it, so a workload released before then (a router's OSPF hellos) would start on a
 * dead link. Returns the names still without carrier at the deadline.
 */
export async function waitCarrier(pid: number, names: readonly string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await ipIn(pid, ['-j', 'link', 'show']);
    const rows = JSON.parse(stdout) as { ifname: string; flags?: string[] }[];
    const down = names.filter((n) => !(rows.find((r) => r.ifname === n)?.flags ?? []).includes('LOWER_UP'));
    if (down.length === 0 || Date.now() >= deadline) return down;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function setMac(pid: number, dev: string, mac: string): Promise<void> {
  await ipIn(pid, ['link', 'set', 'dev', dev, 'down']);
  await ipIn(pid, ['link', 'set', 'dev', dev, 'address', mac]);
  await ipIn(pid, ['link', 'set', 'dev', dev, 'up']);
}

export async function addAddress(pid: number, dev: string, cidr: string): Promise<void> {
  await ipIn(pid, ['addr', 'replace', cidr, 'dev', dev]);
  await ipIn(pid, ['link', 'set', 'dev', dev, 'up']);
}

export async function addRoute(pid: number, route: LabRoute): Promise<void> {
  await ipIn(pid, ['route', 'replace', route.dst, 'via', route.via]);
}

export interface AddressSeen {
  readonly ifname: string;
  readonly mac: string;
  readonly state: string;
  readonly addresses: readonly string[];
}

/** The node's interfaces with their IPv4 and global IPv6 addresses, for `lab status`. */
export async function addressesOf(pid: number): Promise<AddressSeen[]> {
  const { stdout } = await ipIn(pid, ['-j', 'addr', 'show']);
  const rows = JSON.parse(stdout) as {
    ifname: string;
    address?: string;
    operstate?: string;
    link_type?: string;
    addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
  }[];
  return rows
    .filter((r) => r.link_type !== 'loopback')
    .map((r) => ({
      ifname: r.ifname,
      mac: r.address ?? '',
      state: (r.operstate ?? 'UNKNOWN').toLowerCase(),
      addresses: (r.addr_info ?? [])
        .filter((a) => a.family === 'inet' || a.scope === 'global')
        .map((a) => `${a.local}/${a.prefixlen}`),
    }));
}
