import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * How a port published on a host address reaches its container. DNAT in `ip dovesnap` serves
 * the IPv4 addresses other hosts send to. The port proxy (port-proxy.ts) serves the rest:
 * - all of 127.0.0.0/8: NAT cannot send a packet from a loopback address to another host
 *   without route_localnet, a host-wide setting dovesnap leaves alone; and a PREROUTING rule
 *   for a loopback address would answer a neighbour that sends martian packets to it;
 * - IPv6 addresses: a nat or routed network's gateway, and so the way in, is IPv4 only, and
 *   NAT cannot turn an IPv6 packet into an IPv4 one.
 * Every IPv4 address ('' in a mapping) is both: DNAT, and the proxy on 127.0.0.1.
 */
export interface PublishPaths {
  /** The DNAT rules' destination: '' every local address, else one IPv4 address; undefined: none. */
  readonly dnat: string | undefined;
  /** The address the port proxy listens on; undefined: none. */
  readonly proxy: string | undefined;
}

const LOOPBACK_V4 = new BlockList();
LOOPBACK_V4.addSubnet('127.0.0.0', 8, 'ipv4');

export function isLoopbackIPv4(ip: string): boolean {
  return isIPv4(ip) && LOOPBACK_V4.check(ip, 'ipv4');
}

/** The paths for a mapping's host address ('' = every address); undefined if it is no IP address. */
export function publishPaths(hostIp: string): PublishPaths | undefined {
  if (hostIp === '') return { dnat: '', proxy: '127.0.0.1' };
  if (isIPv4(hostIp))
    return isLoopbackIPv4(hostIp) ? { dnat: undefined, proxy: hostIp } : { dnat: hostIp, proxy: undefined };
  if (isIPv6(hostIp)) return { dnat: undefined, proxy: hostIp };
  return undefined;
}

/** One address however it is written ('::1', '0:0:0:0:0:0:0:1' as /proc has it). */
export function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const family = isIPv6(a) ? 'ipv6' : isIPv4(a) ? 'ipv4' : undefined;
  if (family === undefined || (family === 'ipv6' ? !isIPv6(b) : !isIPv4(b))) return false;
  const one = new BlockList();
  try {
    one.addAddress(a, family);
    return one.check(b, family);
  } catch {
    // A scoped address (fe80::1%eth0) is no BlockList address: only the same text is the same.
    return false;
  }
}

/** An address as it is written in `HOST:PORT`. */
export function showHostAddress(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}
