/**
 * The remote FAUCET configuration store against a REAL faucetconfrpc server (the PyPI package,
 * in its own venv: /opt/dovesnap/confrpc-venv, or $DOVESNAP_CONFRPC_VENV), on 127.0.0.1 with
 * mutual TLS, over a temp config dir whose faucet.yaml holds an operator's DP, ACL and VLAN.
 * Two stores play two hosts; a real FAUCET (`make up`'s venv) confirms one write by its metrics.
 * Without either venv the test fails (never skips): `make up` installs them.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDocument } from 'yaml';

import { CONFRPC_VENV, confrpcProtoPath } from '../../src/config/confrpc.js';
import { ConfrpcClient } from '../../src/confrpc/client.js';
import { makeKeys, runOpenssl } from '../../src/confrpc/keys.js';
import { readFaucetConfigState } from '../../src/faucet/metrics.js';
import { ownedByHost } from '../../src/driver/dp-naming.js';
import { planLeave, planRemote } from '../../src/faucet/remote-plan.js';
import { PENDING, RemoteFaucetStore, sendRemoteCall } from '../../src/faucet/remote-store.js';
import { FOREIGN_PORT_MARK, type FaucetDpSpec, type ManagedFaucetState } from '../../src/faucet/types.js';
import { ErrorCode, isDovesnapError } from '../../src/util/errors.js';
import { desiredOf, type StackedHost, stackedHost } from '../fakes/stacked-hosts.js';

const VENV = process.env['DOVESNAP_CONFRPC_VENV'] ?? CONFRPC_VENV;
/** FAUCET itself (`make up`'s venv), to confirm through its metrics what the server wrote. */
const FAUCET_VENV = process.env['FAUCET_VENV'] ?? '/opt/dovesnap/venv';
const SERVER = join(VENV, 'bin', 'faucetconfrpc_server');
const ADDR = '127.0.0.1';

const OPERATOR = `# the operator's own switch, ACL and VLAN
acls:
  office-acl:
  - rule:
      actions:
        allow: 1
dps:
  core:
    dp_id: 0x1
    hardware: Open vSwitch
    interfaces:
      1:
        native_vlan: office
        acls_in: [office-acl]
vlans:
  office:
    vid: 100
`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, ADDR, () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function dp(name: string, id: bigint, ports: number[], vid: number, extra: Partial<FaucetDpSpec> = {}): FaucetDpSpec {
  return {
    name,
    dpId: id,
    description: `dovesnap network ${name}`,
    ports: ports.map((number) => ({ number, description: `container ${number}`, nativeVlan: vid })),
    vlans: [{ vid, description: `VLAN ${vid} of ${name}` }],
    ...extra,
  };
}

function state(dps: FaucetDpSpec[], owned: string[] = []): ManagedFaucetState {
  return { dps, owned: new Set([...dps.map((d) => d.name), ...owned]) };
}

