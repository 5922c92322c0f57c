import { createHash } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { OWNED_ACL_PREFIX } from '../faucet/types.js';

/**
 * Anti-spoofing (`ovs.bridge.antispoof`, label `dovesnap.faucet.antispoof`) as a pure function:
 * the one input ACL of a container's port that admits only what the container may send as
 * itself — its own MAC as source, ARP only for its own IPv4 address, IP only from its own
 * addresses — and within that applies the operator's ACLs of the port, rule by rule.
 *
 * FAUCET has no "continue with the next ACL" and no negated match: a port's `acls_in` are
 * concatenated and the first matching rule decides. So the operator's rules are copied,
 * each narrowed to the port's own addresses, in sections by traffic type (ARP, IPv4, IPv6,
 * the rest). The sections are disjoint (a frame has one EtherType), so the operator's order
 * still decides within each; what matches no copy (spoofed, or refused by the operator's
 * rules) is dropped at the end of its section. See docs/antispoof.md.
 */

export type AclRule = Readonly<Record<string, unknown>>;

export interface AntispoofPort {
  readonly mac: string;
  /** IPv4 addresses, bare or CIDR (the prefix is ignored). */
  readonly ipv4: readonly string[];
  /** IPv6 addresses, bare or CIDR; the link-local address made from the MAC is always added. */
  readonly ipv6: readonly string[];
  /** An `ovs.bridge.dhcp` network: DHCP discovery from 0.0.0.0 is let through. */
  readonly dhcp: boolean;
}

export const ETH_ARP = 0x0806;
export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;
const IP_UDP = 17;
const IP_ICMPV6 = 58;
const ICMPV6_RA = 134;
const ICMPV6_NA = 136;
const ICMPV6_REDIRECT = 137;
const DHCPV4_SERVER = 67;
const DHCPV4_CLIENT = 68;
const DHCPV6_SERVER = 547;
const DHCPV6_CLIENT = 546;

/** FAUCET's old names of match fields, as FAUCET maps them (valve_of_old.py). */
const OLD_FIELDS: Readonly<Record<string, string>> = {
  dl_dst: 'eth_dst',
  dl_src: 'eth_src',
  dl_type: 'eth_type',
  dl_vlan: 'vlan_vid',
  nw_proto: 'ip_proto',
  nw_src: 'ipv4_src',
  nw_dst: 'ipv4_dst',
};

type Section = 'arp' | 'ipv4' | 'ipv6' | 'other';
const ETH_TYPE_OF: Readonly<Record<Exclude<Section, 'other'>, number>> = {
  arp: ETH_ARP,
  ipv4: ETH_IPV4,
  ipv6: ETH_IPV6,
};

function normalised(rule: AclRule): Record<string, unknown> {
  return Object.fromEntries(Object.entries(rule).map(([k, v]) => [OLD_FIELDS[k] ?? k, v]));
}

/** An integer as FAUCET reads one (int, or a decimal or 0x string); undefined otherwise. */
export function toInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && /^(0x[0-9a-f]+|[0-9]+)$/i.test(v.trim())) return Number(v.trim());
  return undefined;
}

/** The traffic types a rule can match: by its EtherType, else by the fields it matches on. */
export function sectionsOf(rule: AclRule): Section[] {
  if (rule['eth_type'] !== undefined) {
    const et = toInt(rule['eth_type']);
    if (et === undefined) return [];
    return et === ETH_ARP ? ['arp'] : et === ETH_IPV4 ? ['ipv4'] : et === ETH_IPV6 ? ['ipv6'] : ['other'];
  }
  const keys = Object.keys(rule).filter((k) => k !== 'actions');
  if (keys.some((k) => k.startsWith('arp_'))) return ['arp'];
  if (keys.some((k) => k.startsWith('ipv4_') || k.startsWith('icmpv4_'))) return ['ipv4'];
  if (keys.some((k) => k.startsWith('ipv6_') || k.startsWith('icmpv6_'))) return ['ipv6'];
  if (keys.some((k) => /^(ip_|tcp_|udp_|sctp_)/.test(k))) return ['ipv4', 'ipv6'];
  return ['arp', 'ipv4', 'ipv6', 'other'];
}

