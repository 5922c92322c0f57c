import { hostPrefix, type Family } from './addresses.js';
import type { RoutedLink, RoutedSubnets } from './spec.js';

/**
 * The commands that build a routed link, as pure functions of the link and of what is already
 * there, so that each step can be re-run (a restart, a repeat) and tested without a host.
 * `ip` commands carry their arguments only; the executor runs them on the host or inside the
 * container's network namespace.
 */

export interface Sysctl {
  /** Below /proc/sys/net, with `/` separators: `ipv4/conf/nw-x/forwarding`. */
  readonly key: string;
  readonly value: string;
  /** Left out when the kernel has no such setting (force_forwarding is Linux 6.17+). */
  readonly optional?: boolean;
}

/** `ip` arguments. */
export type IpArgs = readonly string[];

export interface ObservedAddress {
  readonly family: Family;
  readonly local: string;
  readonly prefixLength: number;
  readonly scope: string;
}

export interface ObservedInterface {
  readonly up: boolean;
  readonly addresses: readonly ObservedAddress[];
}

/** The host end's settings, made before it carries anything. */
export function hostSysctls(link: RoutedLink): Sysctl[] {
  const h = link.hostIf;
  const out: Sysctl[] = [{ key: `ipv4/conf/${h}/forwarding`, value: link.forwarding ? '1' : '0' }];
  if (link.ipv6 === undefined) {
    out.push({ key: `ipv6/conf/${h}/disable_ipv6`, value: '1' });
    return out;
  }
  out.push(
    { key: `ipv6/conf/${h}/accept_ra`, value: '0' },
    { key: `ipv6/conf/${h}/autoconf`, value: '0' },
    // No address of its own beyond the host address: fe80::1 is the only one the container sees.
    { key: `ipv6/conf/${h}/addr_gen_mode`, value: '1' },
    { key: `ipv6/conf/${h}/disable_ipv6`, value: '0' },
    { key: `ipv6/conf/${h}/force_forwarding`, value: link.forwarding ? '1' : '0', optional: true },
  );
  return out;
}

/**
 * The host end: ARP off, the host addresses with the container's as peer (which makes the
 * IPv4 /32 route), the IPv6 /128 route, up, and the container's MACs as permanent neighbours.
 * Every command is idempotent (`replace`).
 */
export function hostCommands(link: RoutedLink): IpArgs[] {
  const h = link.hostIf;
  const out: IpArgs[] = [
    ['link', 'set', 'dev', h, 'arp', 'off', ...(link.mtu === undefined ? [] : ['mtu', String(link.mtu)])],
  ];
  if (link.ipv4 !== undefined) out.push(['-4', 'addr', 'replace', link.hostIpv4, 'peer', `${link.ipv4}/32`, 'dev', h]);
  if (link.ipv6 !== undefined)
    out.push(['-6', 'addr', 'replace', link.hostIpv6, 'peer', `${link.ipv6}/128`, 'dev', h, 'nodad']);
  out.push(['link', 'set', 'dev', h, 'up']);
  // A peer address does not route the IPv6 peer (/128); see hostLinkLocalRoute for the rest.
  if (link.ipv6 !== undefined) out.push(['-6', 'route', 'replace', `${link.ipv6}/128`, 'dev', h]);
  out.push(...neighbourCommands(h, link.containerMac, [link.ipv4, link.ipv6]));
  return out;
}

/**
 * Without an address of its own, the host end has no route to the link-local prefix the
 * container answers from. Every device has its own such route, so it is appended (`replace`
 * would move the one of another link here); the caller adds it only when it is missing.
 */
export function hostLinkLocalRoute(hostIf: string): IpArgs {
  return ['-6', 'route', 'append', 'fe80::/64', 'dev', hostIf];
}

