import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { desiredDps, managedState, withCaptureLists, type BridgePort } from '../../../src/driver/faucet-desired.js';
import { policyKey } from '../../../src/driver/faucet-plan.js';
import { StateStore, endpointRecord, type EndpointRecord, type NetworkRecord } from '../../../src/driver/state.js';
import { parseContainerLabels } from '../../../src/model/labels.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { OFPP_LOCAL, type FaucetDpSpec, type FaucetPortSpec } from '../../../src/faucet/types.js';

/** The label dovesnap.faucet.capture: what FAUCET is given for a capture port and its network. */

const NET1 = 'a1'.repeat(32);
const ACLS: ReadonlySet<string> = new Set(['allow']);
const CAPTURE = { 'dovesnap.faucet.capture': 'true' };

function network(raw: Record<string, string> = {}): NetworkRecord {
  const rawOptions = { 'ovs.bridge.dpid': '0x1', ...raw };
  return {
    id: NET1,
    name: 'net1',
    options: parseNetworkOptions(rawOptions),
    rawOptions,
    bridgeName: 'ovsbr-a1a1a',
    datapathType: 'netdev',
    controllers: [],
    ipv4: [],
    internal: false,
    localFaucet: true,
  };
}

function endpoint(
  n: number,
  ofport: number,
  name: string,
  labels: Record<string, string> = {},
  patch: Partial<EndpointRecord> = {},
): EndpointRecord {
  const id = `e${n}`.repeat(32);
  return endpointRecord({
    id,
    networkId: NET1,
    hostIf: `dsp${id.slice(0, 12)}`,
    containerIf: `dsc${id.slice(0, 12)}`,
    mac: `0e:00:00:00:00:0${n}`,
    ipv4: `10.0.0.${n}/24`,
    ofport,
    container: { id: `c${n}`.repeat(32), name, labels },
    labels: parseContainerLabels(labels, 'net1'),
    ...patch,
  });
}

function store(n: NetworkRecord, eps: EndpointRecord[]): StateStore {
  const s = new StateStore();
  s.putNetwork(n);
  for (const e of eps) s.putEndpoint(e);
  return s;
}

/** Ports on the bridge as OVSDB lists them: [name, ofport, external ids]. */
function bridge(list: readonly [string, number, Record<string, string>][]): Map<string, BridgePort[]> {
  return new Map([
    [NET1, list.map(([name, ofport, ids]) => ({ name, ofport, externalIds: { 'dovesnap-network-id': NET1, ...ids } }))],
  ]);
}

function onlyDp(dps: FaucetDpSpec[]): FaucetDpSpec {
  assert.equal(dps.length, 1);
  return dps[0]!;
}

function port(dp: FaucetDpSpec, number: number): FaucetPortSpec | undefined {
  return dp.ports.find((p) => p.number === number);
}

