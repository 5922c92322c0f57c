import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Driver, DriverDeps } from '../../../src/driver/driver.js';
import { FakeFaucetView } from '../../fakes/fake-faucet-view.js';
import { StateStore } from '../../../src/driver/state.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { FakeHostNet } from '../../fakes/fake-host.js';
import { createNetworkRequest, TEST_ENDPOINT_ID, TEST_NETWORK_ID } from '../../fakes/driver-requests.js';
import { testDriver } from '../../fakes/test-driver.js';
import type { LabelledContainer } from '../../../src/driver/early-open.js';
import { Label } from '../../../src/model/labels.js';

const NET = TEST_NETWORK_ID;
const EP = TEST_ENDPOINT_ID;
const HOST_IF = 'dspe1e2e3e4e5e6';

const createReq = (generic: Record<string, string>) => createNetworkRequest(generic);

describe('driver: a port opened at CreateEndpoint (one FAUCET port event instead of three)', () => {
  let vs: FakeVSwitch;
  let host: FakeHostNet;
  let faucet: FakeFaucetView;
  let state: StateStore;
  let labelled: LabelledContainer[];
  let listFails: boolean;
  /** Whether the host end was up when the port joined the bridge. */
  let upWhenAdded: boolean | undefined;

  const driverWith = (extra: Partial<DriverDeps> = {}): Driver =>
    testDriver(
      { vswitch: vs, host, state, faucet },
      {
        labelledContainers: async (key) => {
          if (listFails) throw new Error('docker is slow');
          return labelled.filter((c) => c.labels[key] !== undefined);
        },
        ...extra,
      },
    );

  const networkNamed = async (d: Driver, generic: Record<string, string> = {}): Promise<void> => {
    await d.createNetwork(createReq({ 'ovs.bridge.dpid': '1', ...generic }));
    const n = state.network(NET);
    assert.ok(n);
    state.putNetwork({ ...n, name: 'web' });
  };

  beforeEach(() => {
    vs = new FakeVSwitch();
    host = new FakeHostNet();
    faucet = new FakeFaucetView();
    faucet.spares = new Set([1, 2, 3]);
    state = new StateStore();
    labelled = [];
    listFails = false;
    upWhenAdded = undefined;
    const addPort = vs.addPort.bind(vs);
    vs.addPort = async (spec) => {
      if (spec.name === HOST_IF) upWhenAdded = host.links.get(HOST_IF)?.up;
      await addPort(spec);
    };
  });

  const create = (d: Driver) => d.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: {}, Options: {} });

  it('raises the host end before the port joins the bridge when a spare runs and no labelled container could be joining', async () => {
    const d = driverWith();
    await networkNamed(d);
    labelled = [{ id: 'x', name: '/x', labels: { [Label.portacl]: 'db:allowall' } }];
    await create(d);
    assert.equal(upWhenAdded, true);
    assert.deepEqual(faucet.early, [EP]);
  });

  it('keeps the port down while a container with a port label for this network exists and is not resolved here', async () => {
    const d = driverWith();
    await networkNamed(d);
    labelled = [{ id: 'x', name: '/x', labels: { [Label.portacl]: 'allowall' } }];
    await create(d);
    assert.equal(upWhenAdded, false);
    assert.equal(host.links.get(HOST_IF)?.up, false);
    assert.deepEqual(faucet.early, []);
  });

  it('keeps the port down when Docker cannot say, when no spare runs for the number, or on an anti-spoofing network', async () => {
    let d = driverWith();
    await networkNamed(d);
    listFails = true;
    await create(d);
    assert.equal(upWhenAdded, false);
    await d.deleteEndpoint({ NetworkID: NET, EndpointID: EP });

    listFails = false;
    faucet.spares.clear();
    await create(d);
    assert.equal(upWhenAdded, false);
    await d.deleteEndpoint({ NetworkID: NET, EndpointID: EP });
    await d.deleteNetwork({ NetworkID: NET });

    faucet.spares.add(1);
    d = driverWith();
    await networkNamed(d, { 'ovs.bridge.antispoof': 'true' });
    await create(d);
    assert.equal(upWhenAdded, false);
    assert.deepEqual(faucet.early, []);
  });

  it('never before the network has a name (FAUCET has no DP for it yet), nor without a lister', async () => {
    let d = driverWith();
    await d.createNetwork(createReq({ 'ovs.bridge.dpid': '1' }));
    await create(d);
    assert.equal(upWhenAdded, false);
    await d.deleteEndpoint({ NetworkID: NET, EndpointID: EP });
    await d.deleteNetwork({ NetworkID: NET });

    d = driverWith({ labelledContainers: undefined });
    await networkNamed(d);
    await create(d);
    assert.equal(upWhenAdded, false);
  });

  it('takes the port down again when OVS gave it another number than the spare', async () => {
    const d = driverWith();
    await networkNamed(d);
    const addPort = vs.addPort.bind(vs);
    vs.addPort = async (spec) => addPort({ ...spec, ofportRequest: 9 });
    await create(d);
    assert.equal(state.endpoint(EP)?.ofport, 9);
    assert.equal(host.links.get(HOST_IF)?.up, false);
    assert.deepEqual(faucet.early, []);
  });
});
