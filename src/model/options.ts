import { DovesnapError, ErrorCode } from '../util/errors.js';
import { formatIpv4Prefix, ipv4ToNumber, parseIpv4Prefix, prefixesOverlap, type Ipv4Prefix } from './ipv4.js';

/**
 * The `ovs.bridge.*` network options of the original dovesnap, parsed, defaulted and validated
 * once, at `docker network create`. Everything downstream sees only `NetworkOptions`.
 */

export const OPTION_PREFIX = 'ovs.bridge.';

export const Opt = {
  dpid: 'ovs.bridge.dpid',
  controller: 'ovs.bridge.controller',
  mode: 'ovs.bridge.mode',
  vlan: 'ovs.bridge.vlan',
  name: 'ovs.bridge.name',
  mtu: 'ovs.bridge.mtu',
  userspace: 'ovs.bridge.userspace',
  natAcl: 'ovs.bridge.nat_acl',
  defaultAcl: 'ovs.bridge.default_acl',
  vlanOutAcl: 'ovs.bridge.vlan_out_acl',
  preallocatePorts: 'ovs.bridge.preallocate_ports',
  ovsLocalMac: 'ovs.bridge.ovs_local_mac',
  addPorts: 'ovs.bridge.add_ports',
  addCoproPorts: 'ovs.bridge.add_copro_ports',
  mirrorTunnelVid: 'ovs.bridge.mirror_tunnel_vid',
  lbport: 'ovs.bridge.lbport',
  dhcp: 'ovs.bridge.dhcp',
  dhcpServer: 'ovs.bridge.dhcp_server',
  dhcpSubnet: 'ovs.bridge.dhcp_subnet',
  antispoof: 'ovs.bridge.antispoof',
  hostRoutes: 'ovs.bridge.host_routes',
} as const;

export type OptionName = (typeof Opt)[keyof typeof Opt];
const KNOWN_OPTIONS: ReadonlySet<string> = new Set(Object.values(Opt));

export type BridgeMode = 'flat' | 'nat' | 'routed';
const MODES: readonly BridgeMode[] = ['flat', 'nat', 'routed'];

/** A host interface to put on the bridge: `ovs.bridge.add_ports=eno1/8/acl/20`. */
export interface HostPortOption {
  readonly interface: string;
  readonly ofport: number | undefined;
  readonly acl: string | undefined;
  /**
   * The port's own VLANs (add_ports' fourth field): undefined means untagged on the network's
   * VLAN. `native` undefined with `tagged` set is a pure trunk.
   */
  readonly vlans: PortVlans | undefined;
}

/**
 * A route on the host to a prefix behind a container that routes for it:
 * `ovs.bridge.host_routes=192.168.102.0/24@192.168.101.2` (driver/host-routes.ts).
 */
export interface HostRoute {
  /** `a.b.c.d/len`, no host bits set. */
  readonly prefix: string;
  /** The next hop: an address of the network's subnet (checked at create, against Docker's IPAM). */
  readonly via: string;
}

/** `20` (untagged 20), `t20+t30` (a trunk of 20 and 30), `100+t20` (both). */
export interface PortVlans {
  readonly native: number | undefined;
  readonly tagged: readonly number[];
}

