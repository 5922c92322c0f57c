/**
 * One behaviour suite for VSwitch, run against FakeVSwitch and against a real ovsdb-server that
 * this file starts on a temporary database (no root, no ovs-vswitchd). With no vswitchd nobody
 * assigns ofports, so both backends get a `simulateVswitchd` that writes what it would.
 *
 * Both backends can also lose the server: the real one is SIGKILLed and a new ovsdb-server is
 * started on the same socket and database file; the fake simulates the disconnect.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectOvsdb, type OvsdbClient } from '../../src/ovs/client.js';
import { eq, Op, setOf } from '../../src/ovs/protocol.js';
import { openVSwitch, type BridgeSpec, type VSwitch } from '../../src/ovs/vswitch.js';
import { ErrorCode, isDovesnapError } from '../../src/util/errors.js';
import { FAKE_OVSDB_TARGET, FakeVSwitch } from '../fakes/fake-vswitch.js';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
/** Short, so the "OVSDB stays down" test does not take the default 5 s. */
const UNAVAILABLE_AFTER_MS = 1500;

interface Harness {
  readonly vs: VSwitch;
  /** What the VSwitch is connected to, as error messages name it. */
  readonly target: string;
  /** Writes Interface.ofport (and error) as ovs-vswitchd would, through a connection of its own. */
  simulateVswitchd(ifname: string, ofport: number, error?: string): Promise<void>;
  /** Writes Interface.statistics as ovs-vswitchd does every few seconds. */
  simulateStatistics(ifname: string, stats: Readonly<Record<string, number>>): Promise<void>;
  /** The server dies (SIGKILL). */
  kill(): Promise<void>;
  /** A new server on the same socket and database file. */
  restart(): Promise<void>;
  /** A connection of its own to the server (the real one only). */
  readonly raw?: () => OvsdbClient;
}

interface Backend {
  readonly name: string;
  start(): Promise<Harness>;
  stop(): Promise<void>;
}

function fakeBackend(): Backend {
  let fake: FakeVSwitch | undefined;
  return {
    name: 'FakeVSwitch',
    async start() {
      const vs = new FakeVSwitch({ assignOfports: false, unavailableAfterMs: UNAVAILABLE_AFTER_MS });
      fake = vs;
      return {
        vs,
        target: FAKE_OVSDB_TARGET,
        simulateVswitchd: async (ifname, ofport, error) => vs.simulateVswitchd(ifname, ofport, error),
        simulateStatistics: async (ifname, stats) => vs.simulateStatistics(ifname, stats),
        kill: async () => vs.simulateDisconnect(),
        restart: async () => vs.simulateReconnect(),
      };
    },
    async stop() {
      fake?.close();
    },
  };
}

function hasOvsdbServer(): boolean {
  return spawnSync('ovsdb-server', ['--version']).status === 0 && spawnSync('ovsdb-tool', ['--version']).status === 0;
}

