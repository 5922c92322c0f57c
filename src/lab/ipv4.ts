/**
 * IPv4 arithmetic for the lab's checks: addresses as unsigned 32-bit numbers, prefixes as
 * (address, length). Inputs have already matched the spec's patterns; these functions only
 * compute.
 */

export interface Cidr {
  /** The address as written (for a subnet: its network address). */
  readonly ip: number;
  readonly len: number;
}

export function ipToNumber(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** `a.b.c.d/len` (already pattern-checked) as numbers. */
export function parseCidr(text: string): Cidr {
  const [ip = '', len = '0'] = text.split('/');
  return { ip: ipToNumber(ip), len: Number(len) };
}

export function formatCidr(c: Cidr): string {
  return `${numberToIp(c.ip)}/${c.len}`;
}

/** The first address of the prefix `c` lies in. */
export function networkOf(c: Cidr): number {
  const size = 2 ** (32 - c.len);
  return c.ip - (c.ip % size);
}

export function broadcastOf(c: Cidr): number {
  return networkOf(c) + 2 ** (32 - c.len) - 1;
}

/** True when `ip` lies inside the prefix `c`. */
export function contains(c: Cidr, ip: number): boolean {
  return ip >= networkOf(c) && ip <= broadcastOf(c);
}

/** True when the two prefixes share an address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return networkOf(a) <= broadcastOf(b) && networkOf(b) <= broadcastOf(a);
}

/** Host bits set (`10.0.0.1/24` as a subnet): the subnet that was probably meant, else undefined. */
export function hostBitsSet(c: Cidr): string | undefined {
  return networkOf(c) === c.ip ? undefined : formatCidr({ ip: networkOf(c), len: c.len });
}

/**
 * Why `ip` cannot be a host's address in `c`, or undefined: the network and broadcast
 * addresses are not hosts' on prefixes up to /30 (a /31 and a /32 have no such addresses).
 */
export function notAHostAddress(c: Cidr, ip: number): string | undefined {
  if (c.len >= 31) return undefined;
  if (ip === networkOf(c)) return 'is the network address';
  if (ip === broadcastOf(c)) return 'is the broadcast address';
  return undefined;
}
