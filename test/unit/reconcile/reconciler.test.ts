import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Driver } from '../../../src/driver/driver.js';
import { createNatView } from '../../../src/driver/nat-view.js';
import { isOurDriver, Reconciler } from '../../../src/reconcile/reconciler.js';
import type { FaucetView } from '../../../src/driver/faucet-api.js';
import { StateStore, endpointRecord, type EndpointRecord, type NetworkRecord } from '../../../src/driver/state.js';
import { bridgeExternalIds, ExtId, portExternalIds } from '../../../src/driver/persist.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { vethNamesFor } from '../../../src/net/links.js';
import { DovesnapError, ErrorCode } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import type { EngineContainerNetwork } from '../../../src/engine/client.js';
import { FakeEngine, networkEvent } from '../../fakes/fake-engine.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { localNetwork } from '../../fakes/network-record.js';
import { FakeHostNet } from '../../fakes/fake-host.js';

const NET1 = 'a1'.repeat(32);
const NET2 = 'b2'.repeat(32);
const NET_GONE = 'c3'.repeat(32);
const EP1 = 'e1'.repeat(32);
const EP2 = 'e2'.repeat(32);
const EP3 = 'e3'.repeat(32);
const CTR = 'f0'.repeat(32);
const CTR2 = 'f9'.repeat(32);
const FULL_PASS = 'full reconcile pass';

class RecordingFaucetView implements FaucetView {
  async aclUsage(): Promise<{ input: Set<string>; output: Set<string> }> {
    return { input: new Set(), output: new Set() };
  }
  readonly syncs: string[] = [];
  async foreignDps(): Promise<Map<string, bigint>> {
    return new Map();
  }
  async definedAcls(): Promise<Set<string>> {
    return new Set(['allow']);
  }
  /** DP names the "operator" has in faucet.yaml. */
  readonly operatorDps = new Set<string>();
  async dpNameConflict(name: string): Promise<string | undefined> {
    return this.operatorDps.has(name) ? `FAUCET's configuration already has a DP named ${name}` : undefined;
  }
  /** Syncs whose reason matches fail, as with a FAUCET that does not confirm in time. */
  failing: RegExp | undefined;
  async sync(reason: string): Promise<void> {
    this.syncs.push(reason);
    if (this.failing?.test(reason) === true) throw new Error('FAUCET did not confirm (injected)');
  }
}

/** Records setPeerMacInNetns calls, including the netns the fake ignores. */
class RecordingHostNet extends FakeHostNet {
  readonly macCalls: [hostIf: string, netns: string, mac: string][] = [];
  override async setPeerMacInNetns(hostIf: string, netns: string, mac: string): Promise<string> {
    this.macCalls.push([hostIf, netns, mac]);
    return super.setPeerMacInNetns(hostIf, netns, mac);
  }
}