export interface NetworkOptions {
  /** The options the user gave (the rest are defaults): what status shows and what a feature checks. */
  readonly given: ReadonlySet<OptionName>;
  readonly dpid: bigint;
  /** undefined: use the daemon's default controllers. */
  readonly controllers: readonly string[] | undefined;
  readonly mode: BridgeMode;
  readonly vlan: number;
  /** undefined: `ovsbr-` + the first 5 characters of the network ID. */
  readonly bridgeName: string | undefined;
  readonly mtu: number | undefined;
  /** undefined: the host decides (kernel datapath if the module is there). */
  readonly userspace: boolean | undefined;
  readonly natAcl: string | undefined;
  readonly defaultAcl: string | undefined;
  readonly vlanOutAcl: string | undefined;
  readonly preallocatePorts: number;
  readonly ovsLocalMac: string | undefined;
  readonly addPorts: readonly HostPortOption[];
  readonly addCoproPorts: readonly HostPortOption[];
  readonly mirrorTunnelVid: number;
  /** The OpenFlow port of the bridge's link to the mirror bridge (and the stack's loopback). */
  readonly lbport: number;
  readonly dhcp: boolean;
  /** The network's DHCP servers (option 54 of their leases): a lease from another is refused. Empty: any. */
  readonly dhcpServers: readonly string[];
  /** The network's IPv4 subnet, `a.b.c.d/len`: a lease outside it is refused. undefined: any. */
  readonly dhcpSubnet: string | undefined;
  /** Each container port gets an input ACL that admits only its own MAC and addresses (driver/antispoof.ts). */
  readonly antispoof: boolean;
  /** Routes on the host to prefixes behind containers of the network (nat and routed only). */
  readonly hostRoutes: readonly HostRoute[];
}

export const DEFAULT_VLAN = 100;
/** The original's default `ovs.bridge.lbport`. */
export const DEFAULT_LBPORT = 99;
export const MAX_PREALLOCATE = 1024;
/** OVS's own limit for a port number requested from OpenFlow is 0xfeff (65279). */
export const MAX_OFPORT = 0xfeff;

function bad(option: string, value: string, expected: string): DovesnapError {
  return new DovesnapError(
    ErrorCode.BadOption,
    `invalid value ${JSON.stringify(value)} for option ${option}: ${expected}`,
  );
}

export function parseDpid(value: string, option: string = Opt.dpid): bigint {
  const v = value.trim();
  let n: bigint;
  if (/^0x[0-9a-f]{1,16}$/i.test(v)) n = BigInt(v);
  else if (/^[0-9]{1,20}$/.test(v)) n = BigInt(v);
  else throw bad(option, value, 'expected a datapath ID in hex (0x1) or decimal (1)');
  if (n < 1n || n > 0xffff_ffff_ffff_ffffn)
    throw bad(option, value, 'a datapath ID must be between 1 and 0xffffffffffffffff');
  return n;
}

export function formatDpid(dpid: bigint): string {
  return `0x${dpid.toString(16)}`;
}

export function parseBool(value: string, option: string): boolean {
  switch (value.trim().toLowerCase()) {
    case 'true':
    case '1':
    case 'yes':
    case 'on':
      return true;
    case 'false':
    case '0':
    case 'no':
    case 'off':
      return false;
    default:
      throw bad(option, value, 'expected true or false');
  }
}

