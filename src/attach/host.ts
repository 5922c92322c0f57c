/**
 * What `dovesnap attach` does to the host, as one interface: the steps (steps.ts) run against
 * it, the real one is made of the shared host library (net/) and the daemon's VSwitch (OVSDB),
 * and unit tests run the same steps against fakes (test/fakes/fake-attach-host.ts).
 */
import { existsSync } from 'node:fs';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { runCommand, runInNetns } from '../net/exec.js';
import {
  createVeth,
  deleteLink,
  hostLinkExists,
  listLinks,
  moveLinkHome,
  moveLinkInto,
  runIp,
  setLinkUp,
  type VethSpec,
} from '../net/links.js';
import { allowBridged, revokeBridged } from '../net/forwarding.js';
import type { VSwitch } from '../ovs/vswitch.js';
import { DhcpSupervisor } from '../dhcp/supervisor.js';
import { silentLogger } from '../util/log.js';
import { startDhclient, stopDhclient } from './dhclient.js';
import { startDhcpcd, stopDhcpcd } from './dhcpcd.js';
import { interfaceMtu } from './host-if.js';
import { nicIdentity, realHostNics, type HostNics, type NicIdentity } from './nic.js';
import type { DhcpClientName } from './spec.js';

/** The OVSDB operations attach uses: the CLI's own connection, or the daemon's. */
export type AttachVSwitch = Pick<
  VSwitch,
  'getBridge' | 'ensureBridge' | 'addPort' | 'deletePort' | 'deleteBridge' | 'waitOfport'
>;

/** A link `ip link add` makes besides a veth. */
export type LinkAdd =
  | { readonly kind: 'bridge'; readonly name: string }
  /** `hostIf`: the name given for it (pipework's `dummy…`), for messages. */
  | { readonly kind: 'dummy'; readonly name: string; readonly hostIf: string }
  | {
      readonly kind: 'vlan';
      readonly name: string;
      readonly parent: string;
      readonly id: number;
      readonly mtu?: number;
    }
  | { readonly kind: 'macvlan'; readonly name: string; readonly parent: string; readonly mtu?: number };

/** A DHCP client for an interface in a guest's namespace, by its key in attach's DHCP directory. */
export interface DhcpStart {
  readonly client: DhcpClientName;
  readonly key: string;
  readonly netns: string;
  readonly ifname: string;
  readonly hostname: string;
  readonly options: readonly string[];
  /** How long to wait for a first lease. */
  readonly leaseWaitMs: number;
}

export interface AttachHost {
  /** OVSDB; undefined where Open vSwitch is not reachable (then there are no OVS bridges). */
  readonly vswitch: AttachVSwitch | undefined;
  /** The host's links, for bringing a --direct-phys NIC home. */
  readonly nics: HostNics;

  // Links on the host (net/links.ts).
  linkExists(name: string): Promise<boolean>;
  createVeth(spec: VethSpec): Promise<void>;
  addLink(spec: LinkAdd): Promise<void>;
  setLinkUp(name: string): Promise<void>;
  deleteLink(name: string): Promise<void>;
  /** The link's MTU, undefined if it has none (or is missing). */
  mtuOf(name: string): number | undefined;
  /** The VLAN ID of a VLAN sub-interface, undefined for any other link. */
  vlanIdOf(name: string): Promise<number | undefined>;
  /** A Linux bridge's alias and how many links it has; undefined if there is no such Linux link. */
  linuxBridge(name: string): Promise<{ readonly alias: string | undefined; readonly members: number } | undefined>;
  setAlias(name: string, alias: string): Promise<void>;
  setMaster(name: string, bridge: string): Promise<void>;
  /** Moves a host link into process `pid`'s namespace and names it there (net/links.ts moveLinkInto). */
  moveLinkInto(name: string, pid: number, newName: string): Promise<void>;
  /** What identifies a NIC before it moves (attach/nic.ts). */
  nicIdentity(name: string): Promise<NicIdentity>;
  /** Waits until a just-created link (an OVS bridge's own interface) exists on the host. */
  waitForLink(name: string, timeoutMs?: number): Promise<void>;

  // The guest's namespace.
  ipIn(netns: string, args: readonly string[]): Promise<void>;
  guestHasLink(netns: string, name: string): Promise<boolean>;
  moveLinkHome(netns: string, name: string, hostName: string): Promise<void>;
  /** Announces an address to the neighbours (pipework's arping nudge). */
  announce(netns: string, ifname: string, address: string): Promise<void>;

  // The FORWARD rule that lets a Linux bridge forward between its ports (net/forwarding.ts).
  allowBridged(bridge: string): Promise<void>;
  revokeBridged(bridge: string): Promise<void>;

  /**
   * Starts the client and waits for a first lease (`ADDR/LEN`, or undefined when none came in
   * time: the client keeps asking). `started` is called once there is something to stop.
   */
  startDhcp(dir: string, start: DhcpStart, started: () => void): Promise<string | undefined>;
  /** Stops the client of `key` (releasing its lease where the namespace is still there). */
  stopDhcp(dir: string, client: string, key: string, netns: string, ifname: string, guestGone: boolean): Promise<void>;
}

/** The interface's IPv4 address once a client has configured one (`ADDR/LEN`), or undefined after `timeoutMs`. */
async function waitForAddress(netns: string, ifname: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await runInNetns(netns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', ifname]).catch(() => ({
      stdout: '',
    }));
    const found = / inet ([0-9.]+\/\d+)/.exec(out.stdout)?.[1];
    if (found !== undefined) return found;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `ip` says "Unknown device type" when the kernel lacks the link type: say which and what to do. */