interface Rig {
  readonly engine: FakeEngine;
  readonly state: StateStore;
  readonly vs: FakeVSwitch;
  readonly host: RecordingHostNet;
  readonly faucet: RecordingFaucetView;
  readonly restored: Set<string>;
  readonly sleeps: number[];
  readonly reconciler: Reconciler;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function rig(): Rig {
  const engine = new FakeEngine();
  const state = new StateStore();
  const vs = new FakeVSwitch();
  const host = new RecordingHostNet();
  const faucet = new RecordingFaucetView();
  const restored = new Set<string>();
  const sleeps: number[] = [];
  // The real driver's removals: the reconciler and Docker's handlers share one teardown.
  const teardown = new Driver({
    vswitch: vs,
    host,
    state,
    faucet,
    nat: createNatView(state, host, silentLogger()),
    settings: {
      defaultControllers: [],
      localFaucetControllers: ['tcp:127.0.0.1:6653'],
      hostDatapath: 'netdev',
      ofportTimeoutMs: 1000,
    },
    logger: silentLogger(),
  });
  const reconciler = new Reconciler({
    engine,
    state,
    vswitch: vs,
    host,
    faucet,
    teardown,
    logger: silentLogger(),
    restoredEndpoints: restored,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  cleanups.push(() => reconciler.stop());
  return { engine, state, vs, host, faucet, restored, sleeps, reconciler };
}

async function waitFor(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Lets every already-runnable task run to its next real wait. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

async function startAndPass(r: Rig, passes = 1): Promise<void> {
  r.reconciler.start();
  await waitFor(() => r.faucet.syncs.filter((s) => s === FULL_PASS).length >= passes, 'the full pass');
}

/** A network as the driver leaves it: bridge in the fake OVSDB, record in the state. */
async function addNetwork(r: Rig, id: string, name: string | undefined, dpid: string): Promise<NetworkRecord> {
  const rawOptions = { 'ovs.bridge.dpid': dpid };
  const n = localNetwork(id, name, rawOptions, { controllers: ['tcp:127.0.0.1:6653'] });
  await r.vs.ensureBridge({
    name: n.bridgeName,
    datapathType: 'netdev',
    dpid: n.options.dpid,
    controllers: n.controllers,
    failMode: 'secure',
    externalIds: bridgeExternalIds(n),
  });
  r.state.putNetwork(n);
  return n;
}

/** An endpoint as the driver leaves it after Join: veth, OVS port, record; no container yet. */
async function addEndpoint(
  r: Rig,
  net: NetworkRecord,
  id: string,
  opts: { mac?: string; sandboxKey?: string } = {},
): Promise<EndpointRecord> {
  const names = vethNamesFor(id);
  const mac = opts.mac ?? '0e:07:07:07:07:07';
  await r.host.createVeth({ names, containerMac: mac, mtu: undefined, disableContainerTxOffload: false });
  const rec = endpointRecord({
    id,
    networkId: net.id,
    hostIf: names.host,
    containerIf: names.container,
    mac,
    ipv4: '10.0.0.2/24',
    sandboxKey: opts.sandboxKey,
  });
  await r.vs.addPort({ bridge: net.bridgeName, name: names.host, externalIds: portExternalIds(rec) });
  const ofport = (await r.vs.getBridge(net.bridgeName))?.ports.find((p) => p.name === names.host)?.ofport;
  const full = { ...rec, ofport };
  r.state.putEndpoint(full);
  return full;
}

/** What Docker reports for a network of ours: containerId → endpointId. */
function dockerNetwork(
  r: Rig,
  net: NetworkRecord,
  name: string,
  containers: Record<string, string> = {},
  driver = 'dovesnap',
  labels: Record<string, string> = {},
): void {
  r.engine.networks.set(net.id, {
    Id: net.id,
    Name: name,
    Driver: driver,
    Labels: labels,
    Containers: Object.fromEntries(Object.entries(containers).map(([cid, ep]) => [cid, { Name: 'x', EndpointID: ep }])),
  });
}

function dockerContainer(
  r: Rig,
  id: string,
  name: string,
  labels: Record<string, string>,
  networks: Record<string, EngineContainerNetwork>,
): void {
  r.engine.containers.set(id, {
    Id: id,
    Name: name,
    State: { Running: true, Pid: 42 },
    Config: { Labels: labels },
    NetworkSettings: { SandboxKey: '/var/run/docker/netns/x', Networks: networks },
  });
}

function connect(r: Rig, networkId: string, networkName: string, containerId: string, driver = 'dovesnap'): void {
  r.engine.emit(networkEvent('connect', networkId, { container: containerId, name: networkName, type: driver }));
}

function portIds(r: Rig, ep: EndpointRecord): Record<string, string> {
  const p = r.vs.inspectPort(ep.hostIf);
  assert.ok(p, `port ${ep.hostIf} exists`);
  return p.externalIds;
}

describe('reconciler: events', () => {
  it('a create event names the network and persists the name into the bridge external_ids', async () => {
    const r = rig();
    await startAndPass(r);
    const net = await addNetwork(r, NET1, undefined, '0x1');
    dockerNetwork(r, net, 'net1');
    r.engine.emit(networkEvent('create', NET1, { name: 'net1', type: 'dovesnap' }));
    await waitFor(() => r.faucet.syncs.includes('network net1 named'), 'the naming sync');
    assert.equal(r.state.network(NET1)?.name, 'net1');
    const ids = (await r.vs.getBridge(net.bridgeName))?.externalIds;
    assert.equal(ids?.[ExtId.networkName], 'net1');
    assert.equal(ids?.[ExtId.networkId], NET1);
  });

  it('a connect event resolves the container by its endpoint on THIS network, persists it and syncs FAUCET', async () => {
    const r = rig();
    const n1 = await addNetwork(r, NET1, 'net1', '0x1');
    const n2 = await addNetwork(r, NET2, 'net2', '0x2');
    dockerNetwork(r, n1, 'net1');
    dockerNetwork(r, n2, 'net2');
    await startAndPass(r);
    const ep1 = await addEndpoint(r, n1, EP1);
    const ep2 = await addEndpoint(r, n2, EP2);
    const labels = { 'dovesnap.faucet.portacl': 'net1:allow/net2:other', 'com.example': 'x' };
    dockerContainer(r, CTR, '/web', labels, {
      bridge: { NetworkID: 'bridge-net', EndpointID: 'ffff' },
      net1: { NetworkID: NET1, EndpointID: EP1 },
      net2: { NetworkID: NET2, EndpointID: EP2 },
    });

    connect(r, NET2, 'net2', CTR);
    await waitFor(() => r.faucet.syncs.includes('container /web joined net2'), 'the container sync');

    const e2 = r.state.endpoint(EP2);
    assert.deepEqual(e2?.container, { id: CTR, name: '/web', labels });
    assert.deepEqual(e2?.labels?.portAcls, ['other']);
    assert.equal(e2?.blockedReason, undefined);
    const ids = portIds(r, ep2);
    assert.equal(ids[ExtId.containerId], CTR);
    assert.equal(ids[ExtId.containerName], '/web');
    assert.deepEqual(JSON.parse(ids[ExtId.labels] ?? ''), labels);
    // The same container's endpoint on the other network is not touched by this event.
    assert.equal(r.state.endpoint(EP1)?.container, undefined);
    assert.equal(portIds(r, ep1)[ExtId.containerId], undefined);
  });

  it("takes name and labels from Docker's create event and skips the inspect when one endpoint is waiting", async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, net, 'net1');
    await startAndPass(r);
    await addEndpoint(r, net, EP1, { sandboxKey: '/var/run/docker/netns/x' });
    r.engine.emit({
      Type: 'container',
      Action: 'create',
      Actor: { ID: CTR, Attributes: { image: 'busybox', name: 'fast', 'dovesnap.faucet.portacl': 'allow' } },
    });
    const before = r.engine.calls.inspectContainer;
    connect(r, NET1, 'net1', CTR);
    await waitFor(() => r.faucet.syncs.includes('container /fast joined net1'), 'the container sync');
    assert.equal(r.engine.calls.inspectContainer, before, 'no inspect');
    assert.deepEqual(r.state.endpoint(EP1)?.container, {
      id: CTR,
      name: '/fast',
      labels: { 'dovesnap.faucet.portacl': 'allow' },
    });
    assert.deepEqual(r.state.endpoint(EP1)?.labels?.portAcls, ['allow']);
  });

  it('falls back to inspect when two endpoints of the network are waiting', async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, net, 'net1');
    await startAndPass(r);
    await addEndpoint(r, net, EP1, { sandboxKey: '/var/run/docker/netns/x' });
    await addEndpoint(r, net, EP2, { sandboxKey: '/var/run/docker/netns/y' });
    r.engine.emit({
      Type: 'container',
      Action: 'create',
      Actor: { ID: CTR, Attributes: { image: 'busybox', name: 'web' } },
    });
    dockerContainer(r, CTR, '/web', {}, { net1: { NetworkID: NET1, EndpointID: EP2 } });
    connect(r, NET1, 'net1', CTR);
    await waitFor(() => r.faucet.syncs.includes('container /web joined net1'), 'the container sync');
    assert.equal(r.state.endpoint(EP2)?.container?.id, CTR);
    assert.equal(r.state.endpoint(EP1)?.container, undefined);
  });

  for (const [label, value] of [
    ['dovesnap.faucet.portacl', 'not an acl!'],
    ['dovesnap.faucet.mac_prefix', '01:00'],
    ['dovesnap.faucet.mirror', 'maybe'],
  ] as const) {
    it(`a bad ${label} label blocks the port with a reason naming the label, and still persists the container`, async () => {
      const r = rig();
      const net = await addNetwork(r, NET1, 'net1', '0x1');
      dockerNetwork(r, net, 'net1');
      await startAndPass(r);
      const ep = await addEndpoint(r, net, EP1, { sandboxKey: '/var/run/docker/netns/x' });
      dockerContainer(r, CTR, '/web', { [label]: value }, { net1: { NetworkID: NET1, EndpointID: EP1 } });
      connect(r, NET1, 'net1', CTR);
      await waitFor(() => r.faucet.syncs.includes('container /web joined net1'), 'the container sync');
      const e = r.state.endpoint(EP1);
      assert.match(e?.blockedReason ?? '', new RegExp(label.replace(/\./g, '\\.')));
      assert.equal(e?.labels, undefined);
      assert.equal(e?.container?.id, CTR);
      assert.equal(portIds(r, ep)[ExtId.containerId], CTR);
      assert.deepEqual(r.host.macCalls, []);
    });
  }

  it('a mac_prefix label sets the prefixed MAC inside the container netns, once, and persists it', async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, net, 'net1');
    await startAndPass(r);
    const ep = await addEndpoint(r, net, EP1, { mac: '0e:07:07:07:07:07', sandboxKey: '/var/run/docker/netns/abc' });
    dockerContainer(
      r,
      CTR,
      '/web',
      { 'dovesnap.faucet.mac_prefix': '0e:99' },
      { net1: { NetworkID: NET1, EndpointID: EP1 } },
    );
    connect(r, NET1, 'net1', CTR);
    await waitFor(() => r.faucet.syncs.includes('container /web joined net1'), 'the container sync');
    assert.deepEqual(r.host.macCalls, [[ep.hostIf, '/var/run/docker/netns/abc', '0e:99:07:07:07:07']]);
    assert.equal(r.state.endpoint(EP1)?.mac, '0e:99:07:07:07:07');
    assert.equal(portIds(r, ep)[ExtId.mac], '0e:99:07:07:07:07');

    // A repeated connect (e.g. the full pass racing the event) must not set it again.
    connect(r, NET1, 'net1', CTR);
    await waitFor(
      () => r.faucet.syncs.filter((s) => s === 'container /web joined net1').length === 2,
      'the second sync',
    );
    assert.equal(r.host.macCalls.length, 1);
  });

  it('a second connect for a container still being resolved is not dropped (docker restart: new endpoint)', async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, net, 'net1');
    await startAndPass(r);
    await addEndpoint(r, net, EP1);
    dockerContainer(r, CTR, '/web', {}, { net1: { NetworkID: NET1, EndpointID: EP1 } });
    const slow = r.engine.gateInspect(CTR);
    connect(r, NET1, 'net1', CTR);
    await waitFor(() => r.engine.calls.inspectContainer === 1, 'the first inspect');

    // docker restart: Docker deletes the old endpoint, creates a new one, sends connect again.
    r.state.removeEndpoint(EP1);
    const ep2 = await addEndpoint(r, net, EP2);
    dockerContainer(r, CTR, '/web', {}, { net1: { NetworkID: NET1, EndpointID: EP2 } });
    connect(r, NET1, 'net1', CTR);
    slow.resolve();

    await waitFor(() => r.state.endpoint(EP2)?.container !== undefined, 'the new endpoint to be resolved');
    assert.equal(r.engine.calls.inspectContainer, 2);
    assert.equal(portIds(r, ep2)[ExtId.containerId], CTR);
  });

  for (const [driver, ours] of [
    ['dovesnap', true],
    ['ovs', true],
    ['bridge', false],
    ['macvlan', false],
  ] as const) {
    it(`events of driver "${driver}" are ${ours ? 'handled' : 'ignored'}`, async () => {
      const r = rig();
      await startAndPass(r);
      const net = await addNetwork(r, NET1, undefined, '0x1');
      await addEndpoint(r, net, EP1);
      dockerNetwork(r, net, 'net1', {}, driver);
      dockerContainer(r, CTR, '/web', {}, { net1: { NetworkID: NET1, EndpointID: EP1 } });
      r.engine.emit(networkEvent('create', NET1, { name: 'net1', type: driver }));
      connect(r, NET1, 'net1', CTR, driver);
      if (ours) {
        await waitFor(() => r.state.endpoint(EP1)?.container !== undefined, 'the container to be resolved');
        assert.equal(r.state.network(NET1)?.name, 'net1');
      } else {
        await settle();
        assert.equal(r.engine.calls.inspectContainer, 0);
        assert.equal(r.state.network(NET1)?.name, undefined);
        assert.equal(r.vs.calls.get('setBridgeExternalIds'), undefined);
        assert.deepEqual(r.faucet.syncs, [FULL_PASS]);
      }
    });
  }

  it('a connect for a container Docker no longer has changes nothing', async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, net, 'net1');
    await startAndPass(r);
    await addEndpoint(r, net, EP1);
    connect(r, NET1, 'net1', CTR);
    await waitFor(() => r.engine.calls.inspectContainer === 1, 'the inspect');
    await settle();
    assert.equal(r.state.endpoint(EP1)?.container, undefined);
    assert.equal(r.vs.calls.get('setPortExternalIds'), undefined);
    assert.deepEqual(r.faucet.syncs, [FULL_PASS]);
  });
});

