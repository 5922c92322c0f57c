import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  blockReason,
  desiredDps,
  dpDescription,
  managedState,
  markedDps,
  type BridgePort,
} from '../../../src/driver/faucet-desired.js';
import { StateStore, endpointRecord, type EndpointRecord, type NetworkRecord } from '../../../src/driver/state.js';
import { parseContainerLabels } from '../../../src/model/labels.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { OFPP_LOCAL, type FaucetDpSpec } from '../../../src/faucet/types.js';
import { PLACEHOLDER_DP_NAME } from '../../../src/faucet/placeholder.js';

const NET1 = 'a1'.repeat(32);
const NET2 = 'b2'.repeat(32);
const ACLS: ReadonlySet<string> = new Set(['allow', 'block-ssh']);
const NO_HOST_PORTS: ReadonlyMap<string, readonly BridgePort[]> = new Map();

/** Ports as OVSDB would list them on NET1's bridge, marked as dovesnap marks them (or not: hand-added). */
function ports(list: readonly [string, number, string | undefined][], networkId = NET1): Map<string, BridgePort[]> {
  const marked = (kind: string | undefined): Record<string, string> =>
    kind === undefined ? {} : { 'dovesnap-network-id': networkId, 'dovesnap-host-port': kind };
  return new Map([[networkId, list.map(([name, ofport, kind]) => ({ name, ofport, externalIds: marked(kind) }))]]);
}