function missingKernelSupport(err: unknown, spec: LinkAdd): unknown {
  if (!/Unknown device type/.test(errorMessage(err))) return err;
  if (spec.kind === 'vlan')
    return new DovesnapError(
      ErrorCode.BadOption,
      `invalid value "@${spec.id}" for the VLAN: this kernel cannot make the ${spec.name} VLAN sub-interface (no 802.1Q support: modprobe 8021q)`,
    );
  if (spec.kind === 'dummy')
    return new DovesnapError(
      ErrorCode.BadOption,
      `invalid value ${JSON.stringify(spec.hostIf)} for the host interface: this kernel cannot make dummy interfaces (modprobe dummy)`,
    );
  return err;
}

function linkAddArgs(spec: LinkAdd): string[] {
  const mtu = 'mtu' in spec && spec.mtu !== undefined ? ['mtu', String(spec.mtu)] : [];
  switch (spec.kind) {
    case 'bridge':
    case 'dummy':
      return ['link', 'add', 'dev', spec.name, 'type', spec.kind];
    case 'vlan':
      return ['link', 'add', 'link', spec.parent, 'name', spec.name, ...mtu, 'type', 'vlan', 'id', String(spec.id)];
    case 'macvlan':
      return ['link', 'add', 'link', spec.parent, 'dev', spec.name, ...mtu, 'type', 'macvlan', 'mode', 'bridge'];
  }
}

async function stopUdhcpc(dir: string, key: string): Promise<void> {
  const supervisor = new DhcpSupervisor({ dir, logger: silentLogger(), checkMs: 3_600_000 });
  try {
    await supervisor.stop(key);
  } finally {
    supervisor.close();
  }
}

/** udhcpc under dovesnap's supervisor (dhcp/), which reports the lease it got. */
async function startUdhcpc(dir: string, s: DhcpStart, started: () => void): Promise<string | undefined> {
  const supervisor = new DhcpSupervisor({ dir, logger: silentLogger(), checkMs: 3_600_000 });
  try {
    supervisor.ensure({
      endpointId: s.key,
      netns: s.netns,
      ifname: s.ifname,
      hostname: s.hostname,
      extraArgs: s.options,
    });
    started();
    const deadline = Date.now() + s.leaseWaitMs;
    for (;;) {
      const lease = supervisor.status(s.key).report?.lease;
      if (lease !== undefined) return `${lease.address}/${lease.prefixLength}`;
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    supervisor.close();
  }
}

export function realAttachHost(vswitch: AttachVSwitch | undefined, nics: HostNics = realHostNics): AttachHost {
  const ip = (args: readonly string[]): Promise<unknown> => runIp(args);
  return {
    vswitch,
    nics,
    linkExists: async (name) => hostLinkExists(name),
    createVeth,
    async addLink(spec) {
      await ip(linkAddArgs(spec)).catch((err: unknown) => {
        throw missingKernelSupport(err, spec);
      });
    },
    setLinkUp,
    deleteLink: (name) => deleteLink(name),
    mtuOf: interfaceMtu,
    async vlanIdOf(name) {
      const { stdout } = await runCommand('ip', ['-d', '-json', 'link', 'show', 'dev', name]);
      const [info] = JSON.parse(stdout) as { linkinfo?: { info_kind?: string; info_data?: { id?: number } } }[];
      return info?.linkinfo?.info_kind === 'vlan' ? info.linkinfo.info_data?.id : undefined;
    },
    async linuxBridge(name) {
      if (!hostLinkExists(name)) return undefined;
      const [info] = JSON.parse(await runIp(['-json', 'link', 'show', 'dev', name])) as { ifalias?: string }[];
      const members = JSON.parse((await runIp(['-json', 'link', 'show', 'master', name])) || '[]') as unknown[];
      return { alias: info?.ifalias, members: members.length };
    },
    setAlias: async (name, alias) => void (await ip(['link', 'set', 'dev', name, 'alias', alias])),
    setMaster: async (name, bridge) => void (await ip(['link', 'set', 'dev', name, 'master', bridge])),
    moveLinkInto: (name, pid, newName) => moveLinkInto(name, pid, newName),
    nicIdentity,
    async waitForLink(name, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!hostLinkExists(name)) {
        if (Date.now() > deadline)
          throw new DovesnapError(ErrorCode.Timeout, `${name} did not appear within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    ipIn: async (netns, args) => void (await runIp(args, netns)),
    guestHasLink: async (netns, name) => (await listLinks(netns)).some((l) => l.ifname === name),
    moveLinkHome: (netns, name, hostName) => moveLinkHome(netns, name, hostName),
    async announce(netns, ifname, address) {
      await runInNetns(netns, 'busybox', ['arping', '-c', '1', '-U', '-I', ifname, address]);
    },
    allowBridged: async (bridge) => void (await allowBridged(bridge)),
    revokeBridged,
    async startDhcp(dir, s, started) {
      if (s.client === 'dhclient') {
        startDhclient(dir, s.key, s.netns, s.ifname, s.hostname, s.options);
        started();
        return waitForAddress(s.netns, s.ifname, s.leaseWaitMs);
      }
      if (s.client === 'dhcpcd') {
        // Recorded first: a start that fails half-way (its mount namespace made) is undone by the record.
        started();
        await startDhcpcd(dir, s.key, s.netns, s.ifname, s.hostname, s.options);
        return waitForAddress(s.netns, s.ifname, s.leaseWaitMs);
      }
      return startUdhcpc(dir, s, started);
    },
    async stopDhcp(dir, client, key, netns, ifname, guestGone) {
      if (client.startsWith('dhcpcd')) await stopDhcpcd(dir, key);
      else if (client.startsWith('dhclient'))
        await stopDhclient(dir, key, netns, ifname, !guestGone && existsSync(netns));
      else await stopUdhcpc(dir, key);
    },
  };
}
