import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Lab, LabNetwork, LabNode } from '../../../src/lab/model.js';
import {
  planLab,
  planChanges,
  renderPlan,
  startOrder,
  type DesiredHashes,
  type RunningLab,
  type RunningObject,
} from '../../../src/lab/plan.js';
import { networkHash, nodeHash } from '../../../src/lab/identity.js';
import { canonicalJson } from '../../../src/util/canonical-json.js';

const net = (key: string, extra: Partial<LabNetwork> = {}): LabNetwork => ({
  key,
  kind: 'segment',
  dockerName: `t-${key}`,
  mode: 'flat',
  internal: true,
  options: {},
  hostRoutes: [],
  ...extra,
});
const node = (key: string, nets: string[], extra: Partial<LabNode> = {}): LabNode => ({
  key,
  containerName: `t-${key}`,
  kind: 'host',
  recipe: 'host',
  interfaces: nets.map((n, i) => ({ name: `eth${i + 1}`, network: n })),
  routes: [],
  labels: {},
  sysctls: {},
  capAdd: [],
  env: {},
  binds: [],
  files: [],
  exec: [],
  waitFor: [],
  ...extra,
});

const lab: Lab = {
  name: 't',
  file: '/t.yaml',
  acls: [],
  networks: [net('a'), net('b')],
  nodes: [node('h2', ['b'], { waitFor: ['r'] }), node('r', ['a', 'b']), node('h1', ['a'], { waitFor: ['r'] })],
};

function hashesOf(l: Lab): DesiredHashes {
  const networks = new Map(l.networks.map((n) => [n.key, networkHash(n)]));
  return {
    networks,
    nodes: new Map(
      l.nodes.map((n) => [
        n.key,
        nodeHash(
          n,
          'img',
          n.interfaces.map((i) => networks.get(i.network) ?? ''),
        ),
      ]),
    ),
  };
}

/** What runs when `l` was brought up exactly. */
function runningOf(
  l: Lab,
  patch: (o: { kind: 'node' | 'network'; key: string; obj: RunningObject }) => RunningObject | undefined = ({ obj }) =>
    obj,
): RunningLab {
  const h = hashesOf(l);
  const networks = new Map<string, RunningObject>();
  const nodes = new Map<string, RunningObject>();
  for (const n of l.networks) {
    const o = patch({
      kind: 'network',
      key: n.key,
      obj: { id: `id-${n.key}`, dockerName: n.dockerName, hash: h.networks.get(n.key) ?? '' },
    });
    if (o !== undefined) networks.set(n.key, o);
  }
  for (const n of l.nodes) {
    const o = patch({
      kind: 'node',
      key: n.key,
      obj: {
        id: `id-${n.key}`,
        dockerName: n.containerName,
        hash: h.nodes.get(n.key) ?? '',
        running: true,
        ready: true,
      },
    });
    if (o !== undefined) nodes.set(n.key, o);
  }
  return { networks, nodes };
}

const changes = (plan: ReturnType<typeof planLab>): string[] =>
  [
    ...plan.networks.map((o) => `net ${o.key} ${o.change}`),
    ...plan.nodes.map((o) => `node ${o.key} ${o.change}`),
  ].filter((s) => !s.endsWith('keep'));

describe('lab plan', () => {
  it('from nothing: every network and node is created, nodes after those they wait for', () => {
    const plan = planLab(lab, hashesOf(lab), { networks: new Map(), nodes: new Map() });
    assert.deepEqual(
      plan.networks.map((o) => o.change),
      ['create', 'create'],
    );
    assert.deepEqual(
      plan.nodes.map((o) => o.key),
      ['r', 'h2', 'h1'],
    );
    assert.equal(planChanges(plan), 5);
  });

  it('unchanged: nothing to do, and the dry run says so', () => {
    const plan = planLab(lab, hashesOf(lab), runningOf(lab));
    assert.equal(planChanges(plan), 0);
    assert.equal(renderPlan(plan), 'lab t is up to date: nothing to change\n');
  });

  it('one node edited: only it is recreated', () => {
    const edited: Lab = { ...lab, nodes: lab.nodes.map((n) => (n.key === 'h1' ? { ...n, env: { A: '1' } } : n)) };
    const plan = planLab(edited, hashesOf(edited), runningOf(lab));
    assert.deepEqual(changes(plan), ['node h1 recreate']);
    assert.match(renderPlan(plan), /~ node t-h1: recreate \(its definition changed\)/);
    assert.match(renderPlan(plan), /= unchanged: t-a, t-b, t-r, t-h2/);
  });

  it('a node added: only it is created', () => {
    const grown: Lab = { ...lab, nodes: [...lab.nodes, node('h3', ['b'], { waitFor: ['r'] })] };
    assert.deepEqual(changes(planLab(grown, hashesOf(grown), runningOf(lab))), ['node h3 create']);
  });

  it('a network edited: it and every node on it are made anew, the others kept', () => {
    const edited: Lab = {
      ...lab,
      networks: lab.networks.map((n) => (n.key === 'a' ? { ...n, options: { 'ovs.bridge.vlan': '7' } } : n)),
    };
    const plan = planLab(edited, hashesOf(edited), runningOf(lab));
    assert.deepEqual(changes(plan), ['net a recreate', 'node r recreate', 'node h1 recreate']);
    assert.equal(plan.nodes.find((o) => o.key === 'r')?.reason, 'its network a is made anew');
  });

  it('what left the file is removed; a stopped or unfinished node is made anew', () => {
    const shrunk: Lab = { ...lab, nodes: lab.nodes.filter((n) => n.key !== 'h2') };
    const running = runningOf(lab, ({ key, obj }) =>
      key === 'h1' ? { ...obj, running: false } : key === 'r' ? { ...obj, ready: false } : obj,
    );
    const plan = planLab(shrunk, hashesOf(shrunk), running);
    assert.deepEqual(changes(plan).sort(), ['node h1 recreate', 'node h2 remove', 'node r recreate']);
    assert.equal(plan.nodes.find((o) => o.key === 'h1')?.reason, 'it is not running');
    assert.equal(plan.nodes.find((o) => o.key === 'r')?.reason, 'its set-up was not finished');
  });

  it('start order honours wait-for chains and refuses a cycle', () => {
    const chain: Lab = {
      ...lab,
      nodes: [node('c', [], { waitFor: ['b'] }), node('b', [], { waitFor: ['a'] }), node('a', [])],
    };
    assert.deepEqual(startOrder(chain), ['a', 'b', 'c']);
    const cyc: Lab = { ...lab, nodes: [node('x', [], { waitFor: ['y'] }), node('y', [], { waitFor: ['x'] })] };
    assert.throws(() => startOrder(cyc), /wait-for cycle: x -> y -> x/);
  });

  it('hashes do not depend on key order, and change with the image', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: undefined } }),
      '{"a":{"d":[1,{"e":3,"f":2}]},"b":1}',
    );
    const n = node('x', ['a']);
    assert.equal(nodeHash(n, 'img', ['h']), nodeHash({ ...n }, 'img', ['h']));
    assert.notEqual(nodeHash(n, 'img', ['h']), nodeHash(n, 'img2', ['h']));
    assert.notEqual(nodeHash(n, 'img', ['h']), nodeHash(n, 'img', ['h2']));
  });
});