describe('reconciler: full pass', () => {
  it('removes the bridge and veths of a network Docker no longer lists', async () => {
    const r = rig();
    const kept = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, kept, 'net1');
    const gone = await addNetwork(r, NET_GONE, 'old', '0x3');
    const ep = await addEndpoint(r, gone, EP3);
    r.restored.add(EP3);
    // A network of the same ID but another driver is not ours either.
    r.engine.networks.set(NET_GONE, { Id: NET_GONE, Name: 'old', Driver: 'bridge' });
    await startAndPass(r);
    assert.equal(await r.vs.getBridge(gone.bridgeName), undefined);
    assert.equal(r.host.links.has(ep.hostIf), false);
    assert.equal(r.state.network(NET_GONE), undefined);
    assert.equal(r.state.endpoint(EP3), undefined);
    assert.ok(await r.vs.getBridge(kept.bridgeName));
    assert.ok(r.state.network(NET1));
  });

  it('names networks, resolves live restored endpoints, and removes only RESTORED endpoints Docker forgot', async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, undefined, '0x1');
    const live = await addEndpoint(r, net, EP1);
    const forgotten = await addEndpoint(r, net, EP2);
    const fresh = await addEndpoint(r, net, EP3);
    r.restored.add(EP1).add(EP2);
    dockerNetwork(r, net, 'net1', { [CTR]: EP1 });
    dockerContainer(r, CTR, '/db', {}, { net1: { NetworkID: NET1, EndpointID: EP1 } });
    await startAndPass(r);

    assert.equal(r.state.network(NET1)?.name, 'net1');
    assert.equal((await r.vs.getBridge(net.bridgeName))?.externalIds[ExtId.networkName], 'net1');
    assert.equal(r.state.endpoint(EP1)?.container?.name, '/db');
    assert.equal(portIds(r, live)[ExtId.containerName], '/db');

    assert.equal(r.state.endpoint(EP2), undefined);
    assert.equal(r.vs.inspectPort(forgotten.hostIf), undefined);
    assert.equal(r.host.links.has(forgotten.hostIf), false);

    // Created by this process after start: Docker's DeleteEndpoint removes it, never the GC.
    assert.ok(r.state.endpoint(EP3));
    assert.ok(r.vs.inspectPort(fresh.hostIf));
    assert.ok(r.host.links.has(fresh.hostIf));
  });
});