describe('remote FAUCET configuration store, against a real faucetconfrpc server', () => {
  let dir = '';
  let port = 0;
  let promPort = 0;
  let server: ChildProcess | undefined;
  let serverLog = '';
  const clients: ConfrpcClient[] = [];
  const stores: RemoteFaucetStore[] = [];

  const startServer = async (): Promise<void> => {
    server = spawn(
      SERVER,
      [
        '--config_dir',
        join(dir, 'config'),
        '--default_config',
        'faucet.yaml',
        '--key',
        join(dir, 'keys', `${ADDR}.key`),
        '--cert',
        join(dir, 'keys', `${ADDR}.crt`),
        '--cacert',
        join(dir, 'keys', `${ADDR}-ca.crt`),
        '--host',
        ADDR,
        '--port',
        String(port),
        '--prom_port',
        String(promPort),
      ],
      // The server creates a missing --default_config relative to where it starts.
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: join(dir, 'config') },
    );
    const keep = (b: Buffer): void => {
      serverLog = (serverLog + b.toString('utf8')).slice(-20_000);
    };
    server.stdout?.on('data', keep);
    server.stderr?.on('data', keep);
  };
  const stopServer = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s === undefined || s.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      s.once('exit', () => resolve());
      s.kill('SIGKILL');
    });
  };
  const host = (client: string, retry?: () => void): { store: RemoteFaucetStore; client: ConfrpcClient } => {
    const c = new ConfrpcClient({
      settings: { addr: ADDR, port, keyDir: join(dir, 'keys'), client, connRetries: 1 },
      proto: confrpcProtoPath({}, VENV),
      deadlineMs: 20_000,
    });
    const store = new RemoteFaucetStore({
      api: c,
      target: c.target,
      ...(retry === undefined ? {} : { retry }),
      retryMs: { first: 50, max: 200 },
    });
    clients.push(c);
    stores.push(store);
    return { store, client: c };
  };
  const file = (): string => readFileSync(join(dir, 'config', 'faucet.yaml'), 'utf8');
  const dpsInFile = (): string[] =>
    Object.keys((parseDocument(file()).toJS() as { dps?: Record<string, unknown> }).dps ?? {}).sort();
  const operatorKept = (): void => {
    const doc = parseDocument(file()).toJS() as Record<string, Record<string, unknown>>;
    assert.ok(doc['dps']?.['core'] !== undefined, "the operator's DP is still there");
    assert.ok(doc['acls']?.['office-acl'] !== undefined, "the operator's ACL is still there");
    assert.ok(doc['vlans']?.['office'] !== undefined, "the operator's VLAN is still there");
  };

  before(async () => {
    assert.ok(
      existsSync(SERVER),
      `${SERVER} is missing: faucetconfrpc is not installed. Run \`make up\` (it creates ${CONFRPC_VENV}), or by hand: python3 -m venv ${CONFRPC_VENV} && ${CONFRPC_VENV}/bin/pip install faucetconfrpc==0.55.79`,
    );
    dir = mkdtempSync(join(tmpdir(), 'dovesnap-confrpc-'));
    mkdirSync(join(dir, 'keys'));
    mkdirSync(join(dir, 'config'));
    await makeKeys(
      { dir: join(dir, 'keys'), server: ADDR, clients: ['host1', 'host2'], days: 2, force: false },
      runOpenssl,
    );
    writeFileSync(join(dir, 'config', 'faucet.yaml'), OPERATOR);
    port = await freePort();
    promPort = await freePort();
    await startServer();
    const probe = host('host1');
    await probe.client.waitReady(30_000).catch((err: unknown) => {
      throw new Error(`the faucetconfrpc server did not start: ${String(err)}\n${serverLog}`);
    });
  });

  after(async () => {
    for (const s of stores) s.close();
    for (const c of clients) c.close();
    await stopServer();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('two hosts write at the same time: both hosts’ DPs and the operator’s entries survive', async () => {
    const a = host('host1').store;
    const b = host('host2').store;
    const [ra, rb] = await Promise.all([
      a.apply(state([dp('h1-net', 0x101n, [1, 2], 201)])),
      b.apply(state([dp('h2-net', 0x201n, [1, 2, 3], 202)])),
    ]);
    assert.equal(ra.written, true);
    assert.equal(rb.written, true);
    assert.equal(ra.confirmed, false, 'no FAUCET metrics here: written, not confirmed');
    assert.deepEqual(dpsInFile(), ['core', 'h1-net', 'h2-net']);
    operatorKept();
    // Each host's next change keeps the other's.
    await Promise.all([
      a.apply(state([dp('h1-net', 0x101n, [1, 2, 3], 201)])),
      b.apply(state([dp('h2-net', 0x201n, [1], 202)])),
    ]);
    const doc = parseDocument(file(), { intAsBigInt: true });
    assert.deepEqual(
      (doc.getIn(['dps', 'h1-net', 'interfaces']) as { items: unknown[] }).items.length,
      3,
      'host 1 added a port',
    );
    assert.deepEqual(
      (doc.getIn(['dps', 'h2-net', 'interfaces']) as { items: unknown[] }).items.length,
      1,
      'host 2 removed two',
    );
    assert.ok(doc.getIn(['vlans', 'h1-net-vlan201']) !== undefined);
    assert.ok(doc.getIn(['vlans', 'h2-net-vlan202']) !== undefined);
    // Nothing left to do: applying the same again writes nothing (a restart adopts it too).
    assert.equal((await a.apply(state([dp('h1-net', 0x101n, [1, 2, 3], 201)]))).written, false);
    const fresh = host('host1').store;
    assert.equal((await fresh.apply(state([dp('h1-net', 0x101n, [1, 2, 3], 201)]))).written, false);
  });

  it("a host's removal removes exactly its own DP and VLAN entry", async () => {
    const a = host('host1').store;
    await a.apply(state([dp('h1-gone', 0x102n, [1], 203)]));
    assert.ok(dpsInFile().includes('h1-gone'));
    await a.apply(state([], ['h1-gone']));
    assert.ok(!dpsInFile().includes('h1-gone'));
    assert.doesNotMatch(file(), /h1-gone/);
    assert.ok(dpsInFile().includes('h2-net'), "the other host's DP stays");
    operatorKept();
  });

  it('a change the server refuses is reported with its message, and nothing of it is written', async () => {
    const a = host('host1').store;
    const bad = dp('h1-bad', 0x103n, [1], 204);
    const ports = bad.ports.map((p) => ({ ...p, aclsIn: ['no-such-acl'] }));
    await assert.rejects(
      a.apply(state([{ ...bad, ports }])),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.FaucetRejected) &&
        /refused/.test(err.message) &&
        /no-such-acl|Invalid config|Cannot set/.test(err.message),
    );
    assert.ok(!dpsInFile().includes('h1-bad'));
    operatorKept();
  });

  it("a stack link into the operator's DP: both ends arrive in one write and leave in one", async () => {
    const a = host('host1').store;
    const stack = dp('h1-stack', 0x106n, [1], 207, { stackPriority: 1 });
    const link = { number: 5, description: 'stack link to core', stack: { dp: 'core', port: 7 } };
    const far = {
      dp: 'core',
      port: { number: 7, description: `${FOREIGN_PORT_MARK} to h1-stack`, stack: { dp: 'h1-stack', port: 5 } },
    };
    await a.apply(state([stack]));
    await a.apply({ ...state([{ ...stack, ports: [...stack.ports, link] }]), foreignPorts: [far] });
    const doc = parseDocument(file(), { intAsBigInt: true });
    assert.equal(doc.getIn(['dps', 'core', 'interfaces', 7n, 'stack', 'dp']), 'h1-stack');
    assert.equal(doc.getIn(['dps', 'h1-stack', 'interfaces', 5n, 'stack', 'dp']), 'core');
    await a.apply(state([stack]));
    const after = parseDocument(file(), { intAsBigInt: true });
    assert.equal(after.getIn(['dps', 'core', 'interfaces', 7n]), undefined);
    assert.equal(after.getIn(['dps', 'h1-stack', 'interfaces', 5n]), undefined);
    await a.apply(state([], ['h1-stack']));
    assert.ok(!dpsInFile().includes('h1-stack'));
    operatorKept();
  });

  it('three hosts stacked in a line (docs/multi-host.md): each writes its own DPs, FAUCET validates every step, a host leaves', async () => {
    const hosts = [1, 2, 3].map((k) => stackedHost(k, 3, 'dovesnap-h1'));
    const api = host('host1').client;
    const sync = async (h: StackedHost): Promise<number> => {
      const text = await api.getConfigFile();
      const plan = planRemote(text, desiredOf(h, text), h.claims);
      // The server validates the whole configuration with FAUCET's parser after every call.
      for (const call of plan.calls) await sendRemoteCall(api, call);
      h.claims = plan.claims;
      return plan.calls.length;
    };
    let settled = false;
    for (let round = 0; round < 6 && !settled; round += 1) {
      let calls = 0;
      for (const h of hosts) calls += await sync(h);
      settled = calls === 0;
    }
    assert.ok(settled, 'the three hosts settled');
    const doc = parseDocument(file(), { intAsBigInt: true });
    for (const k of [1, 2, 3]) {
      assert.equal(doc.getIn(['dps', `web@h${k}`, 'interfaces', 65000n, 'stack', 'dp']), `dovesnap-h${k}`);
      assert.equal(doc.getIn(['dps', `dovesnap-h${k}`, 'interfaces', 2n, 'stack', 'dp']), `web@h${k}`);
    }
    for (const [a, b] of [
      [1, 2],
      [2, 3],
    ] as const) {
      assert.equal(doc.getIn(['dps', `dovesnap-h${a}`, 'interfaces', BigInt(10 + b), 'stack', 'dp']), `dovesnap-h${b}`);
      assert.equal(doc.getIn(['dps', `dovesnap-h${b}`, 'interfaces', BigInt(10 + a), 'stack', 'dp']), `dovesnap-h${a}`);
    }
    assert.equal(doc.getIn(['dps', 'dovesnap-h1', 'stack', 'priority']), 1n);
    operatorKept();
    // Host 3 leaves with its daemon stopped (make down-all): its DPs by name, the link's far end with them.
    for (const call of planLeave(file(), ownedByHost('h3'))) await sendRemoteCall(api, call);
    const left = dpsInFile();
    assert.ok(!left.some((n) => n.endsWith('@h3') || n === 'dovesnap-h3'), left.join(' '));
    assert.ok(
      ['web@h1', 'web@h2', 'dovesnap-h1', 'dovesnap-h2'].every((n) => left.includes(n)),
      left.join(' '),
    );
    const after3 = parseDocument(file(), { intAsBigInt: true });
    assert.equal(
      after3.getIn(['dps', 'dovesnap-h2', 'interfaces', 13n]),
      undefined,
      "host 2's port to host 3 went with it",
    );
    // The others: nothing left to do but drop the link to host 3 from their desired state; then host 1 and 2 leave.
    for (const h of hosts.slice(0, 2)) await sync(h);
    // From the end of the line to the root: a host in the middle would cut the far one off (FAUCET refuses).
    for (const h of ['h2', 'h1']) for (const call of planLeave(file(), ownedByHost(h))) await sendRemoteCall(api, call);
    assert.deepEqual(
      dpsInFile().filter((n) => n.includes('@') || /^dovesnap-h[123]$/.test(n)),
      [],
    );
    operatorKept();
  });

  it("with FAUCET's metrics: confirmed once FAUCET (stat reload) runs the file the server wrote", async () => {
    const faucetBin = join(FAUCET_VENV, 'bin', 'faucet');
    assert.ok(
      existsSync(faucetBin),
      `${faucetBin} is missing: run \`make up\` (it creates the FAUCET venv), or set FAUCET_VENV`,
    );
    const [ofPort, metricsPort] = [await freePort(), await freePort()];
    const faucet = spawn(faucetBin, [`--ryu-ofp-tcp-listen-port=${ofPort}`], {
      cwd: dir,
      stdio: 'ignore',
      env: {
        PATH: `${join(FAUCET_VENV, 'bin')}:/usr/bin:/bin`,
        FAUCET_CONFIG: join(dir, 'config', 'faucet.yaml'),
        FAUCET_LOG: join(dir, 'faucet.log'),
        FAUCET_EXCEPTION_LOG: join(dir, 'faucet_exception.log'),
        FAUCET_PROMETHEUS_PORT: String(metricsPort),
        FAUCET_PROMETHEUS_ADDR: ADDR,
        FAUCET_CONFIG_STAT_RELOAD: '1',
      },
    });
    try {
      const metricsUrl = `http://${ADDR}:${metricsPort}/metrics`;
      const up = Date.now() + 30_000;
      while (
        !(await readFaucetConfigState(metricsUrl).then(
          (s) => s.hashes.length > 0,
          () => false,
        ))
      ) {
        assert.ok(Date.now() < up, 'FAUCET did not serve its metrics within 30 s');
        await new Promise((r) => setTimeout(r, 250));
      }
      const c = host('host1').client;
      const store = new RemoteFaucetStore({ api: c, target: c.target, metricsUrl, confirmTimeoutMs: 30_000 });
      const r = await store.apply(state([dp('h1-seen', 0x105n, [1], 206)]));
      assert.deepEqual([r.written, r.confirmed], [true, true]);
      const loaded = await readFaucetConfigState(metricsUrl);
      assert.ok(
        loaded.hashes.includes(createHash('sha256').update(file()).digest('hex')),
        'FAUCET runs the file as the server wrote it',
      );
    } finally {
      faucet.kill('SIGKILL');
    }
  });

  it('the server stopped: apply reports FAUCET configuration pending and retries; after a restart the state converges', async () => {
    let retries = 0;
    const a = host('host1', () => {
      retries += 1;
    }).store;
    await stopServer();
    const want = state([dp('h1-late', 0x104n, [1, 2], 205)]);
    await assert.rejects(
      a.apply(want),
      (err: unknown) => isDovesnapError(err, ErrorCode.FaucetTimeout) && err.message.startsWith(PENDING),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(retries >= 1, 'a retry was asked for');
    await startServer();
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const r = await a.apply(want);
        assert.equal(r.written, true);
        break;
      } catch (err) {
        if (!isDovesnapError(err, ErrorCode.FaucetTimeout) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    assert.deepEqual(dpsInFile(), ['core', 'h1-late', 'h1-net', 'h1-seen', 'h2-net']);
    operatorKept();
  });
});
