/**
 * The plugin's own nftables table, `ip dovesnap`, as a pure function of the networks and port
 * mappings that need it. The whole table is replaced in one `nft -f` transaction on every
 * change, so the rules on the host are always exactly what the state says, and a table with
 * nothing in it is deleted: no rule outlives what it was made for.
 */
import { isIPv4 } from 'node:net';
import { byString } from '../util/compare.js';
import { publishPaths } from './publish-paths.js';
import { formatIpv4Prefix, parseIpv4Prefix } from '../model/ipv4.js';

export const NFT_TABLE = 'dovesnap';

export interface GatewayNetwork {
  readonly id: string;
  readonly bridge: string;
  /** The network's subnet, e.g. 10.1.0.0/24. */
  readonly subnet: string;
  /** `nat` masquerades traffic leaving the network; `routed` leaves addresses alone. */
  readonly mode: 'nat' | 'routed';
  /**
   * Prefixes behind routers on the network (`ovs.bridge.host_routes`): their traffic enters by
   * the bridge like the subnet's own, and is masqueraded (nat) or not (routed) like it.
   */
  readonly hostRoutePrefixes?: readonly string[];
}

export interface PortMapping {
  readonly networkId: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly protocol: 'tcp' | 'udp';
  /** Empty: every address of the host. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerIp: string;
  readonly containerPort: number;
  readonly endpointId: string;
}

export interface NatState {
  readonly networks: readonly GatewayNetwork[];
  readonly mappings: readonly PortMapping[];
}

function q(s: string): string {
  return JSON.stringify(s);
}

function validPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * Why a mapping cannot be published, or undefined if it can. The whole table is one `nft -f`
 * transaction, so one mapping nft would refuse must never reach the script: it would take
 * every other network's rules down with it.
 */
export function unpublishable(m: PortMapping): string | undefined {
  if (publishPaths(m.hostIp) === undefined) return `host address ${q(m.hostIp)} is not an IP address`;
  if (!isIPv4(m.containerIp)) return `container address ${q(m.containerIp)} is not an IPv4 address`;
  if (!validPort(m.hostPort) || !validPort(m.containerPort))
    return `port ${m.hostPort}:${m.containerPort} is out of range`;
  return undefined;
}

/**
 * The prefixes as nft will take them (a.b.c.d/len, no host bits), each once. They were checked
 * at create; this is the table's guard (see unpublishable): one bad line would fail every rule.
 */
function cleanPrefixes(prefixes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of prefixes) {
    const parsed = parseIpv4Prefix(p);
    if (parsed !== undefined && !parsed.hostBits) out.add(formatIpv4Prefix(parsed.prefix));
  }
  return [...out];
}

function dnatRule(m: PortMapping, daddr: string, forOutput: boolean): string {
  // From the host itself, every address but loopback: the port proxy serves that.
  const dst = daddr === '' ? `fib daddr type local${forOutput ? ' ip daddr != 127.0.0.0/8' : ''}` : `ip daddr ${daddr}`;
  return `${dst} ${m.protocol} dport ${m.hostPort} dnat to ${m.containerIp}:${m.containerPort} comment ${q(`dovesnap ${m.endpointId.slice(0, 12)}`)}`;
}

/** The `nft -f` script that makes the table match `state` (deleting it when empty). */
export function renderNatScript(state: NatState): string {
  const lines = [`table ip ${NFT_TABLE}`, `delete table ip ${NFT_TABLE}`];
  if (state.networks.length === 0 && state.mappings.length === 0) return `${lines.join('\n')}\n`;
  const sortedNets = [...state.networks].sort((a, b) => byString(a.id, b.id));
  const dnats: [PortMapping, string][] = [];
  for (const m of state.mappings) {
    const daddr = unpublishable(m) === undefined ? publishPaths(m.hostIp)?.dnat : undefined;
    if (daddr !== undefined) dnats.push([m, daddr]);
  }
  dnats.sort(([a], [b]) => byString(a.protocol, b.protocol) || a.hostPort - b.hostPort || byString(a.hostIp, b.hostIp));
  lines.push(`table ip ${NFT_TABLE} {`);
  lines.push('  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;');
  for (const [m, daddr] of dnats) lines.push(`    ${dnatRule(m, daddr, false)}`);
  lines.push('  }');
  lines.push('  chain output {', '    type nat hook output priority -100; policy accept;');
  for (const [m, daddr] of dnats) lines.push(`    ${dnatRule(m, daddr, true)}`);
  lines.push('  }');
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
  for (const n of sortedNets) {
    const tag = q(`dovesnap ${n.id.slice(0, 12)}`);
    for (const source of [n.subnet, ...cleanPrefixes(n.hostRoutePrefixes ?? [])]) {
      // A container reaching a published port of its own network through the host: without
      // this the reply would go straight back over the bridge, from an address it never asked.
      lines.push(`    ip saddr ${source} oifname ${q(n.bridge)} ct status dnat masquerade comment ${tag}`);
      if (n.mode === 'nat') lines.push(`    ip saddr ${source} oifname != ${q(n.bridge)} masquerade comment ${tag}`);
    }
  }
  lines.push('  }');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
