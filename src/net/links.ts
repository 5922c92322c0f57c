import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { isValidInterfaceName } from '../model/options.js';
import { runCommand, runInNetns } from './exec.js';

/**
 * Host links through iproute2's JSON output. Every name we create starts with a fixed prefix,
 * so that clean-up only ever touches links dovesnap made.
 */

export const HOST_VETH_PREFIX = 'dsp';
export const CONTAINER_VETH_PREFIX = 'dsc';
/** The host and container ends of ready ports (driver/port-pool.ts). */
export const READY_HOST_PREFIX = 'dsq';
export const READY_CONTAINER_PREFIX = 'dsr';

export interface VethNames {
  readonly host: string;
  readonly container: string;
}

/** 12 hex characters of the endpoint ID keep names within Linux's 15-byte limit. */
export function vethNamesFor(endpointId: string): VethNames {
  const short = endpointId.slice(0, 12);
  return { host: `${HOST_VETH_PREFIX}${short}`, container: `${CONTAINER_VETH_PREFIX}${short}` };
}

export interface LinkInfo {
  readonly ifindex: number;
  readonly ifname: string;
  readonly address: string | undefined;
  readonly mtu: number | undefined;
  /** ifindex of the veth peer (in the peer's namespace). */
  readonly linkIndex: number | undefined;
  readonly operstate: string | undefined;
  /** Administratively up (`ip link set … up`), whatever the carrier. */
  readonly up: boolean;
}

function toLinkInfo(raw: unknown): LinkInfo | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r['ifindex'] !== 'number' || typeof r['ifname'] !== 'string') return undefined;
  return {
    ifindex: r['ifindex'],
    ifname: r['ifname'],
    address: typeof r['address'] === 'string' ? r['address'] : undefined,
    mtu: typeof r['mtu'] === 'number' ? r['mtu'] : undefined,
    linkIndex: typeof r['link_index'] === 'number' ? r['link_index'] : undefined,
    operstate: typeof r['operstate'] === 'string' ? r['operstate'] : undefined,
    up: Array.isArray(r['flags']) && r['flags'].includes('UP'),
  };
}

function parseLinks(stdout: string): LinkInfo[] {
  if (stdout.trim() === '') return [];
  const parsed: unknown = JSON.parse(stdout);
  if (!Array.isArray(parsed)) return [];
  return parsed.map(toLinkInfo).filter((l): l is LinkInfo => l !== undefined);
}

/** `ip` itself, or `ip` run inside a network namespace given by path (Docker's SandboxKey). */
function ipArgs(netns: string | undefined, args: readonly string[]): [string, string[]] {
  return netns === undefined ? ['ip', [...args]] : ['nsenter', [`--net=${netns}`, 'ip', ...args]];
}

export async function listLinks(netns?: string): Promise<LinkInfo[]> {
  const [cmd, args] = ipArgs(netns, ['-json', 'link', 'show']);
  return parseLinks((await runCommand(cmd, args)).stdout);
}

/**
 * Whether a link of this name exists in the host's namespace: sysfs lists exactly the host's
 * links, and asking it needs neither a process nor the parsing of an error message.
 */
export function hostLinkExists(name: string, sysClassNet = '/sys/class/net'): boolean {
  // Only a valid interface name may become a path below sysfs.
  return isValidInterfaceName(name) && existsSync(`${sysClassNet}/${name}`);
}

/** Names of the host's links that start with `prefix`. */
export async function hostLinkNames(prefix: string, sysClassNet = '/sys/class/net'): Promise<string[]> {
  return (await readdir(sysClassNet).catch(() => [] as string[])).filter((n) => n.startsWith(prefix));
}

export async function getLink(name: string, netns?: string): Promise<LinkInfo | undefined> {
  if (netns === undefined && !hostLinkExists(name)) return undefined;
  const [cmd, args] = ipArgs(netns, ['-json', 'link', 'show', 'dev', name]);
  try {
    return parseLinks((await runCommand(cmd, args)).stdout)[0];
  } catch (err) {
    // Gone between the check and the command.
    if (netns === undefined && !hostLinkExists(name)) return undefined;
    throw err;
  }
}

/**
 * `ip` on the host, or inside a network namespace given by path (`/proc/PID/ns/net`, Docker's
 * SandboxKey); resolves to its standard output. Narwhal passes its own (traced, faked in tests).
 */
export type IpRunner = (args: readonly string[], netns?: string) => Promise<string>;