/** Permanent neighbours: with ARP off, nothing else tells either end the other's MAC. */
export function neighbourCommands(dev: string, mac: string, addresses: readonly (string | undefined)[]): IpArgs[] {
  return addresses
    .filter((a): a is string => a !== undefined)
    .map((a) => [a.includes(':') ? '-6' : '-4', 'neigh', 'replace', a, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
}

/** The container end's settings: no router advertisements or autoconfiguration; no IPv6 at all without an address. */
export function containerSysctls(link: RoutedLink, ifname: string): Sysctl[] {
  if (link.ipv6 === undefined) return [{ key: `ipv6/conf/${ifname}/disable_ipv6`, value: '1' }];
  return [
    { key: `ipv6/conf/${ifname}/accept_ra`, value: '0' },
    { key: `ipv6/conf/${ifname}/autoconf`, value: '0' },
    { key: `ipv6/conf/${ifname}/disable_ipv6`, value: '0' },
  ];
}

export interface ContainerPlanOptions {
  /** Add `default via` the host addresses (the command; the driver leaves that to Docker). */
  readonly defaultRoutes: boolean;
  /** The network's subnets, routed through the host (the driver). */
  readonly subnets: RoutedSubnets;
}

/**
 * The container end, from what it has now: single addresses (a /32 and a /128: Docker's IPAM
 * gives /24 and /64, which would make the other containers of the subnet neighbours on a link
 * that has none), up, the host addresses as permanent neighbours, and routes through them.
 */
export function containerCommands(
  link: RoutedLink,
  ifname: string,
  observed: ObservedInterface,
  opts: ContainerPlanOptions,
): IpArgs[] {
  const out: IpArgs[] = [['link', 'set', 'dev', ifname, 'arp', 'off']];
  const others = (family: Family, address: string): ObservedAddress[] =>
    observed.addresses.filter(
      (a) => a.family === family && a.local === address && a.prefixLength !== hostPrefix(family),
    );
  if (link.ipv4 !== undefined) {
    // Added before the other is removed: a device's last IPv4 address takes its routes with it.
    out.push(['-4', 'addr', 'replace', `${link.ipv4}/32`, 'dev', ifname]);
    for (const a of others(4, link.ipv4))
      out.push(['-4', 'addr', 'del', `${a.local}/${a.prefixLength}`, 'dev', ifname]);
  }
  if (link.ipv6 !== undefined) {
    // One IPv6 address cannot be on a device twice: the other goes first.
    for (const a of others(6, link.ipv6))
      out.push(['-6', 'addr', 'del', `${a.local}/${a.prefixLength}`, 'dev', ifname]);
    out.push(['-6', 'addr', 'replace', `${link.ipv6}/128`, 'dev', ifname, 'nodad']);
  }
  if (!observed.up) out.push(['link', 'set', 'dev', ifname, 'up']);
  out.push(
    ...neighbourCommands(ifname, link.hostMac, [
      link.ipv4 === undefined ? undefined : link.hostIpv4,
      link.ipv6 === undefined ? undefined : link.hostIpv6,
    ]),
  );
  if (link.ipv4 !== undefined) {
    out.push(['-4', 'route', 'replace', `${link.hostIpv4}/32`, 'dev', ifname, 'scope', 'link']);
    if (opts.subnets.ipv4 !== undefined)
      out.push(['-4', 'route', 'replace', opts.subnets.ipv4, 'via', link.hostIpv4, 'dev', ifname, 'onlink']);
    if (opts.defaultRoutes) out.push(['-4', 'route', 'add', 'default', 'via', link.hostIpv4, 'dev', ifname]);
  }
  if (link.ipv6 !== undefined) {
    if (opts.subnets.ipv6 !== undefined)
      out.push(['-6', 'route', 'replace', opts.subnets.ipv6, 'via', link.hostIpv6, 'dev', ifname]);
    if (opts.defaultRoutes) out.push(['-6', 'route', 'add', 'default', 'via', link.hostIpv6, 'dev', ifname]);
  }
  return out;
}

/** The container's link-local addresses, which the host end needs as neighbours to answer them. */
export function linkLocals(observed: ObservedInterface): string[] {
  return observed.addresses.filter((a) => a.family === 6 && a.scope === 'link').map((a) => a.local);
}

/** Parses `ip -json addr show dev X` (one interface). */
export function parseObservedInterface(json: string): ObservedInterface | undefined {
  if (json.trim() === '') return undefined;
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || parsed.length === 0) return undefined;
  const first = parsed[0] as { flags?: unknown; addr_info?: unknown };
  const addresses: ObservedAddress[] = [];
  for (const a of Array.isArray(first.addr_info) ? (first.addr_info as Record<string, unknown>[]) : []) {
    const family = a['family'] === 'inet' ? 4 : a['family'] === 'inet6' ? 6 : undefined;
    if (family === undefined || typeof a['local'] !== 'string' || typeof a['prefixlen'] !== 'number') continue;
    addresses.push({
      family,
      local: a['local'],
      prefixLength: a['prefixlen'],
      scope: typeof a['scope'] === 'string' ? a['scope'] : '',
    });
  }
  return { up: Array.isArray(first.flags) && first.flags.includes('UP'), addresses };
}
