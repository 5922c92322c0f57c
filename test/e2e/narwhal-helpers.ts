import assert from 'node:assert/strict';
import { docker, dockerRaw, must, run, startCapture, waitFor, type Capture, type RunResult } from './harness.js';

/**
 * What the narwhal end-to-end tests share: looking into a container's namespace from the host,
 * capturing what a container receives, reading --paranoid's counters, and the spoofing a
 * malicious container would try.
 */

export const REPO = new URL('../../..', import.meta.url).pathname;

/** The current build's `dovesnap` (not the installed one): what this test run is about. */
export function dovesnap(...args: string[]): Promise<RunResult> {
  return run(process.execPath, [`${REPO}/dist/src/cli/main.js`, ...args], 60_000);
}

export async function pidOf(container: string): Promise<string> {
  return docker('inspect', '-f', '{{.State.Pid}}', container);
}

/** Runs a host command inside a container's network namespace (as root, with the host's tools). */
export async function inNetns(container: string, args: readonly string[]): Promise<RunResult> {
  return run('nsenter', ['-t', await pidOf(container), '-n', ...args], 30_000);
}

export interface IfaceFacts {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
  master?: string;
  addr_info: { family: string; local: string; prefixlen: number; scope: string; address?: string }[];
}

export async function ifaceIn(container: string, ifname: string): Promise<IfaceFacts> {
  const r = await inNetns(container, ['ip', '-json', 'addr', 'show', 'dev', ifname]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as IfaceFacts[])[0] as IfaceFacts;
}

export async function hostIface(ifname: string): Promise<IfaceFacts> {
  return (JSON.parse(await must('ip', ['-json', 'addr', 'show', 'dev', ifname])) as IfaceFacts[])[0] as IfaceFacts;
}

/** The host end of a container's only veth, found through the container end's peer index. */
export async function hostEndOf(container: string, ifname = 'eth0'): Promise<string> {
  const r = await inNetns(container, ['ip', '-json', 'link', 'show', 'dev', ifname]);
  const peer = (JSON.parse(r.stdout) as { link_index?: number }[])[0]?.link_index;
  const all = JSON.parse(await must('ip', ['-json', 'link', 'show'])) as { ifindex: number; ifname: string }[];
  const found = all.find((l) => l.ifindex === peer)?.ifname;
  assert.ok(found, `the host end of ${container}'s ${ifname}`);
  return found;
}

export async function pingOk(container: string, target: string, family: 4 | 6 = 4): Promise<boolean> {
  return (await dockerRaw('exec', container, family === 4 ? 'ping' : 'ping6', '-c', '1', '-W', '2', target)).code === 0;
}

export async function waitPingOk(container: string, target: string, family: 4 | 6 = 4): Promise<void> {
  await waitFor(`${container} to ping ${target}`, () => pingOk(container, target, family), 15_000, 100);
}

/** What a container receives (`tcpdump -Q in` on its interface, in its namespace), one line per frame with link-level headers. */
export async function captureIn(container: string, ifname = 'eth0'): Promise<Capture> {
  return startCapture(ifname, { netnsPid: await pidOf(container), inboundOnly: true });
}

/** --paranoid's counters on a host end, by comment: packets dropped per reason. */
export async function paranoidCounters(hostIf: string): Promise<Record<string, number>> {
  const chain = `in_${hostIf.replace(/_/g, '_u').replace(/-/g, '_d')}`;
  const text = await must('nft', ['list', 'chain', 'netdev', 'narwhal', chain]);
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/counter packets (\d+) bytes \d+ drop comment "([^"]+)"/g))
    out[m[2] ?? ''] = Number(m[1]);
  return out;
}

/**
 * Sends, from the container's namespace, a router advertisement to all nodes and an ICMPv6
 * redirect to the host: what only a router may send. (Python's raw ICMPv6 socket; the kernel
 * fills in the checksum.)
 */
export async function sendRouterMessages(container: string, redirectTarget: string): Promise<void> {
  const script = [
    'import socket, struct',
    'idx = socket.if_nametoindex("eth0")',
    's = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)',
    's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)',
    's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)',
    'ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)',
    's.sendto(ra, ("ff02::1", 0, 0, idx))',
    `redirect = struct.pack("!BBHI", 137, 0, 0, 0) + socket.inet_pton(socket.AF_INET6, "fe80::1") + socket.inet_pton(socket.AF_INET6, ${JSON.stringify(redirectTarget)})`,
    's.sendto(redirect, ("fe80::1", 0, 0, idx))',
  ].join('\n');
  const r = await inNetns(container, ['python3', '-c', script]);
  assert.equal(r.code, 0, r.stderr);
}

/** Chains of narwhal's tables, as `family name`. */
export async function narwhalChains(): Promise<string[]> {
  const out: string[] = [];
  for (const family of ['netdev', 'inet']) {
    const r = await run('nft', ['-j', 'list', 'table', family, 'narwhal']);
    if (r.code !== 0) continue;
    const parsed = JSON.parse(r.stdout) as { nftables: { chain?: { name: string } }[] };
    for (const o of parsed.nftables) if (o.chain !== undefined) out.push(`${family} ${o.chain.name}`);
  }
  return out;
}

/** DOCKER-USER rules with a narwhal comment containing `text`. */
export async function dockerUserRules(text: string): Promise<string[]> {
  const out = await must('iptables', ['-w', '-S', 'DOCKER-USER']);
  return out.split('\n').filter((l) => l.includes('narwhal') && l.includes(text));
}

/** Removes a command link's rules that outlive its container (the daemon's collector would, within a minute). */
export async function removeLinkRules(ifname: string): Promise<void> {
  const part = ifname.replace(/_/g, '_u').replace(/-/g, '_d');
  for (const [family, chain] of [
    ['netdev', `in_${part}`],
    ['inet', `fwd_${part}`],
  ]) {
    await run('nft', ['delete', 'chain', family ?? '', 'narwhal', chain ?? '']);
  }
  for (const line of await dockerUserRules(`narwhal link ${ifname}"`)) {
    await run('sh', ['-c', `iptables -w ${line.replace(/^-A /, '-D ')}`]);
  }
}
