import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeFaucetView } from '../../fakes/fake-faucet-view.js';
import { StateStore } from '../../../src/driver/state.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { FakeHostNet } from '../../fakes/fake-host.js';
import { TEST_ENDPOINT_ID } from '../../fakes/driver-requests.js';
import { testDriver } from '../../fakes/test-driver.js';
import { decode } from '../../../src/model/plugin-protocol.js';

/**
 * What a Swarm node's Docker sends for a swarm-scoped network made `--config-from` a config-only
 * network: the ID is the manager's (25 characters of base 36, not 64 hex digits), the `-o`
 * options are those of this host's config-only network, and the boolean options Docker adds.
 */
const SWARM_NETWORK_ID = 'wn08da18g7gnq0b3e8nxz3k2a';

describe('a swarm-scoped network on one host', () => {
  it("is created from a config-from network's options and takes the address Docker gives", async () => {
    const vs = new FakeVSwitch();
    const state = new StateStore();
    const driver = testDriver({ vswitch: vs, host: new FakeHostNet(), state, faucet: new FakeFaucetView() });
    const req = decode.createNetwork({
      NetworkID: SWARM_NETWORK_ID,
      Options: {
        'com.docker.network.enable_ipv6': false,
        'com.docker.network.generic': { 'ovs.bridge.dpid': '0x7e0f01', 'ovs.bridge.vlan': '240' },
        'com.docker.network.internal': false,
      },
      IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.231.240.0/24', Gateway: '10.231.240.1/24' }],
      IPv6Data: [],
    });
    await driver.createNetwork(req);
    const net = state.network(SWARM_NETWORK_ID);
    assert.equal(net?.bridgeName, 'ovsbr-wn08d');
    assert.equal(net?.options.vlan, 240);
    assert.ok(await vs.getBridge('ovsbr-wn08d'));

    await driver.createEndpoint({
      NetworkID: SWARM_NETWORK_ID,
      EndpointID: TEST_ENDPOINT_ID,
      Interface: { Address: '10.231.240.66/24' },
      Options: {},
    });
    assert.equal(state.endpoint(TEST_ENDPOINT_ID)?.ipv4, '10.231.240.66/24');
  });
});
