import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import {
  addFaucetEntries,
  FAUCET_CONFIG,
  hupFaucet,
  IMAGE,
  must,
  startCapture,
  onCleanup,
  run,
  testSubnet,
  waitFaucetSettled,
  waitFor,
} from './harness.js';

/**
 * Issue 24, the proof on one machine: three simulated hosts (`make hosts N=3` with stacking and
 * faucetconfrpc), each with its own Docker Engine, Open vSwitch and dovesnap, all writing this
 * machine's FAUCET configuration through this machine's faucetconfrpc server. One network of the
 * same name on each host; containers on host 1 and host 3 talk (ping and TCP) through host 2's
 * stack switch; each host's DP is in FAUCET's configuration once; the operator's entries stay;
 * a host's dovesnap SIGKILLed does not stop the others' traffic; leaving takes every host's
 * entries out again. faucetconfrpc's server writes faucet.yaml as a YAML dump (the operator's
 * comments and layout go), so the test compares entries, not bytes, and gives the operator's
 * file back byte for byte at the end.
 */

const REPO = new URL('../../../', import.meta.url).pathname;
const CLI = path.join(REPO, 'dist/src/cli/main.js');
const STATUS = (k: number): string => `http://10.239.0.1${k}:9401`;
const CONTROLLER = 'tcp:10.239.0.1:6653';
const DOCKER_CLI = '/usr/bin/docker';
const HOSTS = [1, 2, 3] as const;
const sock = (k: number): string => `unix:///run/dovesnap-hosts/h${k}/docker.sock`;
const on = (k: number, ...args: string[]): Promise<string> => must(DOCKER_CLI, ['-H', sock(k), ...args], 120_000);
const make = (env: Record<string, string>, ...args: string[]) =>
  run(
    'env',
    [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'make', '-s', '--no-print-directory', '-C', REPO, ...args],
    900_000,
  );

type Doc = Record<string, Record<string, Record<string, unknown>> | undefined>;
const faucetDoc = (): Doc => (parse(readFileSync(FAUCET_CONFIG, 'utf8')) ?? {}) as Doc;

/** The top-level entries that are not dovesnap's: the operator's, which nobody may change. */
function operatorEntries(doc: Doc): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, entries] of Object.entries(doc)) {
    for (const [key, value] of Object.entries(entries ?? {})) {
      const description = (value as { description?: unknown } | null)?.description;
      const ours =
        key.startsWith('dovesnap-') ||
        /-vlan[0-9]+$/.test(key) ||
        (typeof description === 'string' && description.startsWith('dovesnap '));
      if (!ours) out[section] = { ...(out[section] ?? {}), [key]: value };
    }
  }
  return out;
}

/** Where this machine's faucetconfrpc server was last started; '' when none runs (no state file). */
const recordedServerHost = (): string => {
  const state = '/run/dovesnap/faucetconfrpc.state';
  return existsSync(state) ? (/^--host=\[?([^\]\n]*)\]?$/m.exec(readFileSync(state, 'utf8'))?.[1] ?? '') : '';
};

