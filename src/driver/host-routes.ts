import { Opt, type HostRoute } from '../model/options.js';
import {
  ipv4ToNumber,
  numberToIpv4,
  parseIpv4Prefix,
  prefixContains,
  prefixesOverlap,
  prefixLast,
  type Ipv4Prefix,
} from '../model/ipv4.js';
import type { RouteEntry } from '../net/routes.js';

/**
 * `ovs.bridge.host_routes`: routes on the host to prefixes that lie behind a container acting
 * as a router on a nat or routed network (`ip route replace PREFIX via VIA dev BRIDGE`). The
 * option's syntax is checked where every option is (model/options.ts); what needs the network's
 * subnet, the other networks and the host's routing table is checked here, at create, before
 * anything is made. The routes are put in place with the gateway (Driver.setUpGateway, also at
 * every start) and removed with the network.
 */

/** Another dovesnap network, as far as its host routes and subnet go. */
export interface RoutedNetwork {
  readonly label: string;
  readonly bridge: string;
  readonly subnet: string | undefined;
  readonly hostRoutes: readonly HostRoute[];
}

export interface HostRoutesCheck {
  /** The option's value as given: error messages quote it. */
  readonly value: string;
  readonly routes: readonly HostRoute[];
  /** The network's subnet and gateway address, from Docker's IPAM. */
  readonly subnet: string;
  readonly gateway: string;
  /** The bridge the routes will go through (its routes are not conflicts). */
  readonly bridge: string;
  readonly others: readonly RoutedNetwork[];
  /** The host's main routing table now. */
  readonly table: readonly RouteEntry[];
}

function prefixOf(cidr: string): Ipv4Prefix | undefined {
  return parseIpv4Prefix(cidr)?.prefix;
}

/**
 * Why a network with a gateway on the host (nat, routed) cannot have `subnet`: another
 * dovesnap network's host route already sends that prefix (or part of it) to a container, and
 * the bridge's own link route would compete with it for the same addresses. Undefined if none.
 */
export function subnetRoutedProblem(subnet: string, others: readonly RoutedNetwork[]): string | undefined {
  const mine = prefixOf(subnet);
  if (mine === undefined) return undefined;
  for (const o of others) {
    for (const r of o.hostRoutes) {
      const prefix = prefixOf(r.prefix);
      if (prefix !== undefined && prefixesOverlap(prefix, mine)) {
        return `the subnet ${subnet} overlaps ${r.prefix}, which dovesnap network ${o.label} routes to ${r.via} (ovs.bridge.host_routes); choose another subnet`;
      }
    }
  }
  return undefined;
}

/** Why the routes cannot be made for this network, as an error message naming the option and value; undefined if they can. */
export function hostRoutesProblem(c: HostRoutesCheck): string | undefined {
  if (c.routes.length === 0) return undefined;
  const fail = (why: string): string => `invalid value ${JSON.stringify(c.value)} for option ${Opt.hostRoutes}: ${why}`;
  const subnet = prefixOf(c.subnet);
  if (subnet === undefined) return fail(`the network's subnet ${c.subnet} is not an IPv4 prefix`);
  for (const r of c.routes) {
    const prefix = prefixOf(r.prefix);
    const via = ipv4ToNumber(r.via);
    if (prefix === undefined || via === undefined) return fail(`${r.prefix}@${r.via} is not PREFIX@VIA`);
    if (prefixesOverlap(prefix, subnet))
      return fail(`${r.prefix} overlaps the network's own subnet ${c.subnet}, which is on the bridge already`);
    if (!prefixContains(subnet, via))
      return fail(
        `the next hop ${r.via} of ${r.prefix} is not in the network's subnet ${c.subnet}: it must be a container's address on this network`,
      );
    if (r.via === c.gateway)
      return fail(
        `the next hop ${r.via} of ${r.prefix} is the network's gateway, the host itself; it must be a container's address`,
      );
    // /31 and /32 subnets have no network or broadcast address.
    if (subnet.len <= 30 && (via === subnet.base || via === prefixLast(subnet))) {
      return fail(
        `the next hop ${r.via} of ${r.prefix} is the ${via === subnet.base ? 'network' : 'broadcast'} address of ${c.subnet}`,
      );
    }
  }
  for (const o of c.others) {
    const theirs = o.subnet === undefined ? undefined : prefixOf(o.subnet);
    for (const r of c.routes) {
      const prefix = prefixOf(r.prefix);
      if (prefix === undefined) continue;
      if (theirs !== undefined && prefixesOverlap(prefix, theirs))
        return fail(`${r.prefix} overlaps ${o.subnet}, the subnet of dovesnap network ${o.label}`);
      const same = o.hostRoutes.find((x) => x.prefix === r.prefix);
      if (same !== undefined) return fail(`dovesnap network ${o.label} already routes ${r.prefix} (via ${same.via})`);
    }
  }
  for (const r of c.routes) {
    const prefix = prefixOf(r.prefix);
    if (prefix === undefined) continue;
    for (const t of c.table) {
      if (t.dev === c.bridge) continue;
      const dst = prefixOf(t.dst);
      if (dst === undefined) continue;
      const where = `${t.gateway === undefined ? '' : `via ${t.gateway} `}dev ${t.dev ?? '?'}`;
      // `ip route replace` would take the host's own route over, silently.
      if (dst.base === prefix.base && dst.len === prefix.len)
        return fail(`the host already has a route to ${r.prefix} (${where}), which this one would replace`);
      // A prefix inside an interface's own subnet would take part of that link's addresses away
      // from it (the longer prefix wins); one around it would not, and is ordinary routing.
      if (t.protocol === 'kernel' && t.scope === 'link' && prefix.len >= dst.len && prefixesOverlap(prefix, dst)) {
        return fail(
          `${r.prefix} is inside ${numberToIpv4(dst.base)}/${dst.len}, the subnet of the host's interface ${t.dev ?? '?'}`,
        );
      }
    }
  }
  return undefined;
}
