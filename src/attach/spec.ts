/**
 * pipework's command line, parsed into what to do. Pure: nothing here looks at the host.
 *
 *   HOSTIF [-i CIF] [-l LOCALIF] [-a 4|6] GUEST IP/LEN[@GW] [MAC][@VLAN]
 *   HOSTIF [-i CIF] [-l LOCALIF] GUEST dhcp[:OPTS] [MAC][@VLAN]      (and udhcpc, dhclient, dhcpcd, -f)
 *   route|rule|tc GUEST ARGS…
 *   --wait [-i CIF]
 *
 * pipework took `-i`, `-l` and `-a` only in that order, right after HOSTIF; any order is
 * accepted here. `--direct-phys` and dovesnap's own `--persist` may come anywhere.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { isValidInterfaceName } from '../model/options.js';

export type DhcpClientName = 'udhcpc' | 'dhclient' | 'dhcpcd';

export type AddressSpec =
  | {
      readonly kind: 'static';
      readonly family: 4 | 6;
      readonly address: string;
      readonly prefixLength: number;
      readonly gateway: string | undefined;
    }
  /** `0/0`: the interface comes up with no address (the container sets one itself). */
  | { readonly kind: 'none' }
  | {
      readonly kind: 'dhcp';
      /** `dhcp` (pipework's own method) is udhcpc too: busybox's, from the host, in the container's network namespace. */
      readonly client: DhcpClientName;
      /** Asked as `dhcp`, `udhcpc`, `udhcpc-f`, …: kept for messages and the record. */
      readonly method: string;
      /** `-f`: the client stays in the foreground of the attach command. */
      readonly foreground: boolean;
      readonly options: readonly string[];
    };

/** A host interface named, or found by its MAC (`mac:HOSTMAC`). */
export type HostIfRef = { readonly name: string } | { readonly mac: string };

export interface AttachSpec {
  readonly hostIf: HostIfRef;
  readonly containerIf: string;
  readonly localIf: string | undefined;
  readonly guest: string;
  readonly address: AddressSpec;
  /** The MAC to give the container's interface (U:STRING already turned into one). */
  readonly mac: string | undefined;
  readonly vlan: number | undefined;
  readonly directPhys: boolean;
  readonly persist: boolean;
}

export type AttachCommand =
  | { readonly kind: 'attach'; readonly spec: AttachSpec }
  | { readonly kind: 'wait'; readonly containerIf: string }
  | {
      readonly kind: 'netns-tool';
      readonly tool: 'route' | 'rule' | 'tc';
      readonly guest: string;
      readonly args: readonly string[];
    }
  | { readonly kind: 'help' };

export const DEFAULT_CONTAINER_IF = 'eth1';

function bad(what: string, value: string, expected: string): DovesnapError {
  return new DovesnapError(ErrorCode.BadOption, `invalid value ${JSON.stringify(value)} for ${what}: ${expected}`);
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** A MAC a container may use: six bytes, unicast (the low bit of the first byte clear). */
export function parseMac(what: string, text: string): string {
  if (!MAC.test(text)) throw bad(what, text, 'expected a MAC address such as 02:42:ac:11:00:02, or U:STRING');
  const mac = text.toLowerCase();
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1)
    throw bad(what, text, 'a multicast MAC cannot be an interface address');
  return mac;
}

/**
 * pipework's `U:STRING`: a MAC that is always the same for the same string, `02:` (locally
 * administered) and the first five bytes of the MD5 of the string. pipework hashed the output
 * of `echo STRING`, newline included; so does this, so that both give the same MAC.
 */
export function macFromString(text: string): string {
  const hex = createHash('md5').update(`${text}\n`).digest('hex');
  return ['02', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6), hex.slice(6, 8), hex.slice(8, 10)].join(':');
}

function parseInterfaceName(what: string, text: string): string {
  if (!isValidInterfaceName(text))
    throw bad(what, text, 'expected an interface name of 1 to 15 characters without "/", ":" or spaces');
  return text;
}

function parseVlan(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 4094)
    throw bad('the VLAN (MAC@VLAN)', text, 'expected a whole number from 1 to 4094');
  return Number(text);
}

const DHCP_METHOD = /^(dhcp|udhcpc|dhclient|dhcpcd)(-f)?(?::(.*))?$/;

