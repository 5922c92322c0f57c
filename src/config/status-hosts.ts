import { isIP } from 'node:net';

/**
 * DOVESNAP_STATUS_HOSTS: the names (and addresses) besides its own that the status API may be
 * called by. The Host-header check that uses them is status/host-check.ts.
 */

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Parses `NAME[,NAME…]` (host names or addresses); throws naming the entry that is neither. */
export function parseStatusHosts(text: string): string[] {
  const names: string[] = [];
  for (const raw of text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const name = canonicalHost(raw.replace(/^\[(.*)\]$/, '$1'));
    if (name === undefined)
      throw new Error(
        `'${raw}' is not a host name or an address (a name such as dovesnap.example.org, or 192.0.2.7, or [2001:db8::7])`,
      );
    names.push(name);
  }
  return names;
}

/** An address in one spelling (IPv4-mapped IPv6 as IPv4), a name in lower case; undefined if neither. */
export function canonicalHost(text: string): string | undefined {
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
