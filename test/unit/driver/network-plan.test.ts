import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { datapathFor, planNetwork, type NetworkDefaults } from '../../../src/driver/network-plan.js';
import { ExtId } from '../../../src/driver/persist.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import type { DatapathType } from '../../../src/ovs/vswitch.js';
import { createNetworkRequest, TEST_NETWORK_ID } from '../../fakes/driver-requests.js';

const LOCAL = 'tcp:127.0.0.1:6653';
const defaults: NetworkDefaults = {
  defaultControllers: [LOCAL],
  localFaucetControllers: [LOCAL],
  hostDatapath: 'system',
};

const plan = (raw: Record<string, string>, given: NetworkDefaults = defaults) => {
  const rawOptions = { 'ovs.bridge.dpid': '0x72', ...raw };
  return planNetwork(createNetworkRequest(rawOptions), parseNetworkOptions(rawOptions), rawOptions, given);
};

describe('network plan: CreateNetwork', () => {
  it('datapath: ovs.bridge.userspace picks it, unset the host’s', () => {
    const table: [Record<string, string>, DatapathType, DatapathType][] = [
      [{}, 'system', 'system'],
      [{}, 'netdev', 'netdev'],
      [{ 'ovs.bridge.userspace': 'true' }, 'system', 'netdev'],
      [{ 'ovs.bridge.userspace': 'false' }, 'system', 'system'],
      // Refused by driver/network-checks.ts, which says why.
      [{ 'ovs.bridge.userspace': 'false' }, 'netdev', 'system'],
    ];
    for (const [raw, host, want] of table)
      assert.equal(
        datapathFor(parseNetworkOptions({ 'ovs.bridge.dpid': '1', ...raw }), host),
        want,
        JSON.stringify(raw),
      );
  });

  it('controllers: the default ones, or the option’s; secure with any, standalone with none; local FAUCET’s or not', () => {
    const table: [string, Record<string, string>, NetworkDefaults, string[], string, boolean][] = [
      ['the default controller, this host’s FAUCET', {}, defaults, [LOCAL], 'secure', true],
      [
        'a remote controller',
        { 'ovs.bridge.controller': 'tcp:192.0.2.1:6653' },
        defaults,
        ['tcp:192.0.2.1:6653'],
        'secure',
        false,
      ],
      ['no controller at all', {}, { ...defaults, defaultControllers: [] }, [], 'standalone', false],
    ];
    for (const [name, raw, given, controllers, failMode, localFaucet] of table) {
      const p = plan(raw, given);
      assert.deepEqual(p.bridge.controllers, controllers, name);
      assert.deepEqual(p.record.controllers, controllers, name);
      assert.equal(p.bridge.failMode, failMode, name);
      assert.equal(p.record.localFaucet, localFaucet, name);
    }
  });

  it('the record and the bridge: named for the network unless the option names it, recorded in OVSDB', () => {
    const p = plan({ 'ovs.bridge.mtu': '1400' });
    assert.equal(p.record.id, TEST_NETWORK_ID);
    assert.equal(p.record.name, undefined, 'learnt from Docker later');
    assert.equal(p.record.internal, true);
    assert.equal(p.bridge.name, p.record.bridgeName);
    assert.ok(p.bridge.name.startsWith('ovsbr-'));
    assert.equal(p.bridge.dpid, 0x72n);
    assert.equal(p.bridge.mtu, 1400);
    assert.equal(p.bridge.externalIds[ExtId.networkId], TEST_NETWORK_ID);
    assert.equal(plan({ 'ovs.bridge.name': 'br-lab' }).bridge.name, 'br-lab');
  });

  it('host ports: add_ports and add_copro_ports on the bridge, by number where given, marked by kind', () => {
    const p = plan({ 'ovs.bridge.add_ports': 'eth7/7,eth8', 'ovs.bridge.add_copro_ports': 'eth9/9' });
    assert.deepEqual(
      p.hostPorts.map((h) => [h.name, h.ofportRequest, h.externalIds[ExtId.hostPort]]),
      [
        ['eth7', 7, 'true'],
        ['eth8', undefined, 'true'],
        ['eth9', 9, 'copro'],
      ],
    );
    for (const h of p.hostPorts) {
      assert.equal(h.bridge, p.bridge.name);
      assert.equal(h.externalIds[ExtId.networkId], TEST_NETWORK_ID);
    }
  });

  it('a gateway for nat and routed networks, none for flat ones', () => {
    const table: [string, boolean][] = [
      ['flat', false],
      ['nat', true],
      ['routed', true],
    ];
    for (const [mode, gateway] of table) assert.equal(plan({ 'ovs.bridge.mode': mode }).gateway, gateway, mode);
  });
});