function ovsdbServerBackend(): Backend {
  let dir: string | undefined;
  let server: ChildProcess | undefined;
  let vs: VSwitch | undefined;
  let vswitchd: OvsdbClient | undefined;
  const killServer = (): void => {
    server?.kill('SIGKILL');
  };
  return {
    name: 'ovsdb-server',
    async start() {
      // Never skipped: `make test` installs Open vSwitch; without it this must fail, loudly.
      assert.ok(
        hasOvsdbServer(),
        'ovsdb-server and ovsdb-tool are not installed (Debian: openvswitch-switch; `make up` installs it)',
      );
      const tmp = await mkdtemp(join(tmpdir(), 'dovesnap-ovsdb-'));
      dir = tmp;
      const db = join(tmp, 'conf.db');
      const socket = join(tmp, 'db.sock');
      const created = spawnSync('ovsdb-tool', ['create', db, SCHEMA], { encoding: 'utf8' });
      assert.equal(created.status, 0, `ovsdb-tool create: ${created.stderr}`);
      const startServer = (): void => {
        server = spawn(
          'ovsdb-server',
          [
            db,
            `--remote=punix:${socket}`,
            '--no-chdir',
            `--pidfile=${join(tmp, 'pid')}`,
            `--unixctl=${join(tmp, 'ctl')}`,
            `--log-file=${join(tmp, 'log')}`,
          ],
          { stdio: 'ignore' },
        );
      };
      startServer();
      // If the test process dies without running after(), the server must not outlive it.
      process.once('exit', killServer);
      vswitchd = await connectWithRetry(socket);
      // What `ovs-vsctl init` does: the single Open_vSwitch row every bridge hangs from.
      await vswitchd.transact('Open_vSwitch', [Op.insert('Open_vSwitch', {})]);
      vs = await openVSwitch(socket, undefined, { unavailableAfterMs: UNAVAILABLE_AFTER_MS });
      return {
        vs,
        target: socket,
        async simulateVswitchd(ifname, ofport, error) {
          assert.ok(vswitchd, 'simulated vswitchd is not connected');
          await vswitchd.transact('Open_vSwitch', [
            Op.update('Interface', [eq('name', ifname)], { ofport, error: error === undefined ? setOf([]) : error }),
          ]);
        },
        async simulateStatistics(ifname, stats) {
          assert.ok(vswitchd, 'simulated vswitchd is not connected');
          await vswitchd.transact('Open_vSwitch', [
            Op.update('Interface', [eq('name', ifname)], { statistics: ['map', Object.entries(stats)] }),
          ]);
        },
        async kill() {
          const running = server;
          assert.ok(
            running !== undefined && running.exitCode === null && running.signalCode === null,
            'ovsdb-server is not running',
          );
          const exited = new Promise((resolve) => running.once('exit', resolve));
          running.kill('SIGKILL');
          await exited;
          vswitchd?.close();
          vswitchd = undefined;
        },
        async restart() {
          startServer();
          vswitchd = await connectWithRetry(socket);
        },
        raw() {
          assert.ok(vswitchd, 'the raw connection is not open');
          return vswitchd;
        },
      };
    },
    async stop() {
      vs?.close();
      vswitchd?.close();
      if (server !== undefined && server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server?.once('exit', resolve));
        server.kill('SIGTERM');
        await Promise.race([exited, sleep(2000).then(killServer)]);
      }
      process.off('exit', killServer);
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** ovsdb-server creates its socket shortly after starting; this is start-up only, not a hot path. */
async function connectWithRetry(socket: string): Promise<OvsdbClient> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connectOvsdb(socket);
    } catch (err) {
      if (attempt >= 100) throw err;
      await sleep(50);
    }
  }
}

const isOvsdbError = (err: unknown): boolean => isDovesnapError(err, ErrorCode.Ovsdb);

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function bridgeSpec(name: string, overrides: Partial<BridgeSpec> = {}): BridgeSpec {
  return {
    name,
    datapathType: 'netdev',
    dpid: 0x99n,
    controllers: ['tcp:127.0.0.1:6653'],
    failMode: 'secure',
    externalIds: { 'dovesnap-network-id': 'net1', keep: 'me' },
    ...overrides,
  };
}

