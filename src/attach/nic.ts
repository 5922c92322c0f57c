/**
 * A `--direct-phys` interface away in a container, and bringing it home. When the container's
 * network namespace goes, the kernel hands a driver's NIC back to the host under the name it
 * had in there (`eth1`, or `devN` when the host has an `eth1`), never under its own (`eno2`);
 * virtual links (veth, macvlan, a VLAN sub-interface, …) are destroyed with the namespace
 * instead. The return is asynchronous: the namespace is cleaned up after the container's `die`.
 * So what identifies the NIC is recorded before it moves, and the NIC is looked for by that and
 * renamed back once it is on the host again.
 */
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { runCommand } from '../net/exec.js';
import { hostLinkExists } from '../net/links.js';

export interface NicIdentity {
  /** Kept across namespaces unless the namespace it enters has that index taken. */
  readonly ifindex: number;
  /** The MAC it had on the host. */
  readonly mac: string | undefined;
  /** The permanent (burned-in) MAC, where the driver has one: it survives any MAC set in the container. */
  readonly permAddr: string | undefined;
  /** The link kind (`ip -d link`'s info_kind); undefined for a driver's NIC. */
  readonly kind: string | undefined;
}

/** A link of the host as far as finding a NIC goes. */
export interface HostNic {
  readonly ifname: string;
  readonly ifindex: number;
  readonly address: string | undefined;
  /** iproute2 shows the permanent MAC only where it differs from the current one. */
  readonly permAddr: string | undefined;
  readonly kind: string | undefined;
}

/** The host's links, and renaming one: the real host, or a fake in unit tests. */
export interface HostNics {
  list(): Promise<HostNic[]>;
  exists(name: string): boolean;
  rename(from: string, to: string): Promise<void>;
}

const NO_PERM_ADDR = /^(00:)*00$/;

/** Whether the kernel gives this link back to the host when its namespace goes (a driver's NIC; CAN devices) rather than destroying it. */
export function returnsToHost(id: NicIdentity): boolean {
  return id.kind === undefined || id.kind === 'can';
}

/**
 * The host link that is this NIC: by its permanent MAC where it has one; otherwise by its
 * ifindex with a MAC it had (its own, or `given` in the container), or failing that (the index
 * was taken on the way) by such a MAC on exactly one link. Always of the same kind: a VLAN
 * sub-interface or bridge carrying the NIC's MAC is never taken for it.
 */
export function findNic(id: NicIdentity, given: string | undefined, links: readonly HostNic[]): HostNic | undefined {
  const sameKind = links.filter((l) => l.kind === id.kind);
  if (id.permAddr !== undefined) return sameKind.find((l) => (l.permAddr ?? l.address) === id.permAddr);
  const macs = new Set([id.mac, given].filter((m): m is string => m !== undefined));
  const hasMac = sameKind.filter((l) => l.address !== undefined && macs.has(l.address));
  return hasMac.find((l) => l.ifindex === id.ifindex) ?? (hasMac.length === 1 ? hasMac[0] : undefined);
}

interface IpLink {
  ifname?: unknown;
  ifindex?: unknown;
  address?: unknown;
  permaddr?: unknown;
  linkinfo?: { info_kind?: unknown };
}

function toHostNic(l: IpLink): HostNic | undefined {
  if (typeof l.ifname !== 'string' || typeof l.ifindex !== 'number') return undefined;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v.toLowerCase() : undefined);
  return {
    ifname: l.ifname,
    ifindex: l.ifindex,
    address: str(l.address),
    permAddr: str(l.permaddr),
    kind: typeof l.linkinfo?.info_kind === 'string' ? l.linkinfo.info_kind : undefined,
  };
}

async function ipLinks(dev?: string): Promise<HostNic[]> {
  const { stdout } = await runCommand('ip', [
    '-d',
    '-json',
    'link',
    'show',
    ...(dev === undefined ? [] : ['dev', dev]),
  ]);
  return stdout.trim() === '' ? [] : (JSON.parse(stdout) as IpLink[]).flatMap((l) => toHostNic(l) ?? []);
}

export const realHostNics: HostNics = {
  list: () => ipLinks(),
  exists: (name) => hostLinkExists(name),
  async rename(from, to) {
    // A link is renamed only while down; it came back down from the namespace anyway.
    await runCommand('ip', ['link', 'set', 'dev', from, 'down']);
    await runCommand('ip', ['link', 'set', 'dev', from, 'name', to]);
  },
};

/** What identifies the host interface `name`, read before it moves into a container. */
export async function nicIdentity(name: string): Promise<NicIdentity> {
  const [link] = await ipLinks(name);
  if (link === undefined) throw new DovesnapError(ErrorCode.HostCommand, `${name} vanished before it could be moved`);
  // ethtool says "not set" (or zeros) where there is none; ip shows permaddr only where it differs from the MAC.
  const ethtool = await runCommand('ethtool', ['-P', name]).then(
    (r) => r.stdout,
    () => '',
  );
  const perm = /Permanent address: ([0-9a-f]{2}(?::[0-9a-f]{2})+)/i.exec(ethtool)?.[1]?.toLowerCase() ?? link.permAddr;
  return {
    ifindex: link.ifindex,
    mac: link.address,
    permAddr: perm === undefined || NO_PERM_ADDR.test(perm) ? undefined : perm,
    kind: link.kind,
  };
}

/**
 * Renames the NIC back to `hostName` once it is on the host, waiting up to `waitMs` for the
 * kernel to return it. `home`: it is there under its own name; `destroyed`: a kind the kernel
 * destroys with the namespace, and not on the host; `away`: not back (yet).
 */
export async function bringNicHome(
  nics: HostNics,
  hostName: string,
  id: NicIdentity,
  given: string | undefined,
  waitMs: number,
): Promise<'home' | 'destroyed' | 'away'> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const found = findNic(id, given, await nics.list());
    if (found !== undefined) {
      if (found.ifname === hostName) return 'home';
      if (nics.exists(hostName)) {
        throw new DovesnapError(
          ErrorCode.HostCommand,
          `${found.ifname} is ${hostName} back from the container, but the host now has another ${hostName}: rename it by hand`,
        );
      }
      await nics.rename(found.ifname, hostName);
      return 'home';
    }
    if (!returnsToHost(id)) return 'destroyed';
    if (Date.now() >= deadline) return 'away';
    await new Promise((r) => setTimeout(r, 200));
  }
}
