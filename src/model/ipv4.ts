/**
 * IPv4 addresses and prefixes as numbers: what the checks of `ovs.bridge.host_routes` need
 * (containment, overlap, a subnet's network and broadcast addresses). Pure.
 */

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

/** An IPv4 prefix as numbers: `base` has no host bits set. */
export interface Ipv4Prefix {
  readonly base: number;
  readonly len: number;
}

/** The address as an unsigned 32-bit number, or undefined if it is not a dotted-quad IPv4 address. */
export function ipv4ToNumber(text: string): number | undefined {
  if (!IPV4_RE.test(text)) return undefined;
  return text.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** How many addresses a prefix of this length holds. */
function size(len: number): number {
  return 2 ** (32 - len);
}

/**
 * `a.b.c.d/len` as numbers. `hostBits` says what became of the address's host bits: a prefix
 * written with them set (10.1.2.3/24) is most often a typo, so the caller decides.
 */
export function parseIpv4Prefix(text: string): { prefix: Ipv4Prefix; hostBits: boolean } | undefined {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text.trim());
  if (m === null) return undefined;
  const addr = ipv4ToNumber(m[1] ?? '');
  const len = Number(m[2]);
  if (addr === undefined || len > 32) return undefined;
  const host = addr % size(len);
  return { prefix: { base: addr - host, len }, hostBits: host !== 0 };
}

export function formatIpv4Prefix(p: Ipv4Prefix): string {
  return `${numberToIpv4(p.base)}/${p.len}`;
}

export function prefixContains(p: Ipv4Prefix, addr: number): boolean {
  return addr >= p.base && addr < p.base + size(p.len);
}

/** Whether two prefixes share an address (one then holds the other). */
export function prefixesOverlap(a: Ipv4Prefix, b: Ipv4Prefix): boolean {
  return prefixContains(a, b.base) || prefixContains(b, a.base);
}

/** The last address of the prefix (its broadcast address, for lengths up to 30). */
export function prefixLast(p: Ipv4Prefix): number {
  return p.base + size(p.len) - 1;
}