for (const backend of [fakeBackend(), ovsdbServerBackend()]) {
  describe(`VSwitch contract: ${backend.name}`, () => {
    let h: Harness;
    before(async () => {
      h = await backend.start();
    });
    after(() => backend.stop());
    afterEach(async () => {
      for (const bridge of await h.vs.listBridges()) await h.vs.deleteBridge(bridge.name);
    });

    it('ensureBridge creates the bridge as specified', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a', { mtu: 1400 }));
      const bridge = await h.vs.getBridge('br-a');
      assert.ok(bridge);
      assert.match(bridge.uuid, /^[0-9a-f-]{36}$/);
      assert.deepEqual(
        { ...bridge, uuid: undefined },
        {
          name: 'br-a',
          uuid: undefined,
          datapathType: 'netdev',
          dpid: '0000000000000099',
          controllers: ['tcp:127.0.0.1:6653'],
          failMode: 'secure',
          externalIds: { 'dovesnap-network-id': 'net1', keep: 'me' },
          ports: [],
        },
      );
    });

    it('ensureBridge with no datapath ID, fail mode, controllers or protocols makes what `ovs-vsctl add-br` makes, and leaves it so', async () => {
      const plain = {
        name: 'ovs-a',
        datapathType: 'netdev',
        controllers: [],
        protocols: [],
        externalIds: { a: 'b' },
      } as const;
      await h.vs.ensureBridge(plain);
      const bridge = await h.vs.getBridge('ovs-a');
      assert.ok(bridge);
      assert.deepEqual(
        { dpid: bridge.dpid, failMode: bridge.failMode, controllers: bridge.controllers, ids: bridge.externalIds },
        { dpid: undefined, failMode: undefined, controllers: [], ids: { a: 'b' } },
      );
      // A re-run repairs nothing it has no opinion on.
      await h.vs.ensureBridge(plain);
      assert.deepEqual(await h.vs.getBridge('ovs-a'), bridge);
    });

    it('reconnectControllers leaves the bridge with the controllers it had; an unknown bridge is no error', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a', { controllers: ['tcp:127.0.0.1:6653', 'tcp:127.0.0.1:6654'] }));
      const before = await h.vs.getBridge('br-a');
      // Against ovsdb-server without ovs-vswitchd, cur_cfg never moves: this waits out its 1 s limit.
      await h.vs.reconnectControllers('br-a');
      const after = await h.vs.getBridge('br-a');
      assert.ok(before && after);
      assert.deepEqual(after, before);
      await h.vs.reconnectControllers('no-such-bridge');
    });

    it('ensureBridge is idempotent', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      const first = await h.vs.getBridge('br-a');
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      assert.deepEqual(await h.vs.getBridge('br-a'), first);
      assert.equal((await h.vs.listBridges()).length, 1);
    });

    it('ensureBridge repairs what differs without recreating the bridge', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'br-a-p1', externalIds: {} });
      const before = await h.vs.getBridge('br-a');
      await h.vs.ensureBridge(
        bridgeSpec('br-a', {
          dpid: 0xabcdefn,
          controllers: ['tcp:127.0.0.1:6654', 'tcp:127.0.0.1:6653'],
          failMode: 'standalone',
          externalIds: { 'dovesnap-network-id': 'net2', added: 'yes', keep: '' },
        }),
      );
      const after = await h.vs.getBridge('br-a');
      assert.ok(before && after);
      assert.equal(after.uuid, before.uuid);
      assert.deepEqual(after.ports, before.ports);
      assert.equal(after.dpid, '0000000000abcdef');
      assert.deepEqual(after.controllers, ['tcp:127.0.0.1:6653', 'tcp:127.0.0.1:6654']);
      assert.equal(after.failMode, 'standalone');
      assert.deepEqual(after.externalIds, { 'dovesnap-network-id': 'net2', added: 'yes' });

      await h.vs.ensureBridge(bridgeSpec('br-a', { controllers: [], externalIds: { other: 'x' } }));
      const merged = await h.vs.getBridge('br-a');
      assert.deepEqual(merged?.controllers, []);
      // external_ids merge: keys the spec does not mention stay.
      assert.deepEqual(merged?.externalIds, { 'dovesnap-network-id': 'net2', added: 'yes', other: 'x' });
    });

    it('concurrent ensureBridge and addPort calls for the same thing all succeed, once', async () => {
      await Promise.all([
        h.vs.ensureBridge(bridgeSpec('br-a')),
        h.vs.ensureBridge(bridgeSpec('br-a')),
        h.vs.ensureBridge(bridgeSpec('br-a')),
      ]);
      const spec = { bridge: 'br-a', name: 'p1', externalIds: { a: '1' } };
      await Promise.all([h.vs.addPort(spec), h.vs.addPort(spec), h.vs.addPort(spec)]);
      const bridges = await h.vs.listBridges();
      assert.deepEqual(
        bridges.map((b) => [b.name, b.ports.map((p) => p.name)]),
        [['br-a', ['p1']]],
      );
    });

    it('ensureBridge refuses a name already used by a port', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'taken', externalIds: {} });
      await assert.rejects(h.vs.ensureBridge(bridgeSpec('taken')), isOvsdbError);
      assert.equal(await h.vs.getBridge('taken'), undefined);
    });

    it('addPort adds, is idempotent, and repairs external_ids and ofport_request', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      const spec = {
        bridge: 'br-a',
        name: 'dovesnap1',
        ofportRequest: 5,
        externalIds: { container: 'c1', endpoint: 'e1' },
      };
      await h.vs.addPort(spec);
      const [added] = (await h.vs.getBridge('br-a'))?.ports ?? [];
      assert.deepEqual(
        { ...added, uuid: undefined },
        {
          name: 'dovesnap1',
          uuid: undefined,
          ofport: undefined,
          ofportRequest: 5,
          type: '',
          error: undefined,
          externalIds: { container: 'c1', endpoint: 'e1' },
        },
      );
      await h.vs.addPort(spec);
      assert.deepEqual((await h.vs.getBridge('br-a'))?.ports, [added]);

      await h.vs.addPort({ ...spec, ofportRequest: 6, externalIds: { container: 'c2', endpoint: '' } });
      const [repaired] = (await h.vs.getBridge('br-a'))?.ports ?? [];
      assert.equal(repaired?.uuid, added?.uuid);
      assert.equal(repaired?.ofportRequest, 6);
      assert.deepEqual(repaired?.externalIds, { container: 'c2' });
    });

    it('addPort creates patch ports with options', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.ensureBridge(bridgeSpec('br-b', { dpid: 0x9an }));
      await h.vs.addPort({
        bridge: 'br-a',
        name: 'patch-a',
        type: 'patch',
        options: { peer: 'patch-b' },
        externalIds: {},
      });
      await h.vs.addPort({
        bridge: 'br-b',
        name: 'patch-b',
        type: 'patch',
        options: { peer: 'patch-a' },
        externalIds: {},
      });
      assert.equal((await h.vs.getBridge('br-a'))?.ports[0]?.type, 'patch');
    });

    it('addPort fails on a missing bridge or a name used on another bridge', async () => {
      await assert.rejects(h.vs.addPort({ bridge: 'nope', name: 'p', externalIds: {} }), isOvsdbError);
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.ensureBridge(bridgeSpec('br-b', { dpid: 0x9an }));
      await h.vs.addPort({ bridge: 'br-a', name: 'p', externalIds: {} });
      await assert.rejects(h.vs.addPort({ bridge: 'br-b', name: 'p', externalIds: {} }), isOvsdbError);
      assert.deepEqual((await h.vs.getBridge('br-b'))?.ports, []);
    });

    it('deletePort removes the port and succeeds when it is already gone', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', externalIds: {} });
      await h.vs.addPort({ bridge: 'br-a', name: 'p2', externalIds: {} });
      await h.vs.deletePort('br-a', 'p1');
      assert.deepEqual(
        (await h.vs.getBridge('br-a'))?.ports.map((p) => p.name),
        ['p2'],
      );
      await h.vs.deletePort('br-a', 'p1');
      await h.vs.deletePort('no-such-bridge', 'p1');
      // A port of that name on another bridge is not this bridge's to delete.
      await h.vs.ensureBridge(bridgeSpec('br-b', { dpid: 0x9an }));
      await h.vs.deletePort('br-b', 'p2');
      assert.deepEqual(
        (await h.vs.getBridge('br-a'))?.ports.map((p) => p.name),
        ['p2'],
      );
      // The name is free again.
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', externalIds: {} });
    });

    it('deleteBridge removes the bridge with its ports, and succeeds when it is already gone', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', externalIds: {} });
      await h.vs.deleteBridge('br-a');
      assert.equal(await h.vs.getBridge('br-a'), undefined);
      await h.vs.deleteBridge('br-a');
      await h.vs.deleteBridge('never-existed');
      // Its port went with it: the name can be used again elsewhere.
      await h.vs.ensureBridge(bridgeSpec('br-b'));
      await h.vs.addPort({ bridge: 'br-b', name: 'p1', externalIds: {} });
    });

    it('listBridges returns every bridge with its ports, sorted', async () => {
      assert.deepEqual(await h.vs.listBridges(), []);
      await h.vs.ensureBridge(bridgeSpec('br-b', { dpid: 2n, controllers: [] }));
      await h.vs.ensureBridge(bridgeSpec('br-a', { dpid: 1n }));
      await h.vs.addPort({ bridge: 'br-a', name: 'z-port', externalIds: { n: '1' } });
      await h.vs.addPort({ bridge: 'br-a', name: 'a-port', type: 'internal', externalIds: {} });
      const bridges = await h.vs.listBridges();
      assert.deepEqual(
        bridges.map((b) => [b.name, b.dpid, b.controllers, b.ports.map((p) => [p.name, p.type])]),
        [
          [
            'br-a',
            '0000000000000001',
            ['tcp:127.0.0.1:6653'],
            [
              ['a-port', 'internal'],
              ['z-port', ''],
            ],
          ],
          ['br-b', '0000000000000002', [], []],
        ],
      );
    });

    it('setBridgeExternalIds merges and removes keys given as empty strings', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.setBridgeExternalIds('br-a', { keep: '', added: 'a', 'dovesnap-network-id': 'net9' });
      assert.deepEqual((await h.vs.getBridge('br-a'))?.externalIds, { 'dovesnap-network-id': 'net9', added: 'a' });
      await h.vs.setBridgeExternalIds('br-a', {});
      await assert.rejects(h.vs.setBridgeExternalIds('nope', { a: 'b' }), isOvsdbError);
    });

    it('setPortExternalIds merges and removes keys given as empty strings', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', externalIds: { a: '1', b: '2' } });
      await h.vs.setPortExternalIds('p1', { a: '', c: '3', b: '4' });
      assert.deepEqual((await h.vs.getBridge('br-a'))?.ports[0]?.externalIds, { b: '4', c: '3' });
      await assert.rejects(h.vs.setPortExternalIds('nope', { a: 'b' }), isOvsdbError);
    });

    it('waitOfport resolves once the port number is assigned', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', ofportRequest: 7, externalIds: {} });
      const waiting = h.vs.waitOfport('p1', 5000);
      await sleep(50);
      await h.simulateVswitchd('p1', 7);
      assert.equal(await waiting, 7);
      // Already assigned: resolves at once.
      assert.equal(await h.vs.waitOfport('p1', 1000), 7);
      assert.equal((await h.vs.getBridge('br-a'))?.ports[0]?.ofport, 7);
    });

    it("interfaceStatistics reads every interface's counters, empty until vswitchd writes them", async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', externalIds: {} });
      await h.vs.addPort({ bridge: 'br-a', name: 'p2', externalIds: {} });
      await h.simulateStatistics('p1', { rx_bytes: 1500, rx_packets: 3, tx_bytes: 42, tx_packets: 1, rx_dropped: 0 });
      const stats = await h.vs.interfaceStatistics();
      assert.deepEqual(stats.get('p1'), { rx_bytes: 1500, rx_packets: 3, tx_bytes: 42, tx_packets: 1, rx_dropped: 0 });
      assert.deepEqual(stats.get('p2'), {});
      assert.ok(stats.has('br-a'), "the bridge's own interface is listed");
    });

    it('waitOfport also sees a port that does not exist yet when it starts waiting', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      const waiting = h.vs.waitOfport('late', 5000);
      await h.vs.addPort({ bridge: 'br-a', name: 'late', externalIds: {} });
      await h.simulateVswitchd('late', 3);
      assert.equal(await waiting, 3);
    });

    it('waitOfport rejects with the interface error when vswitchd gives up (ofport -1)', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', externalIds: {} });
      // Assert before simulating: the rejection may come with the monitor's initial snapshot.
      const rejected = assert.rejects(
        h.vs.waitOfport('p1', 5000),
        (err: unknown) => isOvsdbError(err) && /No such device/.test((err as Error).message),
      );
      await h.simulateVswitchd('p1', -1, 'could not open network device p1 (No such device)');
      await rejected;
      const [port] = (await h.vs.getBridge('br-a'))?.ports ?? [];
      assert.equal(port?.ofport, undefined);
      assert.equal(port?.error, 'could not open network device p1 (No such device)');
    });

    it('waitOfport times out when no number is assigned', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', externalIds: {} });
      const started = Date.now();
      await assert.rejects(h.vs.waitOfport('p1', 150), (err: unknown) => isDovesnapError(err, ErrorCode.Timeout));
      assert.ok(Date.now() - started >= 140);
    });

    it('every write is visible to the very next read, and so is what another client committed before it', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      assert.equal((await h.vs.getBridge('br-a'))?.failMode, 'secure');
      await h.vs.ensureBridge(bridgeSpec('br-a', { failMode: 'standalone' }));
      assert.equal((await h.vs.getBridge('br-a'))?.failMode, 'standalone');
      const names = Array.from({ length: 30 }, (_, i) => `rw${String(i).padStart(2, '0')}`);
      await Promise.all(names.map((name) => h.vs.addPort({ bridge: 'br-a', name, externalIds: { n: name } })));
      assert.deepEqual(
        (await h.vs.getBridge('br-a'))?.ports.map((p) => p.name),
        names,
      );
      await h.vs.setPortExternalIds('rw00', { n: 'changed' });
      assert.deepEqual((await h.vs.getBridge('br-a'))?.ports[0]?.externalIds, { n: 'changed' });
      await h.vs.setBridgeExternalIds('br-a', { rw: 'yes' });
      assert.equal((await h.vs.getBridge('br-a'))?.externalIds['rw'], 'yes');
      await h.vs.deletePort('br-a', 'rw01');
      assert.ok(!(await h.vs.listBridges())[0]?.ports.some((p) => p.name === 'rw01'));
      // ovsdb-server flushes monitor updates before any reply, so a commit by another client
      // (here the simulated vswitchd) is in the replica once our next write has returned.
      await h.simulateVswitchd('rw02', 12);
      await h.vs.setPortExternalIds('rw02', { seen: 'yes' });
      assert.equal((await h.vs.getBridge('br-a'))?.ports.find((p) => p.name === 'rw02')?.ofport, 12);
      await h.vs.deleteBridge('br-a');
      assert.equal(await h.vs.getBridge('br-a'), undefined);
    });

    it('recovers by itself when the OVSDB server is killed and restarted', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.vs.addPort({ bridge: 'br-a', name: 'p1', ofportRequest: 4, externalIds: { c: '1' } });
      const before = await h.vs.getBridge('br-a');
      assert.equal(h.vs.health().connected, true);
      const reconnects = h.vs.health().reconnects;
      const seen: boolean[] = [];
      const unsubscribe = h.vs.onHealthChange((health) => seen.push(health.connected));
      // Started before the kill; vswitchd assigns the number only after the restart.
      const waiting = h.vs.waitOfport('p1', 15_000);

      await h.kill();
      await until(() => !h.vs.health().connected, 'health to go down');
      assert.ok(h.vs.health().lastError !== undefined);
      await h.restart();
      await until(() => h.vs.health().connected, 'health to come back');
      unsubscribe();
      assert.deepEqual(seen, [false, true]);
      assert.equal(h.vs.health().reconnects, reconnects + 1);

      assert.deepEqual(await h.vs.getBridge('br-a'), before);
      await h.simulateVswitchd('p1', 4);
      assert.equal(await waiting, 4);
      // Writes work again, and are read back.
      await h.vs.addPort({ bridge: 'br-a', name: 'p2', externalIds: {} });
      assert.deepEqual(
        (await h.vs.getBridge('br-a'))?.ports.map((p) => p.name),
        ['p1', 'p2'],
      );
    });

    it('calls made while OVSDB is down wait for it and succeed once it is back', async () => {
      await h.vs.ensureBridge(bridgeSpec('br-a'));
      await h.kill();
      await until(() => !h.vs.health().connected, 'health to go down');
      const adding = h.vs.addPort({ bridge: 'br-a', name: 'p1', externalIds: {} });
      const reading = h.vs.listBridges();
      await sleep(300);
      await h.restart();
      await adding;
      assert.deepEqual(
        (await reading).map((b) => b.name),
        ['br-a'],
      );
      assert.deepEqual(
        (await h.vs.getBridge('br-a'))?.ports.map((p) => p.name),
        ['p1'],
      );
    });

    it('calls fail with an Ovsdb error naming the socket when OVSDB stays down', async () => {
      await h.kill();
      await until(() => !h.vs.health().connected, 'health to go down');
      const started = Date.now();
      await assert.rejects(
        h.vs.getBridge('br-a'),
        (err: unknown) => isOvsdbError(err) && (err as Error).message.includes(`OVSDB is unavailable at ${h.target}`),
      );
      assert.ok(Date.now() - started >= UNAVAILABLE_AFTER_MS - 50);
      await h.restart();
      await until(() => h.vs.health().connected, 'health to come back');
      assert.deepEqual(await h.vs.listBridges(), []);
    });
  });
}

