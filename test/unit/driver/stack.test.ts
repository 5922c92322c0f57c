import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackFlows, stackIdentity, stackLinkNames } from '../../../src/driver/stack.js';
import { mirrorFlows, mirrorLinkNames } from '../../../src/driver/mirror-bridge.js';
import { managedState, stackParts } from '../../../src/driver/faucet-desired.js';
import { initialFaucetConfig } from '../../../src/faucet/initial-files.js';
import { renderFaucetConfig } from '../../../src/faucet/render.js';
import { validateFaucetConfig } from '../../../src/faucet/validate.js';
import { StateStore, type NetworkRecord } from '../../../src/driver/state.js';
import { parseNetworkOptions } from '../../../src/model/options.js';

const NET = 'a1'.repeat(32);

function network(name: string): NetworkRecord {
  const rawOptions = { 'ovs.bridge.dpid': '0x1' };
  return {
    id: NET,
    name,
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

describe('stack and mirror bridge: names, numbers, flows', () => {
  it("names this host's stack DP after the host and numbers it from the machine ID", () => {
    assert.deepEqual(stackIdentity('lab host', '3d1219c7c4aa0000'), {
      dpName: 'dovesnap-lab-host',
      dpId: 0x0e0f003d1219c7c4n,
    });
  });

  it('keeps every link name a valid interface name (15 bytes at most)', () => {
    for (const n of [...Object.values(stackLinkNames(NET)), ...Object.values(mirrorLinkNames(NET))])
      assert.ok(n.length <= 15, n);
  });

  it('writes the mirror bridge table: drop, IN to OUT, each link tagged with its VLAN', () => {
    assert.equal(
      mirrorFlows(1, 2, [
        { ofport: 4, vlan: 200 },
        { ofport: 3, vlan: 100 },
      ]),
      'cookie=0xd0e5,priority=0 actions=drop\n' +
        'cookie=0xd0e5,priority=10,in_port=2 actions=output:1\n' +
        'cookie=0xd0e5,priority=10,in_port=3 actions=mod_vlan_vid:100,output:1\n' +
        'cookie=0xd0e5,priority=10,in_port=4 actions=mod_vlan_vid:200,output:1\n',
    );
    assert.ok(!mirrorFlows(1, undefined, []).includes('in_port=2'), 'no IN flow without IN');
  });

  it('loops every frame back where it came from on the loopback bridge', () => {
    assert.equal(
      loopbackFlows([5, 3]),
      'cookie=0xd0e6,priority=0 actions=drop\ncookie=0xd0e6,priority=10,in_port=3 actions=in_port\ncookie=0xd0e6,priority=10,in_port=5 actions=in_port\n',
    );
  });

  it('gives the stack switch both ends, the root its priority, and tunnels only to a switch FAUCET knows', () => {
    const s = new StateStore();
    s.putNetwork(network('net1'));
    const facts = {
      dpName: 'dovesnap-h',
      dpId: 0x0e0f00n,
      priority1: 'dovesnap-h',
      interfaces: [
        { remoteDp: 'root', remotePort: 3, interface: 'eth7', ofport: 1 },
        { remoteDp: 'unknown', remotePort: 4, interface: 'eth8', ofport: 2 },
      ],
      links: new Map([[NET, { networkPort: 0xfe00, stackPort: 3 }]]),
      loopbacks: new Map([[NET, 99]]),
      mirror: { dp: 'root', port: 2 },
    };
    const parts = stackParts(s, facts, new Set(['root']));
    assert.equal(parts.dp.stackPriority, 1);
    assert.deepEqual(
      parts.dp.ports.map((p) => [p.number, p.stack]),
      [
        [1, { dp: 'root', port: 3 }],
        [3, { dp: 'net1', port: 0xfe00 }],
      ],
      'no link to a switch missing from the file',
    );
    assert.deepEqual(parts.foreignPorts, [
      {
        dp: 'root',
        port: { number: 3, description: 'dovesnap stack link to dovesnap-h', stack: { dp: 'dovesnap-h', port: 1 } },
      },
    ]);
    assert.deepEqual(
      parts.acls.map((a) => a.name),
      ['dovesnap-mirror-tunnel-356'],
    );
    assert.deepEqual(
      stackParts(s, { ...facts, mirror: { dp: 'elsewhere', port: 2 } }, new Set(['root'])).acls,
      [],
      'no tunnel to an unknown switch',
    );
  });

  it('leaves the stack switch out of FAUCET until a network is linked: alone it has no VLAN and FAUCET would refuse the whole file', () => {
    const facts = {
      dpName: 'dovesnap-h',
      dpId: 0x0e0f00n,
      priority1: 'ghost',
      interfaces: [{ remoteDp: 'ghost', remotePort: 3, interface: 'eth7', ofport: 1 }],
      links: new Map<string, { networkPort: number; stackPort: number }>(),
      loopbacks: new Map<string, number>(),
      mirror: undefined,
    };
    const empty = new StateStore();
    const alone = managedState(empty, initialFaucetConfig(), new Set(), new Map(), new Map(), facts);
    assert.deepEqual(
      alone.dps.map((d) => d.name),
      [],
    );
    assert.ok(alone.owned.has('dovesnap-h'), 'still owned, so that an earlier one is removed');
    const s = new StateStore();
    s.putNetwork(network('net1'));
    const linkedFacts = {
      ...facts,
      priority1: 'dovesnap-h',
      links: new Map([[NET, { networkPort: 0xfe00, stackPort: 2 }]]),
    };
    const linked = managedState(s, initialFaucetConfig(), new Set(), new Map(), new Map(), linkedFacts);
    assert.deepEqual(linked.dps.map((d) => d.name).sort(), ['dovesnap-h', 'net1']);
    const text = renderFaucetConfig(initialFaucetConfig(), linked);
    assert.deepEqual(
      validateFaucetConfig(text).filter((p) => p.severity === 'error'),
      [],
    );
  });

  it('leaves stacking out of FAUCET (network DPs included) while its root is a DP FAUCET does not know: FAUCET would refuse the file', () => {
    const s = new StateStore();
    s.putNetwork(network('net1'));
    const facts = {
      dpName: 'dovesnap-h',
      dpId: 0x0e0f00n,
      priority1: 'ghost',
      interfaces: [{ remoteDp: 'ghost', remotePort: 3, interface: 'eth7', ofport: 1 }],
      links: new Map([[NET, { networkPort: 0xfe00, stackPort: 2 }]]),
      loopbacks: new Map<string, number>(),
      mirror: undefined,
    };
    const m = managedState(s, initialFaucetConfig(), new Set(), new Map(), new Map(), facts);
    assert.deepEqual(
      m.dps.map((d) => d.name),
      ['net1'],
    );
    assert.ok(
      m.dps[0]?.ports.every((p) => p.stack === undefined),
      'no stack port on the network either',
    );
    assert.deepEqual(
      validateFaucetConfig(renderFaucetConfig(initialFaucetConfig(), m)).filter((p) => p.severity === 'error'),
      [],
    );
  });
});
