import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bridgeExternalIds, ExtId, portExternalIds, restoreFromBridge } from '../../../src/driver/persist.js';
import type { EndpointRecord, NetworkRecord } from '../../../src/driver/state.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import type { BridgeState, PortState } from '../../../src/ovs/vswitch.js';

const NET = 'a1'.repeat(32);

function network(patch: Partial<NetworkRecord> = {}): NetworkRecord {
  const rawOptions = { 'ovs.bridge.dpid': '0x5', 'ovs.bridge.vlan': '200', 'ovs.bridge.default_acl': 'allow' };
  return {
    id: NET,
    name: 'net1',
    options: parseNetworkOptions(rawOptions),
    rawOptions,
    bridgeName: 'ovsbr-a1a1a',
    datapathType: 'netdev',
    controllers: ['tcp:127.0.0.1:6653'],
    ipv4: [{ AddressSpace: 'LocalDefault', Pool: '10.9.0.0/24', Gateway: '10.9.0.1/24' }],
    internal: true,
    localFaucet: true,
    ...patch,
  };
}

function endpoint(id: string, patch: Partial<EndpointRecord> = {}): EndpointRecord {
  return {
    id,
    networkId: NET,
    hostIf: `dsp${id.slice(0, 12)}`,
    containerIf: `dsc${id.slice(0, 12)}`,
    mac: '0e:99:00:00:00:07',
    ipv4: '10.9.0.2/24',
    ipv6: 'fd00::2/64',
    ofport: 7,
    sandboxKey: '/var/run/docker/netns/abc',
    published: [{ protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }],
    container: {
      id: 'c'.repeat(64),
      name: '/web',
      labels: { 'dovesnap.faucet.portacl': 'allow', 'a "quoted"': 'x\ny' },
    },
    labels: undefined,
    blockedReason: undefined,
    ...patch,
  };
}

function portOf(e: EndpointRecord): PortState {
  return {
    name: e.hostIf,
    uuid: `u-${e.id}`,
    ofport: e.ofport,
    ofportRequest: e.ofport,
    type: '',
    error: undefined,
    externalIds: portExternalIds(e),
  };
}

/** A bridge as OVSDB hands it back: external ids written with '' meaning "absent". */
function bridgeOf(
  n: NetworkRecord,
  ports: PortState[] = [],
  ids: Record<string, string> = bridgeExternalIds(n),
): BridgeState {
  const dropEmpty = (x: Readonly<Record<string, string>>) =>
    Object.fromEntries(Object.entries(x).filter(([, v]) => v !== ''));
  return {
    name: n.bridgeName,
    uuid: 'u-bridge',
    datapathType: n.datapathType,
    dpid: '0000000000000005',
    controllers: n.controllers,
    failMode: 'secure',
    externalIds: dropEmpty(ids),
    ports: ports.map((p) => ({ ...p, externalIds: dropEmpty(p.externalIds) })),
  };
}

function restored(b: BridgeState): { network: NetworkRecord; endpoints: EndpointRecord[] } {
  const r = restoreFromBridge(b);
  assert.ok(r !== undefined, `bridge ${b.name} is recognised as dovesnap's`);
  if ('error' in r) assert.fail(r.error);
  return r;
}

describe('persist: round trip through OVSDB external_ids', () => {
  for (const [what, n] of [
    ['a named, internal, userspace network', network()],
    [
      'an unnamed network on the kernel datapath, not internal, no controllers',
      network({ name: undefined, datapathType: 'system', internal: false, controllers: [], ipv4: [] }),
    ],
    [
      'a network of a Docker Compose project, with its compose-file name',
      network({ name: 'proj_labnet', compose: { project: 'proj', network: 'labnet' } }),
    ],
    ['a network known not to be of a Compose project', network({ compose: null })],
  ] as const) {
    it(`restores ${what}`, () => {
      assert.deepEqual(restored(bridgeOf(n)).network, n);
    });
  }

  it('restores endpoints with their container, but not the parsed labels (re-derived from Docker)', () => {
    const full = endpoint('e1'.repeat(32), {
      labels: { portAcls: ['allow'], mirror: false, macPrefix: undefined },
      blockedReason: 'stale reason',
    });
    const bare = endpoint('e2'.repeat(32), {
      container: undefined,
      ipv4: undefined,
      ipv6: undefined,
      sandboxKey: undefined,
      published: [],
      ofport: undefined,
    });
    const r = restored(bridgeOf(network(), [portOf(full), portOf(bare)]));
    assert.deepEqual(r.endpoints, [{ ...full, labels: undefined, blockedReason: undefined }, bare]);
  });

  it('skips ports that are not endpoints (add_ports host ports carry only the network id)', () => {
    const host: PortState = {
      name: 'eno1',
      uuid: 'u-eno1',
      ofport: 8,
      ofportRequest: 8,
      type: '',
      error: undefined,
      externalIds: { [ExtId.networkId]: NET, 'dovesnap-host-port': 'true' },
    };
    const foreign: PortState = { ...host, name: 'other', externalIds: {} };
    assert.deepEqual(restored(bridgeOf(network(), [host, foreign])).endpoints, []);
  });

  it("ignores a bridge that is not dovesnap's", () => {
    assert.equal(restoreFromBridge(bridgeOf(network(), [], {})), undefined);
    assert.equal(restoreFromBridge({ ...bridgeOf(network()), externalIds: { [ExtId.networkId]: '' } }), undefined);
    assert.equal(restoreFromBridge({ ...bridgeOf(network()), externalIds: { 'some-other-tool': 'x' } }), undefined);
  });

  for (const [what, options] of [
    ['an option this version does not know', JSON.stringify({ 'ovs.bridge.dpid': '1', 'ovs.bridge.future': 'x' })],
    ['an invalid value', JSON.stringify({ 'ovs.bridge.dpid': '0' })],
    ['text that is not JSON (so no dpid)', '{not json'],
    ['no options at all', ''],
  ] as const) {
    it(`returns an error, not a throw, for stored options with ${what}`, () => {
      const b = bridgeOf(network(), [], { ...bridgeExternalIds(network()), [ExtId.options]: options });
      let r: ReturnType<typeof restoreFromBridge> | undefined;
      assert.doesNotThrow(() => {
        r = restoreFromBridge(b);
      });
      assert.ok(r !== undefined && 'error' in r);
      assert.match((r as { error: string }).error, new RegExp(`bridge ovsbr-a1a1a \\(network ${NET}\\)`));
    });
  }
});
