import { readFile } from 'node:fs/promises';
import { sameAddress } from './publish-paths.js';

/**
 * Sockets the host itself listens on, from /proc/net/{tcp,tcp6,udp,udp6} of the daemon's own
 * (the host's) network namespace. A port mapping onto one of these would silently steal its
 * traffic (DNAT runs before the local socket sees anything), so such mappings are refused.
 */

export type Protocol = 'tcp' | 'udp';

export interface ListeningSocket {
  readonly protocol: Protocol;
  /** Dotted IPv4, or IPv6 in its full hex form; '0.0.0.0' and '::' mean every address. */
  readonly address: string;
  readonly port: number;
}

const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';

function ipv4FromProc(hex: string): string {
  // /proc prints the address as the kernel's u32 in host (little-endian) order.
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

function ipv6FromProc(hex: string): string {
  const groups: string[] = [];
  for (let word = 0; word < 4; word++) {
    const w = hex.slice(word * 8, word * 8 + 8);
    // Each 32-bit word is little-endian.
    const bytes = [w.slice(6, 8), w.slice(4, 6), w.slice(2, 4), w.slice(0, 2)].join('');
    groups.push(bytes.slice(0, 4), bytes.slice(4, 8));
  }
  const text = groups.map((g) => Number.parseInt(g, 16).toString(16)).join(':');
  return text === '0:0:0:0:0:0:0:0' ? '::' : text;
}

/** Parses one /proc/net table; `v6` for the tcp6/udp6 forms. Pure, for tests. */
export function parseProcNet(text: string, protocol: Protocol, v6: boolean): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    if (local === undefined || state === undefined) continue;
    if (state !== (protocol === 'tcp' ? TCP_LISTEN : UDP_UNCONNECTED)) continue;
    const [addrHex, portHex] = local.split(':');
    if (addrHex === undefined || portHex === undefined) continue;
    const port = Number.parseInt(portHex, 16);
    if (!(port > 0)) continue;
    out.push({ protocol, address: v6 ? ipv6FromProc(addrHex) : ipv4FromProc(addrHex), port });
  }
  return out;
}

export async function hostListeners(procNet = '/proc/net'): Promise<ListeningSocket[]> {
  const tables: [string, Protocol, boolean][] = [
    ['tcp', 'tcp', false],
    ['tcp6', 'tcp', true],
    ['udp', 'udp', false],
    ['udp6', 'udp', true],
  ];
  const out: ListeningSocket[] = [];
  for (const [file, protocol, v6] of tables) {
    const text = await readFile(`${procNet}/${file}`, 'utf8').catch(() => '');
    out.push(...parseProcNet(text, protocol, v6));
  }
  return out;
}

/**
 * Does a listener on `listenerAddress` take traffic for a port published on `hostIp`? '' (every
 * address) means every IPv4 address, as DNAT serves it. A socket on :: may be dual stack and
 * see everything; otherwise an IPv4 socket sees only IPv4, an IPv6 one only IPv6.
 */
export function listenerCovers(listenerAddress: string, hostIp: string): boolean {
  if (listenerAddress === '::') return true;
  const listenerV6 = listenerAddress.includes(':');
  if (hostIp === '' || hostIp === '0.0.0.0' || hostIp === '::') return !listenerV6;
  if (listenerV6 !== hostIp.includes(':')) return false;
  return listenerAddress === '0.0.0.0' || sameAddress(listenerAddress, hostIp);
}