export const runIp: IpRunner = async (args, netns) => {
  const [cmd, full] = ipArgs(netns, args);
  return (await runCommand(cmd, full)).stdout;
};

/** A veth pair as `ip link add` makes it: every veth dovesnap, attach and narwhal create. */
export interface VethAdd {
  readonly host: string;
  readonly peer: string;
  /** Unset: the kernel picks a random MAC. */
  readonly hostMac?: string | undefined;
  readonly peerMac?: string | undefined;
  /** Both ends. */
  readonly mtu?: number | undefined;
  /** The peer is made straight inside this process's network namespace (under `peer`). */
  readonly peerNetnsPid?: number | undefined;
}

export function vethAddArgs(v: VethAdd): string[] {
  const mtu = v.mtu === undefined ? [] : ['mtu', String(v.mtu)];
  const mac = (m: string | undefined): string[] => (m === undefined ? [] : ['address', m]);
  return [
    'link',
    'add',
    v.host,
    ...mac(v.hostMac),
    ...mtu,
    'type',
    'veth',
    'peer',
    'name',
    v.peer,
    ...mac(v.peerMac),
    ...mtu,
    ...(v.peerNetnsPid === undefined ? [] : ['netns', String(v.peerNetnsPid)]),
  ];
}

export interface VethSpec {
  readonly names: VethNames;
  /** Unset: the kernel picks one (`dovesnap attach`, as pipework). */
  readonly containerMac?: string | undefined;
  readonly mtu: number | undefined;
  /**
   * On OVS's userspace datapath the kernel never fills in checksums that a veth left to
   * "hardware": ping works but TCP is dropped. Turning tx offload off on the container side
   * makes the container's stack compute them.
   */
  readonly disableContainerTxOffload: boolean;
  /**
   * The container end will stay up in the host for a while (a ready port, driver/port-pool.ts):
   * keep it out of the host's stack too, so that it sends nothing of its own.
   */
  readonly quietContainerEnd?: boolean;
  /**
   * Leave the host end in the host's stack as the kernel made it (`dovesnap attach`, whose host
   * ends are pipework's); by default it is a switch port and kept out (see keepOutOfHostStack).
   */
  readonly hostEndInHostStack?: boolean;
}

/**
 * Creates the pair with the host side left down: the switch port gets no carrier until FAUCET
 * has its configuration (see setLinkUp). Rolls back (deletes the pair) if any step fails.
 */
export async function createVeth(spec: VethSpec): Promise<void> {
  const { host, container } = spec.names;
  await runIp(vethAddArgs({ host, peer: container, peerMac: spec.containerMac, mtu: spec.mtu }));
  try {
    if (spec.hostEndInHostStack !== true) await keepOutOfHostStack(host);
    if (spec.quietContainerEnd === true) await keepOutOfHostStack(container);
    if (spec.disableContainerTxOffload) await runCommand('ethtool', ['-K', container, 'tx', 'off']);
  } catch (err) {
    await deleteLink(host).catch(() => undefined);
    throw err;
  }
}

/**
 * Several pairs, each with both ends up, in two `ip` runs (its batch mode) and one `ethtool` per
 * pair where tx offload goes off: ready ports are made several at a time, and four processes
 * per pair were most of the daemon's CPU in a burst of container starts (docs/benchmarks.md).
 * The ends are kept out of the host's stack before they go up, as createVeth does. All or
 * nothing: on any failure every pair of `specs` is deleted again.
 */
export async function createVethsUp(specs: readonly VethSpec[]): Promise<void> {
  if (specs.length === 0) return;
  // Only what this call made is deleted on failure, never a link of that name that was there.
  const ours = specs.filter((s) => !hostLinkExists(s.names.host));
  const batch = (lines: readonly string[][]): Promise<unknown> =>
    runCommand('ip', ['-batch', '-'], { input: `${lines.map((l) => l.join(' ')).join('\n')}\n` });
  try {
    await batch(
      specs.map((s) =>
        vethAddArgs({ host: s.names.host, peer: s.names.container, peerMac: s.containerMac, mtu: s.mtu }),
      ),
    );
    for (const s of specs) {
      if (s.hostEndInHostStack !== true) await keepOutOfHostStack(s.names.host);
      if (s.quietContainerEnd === true) await keepOutOfHostStack(s.names.container);
      if (s.disableContainerTxOffload) await runCommand('ethtool', ['-K', s.names.container, 'tx', 'off']);
    }
    await batch(
      specs.flatMap((s) => [
        ['link', 'set', 'dev', s.names.container, 'up'],
        ['link', 'set', 'dev', s.names.host, 'up'],
      ]),
    );
  } catch (err) {
    for (const s of ours) if (hostLinkExists(s.names.host)) await deleteLink(s.names.host).catch(() => undefined);
    throw err;
  }
}

