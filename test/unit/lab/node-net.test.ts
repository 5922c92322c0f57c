import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renameSteps } from '../../../src/lab/node-net.js';
import { demultiplex } from '../../../src/lab/docker.js';
import { interfaceNetworks, parseOspfNeighbours, renderLabStatus, type LabStatus } from '../../../src/lab/status.js';
import { containerSpec } from '../../../src/lab/node-up.js';
import { parse } from './helpers.js';
import { labToDot } from '../../../src/lab/graph.js';

/** Applies rename steps to a set of names, failing on a name taken twice. */
function applySteps(names: string[], steps: [string, string][]): string[] {
  const cur = new Set(names);
  for (const [from, to] of steps) {
    assert.ok(cur.has(from), `${from} exists`);
    assert.ok(!cur.has(to), `${to} is free when taken`);
    cur.delete(from);
    cur.add(to);
  }
  return [...cur].sort();
}

describe('interface names', () => {
  it('Docker order eth0/eth1 becomes the declared eth2/eth1 (a swap through temporary names)', () => {
    const seen = [
      { name: 'eth0', mac: '02:00:00:00:00:01' },
      { name: 'eth1', mac: '02:00:00:00:00:02' },
    ];
    const wanted = [
      { name: 'eth2', macs: ['02:00:00:00:00:01'] },
      { name: 'eth0', macs: ['02:00:00:00:00:02'] },
    ];
    const steps = renameSteps(seen, wanted);
    assert.deepEqual(applySteps(['eth0', 'eth1'], steps), ['eth0', 'eth2']);
  });

  it('already right: nothing to do; MACs compare without case', () => {
    assert.deepEqual(
      renameSteps([{ name: 'eth1', mac: '02:AA:00:00:00:01' }], [{ name: 'eth1', macs: ['02:aa:00:00:00:01'] }]),
      [],
    );
  });

  it("an interface whose MAC the daemon's mac_prefix already changed is found by the prefixed MAC", () => {
    assert.deepEqual(
      renameSteps(
        [{ name: 'eth0', mac: '0e:99:00:00:00:01' }],
        [{ name: 'eth1', macs: ['02:42:00:00:00:01', '0e:99:00:00:00:01'] }],
      ),
      [
        ['eth0', 'dslab0'],
        ['dslab0', 'eth1'],
      ],
    );
  });

  it('a MAC the node lacks, or a name taken by an interface the lab did not make, is an error', () => {
    assert.throws(
      () => renameSteps([{ name: 'eth0', mac: '02:00:00:00:00:01' }], [{ name: 'eth1', macs: ['02:00:00:00:00:09'] }]),
      /no interface with MAC 02:00:00:00:00:09 \(for eth1\)/,
    );
    assert.throws(
      () =>
        renameSteps(
          [
            { name: 'eth0', mac: '02:00:00:00:00:01' },
            { name: 'wg0', mac: '02:00:00:00:00:05' },
          ],
          [{ name: 'wg0', macs: ['02:00:00:00:00:01'] }],
        ),
      /cannot name an interface wg0/,
    );
  });
});

describe("Docker's exec stream", () => {
  it('separates stdout and stderr frames', () => {
    const frame = (kind: number, text: string): Buffer => {
      const body = Buffer.from(text);
      const h = Buffer.alloc(8);
      h[0] = kind;
      h.writeUInt32BE(body.length, 4);
      return Buffer.concat([h, body]);
    };
    assert.deepEqual(demultiplex(Buffer.concat([frame(1, 'out1 '), frame(2, 'err'), frame(1, 'out2')])), {
      stdout: 'out1 out2',
      stderr: 'err',
    });
    assert.deepEqual(demultiplex(Buffer.from('plain text, no frames')), {
      stdout: 'plain text, no frames',
      stderr: '',
    });
  });
});

const STATUS: LabStatus = {
  name: 'ospf',
  file: '/x/ospf-lab.yaml',
  updated: '2026-12-06T00:00:00.000Z',
  nodes: [
    {
      name: 'r1',
      kind: 'router',
      container: 'ospf-r1',
      id: 'c1',
      state: 'running',
      interfaces: [
        { name: 'eth1', mac: '02:00:00:00:00:01', state: 'up', addresses: ['192.168.101.2/24'], network: 'uplink' },
      ],
      ospfNeighbours: [{ routerId: '192.168.102.2', state: 'Full/-', address: '192.168.102.2', interface: 'eth2' }],
    },
  ],
  networks: [
    {
      name: 'uplink',
      kind: 'segment',
      dockerName: 'ospf-uplink',
      id: 'n1',
      mode: 'nat',
      subnet: '192.168.101.0/24',
      bridge: 'ovsbr-n1',
      dpid: '0x1',
    },
  ],
};