describe('capture ports (label dovesnap.faucet.capture)', () => {
  it('a capture port beside two containers: output-only, no VLAN, no ACL, and mirrors both; theirs are unchanged', () => {
    const n = network({ 'ovs.bridge.default_acl': 'allow' });
    const dp = onlyDp(
      desiredDps(
        store(n, [endpoint(1, 1, '/a'), endpoint(2, 2, '/b'), endpoint(3, 3, '/tap', CAPTURE)]),
        ACLS,
        new Map(),
      ),
    );
    assert.deepEqual(port(dp, 3), {
      number: 3,
      description: '/tap c3c3c',
      outputOnly: true,
      capture: true,
      mirror: [1, 2],
    });
    assert.deepEqual(port(dp, 1), { number: 1, description: '/a c1c1c', nativeVlan: 100, aclsIn: ['allow'] });
    assert.deepEqual(port(dp, 2), { number: 2, description: '/b c2c2c', nativeVlan: 100, aclsIn: ['allow'] });
    // LOCAL is not listed: everything it carries crosses a listed port.
    assert.equal(port(dp, OFPP_LOCAL)?.mirror, undefined);
  });

  it('alone on its network: output-only with nothing to mirror (FAUCET refuses an empty mirror list)', () => {
    const dp = onlyDp(desiredDps(store(network(), [endpoint(3, 3, '/tap', CAPTURE)]), ACLS, new Map()));
    assert.deepEqual(port(dp, 3), { number: 3, description: '/tap c3c3c', outputOnly: true, capture: true });
  });

  it("mirrors add_ports ports (native and trunk), not the coprocessor port, the mirror link or a nat network's gateway", () => {
    const n = network({
      'ovs.bridge.mode': 'nat',
      'ovs.bridge.add_ports': 'eno1/8,trunk/9//t20+t30',
      'ovs.bridge.add_copro_ports': 'cp0/7',
    });
    const ports = bridge([
      ['eno1', 8, { 'dovesnap-host-port': 'true' }],
      ['trunk', 9, { 'dovesnap-host-port': 'true' }],
      ['cp0', 7, { 'dovesnap-host-port': 'copro' }],
      [`dsmn${NET1.slice(0, 10)}`, 99, { 'dovesnap-host-port': 'mirror' }],
    ]);
    const dp = onlyDp(desiredDps(store(n, [endpoint(1, 1, '/a'), endpoint(3, 3, '/tap', CAPTURE)]), ACLS, ports));
    assert.deepEqual(port(dp, 3)?.mirror, [1, 8, 9]);
    assert.equal(port(dp, 3)?.outputOnly, true);
    assert.equal(port(dp, OFPP_LOCAL)?.nativeVlan, 100, 'the gateway is on the VLAN, and still not listed');
  });

  it('a mirror-labelled port is listed by the mirror link and by the capture port: FAUCET copies it to both', () => {
    const link = bridge([[`dsmn${NET1.slice(0, 10)}`, 99, { 'dovesnap-host-port': 'mirror' }]]);
    const dp = onlyDp(
      desiredDps(
        store(network(), [
          endpoint(1, 1, '/a'),
          endpoint(2, 2, '/loud', { 'dovesnap.faucet.mirror': 'true' }),
          endpoint(3, 3, '/tap', CAPTURE),
        ]),
        ACLS,
        link,
      ),
    );
    assert.deepEqual(port(dp, 99), { number: 99, description: 'mirror link of ovsbr-a1a1a', mirror: [2] });
    assert.deepEqual(port(dp, 3)?.mirror, [1, 2]);
  });

  it('several capture ports on one network each mirror every VLAN port, and never one another', () => {
    const dp = onlyDp(
      desiredDps(
        store(network(), [
          endpoint(1, 1, '/a'),
          endpoint(2, 2, '/b'),
          endpoint(3, 3, '/tap1', CAPTURE),
          endpoint(4, 4, '/tap2', CAPTURE),
        ]),
        ACLS,
        new Map(),
      ),
    );
    assert.deepEqual(port(dp, 3)?.mirror, [1, 2]);
    assert.deepEqual(port(dp, 4)?.mirror, [1, 2]);
  });

  it('per network: NET:true captures on that network only', () => {
    const labels = { 'dovesnap.faucet.capture': 'other:true/net1:false' };
    const dp = onlyDp(
      desiredDps(store(network(), [endpoint(1, 1, '/a'), endpoint(3, 3, '/tap', labels)]), ACLS, new Map()),
    );
    assert.deepEqual(port(dp, 3), { number: 3, description: '/tap c3c3c', nativeVlan: 100 });
  });

  it('a capture label that does not parse keeps the port out of FAUCET (closed), with the reason', () => {
    const e = endpoint(
      3,
      3,
      '/tap',
      {},
      {
        labels: undefined,
        blockedReason: 'invalid value "maybe" for label dovesnap.faucet.capture: expected true or false',
      },
    );
    const dp = onlyDp(desiredDps(store(network(), [endpoint(1, 1, '/a'), e]), ACLS, new Map()));
    assert.equal(port(dp, 3), undefined);
  });

  it('ready ports and spares are mirrored too, so a container taking one changes nothing FAUCET enforces', () => {
    const n = network();
    const ready = bridge([
      ['dsqaaaaaaaaaaaa', 5, { 'dovesnap-ready-port': 'dsraaaaaaaaaaaa' }],
      ['dsqbbbbbbbbbbbb', 6, { 'dovesnap-ready-port': 'dsrbbbbbbbbbbbb' }],
    ]);
    const spares = new Map([[NET1, [7, 8]]]);
    const tap = endpoint(3, 3, '/tap', CAPTURE);
    const before = onlyDp(desiredDps(store(n, [endpoint(1, 1, '/a'), tap]), ACLS, ready, new Set(), new Set(), spares));
    assert.deepEqual(port(before, 3)?.mirror, [1, 5, 6, 7, 8]);
    // A container takes ready port 5 (its OVSDB row becomes the endpoint's) and another spare 7.
    const taken = bridge([
      ['dsqaaaaaaaaaaaa', 5, { 'dovesnap-endpoint-id': 'e4'.repeat(32) }],
      ['dsqbbbbbbbbbbbb', 6, { 'dovesnap-ready-port': 'dsrbbbbbbbbbbbb' }],
    ]);
    const joined = [
      endpoint(1, 1, '/a'),
      tap,
      endpoint(4, 5, '/b', {}, { hostIf: 'dsqaaaaaaaaaaaa', pooled: true }),
      endpoint(5, 7, '/c'),
    ];
    const after = onlyDp(desiredDps(store(n, joined), ACLS, taken, new Set(), new Set(), spares));
    assert.deepEqual(port(after, 3)?.mirror, [1, 5, 6, 7, 8]);
    assert.equal(
      policyKey([after]),
      policyKey([before]),
      'only descriptions differ: no FAUCET reload for the two starts',
    );
  });

  it('on an anti-spoofing network the capture port gets no ACL; the other ports get theirs', () => {
    const n = network({ 'ovs.bridge.antispoof': 'true' });
    const m = managedState(store(n, [endpoint(1, 1, '/a'), endpoint(3, 3, '/tap', CAPTURE)]), '', ACLS, new Map());
    const dp = onlyDp([...m.dps]);
    assert.deepEqual(port(dp, 3), {
      number: 3,
      description: '/tap c3c3c',
      outputOnly: true,
      capture: true,
      mirror: [1],
    });
    assert.equal(port(dp, 1)?.aclsIn?.length, 1);
    assert.equal(m.acls?.length, 1, 'one anti-spoofing ACL, for /a only');
  });

  it('withCaptureLists leaves a DP without capture ports as it is', () => {
    const ports: FaucetPortSpec[] = [
      { number: 1, description: 'a', nativeVlan: 100 },
      { number: 99, description: 'm', mirror: [1] },
    ];
    assert.deepEqual(withCaptureLists(ports), ports);
  });
});