export function parseIntInRange(value: string, option: string, min: number, max: number): number {
  const v = value.trim();
  if (!/^[0-9]+$/.test(v)) throw bad(option, value, `expected a whole number from ${min} to ${max}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw bad(option, value, `expected a whole number from ${min} to ${max}`);
  return n;
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** `10.0.0.2` or `10.0.0.2,10.0.0.3`: IPv4 addresses, each once. */
export function parseIpv4List(value: string, option: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw bad(option, value, 'expected one or more IPv4 addresses such as 192.168.50.1');
  for (const ip of items) if (!IPV4.test(ip)) throw bad(option, value, `${JSON.stringify(ip)} is not an IPv4 address`);
  return [...new Set(items)];
}

/** `192.168.50.0/24`: an IPv4 network address and prefix length, no host bits set. */
export function parseIpv4Subnet(value: string, option: string): string {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(value.trim());
  const addr = m?.[1] ?? '';
  const len = Number(m?.[2]);
  if (m === null || !IPV4.test(addr) || len > 32)
    throw bad(option, value, 'expected an IPv4 subnet such as 192.168.50.0/24');
  const bits = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const host = bits % 2 ** (32 - len);
  if (host !== 0) {
    const net = bits - host;
    const dotted = [24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join('.');
    throw bad(option, value, `host bits are set; the network is ${dotted}/${len}`);
  }
  return `${addr}/${len}`;
}

/** Where a host route must never point: the host's own and multicast/reserved space. */
const NOT_ROUTABLE: readonly { readonly prefix: Ipv4Prefix; readonly what: string }[] = [
  { prefix: { base: 0, len: 8 }, what: '0.0.0.0/8 ("this network")' },
  { prefix: { base: 127 * 2 ** 24, len: 8 }, what: 'loopback (127.0.0.0/8)' },
  { prefix: { base: 224 * 2 ** 24, len: 3 }, what: 'multicast and reserved space (224.0.0.0/3)' },
];

/**
 * `PREFIX@VIA[,PREFIX@VIA…]`, IPv4: each PREFIX a network address with its length (host bits
 * are refused, naming the network meant), at most once. That VIA lies in the network's subnet
 * is checked at create, where Docker's IPAM data is (driver/host-routes.ts).
 */
export function parseHostRoutes(value: string, option: string = Opt.hostRoutes): HostRoute[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0)
    throw bad(option, value, 'expected PREFIX@VIA[,PREFIX@VIA…] such as 192.168.102.0/24@192.168.101.2');
  const out: HostRoute[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const at = item.split('@');
    if (at.length !== 2)
      throw bad(option, value, `${JSON.stringify(item)} must be PREFIX@VIA, such as 192.168.102.0/24@192.168.101.2`);
    const [prefixText = '', viaText = ''] = at.map((s) => s.trim());
    const parsed = parseIpv4Prefix(prefixText);
    if (parsed === undefined)
      throw bad(option, value, `${JSON.stringify(prefixText)} is not an IPv4 prefix such as 192.168.102.0/24`);
    const prefix = formatIpv4Prefix(parsed.prefix);
    if (parsed.hostBits) throw bad(option, value, `host bits are set in ${prefixText}; the network is ${prefix}`);
    if (parsed.prefix.len === 0)
      throw bad(option, value, `${prefix} would replace the host's default route; route narrower prefixes`);
    const special = NOT_ROUTABLE.find(
      (r) => prefixesOverlap(r.prefix, parsed.prefix) && parsed.prefix.len >= r.prefix.len,
    );
    if (special !== undefined)
      throw bad(option, value, `${prefix} is in ${special.what}, which is never routed to a container`);
    if (ipv4ToNumber(viaText) === undefined)
      throw bad(option, value, `the next hop ${JSON.stringify(viaText)} of ${prefix} is not an IPv4 address`);
    if (seen.has(prefix)) throw bad(option, value, `${prefix} is given twice`);
    seen.add(prefix);
    out.push(Object.freeze({ prefix, via: viaText }));
  }
  return out;
}

/** `tcp:IP:PORT` or `ssl:IP:PORT`, IPv6 in brackets, as ovs-vsctl set-controller takes them. */
export function parseControllers(value: string, option: string = Opt.controller): string[] {
  const targets = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (targets.length === 0) throw bad(option, value, 'expected one or more controllers such as tcp:127.0.0.1:6653');
  for (const t of targets) {
    const m = /^(tcp|ssl):(\[[0-9a-fA-F:.]+\]|[0-9.]+):([0-9]{1,5})$/.exec(t);
    const host = m?.[2];
    const port = Number(m?.[3]);
    const hostOk = host !== undefined && (host.startsWith('[') || IPV4.test(host));
    if (!m || !hostOk || port < 1 || port > 65535) {
      throw bad(option, value, `controller ${JSON.stringify(t)} is not of the form tcp:IP:PORT or ssl:IP:PORT`);
    }
  }
  return targets;
}

/** Linux interface names: at most 15 bytes, no slash, no whitespace, not "." or "..". */
export function isValidInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name) && name !== '.' && name !== '..' && !name.startsWith('-');
}

