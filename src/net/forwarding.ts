import { writeFile, readFile } from 'node:fs/promises';
import { ErrorCode, isDovesnapError } from '../util/errors.js';
import { runCommand } from './exec.js';

/**
 * Letting routed traffic through a host whose FORWARD policy is DROP (Docker's default).
 *
 * nftables evaluates every base chain on a hook, and a drop anywhere is final: no rule in a
 * table of our own can overrule Docker's FORWARD policy. Docker's answer for this is the
 * DOCKER-USER chain, which it creates for exactly this purpose and never flushes; dovesnap puts
 * its few ACCEPT rules there, each tagged with the network, through the same `iptables` Docker
 * itself uses (iptables-nft or legacy alike). The policy itself is never changed. Where Docker
 * manages no firewall (no DOCKER-USER chain) nothing is needed and nothing is added.
 */

export const FORWARD_CHAIN = 'DOCKER-USER';

export type GatewayMode = 'nat' | 'routed';

export function forwardRules(networkId: string, bridge: string, mode: GatewayMode): string[][] {
  const tag = ['-m', 'comment', '--comment', `dovesnap ${networkId.slice(0, 12)}`];
  const out = [
    ['-i', bridge, ...tag, '-j', 'ACCEPT'],
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'],
  ];
  // nat: from outside only what a port mapping sent in; routed: the upstream router decides.
  out.push(
    mode === 'nat'
      ? ['-o', bridge, '-m', 'conntrack', '--ctstate', 'DNAT', ...tag, '-j', 'ACCEPT']
      : ['-o', bridge, ...tag, '-j', 'ACCEPT'],
  );
  return out;
}

async function chainExists(): Promise<boolean> {
  try {
    await runCommand('iptables', ['-w', '-n', '-L', FORWARD_CHAIN]);
    return true;
  } catch (err) {
    if (isDovesnapError(err, ErrorCode.HostCommand)) return false;
    throw err;
  }
}

async function ruleExists(rule: readonly string[]): Promise<boolean> {
  try {
    await runCommand('iptables', ['-w', '-C', FORWARD_CHAIN, ...rule]);
    return true;
  } catch {
    return false;
  }
}

/** Adds the network's rules at the top of DOCKER-USER if they are not there. */
export async function allowForwarding(networkId: string, bridge: string, mode: GatewayMode): Promise<boolean> {
  if (!(await chainExists())) return false;
  for (const rule of forwardRules(networkId, bridge, mode).reverse()) {
    if (!(await ruleExists(rule))) await runCommand('iptables', ['-w', '-I', FORWARD_CHAIN, ...rule]);
  }
  return true;
}

/** Removes every rule of the network (both modes' forms); succeeds when there are none. */
export async function revokeForwarding(networkId: string, bridge: string): Promise<void> {
  if (!(await chainExists())) return;
  for (const mode of ['nat', 'routed'] as const) {
    for (const rule of forwardRules(networkId, bridge, mode)) {
      while (await ruleExists(rule)) await runCommand('iptables', ['-w', '-D', FORWARD_CHAIN, ...rule]);
    }
  }
}

/**
 * Frames bridged by a Linux bridge pass iptables' FORWARD too when br_netfilter is loaded
 * (bridge-nf-call-iptables, which Docker turns on), so Docker's DROP policy would drop traffic
 * between two ports of the bridge. One rule per bridge lets it through; its tag is not a
 * network's (`dovesnap <id12>`), so the collector of network rules leaves it alone.
 */
export function bridgedRule(bridge: string): string[] {
  return ['-i', bridge, '-o', bridge, '-m', 'comment', '--comment', `dovesnap-attach ${bridge}`, '-j', 'ACCEPT'];
}

export async function allowBridged(bridge: string): Promise<boolean> {
  if (!(await chainExists())) return false;
  const rule = bridgedRule(bridge);
  if (await ruleExists(rule)) return false;
  await runCommand('iptables', ['-w', '-I', FORWARD_CHAIN, ...rule]);
  return true;
}

export async function revokeBridged(bridge: string): Promise<void> {
  if (!(await chainExists())) return;
  const rule = bridgedRule(bridge);
  while (await ruleExists(rule)) await runCommand('iptables', ['-w', '-D', FORWARD_CHAIN, ...rule]);
}

/** The network ID prefixes that rules in DOCKER-USER are tagged with (`dovesnap <id12>`). */
export async function forwardingTags(): Promise<string[]> {
  if (!(await chainExists())) return [];
  const { stdout } = await runCommand('iptables', ['-w', '-S', FORWARD_CHAIN]);
  return parseForwardingTags(stdout);
}

/** Pure part of forwardingTags, for tests: the tags in `iptables -S` output. */
export function parseForwardingTags(iptablesS: string): string[] {
  const tags = new Set<string>();
  // Docker's own network IDs are hex; a swarm-scoped network's is the manager's, in base 36.
  for (const m of iptablesS.matchAll(/--comment "?dovesnap ([0-9a-z]{12})"?/g)) if (m[1] !== undefined) tags.add(m[1]);
  return [...tags];
}

/**
 * Removes every DOCKER-USER rule tagged with this network ID prefix, whatever its bridge and
 * mode: for networks gone while dovesnap was not looking, whose bridge name may be unknown.
 */
export async function revokeForwardingTag(tag: string): Promise<number> {
  if (!(await chainExists())) return 0;
  const { stdout } = await runCommand('iptables', ['-w', '-S', FORWARD_CHAIN]);
  let removed = 0;
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(`-A ${FORWARD_CHAIN} `) || !line.includes(`dovesnap ${tag}`)) continue;
    const spec = splitRuleSpec(line.slice(`-A ${FORWARD_CHAIN} `.length));
    await runCommand('iptables', ['-w', '-D', FORWARD_CHAIN, ...spec]);
    removed++;
  }
  return removed;
}

/** `iptables -S` quotes arguments with spaces (the comment); split it back into arguments. */
export function splitRuleSpec(spec: string): string[] {
  const out: string[] = [];
  for (const m of spec.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return out;
}

/** Routing between the containers' network and the rest needs IPv4 forwarding on. */
export async function enableIpv4Forwarding(path = '/proc/sys/net/ipv4/ip_forward'): Promise<boolean> {
  const current = (await readFile(path, 'utf8')).trim();
  if (current === '1') return false;
  await writeFile(path, '1\n');
  return true;
}
