import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLab } from '../../../src/lab/load.js';
import { chainAddresses, chainLab, chainNeighbours } from '../../../bench/lab-chain.js';
import {
  allFull,
  classifyStep,
  ospfNeighbourStates,
  ospfSelectedPrefixes,
  parseProgress,
  reportedSeconds,
  upPhases,
} from '../../../bench/lab-parse.js';
import { firstSuccess } from '../../../bench/lab-probe.js';

const REPO = new URL('../../../..', import.meta.url).pathname;

/** The config text of a node's /etc/frr/frr.conf. */
function frrConf(lab: ReturnType<typeof parseLab>, key: string): string {
  const f = lab.nodes.find((n) => n.key === key)?.files.find((x) => x.path === '/etc/frr/frr.conf');
  assert.ok(f !== undefined, `${key} has an frr.conf`);
  return f.content;
}

describe('bench: the chain lab generator', () => {
  for (const k of [2, 4, 8, 64]) {
    it(`a chain of ${k} is a lab parseLab accepts: ${k} routers and a host, uplink, hosts segment and ${k - 1} links`, () => {
      const lab = parseLab(chainLab({ routers: k, name: `bench-chain${k}`, third: 20 }), `/tmp/bench-chain${k}.yaml`);
      assert.equal(lab.name, `bench-chain${k}`);
      assert.deepEqual(
        lab.nodes.map((n) => `${n.key} ${n.kind}`),
        [...Array.from({ length: k }, (_, i) => `r${i + 1} router`), 'h1 host'],
      );
      const segments = lab.networks.filter((n) => n.kind === 'segment');
      assert.deepEqual(
        segments.map((n) => `${n.key} ${n.mode} ${n.subnet ?? ''}`),
        ['uplink nat 10.238.20.0/24', 'hosts flat '],
      );
      assert.deepEqual(lab.networks.find((n) => n.key === 'uplink')?.hostRoutes, [
        { prefix: '10.238.21.0/24', via: '10.238.20.2' },
        { prefix: '10.238.22.0/24', via: '10.238.20.2' },
      ]);
      const links = lab.networks.filter((n) => n.kind === 'link');
      assert.equal(links.length, k - 1);
      assert.equal(links[0]?.key, 'r1-eth2-r2-eth1');
      // Each router: eth1 towards the uplink or the previous router, eth2 towards the next or the hosts.
      for (let i = 1; i <= k; i++) {
        const r = lab.nodes.find((n) => n.key === `r${i}`);
        assert.deepEqual(
          r?.interfaces.map((x) => x.name),
          ['eth1', 'eth2'],
        );
      }
      const addresses = lab.nodes.flatMap((n) => n.interfaces.map((x) => x.address ?? ''));
      assert.equal(new Set(addresses).size, addresses.length, 'no address twice');
      assert.ok(
        addresses.every((a) => a.startsWith('10.238.')),
        'every address in 10.238.0.0/16',
      );
      const h1 = lab.nodes.find((n) => n.key === 'h1');
      assert.deepEqual(h1?.waitFor, [`r${k}`]);
      assert.deepEqual(h1?.routes, [{ dst: 'default', via: '10.238.22.1' }]);
      assert.deepEqual(lab.nodes.find((n) => n.key === 'r1')?.routes, [{ dst: 'default', via: '10.238.20.1' }]);
      const ids = lab.nodes
        .filter((n) => n.kind === 'router')
        .map((n) => /ospf router-id (\S+)/.exec(frrConf(lab, n.key))?.[1]);
      assert.equal(new Set(ids).size, k, 'router IDs are unique');
    });
  }

  it('OSPF: point-to-point, hello 1, dead 4 on every link interface; passive towards the uplink and the hosts; r1 originates the default', () => {
    const lab = parseLab(chainLab({ routers: 3, name: 'bench-chain3', third: 0 }), '/tmp/c.yaml');
    const r1 = frrConf(lab, 'r1');
    const r2 = frrConf(lab, 'r2');
    const r3 = frrConf(lab, 'r3');
    assert.match(
      r1,
      /interface eth2\n ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n/,
    );
    assert.doesNotMatch(r1, /^interface eth1/m);
    assert.match(r1, /passive-interface eth1/);
    assert.match(r1, /network 10\.238\.0\.0\/24 area 0/);
    assert.match(r1, /default-information originate always/);
    for (const ifc of ['eth1', 'eth2'])
      assert.match(
        r2,
        new RegExp(
          `interface ${ifc}\\n ip ospf network point-to-point\\n ip ospf hello-interval 1\\n ip ospf dead-interval 4\\n`,
        ),
      );
    assert.doesNotMatch(r2, /passive-interface|default-information|10\.238\.0\.0|10\.238\.2\.0/);
    assert.match(r3, /passive-interface eth2/);
    assert.match(r3, /network 10\.238\.2\.0\/24 area 0/);
    assert.doesNotMatch(r3, /default-information/);
  });

  it('a chain of 2 is the shape of examples/ospf-lab.yaml', () => {
    const chain = parseLab(chainLab({ routers: 2, name: 'ospf', third: 0 }), '/tmp/c.yaml');
    const example = parseLab(
      readFileSync(join(REPO, 'examples/ospf-lab.yaml'), 'utf8'),
      join(REPO, 'examples/ospf-lab.yaml'),
    );
    const shape = (l: typeof chain): string[] => [
      ...l.networks.map((n) => `${n.kind} ${n.key} ${n.mode} ${n.hostRoutes.length}`),
      ...l.nodes.map(
        (n) =>
          `${n.key} ${n.kind} ${n.interfaces.map((i) => `${i.name}@${i.network}`).join(',')} ${n.routes.length} ${n.waitFor.join(',')}`,
      ),
    ];
    assert.deepEqual(
      shape(chain).sort(),
      shape(example)
        .map((x) => x.replace('inside', 'hosts'))
        .sort(),
    );
  });

  it('addresses and neighbours for the probes', () => {
    assert.deepEqual(chainAddresses({ routers: 4, name: 'x', third: 8 }), {
      uplinkGateway: '10.238.8.1',
      uplinkSubnet: '10.238.8.0/24',
      linkSubnet: '10.238.9.0/24',
      hostsSubnet: '10.238.10.0/24',
      host: '10.238.10.2',
    });
    assert.deepEqual(
      [...chainNeighbours(4)],
      [
        ['r1', 1],
        ['r2', 2],
        ['r3', 2],
        ['r4', 1],
      ],
    );
    assert.deepEqual(
      [...chainNeighbours(2)],
      [
        ['r1', 1],
        ['r2', 1],
      ],
    );
  });

  it('refuses what it cannot make, naming the option and the value', () => {
    assert.throws(() => chainLab({ routers: 1, name: 'x', third: 0 }), /--chain: a chain has 2\.\.64 routers .*got 1/);
    assert.throws(() => chainLab({ routers: 65, name: 'x', third: 0 }), /got 65/);
    assert.throws(() => chainLab({ routers: 2.5, name: 'x', third: 0 }), /got 2\.5/);
    assert.throws(() => chainLab({ routers: 2, name: 'x', third: 253 }), /third octet: 0\.\.252.*got 253/);
    assert.throws(() => chainLab({ routers: 2, name: 'Bench', third: 0 }), /lab name: .*got "Bench"/);
  });
});

