import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Which names a request may call the status API by: its Host header. The peer check (allow.ts)
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

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Parses `NAME[,NAME…]` (host names or addresses); throws naming the entry that is neither. */
export function parseStatusHosts(text: string): string[] {
  const names: string[] = [];
  for (const raw of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const name = canonical(raw.replace(/^\[(.*)\]$/, '$1'));
    if (name === undefined)
      throw new Error(
        `'${raw}' is not a host name or an address (a name such as dovesnap.example.org, or 192.0.2.7, or [2001:db8::7])`,
      );
    names.push(name);
  }
  return names;
}

/** The host part of a Host header, lower case and without port or brackets; undefined if malformed. */
export function hostOfHeader(header: string): string | undefined {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::[0-9]{1,5})?$/.exec(header.trim());
  if (m === null) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? canonical(m[1]) : undefined;
  return canonical(m[2] ?? '');
}

/** An address in one spelling (IPv4-mapped IPv6 as IPv4), a name in lower case; undefined if neither. */
function canonical(text: string): string | undefined {
  const lower = text.toLowerCase();
  if (isIP(lower) === 4) return lower;
  if (isIP(lower) === 6) {
    // The URL parser writes IPv6 in its shortest form (0:0:0:0:0:0:0:1 is ::1; ::ffff:127.0.0.1 is ::ffff:7f00:1).
    const short = new URL(`http://[${lower}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(short);
    if (mapped === null) return short;
    const [hi, lo] = [parseInt(mapped[1] ?? '0', 16), parseInt(mapped[2] ?? '0', 16)];
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  return DNS_NAME.test(lower) ? lower : undefined;
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address);
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
}

export function hostCheck(opts: HostCheckOptions): HostCheck {
  const listen = canonical(opts.listenHost) ?? opts.listenHost.toLowerCase();
  const wildcard = listen === '0.0.0.0' || listen === '::';
  const fixed = new Set(['localhost', listen, ...(opts.names ?? [])]);
  const ownAddresses = opts.ownAddresses ?? interfaceAddresses;
  return {
    allows(header) {
      const host = header === undefined ? undefined : hostOfHeader(header);
      if (host === undefined) return false;
      if (fixed.has(host) || isLoopback(host)) return true;
      // Asked per request, since addresses come and go (DHCP), and only for an address literal.
      return wildcard && isIP(host) !== 0 && ownAddresses().some((a) => canonical(a) === host);
    },
  };
}