function maskPrefix(mask: string): number | undefined {
  const bits = mask
    .split('.')
    .map((o) => Number(o).toString(2).padStart(8, '0'))
    .join('');
  return /^1*0*$/.test(bits) ? (bits.indexOf('0') === -1 ? 32 : bits.indexOf('0')) : undefined;
}

/** Whether `addr` lies in a rule's address match (`10.0.0.5`, `10.0.0.0/24`, `10.0.0.0/255.255.255.0`). */
export function ipIn(ruleValue: unknown, addr: string): boolean {
  if (typeof ruleValue !== 'string') return false;
  const [net = '', mask, extra] = ruleValue.trim().split('/');
  if (extra !== undefined) return false;
  const family = isIPv4(addr) ? 'ipv4' : 'ipv6';
  if (family === 'ipv4' ? !isIPv4(net) : !isIPv6(net)) return false;
  let prefix = family === 'ipv4' ? 32 : 128;
  if (mask !== undefined) {
    const p = /^[0-9]{1,3}$/.test(mask)
      ? Number(mask)
      : family === 'ipv4' && isIPv4(mask)
        ? maskPrefix(mask)
        : undefined;
    if (p === undefined || p > prefix) return false;
    prefix = p;
  }
  const list = new BlockList();
  try {
    list.addSubnet(net, prefix, family);
    return list.check(addr, family);
  } catch {
    return false;
  }
}

function macBytes(v: string): number[] | undefined {
  const t = v.trim().toLowerCase();
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(t) ? t.split(':').map((b) => parseInt(b, 16)) : undefined;
}

/** Whether `mac` matches a rule's MAC match (`0e:…`, or masked `0e:…/ff:ff:ff:00:00:00`). */
export function macIn(ruleValue: unknown, mac: string): boolean {
  if (typeof ruleValue !== 'string') return false;
  const [value = '', maskText, extra] = ruleValue.split('/');
  const v = macBytes(value);
  const m = maskText === undefined ? [255, 255, 255, 255, 255, 255] : macBytes(maskText);
  const a = macBytes(mac);
  if (extra !== undefined || v === undefined || m === undefined || a === undefined) return false;
  return a.every((b, i) => (b & (m[i] ?? 0)) === ((v[i] ?? 0) & (m[i] ?? 0)));
}

/**
 * The rule restricted to `field` = `value`: the field added, or kept if the rule's own match
 * on it already includes the value (then the intersection is the value). undefined: the rule
 * can never match the port's own traffic.
 */
function narrow(
  rule: Record<string, unknown> | undefined,
  field: string,
  value: string,
  includes: (ruleValue: unknown, v: string) => boolean,
): Record<string, unknown> | undefined {
  if (rule === undefined) return undefined;
  if (rule[field] !== undefined && !includes(rule[field], value)) return undefined;
  return { ...rule, [field]: value };
}

/** The rule with its EtherType first, as a number. */
function typed(rule: Record<string, unknown>, ethType: number): Record<string, unknown> {
  const { eth_type: _ignored, ...rest } = rule;
  return { eth_type: ethType, ...rest };
}

/** The EUI-64 link-local address Linux gives an interface with this MAC. */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const word = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);
  return `fe80::${word((b[0] ?? 0) ^ 2, b[1] ?? 0)}:${word(b[2] ?? 0, 0xff)}:${word(0xfe, b[3] ?? 0)}:${word(b[4] ?? 0, b[5] ?? 0)}`;
}

function bare(addr: string): string {
  return addr.split('/')[0] ?? addr;
}

const drop = { allow: false } as const;

/** The copies of one operator rule for one section, narrowed to the port's own addresses. */
function copies(
  rule: Record<string, unknown>,
  section: Section,
  mac: string,
  v4: readonly string[],
  v6: readonly string[],
): Record<string, unknown>[] {
  const own = narrow(rule, 'eth_src', mac, macIn);
  if (own === undefined) return [];
  switch (section) {
    case 'arp':
      return v4
        .map((ip) => narrow(narrow(typed(own, ETH_ARP), 'arp_sha', mac, macIn), 'arp_spa', ip, ipIn))
        .filter((r) => r !== undefined);
    case 'ipv4':
      return v4.map((ip) => narrow(typed(own, ETH_IPV4), 'ipv4_src', ip, ipIn)).filter((r) => r !== undefined);
    case 'ipv6':
      return v6.map((ip) => narrow(typed(own, ETH_IPV6), 'ipv6_src', ip, ipIn)).filter((r) => r !== undefined);
    case 'other':
      return [own];
  }
}

