import {
  ingressChain,
  linkForwardChain,
  linkRuleTag,
  natChain,
  networkChain,
  networkLinkPrefix,
  networkRuleTag,
  NFT_TABLE,
} from './names.js';
import type { RoutedLink } from './spec.js';

/**
 * nftables and DOCKER-USER rules of routed links and narwhal networks, rendered from the model.
 * Pure. Each chain is its own object, added (or replaced) and deleted in one `nft -f`
 * transaction, so the command and the daemon never rewrite each other's rules.
 *
 * Why these places:
 * - --paranoid filters the host end's *ingress* (netdev family): the frames a container sends
 *   arrive there whatever happens next (local delivery or forwarding), and a routed veth has no
 *   bridge, so the bridge-family rules of the original narwhal (ebtables) never saw them.
 *   (The inet family's ingress hook sees only IPv4 and IPv6, not ARP, hence netdev.)
 * - What may be forwarded is restricted in our own inet table: a drop in any base chain is
 *   final, whatever other tables (Docker's) say.
 * - What must be let through Docker's FORWARD policy (DROP) goes into DOCKER-USER, the chain
 *   Docker keeps for this, tagged `narwhal …`: an accept in our own table cannot overrule
 *   another table's drop.
 */

export const Counter = {
  sourceMac: 'spoofed source MAC',
  arp: 'ARP',
  routerMessages: 'router advertisement or redirect',
  sourceIpv4: 'spoofed source IPv4',
  sourceIpv6: 'spoofed source IPv6',
  noIpv4: 'IPv4 without an IPv4 address',
  noIpv6: 'IPv6 without an IPv6 address',
  other: 'other protocol',
} as const;

const q = (s: string): string => JSON.stringify(s);

/** Adds (or replaces the rules of) a chain: it exists afterwards with exactly `rules`. */
function chainScript(family: 'netdev' | 'inet', chain: string, hook: string, rules: readonly string[]): string {
  const at = `${family} ${NFT_TABLE} ${chain}`;
  return [
    `add table ${family} ${NFT_TABLE}`,
    `add chain ${at} { ${hook}; }`,
    `flush chain ${at}`,
    ...rules.map((r) => `add rule ${at} ${r}`),
    '',
  ].join('\n');
}

/**
 * narwhal's two tables, empty until a link or network needs a chain. The daemon makes them at
 * start, so they belong to the running stack: deleting them when their last chain goes could
 * race a command adding a chain to them.
 */
export function tablesScript(): string {
  return [`add table netdev ${NFT_TABLE}`, `add table inet ${NFT_TABLE}`, ''].join('\n');
}

/** Deletes a chain; succeeds in one transaction whether or not it exists. */
export function deleteChainScript(family: 'netdev' | 'inet', chain: string): string {
  const at = `${family} ${NFT_TABLE} ${chain}`;
  return [`add table ${family} ${NFT_TABLE}`, `add chain ${at}`, `flush chain ${at}`, `delete chain ${at}`, ''].join(
    '\n',
  );
}

/**
 * --paranoid: on the host end's ingress, only frames from the container's MAC, only IPv4 and
 * IPv6, only from the container's addresses (link-local sources only to link-scope
 * destinations, which are never routed), and no router advertisements or redirects, which only
 * a router may send. ARP has no use on the link (both ends have it off) and is dropped. Every
 * drop has a counter named by its comment.
 */
export function ingressRules(link: RoutedLink): string[] {
  const rules = [
    `ether saddr != ${link.containerMac} counter drop comment ${q(Counter.sourceMac)}`,
    `ether type arp counter drop comment ${q(Counter.arp)}`,
    `icmpv6 type { nd-router-advert, nd-redirect } counter drop comment ${q(Counter.routerMessages)}`,
  ];
  rules.push(
    link.ipv4 === undefined
      ? `ether type ip counter drop comment ${q(Counter.noIpv4)}`
      : `ip saddr != ${link.ipv4} counter drop comment ${q(Counter.sourceIpv4)}`,
  );
  if (link.ipv6 === undefined) {
    rules.push(`ether type ip6 counter drop comment ${q(Counter.noIpv6)}`);
  } else {
    rules.push(
      'ip6 saddr fe80::/10 ip6 daddr { fe80::/10, ff02::/16 } accept',
      `ip6 saddr != ${link.ipv6} counter drop comment ${q(Counter.sourceIpv6)}`,
    );
  }
  rules.push('ether type { ip, ip6 } accept', `counter drop comment ${q(Counter.other)}`);
  return rules;
}