export function parseMac(value: string, option: string): string {
  const v = value.trim().toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(v))
    throw bad(option, value, 'expected a MAC address such as 0e:01:00:00:00:03');
  if ((parseInt(v.slice(0, 2), 16) & 1) === 1)
    throw bad(option, value, 'a multicast MAC address cannot be used for an interface');
  return v;
}

/** FAUCET ACL names are YAML keys; we keep to a conservative, unambiguous set. */
export function parseAclName(value: string, option: string): string {
  const v = value.trim();
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(v))
    throw bad(option, value, 'expected an ACL name (letters, digits, _ . -)');
  return v;
}

function parseHostOfport(ofport: string, item: string, option: string, value: string): number {
  const n = /^[0-9]{1,5}$/.test(ofport) ? Number(ofport) : NaN;
  if (!(n >= 1 && n <= MAX_OFPORT))
    throw bad(
      option,
      value,
      `the port number in ${JSON.stringify(item)} must be a whole number from 1 to ${MAX_OFPORT}`,
    );
  return n;
}

/**
 * add_ports' fourth field: `+`-separated VLANs, a bare number untagged (at most one), a
 * number after `t` tagged. Each 1-4094, none twice.
 */
export function parsePortVlans(field: string, item: string, option: string, value: string): PortVlans {
  let native: number | undefined;
  const tagged: number[] = [];
  const seen = new Set<number>();
  for (const part of field.split('+')) {
    const m = /^(t?)([0-9]{1,4})$/.exec(part.trim());
    const vid = Number(m?.[2]);
    if (!m || !(vid >= 1 && vid <= 4094)) {
      throw bad(
        option,
        value,
        `the VLAN field of ${JSON.stringify(item)} must be VIDs 1-4094 joined by +, tagged ones written t20 (e.g. 20, t20+t30 or 100+t20)`,
      );
    }
    if (seen.has(vid)) throw bad(option, value, `VLAN ${vid} is named twice in ${JSON.stringify(item)}`);
    seen.add(vid);
    if (m[1] === 't') tagged.push(vid);
    else if (native !== undefined)
      throw bad(
        option,
        value,
        `${JSON.stringify(item)} names two untagged VLANs (${native} and ${vid}); a port has at most one`,
      );
    else native = vid;
  }
  return { native, tagged };
}

export function parseHostPorts(value: string, option: string, withVlans = true): HostPortOption[] {
  const out: HostPortOption[] = [];
  const seen = new Set<string>();
  const form = withVlans ? 'INTERFACE[/OFPORT[/ACL[/VLAN]]]' : 'INTERFACE[/OFPORT[/ACL]]';
  for (const item of value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)) {
    const parts = item.split('/');
    if (parts.length > (withVlans ? 4 : 3)) throw bad(option, value, `${JSON.stringify(item)} must be ${form}`);
    const [iface = '', ofport, acl, vlans] = parts;
    if (!isValidInterfaceName(iface))
      throw bad(option, value, `${JSON.stringify(iface)} is not a valid interface name`);
    if (seen.has(iface)) throw bad(option, value, `interface ${iface} is listed twice`);
    seen.add(iface);
    out.push({
      interface: iface,
      ofport: ofport === undefined || ofport === '' ? undefined : parseHostOfport(ofport, item, option, value),
      acl: acl === undefined || acl === '' ? undefined : parseAclName(acl, option),
      vlans: vlans === undefined || vlans === '' ? undefined : parsePortVlans(vlans, item, option, value),
    });
  }
  return out;
}

/**
 * Parses the driver options Docker hands over in `com.docker.network.generic`.
 * Unknown `ovs.bridge.*` keys are errors; keys outside our prefix belong to someone else
 * (Docker passes every `-o`), so they are rejected too: a typo must not be silently ignored.
 */
/**
 * `derivedDpid`: the network's DPID when `ovs.bridge.dpid` is not given (several hosts sharing
 * one FAUCET: driver/dp-naming.ts); without it the option is required, as in the original.
 */
