/**
 * The meaning of `networks:` and `links:`: modes and subnets, gateways, DHCP, DPIDs, options
 * that have keys of their own, link endpoints and names. Host routes need the nodes' addresses
 * and are checked in check.ts once those are known.
 */
import type { LabNetworkMode } from './model.js';
import {
  contains,
  formatCidr,
  hostBitsSet,
  ipToNumber,
  networkOf,
  notAHostAddress,
  numberToIp,
  parseCidr,
  type Cidr,
} from './ipv4.js';
import type { Errors, Path } from './positions.js';
import { INTERFACE_NAME, IPV4, type LabFileInput, type LinkInput, type NetworkInput } from './spec.js';
import { didYouMean } from './suggest.js';

export interface CheckContext {
  readonly file: LabFileInput;
  readonly errors: Errors;
  /** The text a scalar was written as (for numbers a JavaScript number would round). */
  readonly source: (path: Path) => string | undefined;
}

export interface Endpoint {
  readonly node: string;
  readonly iface: string;
  /** Path of the `NODE:IFACE` string. */
  readonly at: Path;
  /** From the link's `addresses:`, with its path. */
  readonly address?: { readonly text: string; readonly at: Path };
}

export interface CheckedNetwork {
  readonly key: string;
  readonly kind: 'segment' | 'link';
  /** `['networks', key]` or `['links', index]`. */
  readonly at: Path;
  readonly input: NetworkInput | LinkInput;
  readonly mode: LabNetworkMode;
  /** The subnet addresses must be in: `subnet:` of a segment; a link's is set from its addresses later. */
  subnet?: Cidr;
  /** nat/routed: the host's address. */
  readonly gateway?: string;
  readonly dpid: bigint;
  /** Only links: the two ends, in the file's order. */
  readonly endpoints: readonly Endpoint[];
}

/** An interface as the checks track it: where its address and MAC were written. */
export interface Iface {
  readonly node: string;
  readonly name: string;
  readonly net: CheckedNetwork;
  readonly address?: { readonly text: string; readonly at: Path };
  readonly mac?: { readonly text: string; readonly at: Path };
  readonly acls?: { readonly names: readonly string[]; readonly at: Path };
  /** Where the interface itself was written (its key, or the link end that made it). */
  readonly at: Path;
  readonly where: 'key' | 'value';
}

export const DOCKER_NAME_MAX = 60;
const DPID_PREFIX = 0x0d5a0000n;

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The DPID a network gets when the file gives none: 0x0d5a0000 then FNV-1a("<lab>/<key>"). */
export function derivedDpid(lab: string, key: string): bigint {
  return (DPID_PREFIX << 32n) | BigInt(fnv1a32(`${lab}/${key}`));
}

/** Network keys with an `ovs.bridge.*` option of the same name, which `options:` must not repeat. */
const SEGMENT_OPTION_KEYS = [
  'mode',
  'vlan',
  'dpid',
  'mtu',
  'default_acl',
  'nat_acl',
  'add_ports',
  'dhcp',
  'dhcp_server',
  'dhcp_subnet',
  'antispoof',
  'userspace',
  'preallocate_ports',
  'controller',
  'host_routes',
];
const LINK_OPTION_KEYS = new Set(['vlan', 'dpid', 'mtu', 'default_acl']);

function checkDpid(ctx: CheckContext, at: Path, given: string | number | undefined, lab: string, key: string): bigint {
  if (given === undefined) return derivedDpid(lab, key);
  // A YAML integer above 2^53 is already rounded: read the digits as written.
  const text = typeof given === 'number' ? (ctx.source([...at, 'dpid']) ?? String(given)) : given;
  const t = text.trim().replace(/_/g, '');
  let n: bigint | undefined;
  if (/^0x[0-9a-f]{1,16}$/i.test(t) || /^[0-9]{1,20}$/.test(t)) n = BigInt(t);
  else if (/^0o[0-7]+$/i.test(t)) n = BigInt(t);
  if (n === undefined || n < 1n || n > 0xffff_ffff_ffff_ffffn) {
    ctx.errors.add(
      [...at, 'dpid'],
      `invalid DPID ${JSON.stringify(text)}: expected 0x1 to 0xffffffffffffffff, in hex or decimal`,
    );
    return derivedDpid(lab, key);
  }
  return n;
}

function checkOptions(
  ctx: CheckContext,
  at: Path,
  options: Readonly<Record<string, unknown>> | undefined,
  isLink: boolean,
): void {
  for (const name of Object.keys(options ?? {})) {
    const short = name.slice('ovs.bridge.'.length);
    if (!SEGMENT_OPTION_KEYS.includes(short)) continue;
    const msg =
      isLink && !LINK_OPTION_KEYS.has(short)
        ? `${name} cannot be set on a link (a link is always a flat, internal network)`
        : `${name} has a key of its own: write ${short}: instead`;
    ctx.errors.add([...at, 'options', name], msg, 'key');
  }
}

