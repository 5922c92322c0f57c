/**
 * What a container's DHCP client last reported, read from the file its hook script writes at
 * every event (see hook.ts): the event name and udhcpc's variables, NUL-separated, so that no
 * value a DHCP server sends (a domain with quotes or newlines) can break the record.
 */

export type DhcpEvent = 'deconfig' | 'bound' | 'renew' | 'nak' | 'leasefail';
const EVENTS: readonly DhcpEvent[] = ['deconfig', 'bound', 'renew', 'nak', 'leasefail'];

export interface DhcpLease {
  readonly address: string;
  readonly prefixLength: number;
  readonly router: string | undefined;
  readonly dns: readonly string[];
  readonly domain: string | undefined;
  readonly leaseSeconds: number | undefined;
  /** The DHCP server's address (option 54), `HostIP` in the original's status. */
  readonly serverId: string | undefined;
}

export interface DhcpReport {
  readonly event: DhcpEvent;
  /** Set after bound and renew. */
  readonly lease: DhcpLease | undefined;
  /** For nak: the server's message, if it sent one. */
  readonly message: string | undefined;
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

function ipv4(v: string | undefined): string | undefined {
  return v !== undefined && IPV4.test(v) ? v : undefined;
}

/** udhcpc gives `mask` as a prefix length; older builds only `subnet` as a dotted mask. */
function prefixOf(vars: ReadonlyMap<string, string>): number | undefined {
  const mask = Number(vars.get('mask'));
  if (Number.isInteger(mask) && mask >= 0 && mask <= 32) return mask;
  const subnet = ipv4(vars.get('subnet'));
  if (subnet === undefined) return undefined;
  const bits = subnet
    .split('.')
    .map(Number)
    .reduce((acc, o) => acc * 256 + o, 0);
  const ones = bits.toString(2).replace(/0+$/, '');
  return /^1*$/.test(ones) ? ones.length : undefined;
}

/** Parses a report file; undefined if it is not one (torn, foreign, empty). */
export function parseDhcpReport(raw: string): DhcpReport | undefined {
  const vars = new Map<string, string>();
  for (const record of raw.split('\0')) {
    const eq = record.indexOf('=');
    if (eq > 0) vars.set(record.slice(0, eq), record.slice(eq + 1));
  }
  const event = vars.get('event');
  if (event === undefined || !(EVENTS as readonly string[]).includes(event)) return undefined;
  let lease: DhcpLease | undefined;
  if (event === 'bound' || event === 'renew') {
    const address = ipv4(vars.get('ip'));
    const prefixLength = prefixOf(vars);
    if (address === undefined || prefixLength === undefined) return undefined;
    const seconds = Number(vars.get('lease'));
    lease = {
      address,
      prefixLength,
      router: ipv4(vars.get('router')?.split(/\s+/)[0]),
      dns: (vars.get('dns') ?? '')
        .split(/\s+/)
        .map((d) => ipv4(d))
        .filter((d): d is string => d !== undefined),
      domain: vars.get('domain') || undefined,
      leaseSeconds: Number.isInteger(seconds) && seconds > 0 ? seconds : undefined,
      serverId: ipv4(vars.get('serverid')),
    };
  }
  return { event: event as DhcpEvent, lease, message: vars.get('message') || undefined };
}