/**
 * The rules of a port's anti-spoofing ACL. `operator` is the concatenation of the port's own
 * ACLs (label or `default_acl`); undefined when it has none, which FAUCET treats as "allow
 * everything": then the port may send anything, as itself.
 */
export function antispoofRules(port: AntispoofPort, operator: readonly AclRule[] | undefined): AclRule[] {
  const mac = port.mac.toLowerCase();
  const v4 = [...new Set(port.ipv4.map(bare))];
  const v6 = [...new Set([...port.ipv6.map(bare), linkLocalOf(mac)])];
  const rules: AclRule[] = [];
  // A container is no router: its router advertisements and redirects go nowhere.
  for (const type of [ICMPV6_RA, ICMPV6_REDIRECT])
    rules.push({ eth_type: ETH_IPV6, ip_proto: IP_ICMPV6, icmpv6_type: type, actions: drop });
  // A neighbour advertisement for an address not its own is IPv6's ARP poisoning.
  for (const src of v6) {
    for (const target of v6) {
      rules.push({
        eth_type: ETH_IPV6,
        eth_src: mac,
        ipv6_src: src,
        ip_proto: IP_ICMPV6,
        icmpv6_type: ICMPV6_NA,
        ipv6_nd_target: target,
        actions: { allow: true },
      });
    }
  }
  rules.push({ eth_type: ETH_IPV6, ip_proto: IP_ICMPV6, icmpv6_type: ICMPV6_NA, actions: drop });
  // Nor a DHCP server: its offer would become a peer's address (and, on a DHCP network, that
  // peer's pinned one), its NAK would end a peer's lease. Dropped before the operator's rules,
  // which may well allow UDP from the container's own address.
  rules.push({ eth_type: ETH_IPV4, ip_proto: IP_UDP, udp_src: DHCPV4_SERVER, udp_dst: DHCPV4_CLIENT, actions: drop });
  rules.push({ eth_type: ETH_IPV6, ip_proto: IP_UDP, udp_src: DHCPV6_SERVER, udp_dst: DHCPV6_CLIENT, actions: drop });
  // Before it has a lease, a DHCP client has no address to send from.
  if (port.dhcp) {
    rules.push({
      eth_type: ETH_IPV4,
      eth_src: mac,
      ipv4_src: '0.0.0.0',
      ipv4_dst: '255.255.255.255',
      ip_proto: IP_UDP,
      udp_src: DHCPV4_CLIENT,
      udp_dst: DHCPV4_SERVER,
      actions: { allow: true },
    });
  }
  const theirs = (operator ?? [{ actions: { allow: true } }]).map(normalised);
  for (const section of ['arp', 'ipv4', 'ipv6'] as const) {
    for (const rule of theirs)
      if (sectionsOf(rule).includes(section)) rules.push(...copies(rule, section, mac, v4, v6));
    rules.push({ eth_type: ETH_TYPE_OF[section], actions: drop });
  }
  for (const rule of theirs) if (sectionsOf(rule).includes('other')) rules.push(...copies(rule, 'other', mac, v4, v6));
  // Whatever is left is dropped by FAUCET's own default at the end of a port's ACLs.
  return rules;
}

export const ANTISPOOF_ACL_PREFIX = `${OWNED_ACL_PREFIX}antispoof-`;

/**
 * The ACL's name: the DP and port it is for, and a digest of its rules, so that a change of
 * rules (a lease, an edit of the operator's ACL) is a change of the port's entry, which is
 * what makes dovesnap write it (faucet-plan.ts compares ports' entries).
 */
export function antispoofAclName(dpName: string, port: number, rules: readonly AclRule[]): string {
  const digest = createHash('sha256').update(JSON.stringify(rules)).digest('hex').slice(0, 8);
  return `${ANTISPOOF_ACL_PREFIX}${dpName}-${port}-${digest}`;
}