function checkSegment(ctx: CheckContext, key: string, n: NetworkInput): CheckedNetwork {
  const at: Path = ['networks', key];
  const e = ctx.errors;
  const mode = n.mode ?? 'flat';
  let subnet: Cidr | undefined;
  if (n.subnet !== undefined) {
    subnet = parseCidr(n.subnet);
    const meant = hostBitsSet(subnet);
    if (meant !== undefined) e.add([...at, 'subnet'], `subnet ${n.subnet} has host bits set; the network is ${meant}`);
    subnet = { ip: networkOf(subnet), len: subnet.len };
  }
  if (mode !== 'flat' && subnet === undefined)
    e.add([...at, 'mode'], `mode ${mode} needs a subnet: (Docker's address pool and the host's gateway address)`);
  let gateway: string | undefined;
  if (n.gateway !== undefined && mode === 'flat') {
    e.add([...at, 'gateway'], 'gateway: is for mode nat or routed (a flat network has no host address)');
  } else if (mode !== 'flat' && subnet !== undefined) {
    if (n.gateway === undefined) {
      if (subnet.len >= 31)
        e.add(
          [...at, 'subnet'],
          `subnet ${formatCidr(subnet)} has no room for a gateway and nodes; mode ${mode} needs /30 or larger`,
        );
      gateway = numberToIp(networkOf(subnet) + 1);
    } else {
      const ip = ipToNumber(n.gateway);
      const why = contains(subnet, ip) ? notAHostAddress(subnet, ip) : `is outside the subnet ${formatCidr(subnet)}`;
      if (why !== undefined) e.add([...at, 'gateway'], `gateway ${n.gateway} ${why}`);
      gateway = n.gateway;
    }
  }
  if (n.dhcp === true && mode !== 'flat') e.add([...at, 'dhcp'], `dhcp: needs mode flat (this network is ${mode})`);
  if (n.dhcp !== true) {
    if (n.dhcp_server !== undefined) e.add([...at, 'dhcp_server'], 'dhcp_server: needs dhcp: true', 'key');
    if (n.dhcp_subnet !== undefined) e.add([...at, 'dhcp_subnet'], 'dhcp_subnet: needs dhcp: true', 'key');
  }
  if (n.dhcp_server !== undefined) {
    for (const ip of n.dhcp_server.split(',').map((s) => s.trim())) {
      if (!IPV4.test(ip))
        e.add(
          [...at, 'dhcp_server'],
          `dhcp_server ${JSON.stringify(n.dhcp_server)}: ${JSON.stringify(ip)} is not an IPv4 address`,
        );
    }
  }
  if (n.dhcp_subnet !== undefined) {
    const meant = hostBitsSet(parseCidr(n.dhcp_subnet));
    if (meant !== undefined)
      e.add([...at, 'dhcp_subnet'], `dhcp_subnet ${n.dhcp_subnet} has host bits set; the network is ${meant}`);
  }
  // The daemon's anti-spoofing admits only the addresses Docker (or a DHCP lease) gave a port; on
  // a flat network without DHCP the lab sets the addresses itself, so every IPv4 packet and ARP
  // of every node would be dropped.
  if (n.antispoof === true && mode === 'flat' && n.dhcp !== true) {
    e.add(
      [...at, 'antispoof'],
      "antispoof: needs mode nat or routed, or dhcp: true: it admits only the addresses the daemon knows a port by (Docker's or a DHCP lease), and on a flat network the lab sets them itself, so it would drop all of the nodes' IPv4 and ARP",
    );
  }
  if (n.host_routes !== undefined && n.host_routes.length > 0 && mode === 'flat') {
    e.add(
      [...at, 'host_routes'],
      'host_routes: needs mode nat or routed (the host has no address on a flat network)',
      'key',
    );
  }
  checkOptions(ctx, at, n.options, false);
  return {
    key,
    kind: 'segment',
    at,
    input: n,
    mode,
    ...(subnet ? { subnet } : {}),
    ...(gateway ? { gateway } : {}),
    dpid: checkDpid(ctx, at, n.dpid, ctx.file.name, key),
    endpoints: [],
  };
}

