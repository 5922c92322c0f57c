import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { canonicalHost } from '../config/status-hosts.js';

/**
 * Which names a request may call the status API by: its Host header. The peer check (config/status-allow.ts)
 * cannot stop DNS rebinding: a page the operator opens elsewhere points a name it owns at
 * 127.0.0.1, and the operator's browser then reads the API from loopback, under that name. So
 * only a Host that means this server passes: `localhost`, a loopback address (an address
 * literal cannot be rebound, and `ssh -L` tunnels arrive as one), the address the server
 * listens on (any of the host's own when that is 0.0.0.0 or ::), and the names the operator
 * lists in DOVESNAP_STATUS_HOSTS.
 */
export interface HostCheck {
  /** `host`: the Host header as sent (port and IPv6 brackets included). */
  allows(host: string | undefined): boolean;
}

export interface HostCheckOptions {
  /** The address (or name) the server listens on, without brackets. */
  readonly listenHost: string;
  /** Further names, and addresses, the API may be called by (DOVESNAP_STATUS_HOSTS). */
  readonly names?: readonly string[];
  /** The host's own addresses, asked only when the server listens on every address. */
  readonly ownAddresses?: () => readonly string[];
}

/** The host part of a Host header, lower case and without port or brackets; undefined if malformed. */
export function hostOfHeader(header: string): string | undefined {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::[0-9]{1,5})?$/.exec(header.trim());
  if (m === null) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? canonicalHost(m[1]) : undefined;
  return canonicalHost(m[2] ?? '');
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address);
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
}

export function hostCheck(opts: HostCheckOptions): HostCheck {
  const listen = canonicalHost(opts.listenHost) ?? opts.listenHost.toLowerCase();
  const wildcard = listen === '0.0.0.0' || listen === '::';
  const fixed = new Set(['localhost', listen, ...(opts.names ?? [])]);
  const ownAddresses = opts.ownAddresses ?? interfaceAddresses;
  return {
    allows(header) {
      const host = header === undefined ? undefined : hostOfHeader(header);
      if (host === undefined) return false;
      if (fixed.has(host) || isLoopback(host)) return true;
      // Asked per request, since addresses come and go (DHCP), and only for an address literal.
      return wildcard && isIP(host) !== 0 && ownAddresses().some((a) => canonicalHost(a) === host);
    },
  };
}