/** What ovs-vswitchd is told about each controller of a bridge: its target and its two timers. */
async function controllerTimers(
  client: OvsdbClient,
  bridge: string,
): Promise<{ uuid: string; target: string; maxBackoff: unknown; inactivityProbe: unknown }[]> {
  const [b] = await client.transact('Open_vSwitch', [Op.select('Bridge', [eq('name', bridge)], ['controller'])]);
  const ref = b?.rows?.[0]?.['controller'] as unknown[];
  // A set of one is sent as the bare ["uuid", id]; a larger one as ["set", [...]].
  const ids = (ref[0] === 'set' ? (ref[1] as [string, string][]) : [ref as [string, string]]).map((u) => u[1]);
  const [c] = await client.transact('Open_vSwitch', [
    Op.select('Controller', [], ['_uuid', 'target', 'max_backoff', 'inactivity_probe']),
  ]);
  return (c?.rows ?? [])
    .filter((r) => ids.includes((r['_uuid'] as [string, string])[1]))
    .map((r) => ({
      uuid: (r['_uuid'] as [string, string])[1],
      target: r['target'] as string,
      maxBackoff: r['max_backoff'],
      inactivityProbe: r['inactivity_probe'],
    }))
    .sort((x, y) => (x.target < y.target ? -1 : 1));
}

