import { isIPv4, isIPv6 } from 'node:net';
import { DovesnapError, ErrorCode } from '../util/errors.js';

/**
 * Addresses on a routed link: what the user or Docker's IPAM gives, checked and split once.
 * Pure.
 */

export type Family = 4 | 6;

export interface Cidr {
  readonly address: string;
  readonly prefixLength: number;
}

function bad(what: string, value: string, expected: string): DovesnapError {
  return new DovesnapError(ErrorCode.BadOption, `invalid value ${JSON.stringify(value)} for ${what}: ${expected}`);
}

export function isAddress(text: string, family: Family): boolean {
  return family === 4 ? isIPv4(text) : isIPv6(text);
}

/** `ADDRESS/LEN`, as Docker's IPAM gives an endpoint's address (10.0.0.5/24). */
export function parseCidr(text: string, family: Family, what: string): Cidr {
  const slash = text.indexOf('/');
  const max = family === 4 ? 32 : 128;
  const address = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!isAddress(address, family)) throw bad(what, text, `expected an IPv${family} address`);
  if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > max)
    throw bad(what, text, `expected a prefix length from 0 to ${max} after the "/"`);
  return { address, prefixLength: Number(lenText) };
}

/**
 * One host address of a routed link: an IPv4 or IPv6 address alone, or with the prefix length of
 * a single address (/32, /128), as narwhal's -4 and -6 take them.
 */
export function parseLinkAddress(text: string, family: Family, what: string): string {
  const c = parseCidr(text.trim(), family, what);
  const max = family === 4 ? 32 : 128;
  if (c.prefixLength !== max)
    throw bad(what, text, `a routed link carries single addresses: give the address alone (or /${max})`);
  return c.address;
}

/**
 * The IPv6 link-local address the kernel derives from a MAC (modified EUI-64, RFC 4291
 * appendix A): what a container's interface has unless its namespace says otherwise.
 */
export function linkLocalFromMac(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  if (b.length !== 6 || b.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new DovesnapError(ErrorCode.Internal, `not a MAC address: ${mac}`);
  const bytes = [(b[0] ?? 0) ^ 0x02, b[1] ?? 0, b[2] ?? 0, 0xff, 0xfe, b[3] ?? 0, b[4] ?? 0, b[5] ?? 0];
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return `fe80::${groups.join(':')}`;
}

/** The prefix length of a single address of the family: 32 or 128. */
export function hostPrefix(family: Family): number {
  return family === 4 ? 32 : 128;
}

function toBigInt(address: string, family: Family): bigint {
  if (family === 4) return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  const [head = '', tail] = address.split('::');
  const groups = (s: string | undefined): string[] => (s === undefined || s === '' ? [] : s.split(':'));
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const expand = (gs: string[]): string[] =>
    gs.flatMap((g) =>
      g.includes('.') ? [(toBigInt(g, 4) >> 16n).toString(16), (toBigInt(g, 4) & 0xffffn).toString(16)] : [g],
    );
  const h = expand(groups(head));
  const t = expand(groups(tail));
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Whether `address` lies in the subnet `cidr` (both of one family). */
export function cidrContains(cidr: Cidr, address: string, family: Family): boolean {
  const bits = BigInt(family === 4 ? 32 : 128);
  const len = BigInt(cidr.prefixLength);
  if (len === 0n) return true;
  const shift = bits - len;
  return toBigInt(cidr.address, family) >> shift === toBigInt(address, family) >> shift;
}
