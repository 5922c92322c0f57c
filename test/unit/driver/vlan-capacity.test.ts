import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { managedState } from '../../../src/driver/faucet-desired.js';
import { StateStore, type NetworkRecord } from '../../../src/driver/state.js';
import { VLAN_MAX_HOSTS, withVlanCapacity } from '../../../src/driver/vlan-capacity.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { renderFaucetConfig } from '../../../src/faucet/render.js';
import { validateFaucetConfig } from '../../../src/faucet/validate.js';
import type { FaucetDpSpec } from '../../../src/faucet/types.js';

function network(id: string, name: string, raw: Record<string, string> = {}): NetworkRecord {
  const rawOptions = { 'ovs.bridge.dpid': `0x${id.slice(0, 2)}`, ...raw };
  return {
    id,
    name,
    options: parseNetworkOptions(rawOptions),
    rawOptions,
    bridgeName: `ovsbr-${id.slice(0, 5)}`,
    datapathType: 'netdev',
    controllers: [],
    ipv4: [],
    internal: false,
    localFaucet: true,
  };
}

/** A spare entry on each network: a port on its VLAN (a network with no port on a VLAN needs no entry). */
const spares = (s: StateStore): Map<string, number[]> => new Map(s.allNetworks().map((n) => [n.id, [1]]));

function store(nets: NetworkRecord[]): StateStore {
  const s = new StateStore();
  for (const n of nets) s.putNetwork(n);
  return s;
}

interface Doc {
  vlans?: Record<string, { vid?: number; max_hosts?: number; acls_out?: string[] }>;
}

const dp = (name: string, vids: number[], vlans?: FaucetDpSpec['vlans']): FaucetDpSpec => ({
  name,
  dpId: 1n,
  description: name,
  ports: vids.map((v, i) => ({ number: i + 1, description: `p${i}`, nativeVlan: v })),
  ...(vlans === undefined ? {} : { vlans }),
});

describe('VLAN max_hosts (FAUCET would cut off a network’s 257th host)', () => {
  it('one shared entry per VID of dovesnap’s networks; none for a VID the operator defines or uses; a network’s own entry gets the value', () => {
    const r = withVlanCapacity(
      [dp('a', [100, 200]), dp('b', [100, 300], [{ vid: 300, aclsOut: ['out'] }])],
      new Set([200]),
    );
    assert.deepEqual(
      r.shared.map((v) => [v.vid, v.maxHosts]),
      [[100, VLAN_MAX_HOSTS]],
    );
    assert.deepEqual(r.dps[1]?.vlans, [{ vid: 300, aclsOut: ['out'], maxHosts: VLAN_MAX_HOSTS }]);
    assert.equal(r.dps[0]?.vlans, undefined);
  });

  it('rendered: a network gets a dovesnap-vid entry with max_hosts that FAUCET’s rules accept, and it goes with the last network on the VID', () => {
    const s = store([network('a1'.repeat(32), 'net1'), network('b2'.repeat(32), 'net2')]);
    const text = renderFaucetConfig('', managedState(s, '', new Set(), new Map(), spares(s)));
    const doc = parse(text) as Doc;
    assert.deepEqual(doc.vlans, {
      'dovesnap-vid100': { vid: 100, description: "VLAN 100 of dovesnap's networks", max_hosts: VLAN_MAX_HOSTS },
    });
    assert.deepEqual(validateFaucetConfig(text), []);
    s.removeNetwork('a1'.repeat(32));
    const one = renderFaucetConfig(text, managedState(s, text, new Set(), new Map(), spares(s)));
    assert.equal(one, text.replace(/\n {2}net1:[\s\S]*?(?=\n {2}net2:)/, ''), 'net1 gone; the entry stays for net2');
    s.removeNetwork('b2'.repeat(32));
    const none = renderFaucetConfig(one, managedState(s, one, new Set(), new Map(), spares(s)));
    assert.equal((parse(none) as Doc).vlans, undefined, 'gone with the last network');
  });

  it('a VID the operator defines under vlans:, or that one of the operator’s DPs uses, gets no entry of dovesnap’s', () => {
    const s = store([
      network('a1'.repeat(32), 'net1', { 'ovs.bridge.vlan': '20' }),
      network('b2'.repeat(32), 'net2', { 'ovs.bridge.vlan': '30' }),
      network('c3'.repeat(32), 'net3'),
    ]);
    const operator = `vlans:
  office:
    vid: 20
    max_hosts: 1000
dps:
  core:
    dp_id: 0x99
    hardware: "Open vSwitch"
    interfaces:
      1: {native_vlan: 30}
`;
    const doc = parse(renderFaucetConfig(operator, managedState(s, operator, new Set(), new Map(), spares(s)))) as Doc;
    assert.deepEqual(Object.keys(doc.vlans ?? {}).sort(), ['dovesnap-vid100', 'office']);
    assert.equal(doc.vlans?.['office']?.max_hosts, 1000, 'the operator’s entry is untouched');
  });

  it('a network with vlan_out_acl: its own entry carries max_hosts, and no shared one is added for that VID', () => {
    const s = store([network('a1'.repeat(32), 'net1', { 'ovs.bridge.vlan_out_acl': 'out' })]);
    const facts = 'acls:\n  out:\n    - rule:\n        actions: {allow: 1}\n';
    const doc = parse(renderFaucetConfig(facts, managedState(s, facts, new Set(['out']), new Map(), spares(s)))) as Doc;
    assert.deepEqual(Object.keys(doc.vlans ?? {}), ['net1-vlan100']);
    assert.equal(doc.vlans?.['net1-vlan100']?.max_hosts, VLAN_MAX_HOSTS);
    assert.deepEqual(doc.vlans?.['net1-vlan100']?.acls_out, ['out']);
  });
});
