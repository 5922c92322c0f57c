import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Driver } from '../../../src/driver/driver.js';
import { armFailpoints, parseFailpoints } from '../../../src/util/failpoints.js';
import { createNetworkRequest, TEST_ENDPOINT_ID, TEST_NETWORK_ID } from '../../fakes/driver-requests.js';
import { freshFakes, testDriver, type DriverFakes } from '../../fakes/test-driver.js';

const NET = TEST_NETWORK_ID;
const EP = TEST_ENDPOINT_ID;

/**
 * CreateEndpoint's applier (driver/endpoint-apply.ts): whichever step fails, on whichever path
 * (a port of its own, opened early or not; a ready port taken), nothing of the endpoint is left
 * (Docker sends no DeleteEndpoint for a CreateEndpoint it was refused), and a retry succeeds.
 */
describe('driver: a CreateEndpoint that fails leaves nothing', () => {
  let fakes: DriverFakes;
  let counter: number;

  const driver = (readyPorts: number): Driver =>
    testDriver(fakes, {
      labelledContainers: async () => [],
      readyPorts,
      readyPortsSettleMs: 0,
      random: (n) => Uint8Array.from({ length: n }, (_, i) => (counter * 31 + i) & 0xff, counter++),
    });

  beforeEach(() => {
    fakes = freshFakes();
    counter = 1;
  });
  afterEach(() => armFailpoints(new Map()));

  const bridgePorts = async (): Promise<string[]> => {
    const n = fakes.state.network(NET);
    assert.ok(n);
    return ((await fakes.vswitch.getBridge(n.bridgeName))?.ports ?? []).map((p) => p.name);
  };

  const paths = [
    { name: 'own port, down', readyPorts: 0, spares: [] },
    { name: 'own port, opened early on a spare', readyPorts: 0, spares: [1, 2, 3] },
    { name: 'a ready port taken', readyPorts: 4, spares: [] },
  ];
  const failures = [
    { name: 'createEndpoint.afterVeth=error', failpoints: 'createEndpoint.afterVeth=error', ready: false },
    { name: 'createEndpoint.afterPort=error', failpoints: 'createEndpoint.afterPort=error', ready: false },
    { name: 'createEndpoint.done=error', failpoints: 'createEndpoint.done=error', ready: true },
    { name: 'ovs-vswitchd gives no number', failpoints: '', ready: false, noOfport: true },
  ];
  for (const path of paths) {
    for (const failure of failures) {
      // A ready port is taken without a veth or port of its own: only the last point is on its way.
      if (path.readyPorts > 0 && !failure.ready) continue;
      it(`${path.name}: ${failure.name}`, async () => {
        const { vswitch: vs, host, state, faucet } = fakes;
        const d = driver(path.readyPorts);
        await d.createNetwork(createNetworkRequest({ 'ovs.bridge.dpid': '1' }));
        const n = state.network(NET);
        assert.ok(n);
        state.putNetwork({ ...n, name: 'web' });
        await d.pool?.settled();
        faucet.spares = new Set(path.spares);
        faucet.allReady = true;
        const linksBefore = new Set(host.links.keys());
        const portsBefore = await bridgePorts();
        const ready = portsBefore.length > 0;
        assert.equal(ready, path.readyPorts > 0, 'ready ports made');
        const waitOfport = vs.waitOfport.bind(vs);
        if (failure.noOfport === true)
          vs.waitOfport = async (name) => {
            throw new Error(`no ofport for ${name}`);
          };
        if (failure.failpoints !== '') armFailpoints(parseFailpoints(failure.failpoints));

        await assert.rejects(d.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: {}, Options: {} }));
        armFailpoints(new Map());
        vs.waitOfport = waitOfport;

        assert.equal(state.endpoint(EP), undefined, 'no record');
        const links = [...host.links.keys()].filter((l) => !linksBefore.has(l));
        assert.deepEqual(links, [], 'no new veth');
        const ports = await bridgePorts();
        assert.deepEqual(
          ports.filter((p) => !portsBefore.includes(p)),
          [],
          'no new port',
        );
        if (ready) assert.equal(ports.length, portsBefore.length - 1, 'the ready port taken went with the endpoint');
        else assert.equal(host.links.has('dspe1e2e3e4e5e6'), false, 'the endpoint’s veth is gone');

        await d.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: {}, Options: {} });
        assert.ok(state.endpoint(EP)?.ofport !== undefined, 'a retry is numbered');
      });
    }
  }
});