export function parseNetworkOptions(raw: Readonly<Record<string, unknown>>, derivedDpid?: bigint): NetworkOptions {
  const str: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!KNOWN_OPTIONS.has(k)) {
      const hint = k.startsWith(OPTION_PREFIX) ? '' : ` (dovesnap options start with ${OPTION_PREFIX})`;
      throw new DovesnapError(
        ErrorCode.BadOption,
        `unknown option ${k}${hint}; known options: ${[...KNOWN_OPTIONS].sort().join(', ')}`,
      );
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new DovesnapError(ErrorCode.BadOption, `invalid value for option ${k}: expected a string`);
    }
    str[k] = String(v);
  }

  const dpidRaw = str[Opt.dpid];
  const dpidGiven = dpidRaw !== undefined && dpidRaw.trim() !== '';
  if (!dpidGiven && derivedDpid === undefined) {
    throw new DovesnapError(ErrorCode.BadOption, `option ${Opt.dpid} is required (for example -o ${Opt.dpid}=0x1)`);
  }
  const dpid = dpidGiven ? parseDpid(dpidRaw) : (derivedDpid ?? 0n);

  const modeRaw = str[Opt.mode]?.trim() ?? 'flat';
  if (!(MODES as readonly string[]).includes(modeRaw))
    throw bad(Opt.mode, modeRaw, `expected one of ${MODES.join(', ')}`);
  const mode = modeRaw as BridgeMode;

  const vlan = str[Opt.vlan] === undefined ? DEFAULT_VLAN : parseIntInRange(str[Opt.vlan] ?? '', Opt.vlan, 1, 4094);

  const nameRaw = str[Opt.name]?.trim();
  if (nameRaw !== undefined && !isValidInterfaceName(nameRaw)) {
    throw bad(Opt.name, nameRaw, 'expected an interface name of 1 to 15 letters, digits, _ . or -');
  }

  const opt = <T>(key: string, parse: (v: string, option: string) => T): T | undefined => {
    const v = str[key];
    return v === undefined ? undefined : parse(v, key);
  };

  const mirrorTunnelVid =
    opt(Opt.mirrorTunnelVid, (v, o) => parseIntInRange(v, o, 1, 4094)) ?? defaultMirrorTunnelVid(vlan);
  if (mirrorTunnelVid === vlan) {
    throw bad(Opt.mirrorTunnelVid, String(mirrorTunnelVid), `must differ from the network VLAN ${vlan}`);
  }

  const addPorts = opt(Opt.addPorts, parseHostPorts) ?? [];
  const addCoproPorts = opt(Opt.addCoproPorts, (v, o) => parseHostPorts(v, o, false)) ?? [];
  const lbport = opt(Opt.lbport, (v, o) => parseIntInRange(v, o, 1, MAX_OFPORT)) ?? DEFAULT_LBPORT;
  for (const p of addPorts) {
    if (p.vlans?.native === mirrorTunnelVid || p.vlans?.tagged.includes(mirrorTunnelVid) === true) {
      throw bad(
        Opt.addPorts,
        str[Opt.addPorts] ?? p.interface,
        `VLAN ${mirrorTunnelVid} of interface ${p.interface} is this network's mirror tunnel VLAN (${Opt.mirrorTunnelVid}); choose another`,
      );
    }
  }
  const ifaces = new Set<string>();
  const ofports = new Map<number, string>([[lbport, Opt.lbport]]);
  for (const [option, ports] of [
    [Opt.addPorts, addPorts],
    [Opt.addCoproPorts, addCoproPorts],
  ] as const) {
    for (const p of ports) {
      if (ifaces.has(p.interface))
        throw bad(
          option,
          str[option] ?? p.interface,
          `interface ${p.interface} is given twice: an interface is either in ${Opt.addPorts} or in ${Opt.addCoproPorts}, once`,
        );
      ifaces.add(p.interface);
      if (p.ofport === undefined) continue;
      const holder = ofports.get(p.ofport);
      if (holder !== undefined) {
        const who =
          holder === Opt.lbport
            ? `${Opt.lbport} (the mirror link${lbport === DEFAULT_LBPORT ? ', 99 by default' : ''})`
            : `another port of ${holder}`;
        throw bad(option, `${p.interface}/${p.ofport}`, `OpenFlow port ${p.ofport} is already taken by ${who}`);
      }
      ofports.set(p.ofport, option);
    }
  }

  const dhcp = opt(Opt.dhcp, parseBool) ?? false;
  if (dhcp && mode !== 'flat') throw bad(Opt.dhcp, 'true', `DHCP needs ${Opt.mode}=flat (got ${mode})`);
  const dhcpServers = opt(Opt.dhcpServer, parseIpv4List) ?? [];
  const dhcpSubnet = opt(Opt.dhcpSubnet, parseIpv4Subnet);
  for (const key of [Opt.dhcpServer, Opt.dhcpSubnet]) {
    const v = str[key];
    if (v !== undefined && !dhcp) throw bad(key, v, `only a network with ${Opt.dhcp}=true leases addresses`);
  }
  const hostRoutes = opt(Opt.hostRoutes, parseHostRoutes) ?? [];
  if (str[Opt.hostRoutes] !== undefined && mode === 'flat') {
    throw bad(
      Opt.hostRoutes,
      str[Opt.hostRoutes] ?? '',
      `host routes need ${Opt.mode}=nat or routed: a flat network has no gateway on the host`,
    );
  }

  return Object.freeze({
    given: Object.freeze(new Set(Object.keys(str) as OptionName[])),
    dpid,
    controllers: opt(Opt.controller, parseControllers),
    mode,
    vlan,
    bridgeName: nameRaw,
    mtu: opt(Opt.mtu, (v, o) => parseIntInRange(v, o, 68, 65535)),
    userspace: opt(Opt.userspace, parseBool),
    natAcl: opt(Opt.natAcl, parseAclName),
    defaultAcl: opt(Opt.defaultAcl, parseAclName),
    vlanOutAcl: opt(Opt.vlanOutAcl, parseAclName),
    preallocatePorts: opt(Opt.preallocatePorts, (v, o) => parseIntInRange(v, o, 0, MAX_PREALLOCATE)) ?? 0,
    ovsLocalMac: opt(Opt.ovsLocalMac, parseMac),
    addPorts: Object.freeze(addPorts),
    addCoproPorts: Object.freeze(addCoproPorts),
    mirrorTunnelVid,
    lbport,
    dhcp,
    dhcpServers: Object.freeze(dhcpServers),
    dhcpSubnet,
    antispoof: opt(Opt.antispoof, parseBool) ?? false,
    hostRoutes: Object.freeze(hostRoutes),
  });
}

/**
 * The original's default, 256 + the network's VLAN, while that is a VLAN (up to 4094); for the
 * VLANs above 3838, where it would not be, 256 below instead, so that every network has a
 * valid default.
 */
export function defaultMirrorTunnelVid(vlan: number): number {
  return vlan + 256 <= 4094 ? vlan + 256 : vlan - 256;
}

/** The network bridge's end of its link to the host's stack switch (FAUCET stacking). */
export const STACK_LINK_OFPORT = 0xfe00;

/** OpenFlow numbers the options give to something else: container ports never take them. */
export function reservedOfports(o: NetworkOptions): Set<number> {
  const out = new Set<number>([o.lbport, STACK_LINK_OFPORT]);
  for (const p of [...o.addPorts, ...o.addCoproPorts]) if (p.ofport !== undefined) out.add(p.ofport);
  return out;
}

export function defaultBridgeName(networkId: string): string {
  return `ovsbr-${networkId.slice(0, 5)}`;
}