describe('lab status', () => {
  it("reads FRR's OSPF neighbour JSON", () => {
    const json = JSON.stringify({
      neighbors: {
        '192.168.102.2': [
          {
            priority: 1,
            state: 'Full/-',
            deadTimeMsecs: 3500,
            address: '192.168.102.2',
            ifaceName: 'eth2:192.168.102.1',
          },
        ],
      },
    });
    assert.deepEqual(parseOspfNeighbours(json), [
      { routerId: '192.168.102.2', state: 'Full/-', address: '192.168.102.2', interface: 'eth2' },
    ]);
    assert.deepEqual(parseOspfNeighbours('{}'), []);
  });

  it("finds an interface's network by its declared name, so a mac: the lab set does not lose it", () => {
    const lab = parse(`name: t
networks:
  lan: { subnet: 10.0.1.0/24 }
links:
  - { name: p2p, endpoints: ["a:eth2", "b:eth2"], addresses: [10.0.2.1/30, 10.0.2.2/30] }
nodes:
  a:
    interfaces:
      eth1: { network: lan, address: 10.0.1.2/24, mac: "0e:37:00:00:00:01" }
  b: {}
`);
    const a = lab.nodes.find((n) => n.key === 'a')!;
    const spec = containerSpec({
      lab,
      node: a,
      image: 'x',
      workload: ['sleep', '1'],
      hash: 'h',
      networkIds: new Map(),
      progress: () => undefined,
    });
    const label = spec.Labels['dovesnap.lab.interfaces'];
    assert.equal(label, 'eth1=lan,eth2=p2p');
    // Docker still reports the MAC it chose for t-lan; the interface now has the declared one.
    const endpoints = { 't-lan': { MacAddress: '0e:aa:bb:cc:dd:01' }, 't-p2p': { MacAddress: '0e:aa:bb:cc:dd:02' } };
    const names = new Map([
      ['t-lan', 'lan'],
      ['t-p2p', 'p2p'],
    ]);
    const of = interfaceNetworks(label, endpoints, names);
    assert.equal(of('eth1', '0e:37:00:00:00:01'), 'lan');
    assert.equal(of('eth2', '0e:aa:bb:cc:dd:02'), 'p2p');
    assert.equal(of('lo', '00:00:00:00:00:00'), undefined);
    // A container made before the label: by Docker's MAC, as far as it goes.
    const old = interfaceNetworks(undefined, endpoints, names);
    assert.equal(old('eth2', '0E:AA:BB:CC:DD:02'), 'p2p');
    assert.equal(old('eth1', '0e:37:00:00:00:01'), undefined);
  });

  it('prints nodes, networks and OSPF neighbours', () => {
    const text = renderLabStatus(STATUS);
    assert.match(text, /^lab ospf \(\/x\/ospf-lab.yaml/);
    assert.match(text, /r1\s+router\s+running\s+ospf-r1\s+eth1 192\.168\.101\.2\/24 \(uplink\)/);
    assert.match(text, /uplink\s+segment\s+nat\s+192\.168\.101\.0\/24\s+ospf-uplink\s+ovsbr-n1\s+0x1/);
    assert.match(text, /r1\s+192\.168\.102\.2\s+Full\/-\s+192\.168\.102\.2\s+eth2/);
  });

  it('the graph has each node once, each network, and an edge per interface', () => {
    const dot = labToDot(STATUS, undefined);
    assert.match(dot, /"node:r1" \[shape=component/);
    assert.match(dot, /"net:uplink" \[shape=box/);
    assert.match(dot, /"gw:uplink" \[shape=house/);
    assert.match(
      dot,
      /"net:uplink" -- "node:r1" \[label="eth1 192\.168\.101\.2\/24"\]/,
      'oriented from the host outward',
    );
    assert.match(dot, /OSPF: 1\/1 Full/);
  });
});