const UP_STDERR = `[   0.1s] image frr: dovesnap-lab-frr:ee96bea4ce54 is here
[   0.1s] image host: dovesnap-lab-host:6c86e94dd706 is here
[   0.1s] network uplink: create bench-ospf-uplink (nat 192.168.101.0/24)
[   0.2s] network inside: create bench-ospf-inside (flat)
[   0.3s] node r1: create the container
[   0.3s] node r1: connect eth2 to bench-ospf-r1-eth2-r2-eth1
[   0.3s] node r1: start the container
[   1.0s] node r1: wait for the container
[   1.0s] node r1: name the interfaces eth1, eth2
[   1.0s] node r1: address eth2
[   1.0s] node r1: route default via 192.168.101.1
[   1.0s] node r1: wait for carrier
[   1.6s] node r1: place /etc/frr/frr.conf
[   1.6s] node r1: start the workload
[   1.7s] node r1: up (1.3 s)
[   1.7s] node h1: create the container
[   1.8s] node h1: start the container
[   2.1s] node h1: name the interfaces eth1
[   2.2s] node h1: exec #1 (echo hi)
`;

describe('bench: reading lab up and FRR', () => {
  it('parses the progress lines and skips anything else', () => {
    const steps = parseProgress(`noise\n${UP_STDERR}dovesnap: warning\n`);
    assert.equal(steps.length, 19);
    assert.deepEqual(steps[0], { at: 0.1, what: 'image frr: dovesnap-lab-frr:ee96bea4ce54 is here' });
    assert.deepEqual(steps.at(-1), { at: 2.2, what: 'node h1: exec #1 (echo hi)' });
  });

  it('classifies the steps of up and down', () => {
    assert.equal(classifyStep('network uplink: create bench-ospf-uplink (nat 192.168.101.0/24)'), 'networks');
    assert.equal(classifyStep('node r1: connect eth2 to x'), 'docker');
    assert.equal(classifyStep("node r1: set eth1's MAC"), 'setup');
    assert.equal(classifyStep("node h1: restart eth1's DHCP client"), 'setup');
    assert.equal(classifyStep('node r1: wait for carrier'), 'carrier');
    assert.equal(classifyStep('node r1: remove bench-ospf-r1 (changed)'), 'removals');
    assert.equal(classifyStep('network uplink: remove bench-ospf-uplink'), 'removals');
    assert.equal(classifyStep('acls: add a'), 'acls');
    assert.equal(classifyStep('something new'), 'other');
  });

  it("splits up's time into phases that add up to its own elapsed time", () => {
    const p = upPhases(parseProgress(UP_STDERR), 2.5);
    assert.deepEqual(p, {
      plan: 0.1,
      images: 0,
      networks: 0.2,
      docker: 1.1,
      setup: 0.1,
      carrier: 0.6,
      workload: 0.4,
      removals: 0,
      acls: 0,
      other: 0,
    });
    const sum = Object.values(p).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 2.5) < 1e-9, `sum ${sum}`);
    assert.deepEqual(upPhases([], 0.6).plan, 0.6, 'a no-op up is all planning');
  });

  it("reads the CLI's own elapsed seconds", () => {
    assert.equal(
      reportedSeconds(
        'lab bench-ospf: 6 changes\n  + x\nlab bench-ospf is up (2.4 s): 3 networks created, 3 nodes created\n',
      ),
      2.4,
    );
    assert.equal(reportedSeconds('lab bench-ospf is down (1.3 s): 3 containers and 3 networks removed'), 1.3);
    assert.equal(reportedSeconds('lab bench-ospf is up to date: nothing to change'), undefined);
  });

  it('reads OSPF neighbour states (FRR 8 and older) and counts only all-Full with the expected number', () => {
    const frr8 = JSON.stringify({
      neighbors: { '10.0.0.2': [{ nbrState: 'Full/-' }], '10.0.0.3': [{ nbrState: 'Init/-' }] },
    });
    assert.deepEqual(ospfNeighbourStates(frr8), ['Full/-', 'Init/-']);
    assert.deepEqual(ospfNeighbourStates(JSON.stringify({ neighbors: { a: [{ state: 'Full/DR' }] } })), ['Full/DR']);
    assert.deepEqual(ospfNeighbourStates('{"neighbors":{}}'), []);
    assert.equal(allFull(['Full/-', 'Full/DR'], 2), true);
    assert.equal(allFull(['Full/-'], 2), false, 'a neighbour missing');
    assert.equal(allFull(['Full/-', 'ExStart/-'], 2), false);
    assert.equal(allFull(['Fullish'], 1), false);
    assert.equal(allFull([], 0), true);
  });

  it('reads the prefixes whose selected route is from OSPF', () => {
    const doc = {
      '0.0.0.0/0': [{ protocol: 'ospf', selected: true }],
      '192.168.102.0/24': [{ protocol: 'ospf' }],
      '192.168.101.0/24': [{ protocol: 'connected', selected: true }, { protocol: 'ospf' }],
    };
    assert.deepEqual(ospfSelectedPrefixes(JSON.stringify(doc)), ['0.0.0.0/0']);
  });
});

describe('bench: firstSuccess', () => {
  it('overlapping attempts: a slow failing one does not hold back a later success', async () => {
    let calls = 0;
    const t0 = Date.now();
    const at = await firstSuccess(
      async () => {
        const n = ++calls;
        // The first attempt hangs for 1 s (a lost SYN); the third succeeds at once.
        await new Promise((r) => setTimeout(r, n === 1 ? 1000 : 5));
        return n >= 3;
      },
      { intervalMs: 20, timeoutMs: 5000, maxInFlight: 4 },
    );
    assert.ok(at - t0 < 500, `succeeded after ${at - t0} ms, not after the first attempt's second`);
    assert.ok(calls >= 3);
  });

  it('counts a throwing attempt as a failure, keeps at most maxInFlight running, and times out', async () => {
    let running = 0;
    let peak = 0;
    await assert.rejects(
      firstSuccess(
        async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 50));
          running--;
          throw new Error('no route');
        },
        { intervalMs: 5, timeoutMs: 200, maxInFlight: 2 },
      ),
      /no success within 200 ms/,
    );
    assert.equal(peak, 2);
  });
});