describe('VSwitch against ovsdb-server: the controllers’ timers', () => {
  const backend = ovsdbServerBackend();
  let h: Harness;
  before(async () => {
    h = await backend.start();
  });
  after(() => backend.stop());

  it('a new bridge’s controllers are probed after 30 s of silence; an older bridge’s rows are brought to it in place', async () => {
    const raw = (): OvsdbClient => {
      assert.ok(h.raw, 'the real backend has a raw connection');
      return h.raw();
    };
    const targets = ['tcp:127.0.0.1:6653', 'tcp:127.0.0.1:6654'];
    await h.vs.ensureBridge(bridgeSpec('br-t', { controllers: targets }));
    const made = await controllerTimers(raw(), 'br-t');
    assert.deepEqual(
      made.map(({ target, maxBackoff, inactivityProbe }) => ({ target, maxBackoff, inactivityProbe })),
      targets.map((target) => ({ target, maxBackoff: 1000, inactivityProbe: 30_000 })),
    );
    // As an older dovesnap left them: OVS's default probe (the column empty), another backoff.
    await raw().transact('Open_vSwitch', [
      Op.update('Controller', [eq('target', targets[0] ?? '')], { inactivity_probe: setOf([]), max_backoff: 8000 }),
      Op.update('Controller', [eq('target', targets[1] ?? '')], { inactivity_probe: 5000 }),
    ]);
    // A write of its own: its answer comes after the update of the rows above on the same connection.
    await h.vs.setBridgeExternalIds('br-t', { 'test-sync': '1' });
    await h.vs.ensureBridge(bridgeSpec('br-t', { controllers: targets }));
    const repaired = await controllerTimers(raw(), 'br-t');
    assert.deepEqual(repaired, made, 'the same rows (the connections stay up), with the timers dovesnap sets');
    await h.vs.deleteBridge('br-t');
  });
});