describe('reconciler: the managed plugin for Docker Swarm (driver dovesnap:latest)', () => {
  it('takes dovesnap and ovs with or without a plugin tag, nothing else', () => {
    for (const d of ['dovesnap', 'ovs', 'dovesnap:latest', 'dovesnap:1.2.3', 'ovs:latest'])
      assert.ok(isOurDriver(d), d);
    for (const d of [
      'bridge',
      'overlay',
      'dovesnapx:latest',
      'other/dovesnap:latest',
      'dovesnap:',
      'latest:dovesnap',
      '',
    ])
      assert.equal(isOurDriver(d), false, d);
  });

  it('the full pass names a network whose driver Docker reports as dovesnap:latest and keeps its bridge', async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, undefined, '0x1');
    dockerNetwork(r, net, 'swnet', {}, 'dovesnap:latest');
    await startAndPass(r);
    assert.ok(await r.vs.getBridge(net.bridgeName), 'the bridge stays');
    assert.equal(r.state.network(NET1)?.name, 'swnet');
  });

  it('a create event of type dovesnap:latest names the network', async () => {
    const r = rig();
    await startAndPass(r);
    const net = await addNetwork(r, NET1, undefined, '0x1');
    dockerNetwork(r, net, 'swnet', {}, 'dovesnap:latest');
    r.engine.emit(networkEvent('create', NET1, { name: 'swnet', type: 'dovesnap:latest' }));
    await waitFor(() => r.faucet.syncs.includes('network swnet named'), 'the naming sync');
    assert.equal(r.state.network(NET1)?.name, 'swnet');
  });
});

