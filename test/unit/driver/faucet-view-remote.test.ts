import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { parse } from 'yaml';

import { loadSettings } from '../../../src/config/settings.js';
import type { ConfrpcConnection } from '../../../src/confrpc/api.js';
import { type ClosableFaucetView, createFaucetView } from '../../../src/driver/faucet-view.js';
import { StateStore } from '../../../src/driver/state.js';
import { PENDING } from '../../../src/faucet/remote-store.js';
import { silentLogger } from '../../../src/util/log.js';
import { FakeConfrpc } from '../../fakes/fake-confrpc.js';
import { FakeHostNet } from '../../fakes/fake-host.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { localNetwork } from '../../fakes/network-record.js';

/**
 * The daemon's FAUCET view with FAUCETCONFRPC_ADDR set: its writes go to the faucetconfrpc
 * server (faked here; test/contract/confrpc-store.test.ts has the real one), no local file is
 * read or written, and while the server is away GET /health's reason says "FAUCET
 * configuration pending" until the state has converged.
 */

const NET1 = 'a1'.repeat(32);
const OPERATOR = 'dps:\n  core:\n    dp_id: 1\n    interfaces:\n      1: {native_vlan: 100}\n';

const views: ClosableFaucetView[] = [];
afterEach(async () => {
  for (const v of views.splice(0)) await v.close();
});

function connection(api: FakeConfrpc): ConfrpcConnection {
  return { api, target: 'controller:59999', attempts: 1, connect: async () => !api.down, close: () => undefined };
}

async function remoteView(api: FakeConfrpc): Promise<{ view: ClosableFaucetView; state: StateStore }> {
  const settings = loadSettings({
    // A prefix with no faucet.yaml: nothing local is read or written.
    FAUCET_PREFIX: '/nonexistent/dovesnap-test',
    FAUCETCONFRPC_ADDR: 'controller',
    DOVESNAP_LOCAL_FAUCET: 'tcp:192.0.2.1:6653',
  });
  const [state, vs, host] = [new StateStore(), new FakeVSwitch(), new FakeHostNet()];
  const noLocalFaucet = { reload: async () => assert.fail('no local FAUCET is signalled') };
  const view = createFaucetView(settings, state, vs, host, silentLogger(), noLocalFaucet, { confrpc: connection(api) });
  views.push(view);
  const n = localNetwork(NET1, 'net1', { 'ovs.bridge.dpid': '0x10', 'ovs.bridge.controller': 'tcp:192.0.2.1:6653' });
  const { bridgeName: name, options } = n;
  await vs.ensureBridge({
    name,
    datapathType: 'netdev',
    dpid: options.dpid,
    controllers: [],
    failMode: 'standalone',
    externalIds: {},
  });
  state.putNetwork(n);
  return { view, state };
}

function dpNames(api: FakeConfrpc): string[] {
  return Object.keys((parse(api.text) as { dps?: Record<string, unknown> }).dps ?? {}).sort();
}

describe('createFaucetView with FAUCETCONFRPC_ADDR', () => {
  it("writes the network's DP to the server, next to the operator's, with no placeholder DP", async () => {
    const api = new FakeConfrpc(OPERATOR);
    const { view } = await remoteView(api);
    await view.connect();
    await view.sync('test');
    assert.deepEqual(dpNames(api), ['core', 'net1']);
    assert.equal(view.unhealthy(), undefined);
    assert.deepEqual(await view.foreignDps(), new Map([['core', 1n]]));
  });

  it("another writer's change on the server is seen by fileChanged, and this host's entries put back", async () => {
    const api = new FakeConfrpc(OPERATOR);
    const { view } = await remoteView(api);
    await view.connect();
    await view.sync('test');
    // Another host (or an operator's whole-file write) drops this host's DP behind its back.
    api.apply({ kind: 'delDps', names: ['net1'] });
    assert.deepEqual(dpNames(api), ['core']);
    await view.fileChanged();
    assert.deepEqual(dpNames(api), ['core', 'net1']);
    // Nothing changed since: no write, and no sync beyond one read.
    const calls = api.calls.length;
    await view.fileChanged();
    assert.deepEqual(api.calls.slice(calls), ['GetConfigFile']);
  });

  it('server away: pending in the health reason, then converged and healthy once it is back', async () => {
    const api = new FakeConfrpc(OPERATOR);
    api.down = true;
    const { view } = await remoteView(api);
    await view.connect();
    await assert.rejects(view.sync('test'));
    assert.match(view.unhealthy() ?? '', new RegExp(`^${PENDING}: the faucetconfrpc server controller:59999`));
    api.down = false;
    // The store's own retry (after 1 s) syncs again; no other change is needed.
    const deadline = Date.now() + 5_000;
    while (view.unhealthy() !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(view.unhealthy(), undefined);
    assert.deepEqual(dpNames(api), ['core', 'net1']);
  });
});