/**
 * Moves a host link into the network namespace of process `pid` and names it `name` there. A
 * link that cannot be named is moved back out under its old name: it ends where it was or
 * where it was asked to be, never half-way (left behind under a name nobody records).
 */
export async function moveLinkInto(link: string, pid: number, name: string, ip: IpRunner = runIp): Promise<void> {
  await ip(['link', 'set', 'dev', link, 'netns', String(pid)]);
  if (name === link) return;
  const netns = netnsOfPid(pid);
  try {
    await ip(['link', 'set', 'dev', link, 'name', name], netns);
  } catch (err) {
    await ip(['link', 'set', 'dev', link, 'netns', '1'], netns).catch(() => undefined);
    throw err;
  }
}

/** Renames a link in `netns` (undefined: the host's), taking it down first: Linux renames only links that are down. */
export async function renameLink(
  netns: string | undefined,
  from: string,
  to: string,
  ip: IpRunner = runIp,
): Promise<void> {
  await ip(['link', 'set', 'dev', from, 'down'], netns);
  if (to !== from) await ip(['link', 'set', 'dev', from, 'name', to], netns);
}

/** The namespace path of a process's network namespace, as IpRunner takes it. */
export function netnsOfPid(pid: number): string {
  return `/proc/${pid}/ns/net`;
}

/** Moves a link out of a namespace back to the host under `hostName`. */
export async function moveLinkHome(netns: string, name: string, hostName: string, ip: IpRunner = runIp): Promise<void> {
  await renameLink(netns, name, hostName, ip);
  await ip(['link', 'set', 'dev', hostName, 'netns', '1'], netns);
}

/**
 * Puts the network's gateway address on the bridge's own (internal) interface and brings it up.
 * ovs-vswitchd creates that interface a moment after the bridge, so it is waited for.
 * On the userspace datapath it is a tap device, whose checksums must be done in software (as
 * for container veths: see VethSpec).
 */