export function ingressChainScript(link: RoutedLink): string {
  return chainScript(
    'netdev',
    ingressChain(link.hostIf),
    `type filter hook ingress device ${q(link.hostIf)} priority filter; policy accept`,
    ingressRules(link),
  );
}

const FORWARD_HOOK = 'type filter hook forward priority filter; policy accept';

/** A command link without --forwarding: the container talks to the host, and nothing is routed to or from it. */
export function linkForwardScript(ifname: string): string {
  return chainScript('inet', linkForwardChain(ifname), FORWARD_HOOK, [
    `iifname ${q(ifname)} counter drop comment "routed from the container (no --forwarding)"`,
    `oifname ${q(ifname)} counter drop comment "routed to the container (no --forwarding)"`,
  ]);
}

export interface NetworkPolicy {
  readonly id: string;
  /** Routed to and from other interfaces with the containers' own addresses. */
  readonly forwarding: boolean;
  /** Leaves other interfaces masqueraded to the host's address; only replies come back in. */
  readonly nat: boolean;
  readonly ipv4Subnet: string | undefined;
}

/**
 * A driver network: its containers reach each other (routed by the host, from one host end to
 * another) and the host; beyond that only what `forwarding` or `nat` allows.
 */
export function networkForwardScript(n: NetworkPolicy): string {
  const p = q(`${networkLinkPrefix(n.id)}*`);
  const rules = [`iifname ${p} oifname ${p} accept comment "between the network's containers"`];
  if (!n.forwarding) {
    if (!n.nat) rules.push(`iifname ${p} counter drop comment "out of the network"`);
    else rules.push(`oifname ${p} ct state established,related accept comment "replies to masqueraded connections"`);
    rules.push(`oifname ${p} counter drop comment "into the network"`);
  }
  return chainScript('inet', networkChain(n.id), FORWARD_HOOK, rules);
}

/** Masquerades the network's IPv4 subnet when it leaves by any interface but the network's own. */
export function networkNatScript(n: NetworkPolicy): string | undefined {
  if (!n.nat || n.ipv4Subnet === undefined) return undefined;
  const p = q(`${networkLinkPrefix(n.id)}*`);
  return chainScript('inet', natChain(n.id), 'type nat hook postrouting priority srcnat; policy accept', [
    `ip saddr ${n.ipv4Subnet} oifname != ${p} masquerade`,
  ]);
}

function tagged(tag: string): string[] {
  return ['-m', 'comment', '--comment', tag];
}

/** DOCKER-USER rules of a command link with --forwarding: routed both ways. */
export function linkDockerUserRules(ifname: string): string[][] {
  const t = tagged(linkRuleTag(ifname));
  return [
    ['-i', ifname, ...t, '-j', 'ACCEPT'],
    ['-o', ifname, ...t, '-j', 'ACCEPT'],
  ];
}

/** DOCKER-USER rules of a driver network: what networkForwardScript does not drop. */
export function networkDockerUserRules(n: NetworkPolicy): string[][] {
  const p = `${networkLinkPrefix(n.id)}+`;
  const t = tagged(networkRuleTag(n.id));
  const out = [['-i', p, '-o', p, ...t, '-j', 'ACCEPT']];
  if (n.forwarding || n.nat) out.push(['-i', p, ...t, '-j', 'ACCEPT']);
  if (n.forwarding) out.push(['-o', p, ...t, '-j', 'ACCEPT']);
  else if (n.nat) out.push(['-o', p, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...t, '-j', 'ACCEPT']);
  return out;
}
