/**
 * Routes: a node's static routes (`routes:`) and the host's routes into the lab through a node
 * (a network's `host_routes:`), both written as a map or as "DST via NEXT-HOP".
 */
import type { LabHostRoute, LabRoute } from './model.js';
import type { CheckContext, CheckedNetwork, Iface } from './check-networks.js';
import type { MergedNode } from './inherit.js';
import {
  contains,
  formatCidr,
  hostBitsSet,
  ipToNumber,
  networkOf,
  notAHostAddress,
  overlaps,
  parseCidr,
  type Cidr,
} from './ipv4.js';
import type { Path } from './positions.js';
import { IPV4, IPV4_CIDR, type HostRouteInput, type RouteInput } from './spec.js';
import { didYouMean } from './suggest.js';

/** `DST via IPv4` / `PREFIX via NODE`, or the map form: the two halves and where each was written. */
function splitVia(
  value: string | { readonly [k: string]: string },
  first: 'dst' | 'prefix',
  at: Path,
): { dst: string; via: string; dstAt: Path; viaAt: Path } | undefined {
  if (typeof value !== 'string')
    return { dst: value[first] ?? '', via: value.via ?? '', dstAt: [...at, first], viaAt: [...at, 'via'] };
  const m = /^\s*(\S+)\s+via\s+(\S+)\s*$/.exec(value);
  if (m === null) return undefined;
  return { dst: m[1] ?? '', via: m[2] ?? '', dstAt: at, viaAt: at };
}

/** A destination prefix, or an error about it. */
function prefixOf(ctx: CheckContext, text: string, at: Path, what: string): Cidr | undefined {
  if (!IPV4_CIDR.test(text)) {
    ctx.errors.add(at, `${what} ${JSON.stringify(text)} is not a prefix such as 192.168.102.0/24`);
    return undefined;
  }
  const c = parseCidr(text);
  const meant = hostBitsSet(c);
  if (meant !== undefined) {
    ctx.errors.add(at, `${what} ${text} has host bits set; the prefix is ${meant}`);
    return undefined;
  }
  return c;
}

export function checkRoutes(ctx: CheckContext, m: MergedNode, ifaces: readonly Iface[]): LabRoute[] {
  const routes: LabRoute[] = [];
  if (m.routes === undefined) return routes;
  // The node's own subnets; a next hop must be on one. Unknown when an interface's subnet is (DHCP, flat without subnet).
  const subnets: Cidr[] = [];
  let allKnown = true;
  for (const i of ifaces) {
    const s = i.address !== undefined ? parseCidr(i.address.text) : i.net.subnet;
    if (s === undefined) allKnown = false;
    else subnets.push(s);
  }
  const seen = new Set<string>();
  const given = m.routes;
  given.value.forEach((r: RouteInput, idx) => {
    const at = [...given.at, idx];
    const parts = splitVia(r, 'dst', at);
    if (parts === undefined) {
      ctx.errors.add(at, `route ${JSON.stringify(r)} is not "DST via IPv4", e.g. "default via 192.168.101.1"`);
      return;
    }
    const { dst, via, dstAt, viaAt } = parts;
    if (dst !== 'default' && prefixOf(ctx, dst, dstAt, 'route destination') === undefined) return;
    if (!IPV4.test(via)) {
      ctx.errors.add(viaAt, `route to ${dst}: next hop ${JSON.stringify(via)} is not an IPv4 address`);
      return;
    }
    const ip = ipToNumber(via);
    if (allKnown && !subnets.some((s) => contains(s, ip))) {
      const list = subnets.map((s) => formatCidr({ ip: networkOf(s), len: s.len })).join(', ');
      ctx.errors.add(
        viaAt,
        `route to ${dst}: next hop ${via} is on none of ${m.key}'s subnets (${list === '' ? 'it has no interfaces' : list})`,
      );
    }
    if (seen.has(dst)) ctx.errors.add(dstAt, `${m.key} has two routes to ${dst}`);
    seen.add(dst);
    routes.push({ dst, via });
  });
  return routes;
}

export function checkHostRoutes(ctx: CheckContext, n: CheckedNetwork, ifaces: readonly Iface[]): LabHostRoute[] {
  const out: LabHostRoute[] = [];
  if (n.kind !== 'segment' || !('host_routes' in n.input) || n.input.host_routes === undefined || n.mode === 'flat')
    return out;
  const nodes = Object.keys(ctx.file.nodes);
  const seen = new Set<number>();
  n.input.host_routes.forEach((r: HostRouteInput, idx) => {
    const at: Path = [...n.at, 'host_routes', idx];
    const parts = splitVia(r, 'prefix', at);
    if (parts === undefined) {
      ctx.errors.add(
        at,
        `host route ${JSON.stringify(r)} is not "PREFIX via NODE-or-IPv4", e.g. "192.168.102.0/24 via r1"`,
      );
      return;
    }
    const prefix = prefixOf(ctx, parts.dst, parts.dstAt, 'host route prefix');
    if (prefix === undefined) return;
    if (n.subnet !== undefined && overlaps(prefix, n.subnet)) {
      ctx.errors.add(
        parts.dstAt,
        `host route prefix ${parts.dst} overlaps network ${n.key}'s own subnet ${formatCidr(n.subnet)}`,
      );
      return;
    }
    if (seen.has(prefix.ip * 64 + prefix.len))
      ctx.errors.add(parts.dstAt, `network ${n.key} has two host routes to ${parts.dst}`);
    seen.add(prefix.ip * 64 + prefix.len);
    let via: string | undefined;
    if (IPV4.test(parts.via)) {
      const ip = ipToNumber(parts.via);
      const why =
        n.subnet !== undefined && !contains(n.subnet, ip)
          ? `is outside network ${n.key}'s subnet ${formatCidr(n.subnet)}`
          : n.gateway !== undefined && ipToNumber(n.gateway) === ip
            ? 'is the host itself (the gateway)'
            : n.subnet !== undefined
              ? notAHostAddress(n.subnet, ip)
              : undefined;
      if (why !== undefined) ctx.errors.add(parts.viaAt, `host route to ${parts.dst}: next hop ${parts.via} ${why}`);
      else via = parts.via;
    } else if (!Object.hasOwn(ctx.file.nodes, parts.via)) {
      ctx.errors.add(
        parts.viaAt,
        `host route to ${parts.dst}: ${JSON.stringify(parts.via)} is neither an IPv4 address nor a node${didYouMean(parts.via, nodes)}`,
      );
    } else {
      const i = ifaces.find((x) => x.node === parts.via && x.net === n);
      if (i?.address === undefined) {
        ctx.errors.add(
          parts.viaAt,
          `host route to ${parts.dst}: node ${parts.via} has no static address on network ${n.key} (give its interface there an address:)`,
        );
      } else via = i.address.text.split('/')[0];
    }
    if (via !== undefined) out.push({ prefix: parts.dst, via });
  });
  return out;
}