describe('reconciler: networks of a Docker Compose project', () => {
  const COMPOSE_NET = {
    'com.docker.compose.project': 'proj',
    'com.docker.compose.network': 'labnet',
    'com.docker.compose.version': '1.29.2',
  };
  const OF_PROJECT = { 'com.docker.compose.project': 'proj', 'com.docker.compose.service': 'web' };

  /** Compose made the network `labnet` of project `proj` after the daemon started, and it is named. */
  async function composeNetworkCreated(): Promise<{ r: Rig; net: NetworkRecord }> {
    const r = rig();
    await startAndPass(r);
    const net = await addNetwork(r, NET1, undefined, '0x1');
    dockerNetwork(r, net, 'proj_labnet', {}, 'dovesnap', COMPOSE_NET);
    r.engine.emit(networkEvent('create', NET1, { name: 'proj_labnet', type: 'dovesnap' }));
    await waitFor(() => r.faucet.syncs.includes('network proj_labnet named'), 'the naming sync');
    return { r, net };
  }

  it("a create event learns the network's compose-file name from its labels and persists it with the name", async () => {
    const { r, net } = await composeNetworkCreated();
    assert.deepEqual(r.state.network(NET1)?.compose, { project: 'proj', network: 'labnet' });
    assert.deepEqual(JSON.parse((await r.vs.getBridge(net.bridgeName))?.externalIds[ExtId.compose] ?? ''), {
      project: 'proj',
      network: 'labnet',
    });
  });

  it('a container of the project that names the network as in the compose file gets its labels on it (fast path)', async () => {
    const { r, net } = await composeNetworkCreated();
    await addEndpoint(r, net, EP1, { sandboxKey: '/var/run/docker/netns/x' });
    r.engine.emit({
      Type: 'container',
      Action: 'create',
      Actor: {
        ID: CTR,
        Attributes: {
          image: 'busybox',
          name: 'proj_web_1',
          ...OF_PROJECT,
          'dovesnap.faucet.portacl': 'labnet:allow',
          'dovesnap.faucet.mirror': 'labnet:true',
        },
      },
    });
    const inspects = r.engine.calls.inspectContainer + r.engine.calls.inspectNetwork;
    connect(r, NET1, 'proj_labnet', CTR);
    await waitFor(() => r.faucet.syncs.includes('container /proj_web_1 joined proj_labnet'), 'the container sync');
    assert.equal(r.engine.calls.inspectContainer + r.engine.calls.inspectNetwork, inspects, 'no inspect');
    assert.deepEqual(r.state.endpoint(EP1)?.labels?.portAcls, ['allow']);
    assert.equal(r.state.endpoint(EP1)?.labels?.mirror, true);
  });

  it("a container that joins before the network's compose-file name is learnt has it learnt first", async () => {
    const r = rig();
    await startAndPass(r);
    // Named, but with nothing known of Compose (as restored from a bridge of an older version).
    const net = await addNetwork(r, NET1, 'proj_labnet', '0x1');
    dockerNetwork(r, net, 'proj_labnet', {}, 'dovesnap', COMPOSE_NET);
    await addEndpoint(r, net, EP1);
    dockerContainer(
      r,
      CTR,
      '/proj_web_1',
      { ...OF_PROJECT, 'dovesnap.faucet.portacl': 'labnet:allow' },
      { proj_labnet: { NetworkID: NET1, EndpointID: EP1 } },
    );
    connect(r, NET1, 'proj_labnet', CTR);
    await waitFor(() => r.faucet.syncs.includes('container /proj_web_1 joined proj_labnet'), 'the container sync');
    assert.deepEqual(r.state.endpoint(EP1)?.labels?.portAcls, ['allow']);
    assert.deepEqual(r.state.network(NET1)?.compose, { project: 'proj', network: 'labnet' });
  });

  it("the full pass learns each network's compose-file name from Docker's list before resolving its containers", async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'proj_labnet', '0x1');
    const other = await addNetwork(r, NET2, 'plain', '0x2');
    await addEndpoint(r, net, EP1);
    r.restored.add(EP1);
    dockerNetwork(r, net, 'proj_labnet', { [CTR]: EP1 }, 'dovesnap', COMPOSE_NET);
    dockerNetwork(r, other, 'plain');
    dockerContainer(
      r,
      CTR,
      '/proj_web_1',
      { ...OF_PROJECT, 'dovesnap.faucet.mirror': 'labnet:true' },
      { proj_labnet: { NetworkID: NET1, EndpointID: EP1 } },
    );
    await startAndPass(r);
    assert.deepEqual(r.state.network(NET1)?.compose, { project: 'proj', network: 'labnet' });
    assert.equal(r.state.network(NET2)?.compose, null);
    assert.equal(r.state.endpoint(EP1)?.labels?.mirror, true);
  });
});

