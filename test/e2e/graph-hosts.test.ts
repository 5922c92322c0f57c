import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FAUCET_CONFIG, hupFaucet, IMAGE, must, onCleanup, run, testSubnet, waitFaucetSettled } from './harness.js';

/**
 * Issue 24, one picture of all hosts: two simulated hosts (`make hosts N=2`, stacked, writing this
 * machine's FAUCET through faucetconfrpc), a network on each. `dovesnap graph` of both status APIs
 * draws their stack link as one edge between the two stack switches and FAUCET as one node; host
 * 1's live view, given host 2's status API (DOVESNAP_STATUS_PEERS), shows host 2's network and
 * its container's port as host 2's.
 */

const REPO = new URL('../../../', import.meta.url).pathname;
const CLI = path.join(REPO, 'dist/src/cli/main.js');
const DOCKER_CLI = '/usr/bin/docker';
const STATUS = (k: number): string => `http://10.239.0.1${k}:9401`;
const CONTROLLER = 'tcp:10.239.0.1:6653';
const sock = (k: number): string => `unix:///run/dovesnap-hosts/h${k}/docker.sock`;
const on = (k: number, ...args: string[]): Promise<string> => must(DOCKER_CLI, ['-H', sock(k), ...args], 120_000);
/** `make hosts N=2` with stacking and faucetconfrpc, host 1 (and 2: it lists itself, harmlessly) given host 2 as peer. */
const UP = ['HOSTS_STACKING=1', 'HOSTS_CONFRPC=1', `HOSTS_DAEMON_ENV=DOVESNAP_STATUS_PEERS=${STATUS(2)}`];
const make = (env: readonly string[], target: string) =>
  run('env', [...env, 'make', '-s', '--no-print-directory', '-C', REPO, target, 'N=2'], 900_000);

interface Snapshot {
  Hosts: { Name: string; State: string; Error: string | null }[];
  Merged: { Name: string; Parts: { Host: string; Network: { Containers: Record<string, { Name: string }> } }[] }[];
  Svg: string | null;
  SvgError: string | null;
}

describe('one picture of two hosts: dovesnap graph and the live view', () => {
  const tag = randomBytes(3).toString('hex');
  const net = `dst-gh-${tag}`;
  const ctr = `${net}-c2`;
  const sub = testSubnet();
  const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-graph-hosts-'));
  let original: string | undefined;
  onCleanup(async () => {
    await run(DOCKER_CLI, ['-H', sock(2), 'rm', '-f', ctr]);
    for (const k of [1, 2]) await run(DOCKER_CLI, ['-H', sock(k), 'network', 'rm', net]);
    await make([], 'hosts-down');
    rmSync(dir, { recursive: true, force: true });
    // faucetconfrpc rewrote faucet.yaml as its own YAML dump: the operator's file back byte for byte.
    if (original !== undefined) {
      writeFileSync(FAUCET_CONFIG, original);
      hupFaucet();
      await waitFaucetSettled();
    }
  });

  it('make hosts N=2 (stacking, faucetconfrpc), host 1 given host 2 as its peer; a network on each', async () => {
    await waitFaucetSettled();
    original = readFileSync(FAUCET_CONFIG, 'utf8');
    const r = await make(UP, 'hosts');
    assert.equal(r.code, 0, `make hosts N=2 failed: ${r.stderr}`);
    const create = ['network', 'create', '-d', 'dovesnap', '--subnet', sub.subnet, '-o', 'ovs.bridge.vlan=243'];
    for (const k of [1, 2]) await on(k, ...create, '--ip-range', `${sub.prefix}.${k * 32}/27`, net);
    await on(2, 'run', '-d', '--name', ctr, '--net', net, IMAGE, 'sleep', '3600');
  });

  it('dovesnap graph of both: one stack edge between dovesnap-dsh-h1 and dovesnap-dsh-h2, one FAUCET', async () => {
    const out = path.join(dir, 'x.dot');
    const r = await run('node', [CLI, 'graph', '-o', out, '--status', `${STATUS(1)},${STATUS(2)}`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(out, 'utf8')
      .split('\n')
      .map((l) => l.trim());
    const stack = lines.filter((l) => /^"h[01]:stack:dovesnap-dsh-h[12]" -> "(h[01]:stack|dp):/.test(l));
    assert.deepEqual(
      stack,
      [
        '"h0:stack:dovesnap-dsh-h1" -> "h1:stack:dovesnap-dsh-h2" [taillabel="dsh-to-h2 1", headlabel="dsh-to-h1 1", style=bold];',
      ],
      'the one link, drawn once, with each end’s interface and OpenFlow port',
    );
    assert.equal(lines.filter((l) => l.startsWith('"dp:')).length, 0, 'no far-DP node for a host that is drawn');
    const faucet = `"faucet:${CONTROLLER}"`;
    assert.equal(lines.filter((l) => l.startsWith(`${faucet} [shape=doubleoctagon`)).length, 1, 'one FAUCET node');
    assert.equal(
      lines.filter((l) => l.endsWith(`-> ${faucet} [style=dashed, color="#7a7a7a"];`)).length,
      4,
      'a dashed edge from each host’s network and stack switch',
    );
    for (const k of [1, 2])
      assert.ok(
        lines.includes(`label="host dsh-h${k}\\ndovesnap at ${STATUS(k)}";`),
        `host ${k}'s box names it: ${lines.filter((l) => l.startsWith('label=')).join(' ')}`,
      );
  });

  it('host 1’s live view holds host 2’s network and its container’s port, as host 2’s, and the two-host diagram', async () => {
    const res = await fetch(`${STATUS(1)}/live/snapshot`, { signal: AbortSignal.timeout(15_000) });
    assert.equal(res.status, 200);
    const snap = (await res.json()) as Snapshot;
    assert.deepEqual(
      snap.Hosts.map((h) => [h.Name, h.State, h.Error]),
      [
        ['dsh-h1', 'ok', null],
        ['dsh-h2', 'ok', null],
      ],
    );
    const merged = snap.Merged.find((m) => m.Name === net);
    assert.deepEqual(
      merged?.Parts.map((p) => [p.Host, Object.values(p.Network.Containers).map((c) => c.Name)]),
      [
        ['dsh-h1', []],
        ['dsh-h2', [`/${ctr}`]],
      ],
    );
    const svg = (snap.Svg ?? '').replace(/&#45;/g, '-');
    assert.equal(snap.SvgError, null);
    for (const text of ['host dsh-h1', 'host dsh-h2', 'dsh-to-h2 1', 'dsh-to-h1 1', CONTROLLER])
      assert.ok(svg.includes(text), `the diagram has ${text}`);
  });
});