export async function configureGateway(
  bridge: string,
  cidr: string,
  opts: { disableTxOffload: boolean; timeoutMs?: number },
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  while ((await getLink(bridge)) === undefined) {
    if (Date.now() > deadline)
      throw new DovesnapError(ErrorCode.HostCommand, `the bridge's own interface ${bridge} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await runCommand('ip', ['addr', 'replace', cidr, 'dev', bridge]);
  await runCommand('ip', ['link', 'set', 'dev', bridge, 'up']);
  if (opts.disableTxOffload) await runCommand('ethtool', ['-K', bridge, 'tx', 'off']);
}

/**
 * The host end of a container's veth is a switch port, not a host interface. On the userspace
 * datapath the kernel still sees its traffic, and by default it answers ARP for every host
 * address on every interface: a container asking for its gateway could get this port's MAC
 * instead of the gateway's, and its packets would then be routed (and dropped) by the host
 * from the wrong interface. So the port never answers ARP and takes no IPv6 address.
 */
export async function keepOutOfHostStack(name: string, procSys = '/proc/sys/net'): Promise<void> {
  await writeFile(`${procSys}/ipv4/conf/${name}/arp_ignore`, '8\n');
  try {
    await writeFile(`${procSys}/ipv6/conf/${name}/disable_ipv6`, '1\n');
  } catch (err) {
    // A kernel without IPv6 has nothing to disable.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export async function setLinkUp(name: string): Promise<void> {
  await runCommand('ip', ['link', 'set', 'dev', name, 'up']);
}

export async function setLinkMac(name: string, mac: string): Promise<void> {
  await runCommand('ip', ['link', 'set', 'dev', name, 'address', mac]);
}

export async function setLinkDown(name: string): Promise<void> {
  await runCommand('ip', ['link', 'set', 'dev', name, 'down']);
}

/** What deleteLink needs of a host: the real one, or narwhal's (traced, faked in its tests). */
export interface LinkHost {
  readonly ip: IpRunner;
  linkExists(name: string): boolean;
}

const realLinkHost: LinkHost = { ip: runIp, linkExists: (name) => hostLinkExists(name) };

/** Deleting either end of a veth removes both. Succeeds if the link is already gone. */
export async function deleteLink(name: string, host: LinkHost = realLinkHost): Promise<void> {
  if (!host.linkExists(name)) return;
  try {
    await host.ip(['link', 'del', 'dev', name]);
  } catch (err) {
    // Deleting one end of a veth removes the other: a concurrent delete is not a failure.
    if (!host.linkExists(name)) return;
    throw err;
  }
}

/**
 * Sets the MAC address of the container end of a veth, once Docker has finished configuring it
 * inside the container's namespace (see settledPeerInNetns). Docker sets the interface's MAC
 * itself after renaming it, and brings it up last: a MAC set before that is overwritten.
 */
export async function setPeerMacInNetns(hostIf: string, netns: string, mac: string): Promise<string> {
  const inside = await settledPeerInNetns(hostIf, netns);
  if (inside === undefined)
    throw new DovesnapError(ErrorCode.HostCommand, `the peer of ${hostIf} is not (yet) in place in namespace ${netns}`);
  await runInNetns(netns, 'ip', ['link', 'set', 'dev', inside.ifname, 'address', mac]);
  return inside.ifname;
}

export interface SettledPeerOptions {
  /** Default the real host; narwhal passes its own. */
  readonly host?: LinkHost;
  /** When Docker is done with the link inside (default peerSettled: renamed from our names, and up). */
  readonly settled?: (inside: LinkInfo) => boolean;
  /** Told what was seen while it is not (yet) settled, for error messages. */
  readonly why?: (seen: string) => void;
}

/**
 * The container end of a veth inside the container's namespace, found by the host end's peer
 * index, once Docker has finished putting it there: moved, renamed from our name to its own
 * (eth0, …) and brought up. Undefined while Docker is still at it (or if it never will be).
 */
export async function settledPeerInNetns(
  hostIf: string,
  netns: string,
  opts: SettledPeerOptions = {},
): Promise<LinkInfo | undefined> {
  const { host = realLinkHost, settled = peerSettled, why = () => undefined } = opts;
  if (!host.linkExists(hostIf)) return void why(`${hostIf} does not exist`);
  const shown = await host.ip(['-json', 'link', 'show', 'dev', hostIf]).catch((err: unknown) => {
    // Gone between the check and the command.
    if (!host.linkExists(hostIf)) return '';
    throw err;
  });
  const peerIndex = parseLinks(shown)[0]?.linkIndex;
  if (peerIndex === undefined) return void why(`the peer of ${hostIf} is still on the host`);
  const all = parseLinks(await host.ip(['-json', 'link', 'show'], netns));
  const inside = all.find((l) => l.ifindex === peerIndex);
  if (inside !== undefined && settled(inside)) return inside;
  const seen = all.map((l) => `${l.ifname}#${l.ifindex}${l.up ? ' up' : ''}`).join(', ');
  return void why(`no settled (renamed and up) interface #${peerIndex} in ${netns} (${seen})`);
}

/**
 * Docker moves the container end in, renames it from our `dsc…` (or `dsr…`) name, sets its MAC and
 * addresses, and brings it up last (libnetwork's osl AddInterface): up under its new name means done.
 */
export function peerSettled(inside: LinkInfo): boolean {
  return (
    !inside.ifname.startsWith(CONTAINER_VETH_PREFIX) && !inside.ifname.startsWith(READY_CONTAINER_PREFIX) && inside.up
  );
}

/** A random locally administered unicast MAC (0e:...), for endpoints Docker gave none. */
export function randomMac(random: (n: number) => Uint8Array): string {
  const b = random(5);
  return ['0e', ...Array.from(b, (x) => x.toString(16).padStart(2, '0'))].join(':');
}

/**
 * Waits (at most `timeoutMs`) until the neighbour entry of `ip` on `ifname` in a namespace is
 * no longer being resolved. A datagram sent to an address whose MAC is not known yet waits in
 * the kernel for the ARP reply; if the interface is removed meanwhile (Docker, right after a
 * container leaves), the datagram is lost. False if it timed out.
 */
export async function waitNeighbourSettled(
  netns: string,
  ifname: string,
  ip: string,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await runInNetns(netns, 'ip', ['-json', 'neigh', 'show', 'to', ip, 'dev', ifname]).catch(() => undefined);
    if (r === undefined) return false;
    const entries = r.stdout.trim() === '' ? [] : (JSON.parse(r.stdout) as { state?: string[] }[]);
    if (!entries.some((e) => e.state?.includes('INCOMPLETE') === true)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((res) => setTimeout(res, 25));
  }
}