describe('reconciler: event loop', () => {
  it('resubscribes after dockerd ends the stream, runs a new full pass, and handles events on the new stream', async () => {
    const r = rig();
    await startAndPass(r);
    assert.deepEqual(r.engine.subscriptions[0]?.filters, {
      type: ['network', 'container'],
      event: ['create', 'connect', 'destroy'],
    });
    r.engine.endStreams();
    await r.engine.subscribed(2);
    await waitFor(() => r.faucet.syncs.filter((s) => s === FULL_PASS).length === 2, 'the second full pass');
    assert.deepEqual(r.sleeps, [250]);
    assert.equal(r.engine.calls.listNetworks, 2);
    assert.equal(r.engine.openSubscriptions().length, 1);

    const net = await addNetwork(r, NET1, undefined, '0x1');
    dockerNetwork(r, net, 'net1');
    assert.equal(r.engine.emit(networkEvent('create', NET1, { name: 'net1', type: 'dovesnap' })), 1);
    await waitFor(() => r.state.network(NET1)?.name === 'net1', 'the network to be named');
  });

  it('backs off (doubling) while Docker is unreachable and resets once a pass succeeds', async () => {
    const r = rig();
    r.engine.fail('streamEvents', 3);
    r.engine.fail('listNetworks', 3);
    r.reconciler.start();
    await r.engine.subscribed(4);
    await waitFor(() => r.faucet.syncs.includes(FULL_PASS), 'a successful pass');
    assert.deepEqual(r.sleeps, [500, 1000, 2000]);
    r.engine.failStreams();
    await r.engine.subscribed(5);
    assert.deepEqual(r.sleeps, [500, 1000, 2000, 250]);
  });

  it('retries a failed full pass while the event stream stays up (dockerd answering events but too busy to list networks after a reboot)', async () => {
    const r = rig();
    // The stream connects; the pass's first request fails (a timeout while dockerd restores its containers).
    r.engine.fail('listNetworks', 1, new DovesnapError(ErrorCode.Engine, 'docker GET /networks timed out'));
    r.reconciler.start();
    await waitFor(() => r.faucet.syncs.includes(FULL_PASS), 'a second, successful pass without the stream ending');
    assert.equal(r.engine.calls.streamEvents, 1, 'same stream');
    assert.equal(r.engine.calls.listNetworks, 2);
    assert.deepEqual(r.sleeps, [250]);
    await r.reconciler.stop();
  });

  it('stop() aborts the stream, waits for in-flight work, and ends the loop', async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, net, 'net1');
    await startAndPass(r);
    await addEndpoint(r, net, EP1);
    dockerContainer(r, CTR2, '/web', {}, { net1: { NetworkID: NET1, EndpointID: EP1 } });
    const slow = r.engine.gateInspect(CTR2);
    connect(r, NET1, 'net1', CTR2);
    await waitFor(() => r.engine.calls.inspectContainer === 1, 'the inspect');

    let stopped = false;
    const stopping = r.reconciler.stop().then(() => {
      stopped = true;
    });
    await settle();
    assert.equal(r.engine.subscriptions[0]?.signal.aborted, true);
    assert.equal(r.engine.openSubscriptions().length, 0);
    assert.equal(stopped, false, 'stop() must wait for the task in flight');
    slow.resolve();
    await stopping;
    assert.ok(r.state.endpoint(EP1)?.container);
    await settle();
    assert.equal(r.engine.calls.streamEvents, 1);
    assert.deepEqual(r.sleeps, []);
    assert.equal(r.engine.emit(networkEvent('create', NET1, { name: 'x', type: 'dovesnap' })), 0);
  });
});