/** IP/LEN[@GW], 0/0, or a DHCP method with its options. */
export function parseAddress(text: string, family: 4 | 6 | undefined): AddressSpec {
  const dhcp = DHCP_METHOD.exec(text);
  if (dhcp !== null) {
    const [, method = 'dhcp', f, opts] = dhcp;
    if (method === 'dhcp' && f !== undefined)
      throw bad('the address', text, '"dhcp" has no -f form; use udhcpc-f, dhclient-f or dhcpcd-f');
    return {
      kind: 'dhcp',
      client: method === 'dhcp' ? 'udhcpc' : (method as DhcpClientName),
      method: `${method}${f ?? ''}`,
      foreground: f !== undefined,
      options: opts === undefined || opts.trim() === '' ? [] : opts.trim().split(/\s+/),
    };
  }
  if (text === '0/0') return { kind: 'none' };
  const [cidr = '', gateway, ...rest] = text.split('@');
  if (rest.length > 0) throw bad('the address', text, 'expected IP/LEN[@GATEWAY]');
  const slash = cidr.indexOf('/');
  if (slash < 0) throw bad('the address', text, `the address needs a prefix length (did you mean ${cidr}/24?)`);
  const address = cidr.slice(0, slash);
  const lenText = cidr.slice(slash + 1);
  const kind = isIP(address);
  if (kind === 0) throw bad('the address', text, 'expected an IPv4 or IPv6 address before the "/"');
  const v: 4 | 6 = kind === 4 ? 4 : 6;
  const max = v === 4 ? 32 : 128;
  if (!/^\d+$/.test(lenText) || Number(lenText) > max)
    throw bad('the address', text, `expected a prefix length from 0 to ${max} after the "/"`);
  if (family !== undefined && family !== v) throw bad('-a', String(family), `the address ${address} is IPv${v}`);
  if (gateway !== undefined && isIP(gateway) !== v)
    throw bad('the gateway (IP/LEN@GATEWAY)', gateway, `expected an IPv${v} address like the interface's`);
  return { kind: 'static', family: v, address, prefixLength: Number(lenText), gateway };
}

function parseHostIf(text: string): HostIfRef {
  if (text.startsWith('mac:')) return { mac: parseMac('the host interface (mac:HOSTMAC)', text.slice(4)) };
  return { name: parseInterfaceName('the host interface', text) };
}

/** Parses `dovesnap attach`'s (pipework's) arguments. Throws BadOption naming what is wrong. */
export function parseAttachArgs(argv: readonly string[]): AttachCommand {
  let directPhys = false;
  let persist = false;
  const args: string[] = [];
  for (const a of argv) {
    if (a === '--direct-phys') directPhys = true;
    else if (a === '--persist') persist = true;
    else args.push(a);
  }
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) return { kind: 'help' };
  const first = args[0] ?? '';
  if (first === '--wait') {
    const rest = args.slice(1);
    if (rest.length === 0) return { kind: 'wait', containerIf: DEFAULT_CONTAINER_IF };
    if (rest.length === 2 && rest[0] === '-i')
      return { kind: 'wait', containerIf: parseInterfaceName('-i', rest[1] ?? '') };
    throw bad('--wait', rest.join(' '), 'expected "--wait" or "--wait -i CONTAINER_IF"');
  }
  if (first === 'route' || first === 'rule' || first === 'tc') {
    const guest = args[1];
    if (guest === undefined) throw bad(first, '', `expected "${first} GUEST ARGS…"`);
    return { kind: 'netns-tool', tool: first, guest, args: args.slice(2) };
  }
  if (first.startsWith('-')) throw bad('the command line', first, 'unknown option (see dovesnap attach --help)');

  const hostIf = parseHostIf(first);
  let containerIf: string | undefined;
  let localIf: string | undefined;
  let family: 4 | 6 | undefined;
  const positional: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const a = args[i] ?? '';
    const value = (): string => {
      const v = args[i + 1];
      if (v === undefined) throw bad(a, '', 'a value is missing');
      i += 1;
      return v;
    };
    if (positional.length === 0 && a === '-i') containerIf = parseInterfaceName('-i', value());
    else if (positional.length === 0 && a === '-l') localIf = parseInterfaceName('-l', value());
    else if (positional.length === 0 && a === '-a') {
      const f = value();
      if (f !== '4' && f !== '6') throw bad('-a', f, 'expected 4 or 6');
      family = f === '4' ? 4 : 6;
    } else positional.push(a);
  }
  const [guest, addressText, macText, ...extra] = positional;
  if (guest === undefined || addressText === undefined)
    throw bad(
      'the command line',
      args.join(' '),
      'expected HOSTIF [-i CIF] [-l LOCALIF] [-a 4|6] GUEST IP/LEN[@GW]|dhcp [MAC][@VLAN]',
    );
  if (extra.length > 0) throw bad('the command line', extra.join(' '), 'unexpected arguments after [MAC][@VLAN]');
  const address = parseAddress(addressText, family);
  let mac: string | undefined;
  let vlan: number | undefined;
  if (macText !== undefined) {
    const at = macText.lastIndexOf('@');
    const macPart = at < 0 ? macText : macText.slice(0, at);
    if (at >= 0) vlan = parseVlan(macText.slice(at + 1));
    if (macPart.startsWith('U:')) mac = macFromString(macPart.slice(2));
    else if (macPart !== '') mac = parseMac('the MAC', macPart);
  }
  return {
    kind: 'attach',
    spec: {
      hostIf,
      containerIf: containerIf ?? DEFAULT_CONTAINER_IF,
      localIf,
      guest,
      address,
      mac,
      vlan,
      directPhys,
      persist,
    },
  };
}