function network(id: string, name: string | undefined, raw: Record<string, string> = {}): NetworkRecord {
  const rawOptions = { 'ovs.bridge.dpid': '0x1', ...raw };
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

function endpoint(
  id: string,
  networkId: string,
  ofport: number | undefined,
  container?: { name: string; labels?: Record<string, string> },
  patch: Partial<EndpointRecord> = {},
): EndpointRecord {
  const labels = container?.labels ?? {};
  return endpointRecord({
    id,
    networkId,
    hostIf: `dsp${id.slice(0, 12)}`,
    containerIf: `dsc${id.slice(0, 12)}`,
    mac: '0e:00:00:00:00:01',
    ofport,
    container: container && { id: `${id.slice(0, 2)}c0ffee${'0'.repeat(56)}`, name: container.name, labels },
    labels: container && parseContainerLabels(labels, 'net1'),
    ...patch,
  });
}

function store(nets: NetworkRecord[], eps: EndpointRecord[] = []): StateStore {
  const s = new StateStore();
  for (const n of nets) s.putNetwork(n);
  for (const e of eps) s.putEndpoint(e);
  return s;
}

function onlyDp(dps: FaucetDpSpec[]): FaucetDpSpec {
  assert.equal(dps.length, 1);
  return dps[0]!;
}

const LOCAL_PORT = {
  number: OFPP_LOCAL,
  description: 'ovsbr-a1a1a local port (unused on a flat network)',
  outputOnly: true,
};

describe('desiredDps', () => {
  it('has one DP per NAMED network only, marked by its description', () => {
    const dps = desiredDps(
      store([network(NET1, 'net1', { 'ovs.bridge.dpid': '0x10' }), network(NET2, undefined)]),
      ACLS,
      NO_HOST_PORTS,
    );
    const dp = onlyDp(dps);
    assert.equal(dp.name, 'net1');
    assert.equal(dp.dpId, 0x10n);
    assert.equal(dp.description, `dovesnap network ${NET1}`);
  });

  it('always has the LOCAL port, output-only and without a VLAN, even with no containers', () => {
    assert.deepEqual(onlyDp(desiredDps(store([network(NET1, 'net1')]), ACLS, NO_HOST_PORTS)).ports, [LOCAL_PORT]);
  });

  it('gives container ports "/<name> <id5>" descriptions and the network VLAN, sorted by number; skips unresolved ones', () => {
    const s = store(
      [network(NET1, 'net1', { 'ovs.bridge.vlan': '200' })],
      [
        endpoint('e1'.repeat(32), NET1, 12, { name: '/web' }),
        endpoint('e2'.repeat(32), NET1, 3, { name: '/db' }),
        endpoint('e3'.repeat(32), NET1, 4), // container not known yet
        endpoint('e4'.repeat(32), NET1, undefined, { name: '/noport' }), // no ofport yet
      ],
    );
    assert.deepEqual(onlyDp(desiredDps(s, ACLS, NO_HOST_PORTS)).ports, [
      { number: 3, description: '/db e2c0f', nativeVlan: 200 },
      { number: 12, description: '/web e1c0f', nativeVlan: 200 },
      LOCAL_PORT,
    ]);
  });

  for (const [what, labels, defaultAcl, expected] of [
    ['no label, default_acl set: the default applies', {}, 'allow', ['allow']],
    ['no label, no default_acl: no acls_in at all', {}, undefined, undefined],
    [
      'a portacl label overrides the default',
      { 'dovesnap.faucet.portacl': 'block-ssh,allow' },
      'allow',
      ['block-ssh', 'allow'],
    ],
    [
      'a label for another network only: the default applies',
      { 'dovesnap.faucet.portacl': 'other:block-ssh' },
      'allow',
      ['allow'],
    ],
  ] as const) {
    it(`port ACLs: ${what}`, () => {
      const raw: Record<string, string> = defaultAcl === undefined ? {} : { 'ovs.bridge.default_acl': defaultAcl };
      const s = store([network(NET1, 'net1', raw)], [endpoint('e1'.repeat(32), NET1, 1, { name: '/web', labels })]);
      const port = onlyDp(desiredDps(s, ACLS, NO_HOST_PORTS)).ports.find((p) => p.number === 1);
      assert.ok(port);
      assert.deepEqual(port.aclsIn, expected);
    });
  }

  it('leaves out a port whose label names an ACL FAUCET does not define, and says why', () => {
    const ep = endpoint('e1'.repeat(32), NET1, 1, {
      name: '/web',
      labels: { 'dovesnap.faucet.portacl': 'allow,nosuch' },
    });
    const s = store([network(NET1, 'net1')], [ep, endpoint('e2'.repeat(32), NET1, 2, { name: '/ok' })]);
    assert.deepEqual(
      onlyDp(desiredDps(s, ACLS, NO_HOST_PORTS)).ports.map((p) => p.number),
      [2, OFPP_LOCAL],
    );
    assert.match(blockReason(ep, ACLS) ?? '', /dovesnap\.faucet\.portacl.*\bnosuch\b/);
    assert.doesNotMatch(blockReason(ep, ACLS) ?? '', /\ballow\b/);
    assert.equal(blockReason(ep, new Set([...ACLS, 'nosuch'])), undefined);
  });

  for (const [what, patch, reason] of [
    ['FAUCET rejected it', { faucetRejected: 'FAUCET refused it' }, 'FAUCET refused it'],
    [
      'its labels could not be parsed',
      { labels: undefined, blockedReason: 'invalid value for label x' },
      'invalid value for label x',
    ],
  ] as const) {
    it(`keeps a port out when ${what}`, () => {
      const ep = endpoint('e1'.repeat(32), NET1, 1, { name: '/web' }, patch);
      const s = store([network(NET1, 'net1')], [ep]);
      assert.deepEqual(onlyDp(desiredDps(s, ACLS, NO_HOST_PORTS)).ports, [LOCAL_PORT]);
      assert.equal(blockReason(ep, ACLS), reason);
    });
  }

  it('a faucetRejected port stays out even once its ACLs are all defined', () => {
    const ep = endpoint(
      'e1'.repeat(32),
      NET1,
      1,
      { name: '/web', labels: { 'dovesnap.faucet.portacl': 'allow' } },
      { faucetRejected: 'refused' },
    );
    assert.equal(blockReason(ep, ACLS), 'refused');
  });

  it('numbers add_ports host ports from the map, with their ACL; a port missing from the map is left out', () => {
    const net = network(NET1, 'net1', { 'ovs.bridge.add_ports': 'eno1/8/allow,eno2', 'ovs.bridge.vlan': '300' });
    const numbers = ports([['eno1', 8, 'true']]);
    assert.deepEqual(onlyDp(desiredDps(store([net]), ACLS, numbers)).ports, [
      { number: 8, description: 'Physical interface eno1', nativeVlan: 300, aclsIn: ['allow'] },
      LOCAL_PORT,
    ]);
    // The map is per network: another network's numbers are not used.
    assert.deepEqual(onlyDp(desiredDps(store([net]), ACLS, ports([['eno1', 8, 'true']], NET2))).ports, [LOCAL_PORT]);
  });

  it("gives an added port its own VLANs (add_ports' fourth field): untagged, a trunk, or both", () => {
    const net = network(NET1, 'net1', { 'ovs.bridge.add_ports': 'a20///20,trunk/5//t20+t30,both///100+t40' });
    const got = onlyDp(
      desiredDps(
        store([net]),
        ACLS,
        ports([
          ['a20', 1, 'true'],
          ['trunk', 5, 'true'],
          ['both', 6, 'true'],
        ]),
      ),
    ).ports;
    assert.deepEqual(got, [
      { number: 1, description: 'Physical interface a20', nativeVlan: 20 },
      { number: 5, description: 'Physical interface trunk', taggedVlans: [20, 30] },
      { number: 6, description: 'Physical interface both', nativeVlan: 100, taggedVlans: [40] },
      LOCAL_PORT,
    ]);
  });

  it('makes a coprocessor port of add_copro_ports, addressed by port number (VID base 0)', () => {
    const net = network(NET1, 'net1', { 'ovs.bridge.add_copro_ports': 'cp0/7/allow' });
    const got = onlyDp(desiredDps(store([net]), ACLS, ports([['cp0', 7, 'copro']]))).ports;
    assert.deepEqual(got, [
      {
        number: 7,
        name: got[0]?.name,
        description: 'Coprocessor interface cp0',
        coprocessor: { strategy: 'vlan_vid', vlanVidBase: 0 },
        aclsIn: ['allow'],
      },
    ]);
    // (No LOCAL entry on a flat network with a coprocessor port: FAUCET's flow for it would be refused.)
    assert.match(got[0]?.name ?? '', /^cp0@[0-9a-f]{8}$/);
  });

  it("renames the coprocessor entry when the DP's port numbers change, so FAUCET redoes its flows (and only then)", () => {
    const net = network(NET1, 'net1', { 'ovs.bridge.add_copro_ports': 'cp0/7' });
    const name = (eps: EndpointRecord[]): string | undefined =>
      onlyDp(desiredDps(store([net], eps), ACLS, ports([['cp0', 7, 'copro']]))).ports.find((p) => p.number === 7)?.name;
    const one = endpoint('e1'.repeat(32), NET1, 1, { name: '/a' });
    const two = endpoint('e2'.repeat(32), NET1, 2, { name: '/b' });
    assert.equal(name([one]), name([one]));
    assert.notEqual(name([one]), name([one, two]));
    // The same numbers under other names (a container replaced on its number): no restart.
    assert.equal(name([one]), name([endpoint('e3'.repeat(32), NET1, 1, { name: '/c' })]));
  });

  it('lists mirror-labelled containers on the mirror link, and keeps the link output-only without them', () => {
    const net = network(NET1, 'net1');
    const link = ports([[`dsmn${NET1.slice(0, 10)}`, 99, 'mirror']]);
    const quiet = endpoint('e1'.repeat(32), NET1, 1, { name: '/quiet' });
    assert.deepEqual(
      onlyDp(desiredDps(store([net], [quiet]), ACLS, link)).ports.find((p) => p.number === 99),
      { number: 99, description: 'mirror link of ovsbr-a1a1a', outputOnly: true },
    );
    const loud = endpoint('e2'.repeat(32), NET1, 2, { name: '/loud', labels: { 'dovesnap.faucet.mirror': 'true' } });
    const other = endpoint('e3'.repeat(32), NET1, 3, {
      name: '/other',
      labels: { 'dovesnap.faucet.mirror': 'net1:false' },
    });
    assert.deepEqual(
      onlyDp(desiredDps(store([net], [quiet, loud, other]), ACLS, link)).ports.find((p) => p.number === 99),
      { number: 99, description: 'mirror link of ovsbr-a1a1a', mirror: [2] },
    );
  });

  it('gives a port added by hand its own entry on the network VLAN; ports dovesnap made are never taken for one', () => {
    const net = network(NET1, 'net1', { 'ovs.bridge.vlan': '300' });
    const ep = endpoint('e1'.repeat(32), NET1, 1, { name: '/web' });
    const observed = new Map<string, BridgePort[]>([
      [
        NET1,
        [
          { name: 'ovsbr-a1a1a', ofport: 65534, externalIds: {} },
          { name: ep.hostIf, ofport: 1, externalIds: { 'dovesnap-network-id': NET1, 'dovesnap-endpoint-id': ep.id } },
          {
            name: 'dspnotrecorded',
            ofport: 2,
            externalIds: { 'dovesnap-network-id': NET1, 'dovesnap-endpoint-id': 'f'.repeat(64) },
          },
          { name: 'byhand0', ofport: 12, externalIds: {} },
        ],
      ],
    ]);
    const got = onlyDp(desiredDps(store([net], [ep]), ACLS, observed)).ports;
    assert.deepEqual(
      got.map((p) => [p.number, p.description]),
      [
        [1, '/web e1c0f'],
        [12, 'Interface byhand0 (added by hand)'],
        [OFPP_LOCAL, LOCAL_PORT.description],
      ],
    );
    assert.equal(got.find((p) => p.number === 12)?.nativeVlan, 300);
  });
});

describe('markedDps', () => {
  for (const [what, yaml, expected] of [
    [
      'DPs whose description carries the marker',
      'dps:\n  a: {description: "dovesnap network 123", dp_id: 1}\n  b: {description: "operator switch", dp_id: 2}\n  c: {dp_id: 3}\n',
      ['a'],
    ],
    ['a marker that is not at the start does not count', 'dps:\n  a: {description: "not a dovesnap network 1"}\n', []],
    ['a file without dps', 'acls: {}\n', []],
    ['an empty file', '', []],
    ['a file that is not YAML', 'dps: [unclosed\n', []],
    ['dps that is not a map', 'dps: 3\n', []],
  ] as const) {
    it(`finds ${what}`, () => {
      assert.deepEqual([...markedDps(yaml)].sort(), expected);
    });
  }
});

describe('managedState', () => {
  it('owns marked DPs and named networks, never the placeholder, and carries the desired DPs', () => {
    const yaml = [
      'dps:',
      `  gone-net: {description: "dovesnap network ${'d'.repeat(64)}", dp_id: 5}`,
      '  core-sw1: {description: "operator", dp_id: 1}',
      `  ${PLACEHOLDER_DP_NAME}: {description: "dovesnap network placeholder", dp_id: 9}`,
      '',
    ].join('\n');
    const s = store([network(NET1, 'net1'), network(NET2, undefined)]);
    const m = managedState(s, yaml, ACLS, NO_HOST_PORTS);
    assert.deepEqual([...m.owned].sort(), ['gone-net', 'net1']);
    assert.deepEqual(
      m.dps.map((d) => d.name),
      ['net1'],
    );
    assert.equal(m.dps[0]?.description, dpDescription(network(NET1, 'net1')));
  });

  it("never owns, renders or overwrites an operator's DP that a network is named like (defect 1)", () => {
    const yaml = 'dps:\n  core-sw1: {description: "operator", dp_id: 1, interfaces: {1: {native_vlan: 100}}}\n';
    const m = managedState(store([network(NET1, 'core-sw1')]), yaml, ACLS, NO_HOST_PORTS);
    assert.equal(m.owned.has('core-sw1'), false);
    assert.deepEqual(m.dps, []);
  });

  it('leaves out networks that the local FAUCET does not control (defect 7)', () => {
    const s = store([{ ...network(NET1, 'net1'), localFaucet: false }]);
    const m = managedState(s, '', ACLS, NO_HOST_PORTS);
    assert.deepEqual(m.dps, []);
    assert.equal(m.owned.has('net1'), false);
  });

  it('never owns the placeholder even if a network carries its name', () => {
    const m = managedState(store([network(NET1, PLACEHOLDER_DP_NAME)]), '', ACLS, NO_HOST_PORTS);
    assert.equal(m.owned.has(PLACEHOLDER_DP_NAME), false);
  });
});