describe('reconciler: foundations (issue 6 regressions)', () => {
  it('a routed network Docker deleted while dovesnap was down loses its DOCKER-USER rules (defect 3)', async () => {
    const r = rig();
    const raw = { 'ovs.bridge.dpid': '0x3', 'ovs.bridge.mode': 'routed' };
    const gone: NetworkRecord = {
      ...(await addNetwork(r, NET_GONE, 'old', '0x3')),
      options: parseNetworkOptions(raw),
      rawOptions: raw,
    };
    r.state.putNetwork(gone);
    // What the start-up's gateway restore re-adds for every known network.
    await r.host.allowForwarding(NET_GONE, gone.bridgeName, 'routed');
    await startAndPass(r);
    assert.equal(r.state.network(NET_GONE), undefined);
    assert.equal(r.host.forwarding.has(NET_GONE), false, 'its forwarding rules are revoked');
  });

  it("never gives one container's labels to another's endpoint when the first died before its connect was handled (defect 11)", async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, net, 'net1');
    await startAndPass(r);
    // Container A joins (its connect event is sent now), dies at once; then B joins.
    r.engine.emit({
      Type: 'container',
      Action: 'create',
      Actor: { ID: CTR, Attributes: { image: 'busybox', name: 'a', 'dovesnap.faucet.portacl': 'allow' } },
    });
    const a = await addEndpoint(r, net, EP1, { sandboxKey: '/var/run/docker/netns/a' });
    r.state.updateEndpoint(a.id, { joinedAt: Date.now() - 50 });
    const aConnectAt = Date.now() - 40;
    r.state.removeEndpoint(a.id);
    await addEndpoint(r, net, EP2, { sandboxKey: '/var/run/docker/netns/b' });
    r.state.updateEndpoint(EP2, { joinedAt: Date.now() - 30 });
    dockerContainer(r, CTR2, '/b', {}, { net1: { NetworkID: NET1, EndpointID: EP2 } });
    // A's connect event, handled only now.
    r.engine.emit({
      Type: 'network',
      Action: 'connect',
      Actor: { ID: NET1, Attributes: { container: CTR, name: 'net1', type: 'dovesnap' } },
      timeNano: aConnectAt * 1e6,
    });
    await settle();
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(r.state.endpoint(EP2)?.container, undefined, "B's endpoint did not get A's identity");
    // Even with A gone for good from the candidates' view, B's own event resolves B.
    r.engine.emit({
      Type: 'container',
      Action: 'create',
      Actor: { ID: CTR2, Attributes: { image: 'busybox', name: 'b' } },
    });
    r.engine.emit({
      Type: 'network',
      Action: 'connect',
      Actor: { ID: NET1, Attributes: { container: CTR2, name: 'net1', type: 'dovesnap' } },
      timeNano: Date.now() * 1e6,
    });
    await waitFor(() => r.state.endpoint(EP2)?.container?.name === '/b', "B's own resolution");
    assert.deepEqual(r.state.endpoint(EP2)?.labels?.portAcls, []);
  });

  it('a connect sent before a second endpoint joined is still resolved without asking Docker (fast path kept)', async () => {
    const r = rig();
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    dockerNetwork(r, net, 'net1');
    await startAndPass(r);
    r.engine.emit({
      Type: 'container',
      Action: 'create',
      Actor: { ID: CTR, Attributes: { image: 'busybox', name: 'a' } },
    });
    await addEndpoint(r, net, EP1, { sandboxKey: '/var/run/docker/netns/a' });
    r.state.updateEndpoint(EP1, { joinedAt: Date.now() - 50 });
    const aConnectAt = Date.now() - 40;
    await addEndpoint(r, net, EP2, { sandboxKey: '/var/run/docker/netns/b' });
    r.state.updateEndpoint(EP2, { joinedAt: Date.now() });
    const before = r.engine.calls.inspectContainer;
    r.engine.emit({
      Type: 'network',
      Action: 'connect',
      Actor: { ID: NET1, Attributes: { container: CTR, name: 'net1', type: 'dovesnap' } },
      timeNano: aConnectAt * 1e6,
    });
    await waitFor(() => r.state.endpoint(EP1)?.container?.name === '/a', 'A resolved');
    assert.equal(r.engine.calls.inspectContainer, before, 'no inspect');
    assert.equal(r.state.endpoint(EP2)?.container, undefined);
  });

  it("a network named like an operator's FAUCET DP is removed from Docker and never rendered (defect 1)", async () => {
    const r = rig();
    r.faucet.operatorDps.add('core-sw1');
    const net = await addNetwork(r, NET1, undefined, '0x1');
    dockerNetwork(r, net, 'core-sw1');
    await startAndPass(r);
    r.engine.emit(networkEvent('create', NET1, { name: 'core-sw1', type: 'dovesnap' }));
    await waitFor(() => r.engine.calls.removeNetwork > 0, 'the refusal');
    assert.equal(r.engine.networks.has(NET1), false, 'Docker was asked to remove it');
    assert.notEqual(r.state.network(NET1)?.name, 'core-sw1', 'the name was never taken');
  });

  it('an event handler that throws is reported, and the stream goes on (defect 8)', async () => {
    const r = rig();
    await startAndPass(r);
    const sub = r.engine.openSubscriptions()[0];
    assert.ok(sub);
    // A connect whose attributes make the handler throw (a getter that fails).
    const attrs = Object.defineProperty({}, 'type', {
      get: () => {
        throw new Error('boom');
      },
      enumerable: true,
    });
    assert.equal(
      r.engine.emit({
        Type: 'network',
        Action: 'connect',
        Actor: { ID: NET1, Attributes: attrs as Record<string, string> },
      }),
      1,
    );
    const net = await addNetwork(r, NET1, undefined, '0x1');
    dockerNetwork(r, net, 'net1');
    r.engine.emit(networkEvent('create', NET1, { name: 'net1', type: 'dovesnap' }));
    await waitFor(() => r.state.network(NET1)?.name === 'net1', 'the next event handled');
  });

  it('a FAUCET that does not confirm does not stop the full pass from adopting every endpoint', async () => {
    const r = rig();
    r.faucet.failing = /joined/;
    const net = await addNetwork(r, NET1, 'net1', '0x1');
    await addEndpoint(r, net, EP1);
    await addEndpoint(r, net, EP2);
    r.restored.add(EP1).add(EP2);
    dockerNetwork(r, net, 'net1', { [CTR]: EP1, [CTR2]: EP2 });
    dockerContainer(r, CTR, '/a', {}, { net1: { NetworkID: NET1, EndpointID: EP1 } });
    dockerContainer(r, CTR2, '/b', {}, { net1: { NetworkID: NET1, EndpointID: EP2 } });
    await startAndPass(r);
    assert.equal(r.state.endpoint(EP1)?.container?.name, '/a');
    assert.equal(r.state.endpoint(EP2)?.container?.name, '/b');
  });
});
