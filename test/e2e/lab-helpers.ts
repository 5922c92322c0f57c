import assert from 'node:assert/strict';
import { DOCKER, faucetYaml, must, run, type RunResult } from './harness.js';

/**
 * What the `dovesnap lab` end-to-end tests share: the CLI of this build, and a census of
 * everything a lab can leave on a host (containers, networks, bridges, veths, FAUCET DPs,
 * routes, nftables rules), to prove `down` left nothing.
 */

export const REPO = new URL('../../..', import.meta.url).pathname;

export function lab(args: readonly string[], timeoutMs = 600_000): Promise<RunResult> {
  return run(process.execPath, [`${REPO}/dist/src/cli/main.js`, 'lab', ...args], timeoutMs);
}

export async function labMust(args: readonly string[], timeoutMs?: number): Promise<RunResult> {
  const r = await lab(args, timeoutMs);
  assert.equal(r.code, 0, `dovesnap lab ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

export interface HostCensus {
  readonly containers: string[];
  readonly networks: string[];
  readonly bridges: string[];
  readonly links: string[];
  readonly routes: string[];
  readonly nft: string;
  readonly faucet: string;
}

/** Everything of the host a lab could have touched, as text lines to compare. */
export async function census(): Promise<HostCensus> {
  const lines = (s: string): string[] =>
    s
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .sort();
  return {
    containers: lines(await must(DOCKER, ['ps', '-a', '--format', '{{.Names}}'])),
    networks: lines(await must(DOCKER, ['network', 'ls', '--format', '{{.Name}}'])),
    bridges: lines(await must('ovs-vsctl', ['list-br'])),
    links: (JSON.parse(await must('ip', ['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname).sort(),
    routes: lines(await must('ip', ['route', 'show'])),
    nft: (await run('nft', ['list', 'ruleset'])).stdout,
    faucet: faucetYaml(),
  };
}

/** The lab's objects found by label, as `kind name` lines: none after `down`. */
export async function labelled(labName: string): Promise<string[]> {
  const c = await must(DOCKER, [
    'ps',
    '-a',
    '--filter',
    `label=dovesnap.lab=${labName}`,
    '--format',
    'container {{.Names}}',
  ]);
  const n = await must(DOCKER, [
    'network',
    'ls',
    '--filter',
    `label=dovesnap.lab=${labName}`,
    '--format',
    'network {{.Name}}',
  ]);
  return [...c.split('\n'), ...n.split('\n')].filter((l) => l.trim() !== '');
}

/** The IDs of the lab's networks (before `down`): dovesnap tags its NAT and forwarding rules with them. */
export async function labNetworkIds(labName: string): Promise<string[]> {
  const out = await must(DOCKER, [
    'network',
    'ls',
    '--no-trunc',
    '--filter',
    `label=dovesnap.lab=${labName}`,
    '--format',
    '{{.ID}}',
  ]);
  return out.split('\n').filter((l) => l.trim() !== '');
}

/**
 * Asserts that nothing a lab made is left: what is on the host now is what was before, and no
 * nftables or DOCKER-USER rule is tagged with one of `networkIds` (from labNetworkIds).
 */
export async function assertNothingLeft(
  labName: string,
  before: HostCensus,
  dockerPrefix: string,
  networkIds: readonly string[] = [],
): Promise<void> {
  assert.deepEqual(await labelled(labName), [], 'no container or network with the lab label');
  // ovs-vswitchd takes a bridge's own interface away a moment after the bridge is deleted.
  const newLinks = (c: HostCensus): string[] => c.links.filter((l) => !before.links.includes(l));
  let now = await census();
  for (let i = 0; i < 50 && newLinks(now).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
    now = await census();
  }
  const mine = (xs: string[]): string[] => xs.filter((x) => x.startsWith(dockerPrefix));
  assert.deepEqual(mine(now.containers), [], 'no container of the lab');
  assert.deepEqual(mine(now.networks), [], 'no network of the lab');
  assert.deepEqual(
    now.bridges.filter((b) => !before.bridges.includes(b)),
    [],
    'no new OVS bridge',
  );
  assert.deepEqual(newLinks(now), [], 'no new host interface');
  assert.deepEqual(
    now.routes.filter((r) => !before.routes.includes(r)),
    [],
    'no new route',
  );
  assert.ok(!now.faucet.includes(dockerPrefix), `faucet.yaml names nothing of ${dockerPrefix}`);
  const rules = `${now.nft}\n${(await run('iptables', ['-w', '-S'])).stdout}`;
  for (const id of networkIds)
    assert.ok(
      !rules.includes(`dovesnap ${id.slice(0, 12)}`),
      `no nftables or iptables rule of network ${id.slice(0, 12)}`,
    );
}