async function reaches(from: number, ctr: string, ip: string, port: number, body: string): Promise<void> {
  await waitFor(
    `${ctr} on host ${from} to ping ${ip}`,
    async () =>
      (await run(DOCKER_CLI, ['-H', sock(from), 'exec', ctr, 'ping', '-c', '1', '-W', '1', ip])).code === 0
        ? true
        : undefined,
    60_000,
  );
  assert.equal(await on(from, 'exec', ctr, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ip}:${port}/`), body);
}

describe('three hosts, one FAUCET: a network on each, stacked through host 2', () => {
  const tag = randomBytes(3).toString('hex');
  const net = `dst-mh-${tag}`;
  const sub = testSubnet();
  const operatorAcl = `e2e-operator-${tag}`;
  let operatorBefore: Record<string, Record<string, unknown>> = {};
  let serverBefore = '';
  let original: string | undefined;
  const env = {
    HOSTS_STACKING: '1',
    HOSTS_CONFRPC: '1',
    HOSTS_STACK_MIRROR: '1',
    // Host 1's live view shows the other two (the others list themselves too, harmlessly).
    HOSTS_DAEMON_ENV: `DOVESNAP_STATUS_PEERS=${STATUS(2)},${STATUS(3)}`,
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-multihost-'));
  onCleanup(async () => {
    for (const k of [3, 1]) await run(DOCKER_CLI, ['-H', sock(k), 'rm', '-f', `${net}-h${k}`, `${net}-h${k}b`]);
    for (const k of HOSTS) await run(DOCKER_CLI, ['-H', sock(k), 'rm', '-f', `${net}-m${k}`]);
    await make({}, 'hosts-down');
    rmSync(dir, { recursive: true, force: true });
    if (original !== undefined) {
      writeFileSync(FAUCET_CONFIG, original);
      hupFaucet();
      await waitFaucetSettled();
    }
  });

  it('make hosts N=3 (stacking, faucetconfrpc): the hosts write this machine’s FAUCET configuration', async () => {
    serverBefore = recordedServerHost();
    await waitFaucetSettled();
    original = readFileSync(FAUCET_CONFIG, 'utf8');
    // An operator's ACL, as an operator would add it: nobody's writes may touch it.
    addFaucetEntries('acls', `  ${operatorAcl}:\n  - rule:\n      dl_type: 0x800\n      actions:\n        allow: 1\n`);
    hupFaucet();
    await waitFaucetSettled();
    operatorBefore = operatorEntries(faucetDoc());
    assert.ok(operatorBefore['acls']?.[operatorAcl], 'the operator ACL is in the file');
    const r = await make(env, 'hosts', 'N=3');
    assert.equal(r.code, 0, `make hosts N=3 failed: ${r.stderr}`);
    assert.equal(r.stdout.trim().split('\n').length, 3, r.stdout);
    assert.equal(recordedServerHost(), '10.239.0.1', 'the server listens on the management address');
    for (const k of HOSTS) {
      const hostEnv = await must(`${REPO}scripts/hosts.sh`, ['env', String(k)]);
      assert.match(hostEnv, /^FAUCETCONFRPC_ADDR=10\.239\.0\.1$/m);
      // FAUCET's metrics as the hosts reach them: without, no write of theirs is ever confirmed.
      assert.match(hostEnv, /^DOVESNAP_FAUCET_METRICS=http:\/\/10\.239\.0\.1:9302\/metrics$/m);
    }
  });

  it('containers on host 1 and host 3 reach each other (ping, TCP) through host 2’s stack switch', async () => {
    for (const k of HOSTS)
      await on(
        k,
        'network',
        'create',
        '-d',
        'dovesnap',
        '--subnet',
        sub.subnet,
        '--ip-range',
        `${sub.prefix}.${k * 32}/27`,
        '-o',
        'ovs.bridge.vlan=241',
        net,
      );
    const ip1 = `${sub.prefix}.40`;
    const ip3 = `${sub.prefix}.100`;
    await on(1, 'run', '-d', '--name', `${net}-h1`, '--net', net, '--ip', ip1, IMAGE, 'sleep', '3600');
    await on(3, 'run', '-d', '--name', `${net}-h3`, '--net', net, '--ip', ip3, IMAGE, 'sleep', '3600');
    for (const [k, body] of [
      [1, 'from-h1'],
      [3, 'from-h3'],
    ] as const)
      await on(
        k,
        'exec',
        `${net}-h${k}`,
        'sh',
        '-c',
        `mkdir -p /tmp/w && echo ${body} > /tmp/w/index.html && httpd -p 8080 -h /tmp/w`,
      );
    await reaches(1, `${net}-h1`, ip3, 8080, 'from-h3');
    await reaches(3, `${net}-h3`, ip1, 8080, 'from-h1');
    for (const k of HOSTS) {
      const applied = readFileSync(`/var/log/dovesnap-hosts/h${k}/dovesnap.log`, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"msg":"FAUCET configuration applied"'));
      assert.ok(
        applied.some((l) => l.includes('"confirmed":true')),
        `host ${k}'s writes confirmed by FAUCET: ${applied.slice(-3).join(' ')}`,
      );
    }

    // One DP per host for the network, one stack switch per host, each once, DPIDs all different.
    const dps = faucetDoc()['dps'] ?? {};
    const names = Object.keys(dps);
    for (const k of HOSTS) {
      assert.equal(
        names.filter((n) => n === `${net}@dsh-h${k}`).length,
        1,
        `${net}@dsh-h${k} once: ${names.join(' ')}`,
      );
      assert.ok(names.includes(`dovesnap-dsh-h${k}`), `dovesnap-dsh-h${k}: ${names.join(' ')}`);
    }
    const ids = names.map((n) => String(dps[n]?.['dp_id']));
    assert.equal(new Set(ids).size, ids.length, `every DP has its own dp_id: ${ids.join(' ')}`);
    assert.deepEqual(operatorEntries(faucetDoc()), operatorBefore, 'the operator’s entries are untouched');
  });

  it('dovesnap graph of the three hosts: their two stack links as edges between stack switches, one FAUCET', async () => {
    const out = path.join(dir, 'hosts.dot');
    const r = await run('node', [CLI, 'graph', '-o', out, '--status', HOSTS.map(STATUS).join(',')]);
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(out, 'utf8')
      .split('\n')
      .map((l) => l.trim());
    assert.deepEqual(
      lines.filter((l) => /^"h[0-9]:stack:dovesnap-dsh-h[0-9]" -> "(h[0-9]:stack|dp):/.test(l)),
      [
        '"h0:stack:dovesnap-dsh-h1" -> "h1:stack:dovesnap-dsh-h2" [taillabel="dsh-to-h2 1", headlabel="dsh-to-h1 1", style=bold];',
        '"h1:stack:dovesnap-dsh-h2" -> "h2:stack:dovesnap-dsh-h3" [taillabel="dsh-to-h3 2", headlabel="dsh-to-h2 1", style=bold];',
      ],
      'each link once, with each end’s interface and OpenFlow port',
    );
    assert.equal(lines.filter((l) => l.startsWith('"dp:')).length, 0, 'no far-DP node for a host that is drawn');
    const faucet = `"faucet:${CONTROLLER}"`;
    assert.equal(lines.filter((l) => l.startsWith(`${faucet} [shape=doubleoctagon`)).length, 1, 'one FAUCET node');
    assert.equal(
      lines.filter((l) => l.endsWith(`-> ${faucet} [style=dashed, color="#7a7a7a"];`)).length,
      6,
      'a dashed edge from each host’s network and stack switch',
    );
    for (const k of HOSTS)
      assert.ok(lines.includes(`label="host dsh-h${k}\\ndovesnap at ${STATUS(k)}";`), `host ${k}'s box`);
  });

  it('host 1’s live view: every host’s part of the network, each container as its host’s', async () => {
    const res = await fetch(`${STATUS(1)}/live/snapshot`, { signal: AbortSignal.timeout(15_000) });
    assert.equal(res.status, 200);
    const snap = (await res.json()) as {
      Hosts: { Name: string; State: string }[];
      Merged: { Name: string; Parts: { Host: string; Network: { Containers: Record<string, { Name: string }> } }[] }[];
      SvgError: string | null;
    };
    assert.deepEqual(
      snap.Hosts.map((h) => [h.Name, h.State]),
      HOSTS.map((k) => [`dsh-h${k}`, 'ok']),
    );
    assert.deepEqual(
      snap.Merged.find((m) => m.Name === net)?.Parts.map((p) => [
        p.Host,
        Object.values(p.Network.Containers).map((c) => c.Name),
      ]),
      [
        ['dsh-h1', [`/${net}-h1`]],
        ['dsh-h2', []],
        ['dsh-h3', [`/${net}-h3`]],
      ],
    );
    assert.equal(snap.SvgError, null);
  });

  it('a mirror-labelled container on each host: its traffic reaches host 1’s stack mirror port, nothing of unlabelled unicast', async () => {
    const holder = readFileSync('/run/dovesnap-hosts/h1/pids/holder.pid', 'utf8').trim();
    const cap = await startCapture('dsh-mirror-cap', { netnsPid: holder });
    const ip1 = `${sub.prefix}.40`;
    const ip3 = `${sub.prefix}.100`;
    const mirrored = HOSTS.map((k) => ({ k, name: `${net}-m${k}`, ip: `${sub.prefix}.${k * 32 + 12}` }));
    for (const m of mirrored)
      await on(
        m.k,
        'run',
        '-d',
        '--name',
        m.name,
        '--net',
        net,
        '--ip',
        m.ip,
        '--label',
        'dovesnap.faucet.mirror=true',
        IMAGE,
        'sleep',
        '3600',
      );
    // The unlabelled pair (host 1 and host 3), learnt first: until then FAUCET floods, to the mirrored ports too.
    await run(DOCKER_CLI, ['-H', sock(1), 'exec', `${net}-h1`, 'ping', '-c', '3', '-i', '0.2', ip3]);
    const learnt = cap.lines.length;
    await run(DOCKER_CLI, ['-H', sock(1), 'exec', `${net}-h1`, 'ping', '-c', '5', '-i', '0.2', ip3]);
    for (const m of mirrored) {
      const start = cap.lines.length;
      await waitFor(
        `host ${m.k}'s mirrored echo requests at host 1's stack mirror port`,
        async () => {
          await run(DOCKER_CLI, ['-H', sock(m.k), 'exec', m.name, 'ping', '-c', '1', '-W', '1', ip1]);
          return cap.lines.slice(start).some((l) => l.includes(`${m.ip} > ${ip1}: ICMP echo request`))
            ? true
            : undefined;
        },
        60_000,
      );
    }
    const pair = new RegExp(
      `${ip1.replaceAll('.', '\\.')} > ${ip3.replaceAll('.', '\\.')}:|${ip3.replaceAll('.', '\\.')} > ${ip1.replaceAll('.', '\\.')}:`,
    );
    assert.deepEqual(
      cap.lines.slice(learnt).filter((l) => pair.test(l)),
      [],
      'no unicast frame of the unlabelled pair',
    );
    cap.stop();
  });

  it('the faucetconfrpc server stopped while containers start on hosts 1 and 3: they start, and talk once it is back', async () => {
    const pid = Number(readFileSync('/run/dovesnap/faucetconfrpc.pid', 'utf8').trim());
    process.kill(pid, 'SIGTERM');
    await waitFor('the faucetconfrpc server gone', async () =>
      (await run('kill', ['-0', String(pid)])).code !== 0 ? true : undefined,
    );
    const ip1 = `${sub.prefix}.41`;
    const ip3 = `${sub.prefix}.101`;
    await on(1, 'run', '-d', '--name', `${net}-h1b`, '--net', net, '--ip', ip1, IMAGE, 'sleep', '3600');
    await on(3, 'run', '-d', '--name', `${net}-h3b`, '--net', net, '--ip', ip3, IMAGE, 'sleep', '3600');
    for (const k of [1, 3])
      await waitFor(`host ${k}'s /healthz to say the configuration is pending`, async () => {
        const body = (await (await fetch(`http://10.239.0.1${k}:9401/healthz`)).json()) as { reason?: string };
        return body.reason?.startsWith('FAUCET configuration pending') === true ? true : undefined;
      });
    // Back as an operator brings it back: make up keeps the server on the address it was given.
    const up = await make({}, 'up');
    assert.equal(up.code, 0, up.stderr);
    assert.equal(recordedServerHost(), '10.239.0.1');
    await on(
      3,
      'exec',
      `${net}-h3b`,
      'sh',
      '-c',
      'mkdir -p /tmp/w && echo from-h3b > /tmp/w/index.html && httpd -p 8080 -h /tmp/w',
    );
    await reaches(1, `${net}-h1b`, ip3, 8080, 'from-h3b');
    const names = Object.keys(faucetDoc()['dps'] ?? {});
    for (const k of HOSTS)
      assert.equal(
        names.filter((n) => n === `${net}@dsh-h${k}`).length,
        1,
        `${net}@dsh-h${k} once: ${names.join(' ')}`,
      );
    for (const k of [1, 3])
      await waitFor(`host ${k}'s /healthz ok again`, async () =>
        (await fetch(`http://10.239.0.1${k}:9401/healthz`)).status === 200 ? true : undefined,
      );
  });

  it('host 2’s dovesnap SIGKILLed: hosts 1 and 3 keep talking through its switch', async () => {
    const pid = Number(readFileSync('/run/dovesnap-hosts/h2/pids/dovesnap.pid', 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await waitFor('host 2’s dovesnap gone', async () =>
      (await run('kill', ['-0', String(pid)])).code !== 0 ? true : undefined,
    );
    await reaches(1, `${net}-h1`, `${sub.prefix}.100`, 8080, 'from-h3');
    assert.ok(
      Object.keys(faucetDoc()['dps'] ?? {}).includes(`${net}@dsh-h2`),
      'its DP stays in FAUCET’s configuration',
    );
  });

  it('make hosts-down: every host leaves FAUCET’s configuration, the server gets its address back', async () => {
    for (const k of [3, 1]) await on(k, 'rm', '-f', `${net}-h${k}`, `${net}-h${k}b`);
    for (const k of HOSTS) await on(k, 'rm', '-f', `${net}-m${k}`);
    const r = await make({}, 'hosts-down');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /DeprecationWarning/);
    const names = Object.keys(faucetDoc()['dps'] ?? {});
    assert.deepEqual(
      names.filter((n) => n.includes('@dsh-h') || n.startsWith('dovesnap-dsh-h')),
      [],
      names.join(' '),
    );
    assert.deepEqual(operatorEntries(faucetDoc()), operatorBefore, 'the operator’s entries are untouched');
    assert.equal(recordedServerHost(), serverBefore);
    if (original !== undefined) writeFileSync(FAUCET_CONFIG, original);
    original = undefined;
    hupFaucet();
    await waitFaucetSettled();
  });
});