function checkLink(
  ctx: CheckContext,
  index: number,
  l: LinkInput,
  taken: Map<string, Path>,
): CheckedNetwork | undefined {
  // A link with a wrong end still yields its network, so that the interfaces it makes do not
  // cause a second error each on the nodes ("on no network").
  const at: Path = ['links', index];
  const e = ctx.errors;
  const nodes = Object.keys(ctx.file.nodes);
  const endpoints = l.endpoints.map((text, i): Endpoint => {
    const epAt: Path = [...at, 'endpoints', i];
    const [node = '', iface = ''] = text.split(':');
    if (!Object.hasOwn(ctx.file.nodes, node)) {
      e.add(epAt, `unknown node ${JSON.stringify(node)} in endpoint ${JSON.stringify(text)}${didYouMean(node, nodes)}`);
    }
    if (!INTERFACE_NAME.test(iface)) {
      e.add(
        epAt,
        `endpoint ${JSON.stringify(text)}: an interface name is 1-15 characters a-z, A-Z, 0-9, _ . -, starting with a letter, and not lo`,
      );
    }
    const addr = l.addresses?.[i];
    return {
      node,
      iface,
      at: epAt,
      ...(addr === undefined ? {} : { address: { text: addr, at: [...at, 'addresses', i] } }),
    };
  });
  const [a, b] = endpoints;
  if (a === undefined || b === undefined) return undefined;
  if (a.node === b.node) {
    e.add(b.at, `a link joins two different nodes; both ends are on ${a.node}`);
  }
  const key = l.name ?? `${a.node}-${a.iface}-${b.node}-${b.iface}`;
  const dockerName = `${ctx.file.name}-${key}`;
  if (dockerName.length > DOCKER_NAME_MAX) {
    e.add(
      [...at, 'endpoints'],
      `the link's Docker network name ${dockerName} is ${dockerName.length} characters, more than ${DOCKER_NAME_MAX}; give the link a shorter name:`,
    );
  }
  const other = taken.get(key);
  if (other !== undefined) {
    e.add(
      l.name === undefined ? [...at, 'endpoints'] : [...at, 'name'],
      `the name ${key} is already the name of ${formatWhere(other)}${l.name === undefined ? '; give this link a name:' : ''}`,
    );
  }
  taken.set(key, at);
  checkOptions(ctx, at, l.options, true);
  const dpid = checkDpid(ctx, at, l.dpid, ctx.file.name, key);
  return { key, kind: 'link', at, input: l, mode: 'flat', dpid, endpoints };
}

function formatWhere(p: Path): string {
  return p[0] === 'networks' ? `network ${String(p[1])}` : `links[${String(p[1])}]`;
}

/** Segments (in the file's order) then links; DPIDs unique across all of them. */
export function checkNetworks(ctx: CheckContext): CheckedNetwork[] {
  const out: CheckedNetwork[] = [];
  const taken = new Map<string, Path>();
  for (const [key, n] of Object.entries(ctx.file.networks ?? {})) {
    out.push(checkSegment(ctx, key, n));
    taken.set(key, ['networks', key]);
  }
  ctx.file.links?.forEach((l, i) => {
    const c = checkLink(ctx, i, l, taken);
    if (c !== undefined) out.push(c);
  });
  checkLinkAddresses(ctx, out);
  const dpids = new Map<bigint, CheckedNetwork>();
  for (const n of out) {
    const first = dpids.get(n.dpid);
    if (first === undefined) {
      dpids.set(n.dpid, n);
      continue;
    }
    const given = n.input.dpid !== undefined;
    ctx.errors.add(
      given ? [...n.at, 'dpid'] : n.at,
      `DPID 0x${n.dpid.toString(16)} is also ${formatWhere(first.at)}'s${given ? '' : '; give this one a dpid:'}`,
      given ? 'value' : 'key',
    );
  }
  return out;
}

/** Addresses a link gives in `addresses:`: one subnet, two hosts. (Addresses given on the nodes' interfaces are checked with them.) */
function checkLinkAddresses(ctx: CheckContext, links: CheckedNetwork[]): void {
  for (const n of links) {
    const [a, b] = n.endpoints;
    if (a?.address === undefined || b?.address === undefined) continue;
    linkSubnet(ctx, n, a.address, b.address);
  }
}

/**
 * Two ends' addresses of a link: both in one subnet, which becomes the link's, and neither the
 * network or broadcast address nor the other's.
 */
export function linkSubnet(
  ctx: CheckContext,
  n: CheckedNetwork,
  a: { text: string; at: Path },
  b: { text: string; at: Path },
): void {
  const ca = parseCidr(a.text);
  const cb = parseCidr(b.text);
  const e = ctx.errors;
  if (ca.len !== cb.len || networkOf(ca) !== networkOf(cb)) {
    e.add(b.at, `the ends of link ${n.key} are not in one subnet: ${a.text} and ${b.text}`);
    return;
  }
  for (const [c, x] of [
    [ca, a],
    [cb, b],
  ] as const) {
    const why = notAHostAddress(c, c.ip);
    if (why !== undefined) e.add(x.at, `address ${x.text} ${why} of ${formatCidr({ ip: networkOf(c), len: c.len })}`);
  }
  if (ca.ip === cb.ip) e.add(b.at, `both ends of link ${n.key} have the address ${b.text}`);
  n.subnet = { ip: networkOf(ca), len: ca.len };
}
