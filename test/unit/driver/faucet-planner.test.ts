import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  blockedChanges,
  type Confirmed,
  deferral,
  type FaucetFacts,
  type FaucetPlanInput,
  mirroredIn,
  mirroredNumbers,
  mistakenEarly,
  NO_RENDER,
  type Plan,
  planFaucet,
  planSpares,
  readyEntries,
  rememberRender,
  renderPlan,
  runsEntry,
  scaledDeferPolicy,
} from '../../../src/driver/faucet-planner.js';
import { SPARE_DESCRIPTION } from '../../../src/driver/faucet-plan.js';
import { ExtId } from '../../../src/driver/persist.js';
import { READY_DESCRIPTION } from '../../../src/driver/port-pool.js';
import { endpointRecord, StateStore } from '../../../src/driver/state.js';
import { FaucetConfigReader } from '../../../src/faucet/config-facts.js';
import type { FaucetDpSpec } from '../../../src/faucet/types.js';
import { parseContainerLabels } from '../../../src/model/labels.js';
import { vethNamesFor } from '../../../src/net/links.js';
import type { PortState } from '../../../src/ovs/vswitch.js';
import { localNetwork } from '../../fakes/network-record.js';

/**
 * planFaucet and its parts are pure: each case builds the model, the facts and what FAUCET
 * runs, and reads the decision. (driver/faucet-view.ts's tests drive the same through FAUCET.)
 */

const NET = 'a1'.repeat(32);
const OPERATOR = `acls:
  allow:
    - rule:
        actions: {allow: 1}
  outbound:
    - rule:
        actions: {allow: 1}
vlans:
  office:
    vid: 300
    acls_out: [outbound]
`;

interface Ep {
  readonly id: string;
  readonly ofport: number;
  /** Undefined: the container is not known yet (CreateEndpoint done, Join not yet). */
  readonly container?: string;
  readonly labels?: Record<string, string>;
  readonly blockedReason?: string;
}

interface World {
  readonly state: StateStore;
  readonly facts: FaucetFacts;
}

const ep = (n: number, more: Partial<Ep> = {}): Ep => ({
  id: `e${n}`.padEnd(64, '0'),
  ofport: n,
  container: `/c${n}`,
  ...more,
});

function port(name: string, ofport: number, externalIds: Record<string, string> = {}): PortState {
  return { name, uuid: name, ofport, ofportRequest: undefined, type: '', error: undefined, externalIds };
}

function world(
  endpoints: readonly Ep[],
  opts: { raw?: Record<string, string>; text?: string; ports?: readonly PortState[] } = {},
): World {
  const rawOptions = { 'ovs.bridge.dpid': '0x10', ...opts.raw };
  const net = localNetwork(NET, 'net1', rawOptions);
  const state = new StateStore();
  state.putNetwork(net);
  const ports: PortState[] = [...(opts.ports ?? [])];
  for (const e of endpoints) {
    const names = vethNamesFor(e.id);
    const labels = e.labels ?? {};
    state.putEndpoint(
      endpointRecord({
        id: e.id,
        networkId: NET,
        hostIf: names.host,
        containerIf: names.container,
        mac: '0e:00:00:00:00:01',
        ofport: e.ofport,
        blockedReason: e.blockedReason,
        container: e.container === undefined ? undefined : { id: e.id.replace(/^e/, 'c'), name: e.container, labels },
        labels: e.container === undefined ? undefined : parseContainerLabels(labels, 'net1'),
      }),
    );
    ports.push(port(names.host, e.ofport, { [ExtId.networkId]: NET, [ExtId.endpointId]: e.id }));
  }
  const text = opts.text ?? OPERATOR;
  return {
    state,
    facts: { text, config: new FaucetConfigReader().facts(text), ports: new Map([[NET, ports]]) },
  };
}

const SETTINGS = { readyPorts: 0, sparePorts: 8 };
const DEFER = { quietMs: 5_000, maxDeferMs: 60_000 };

function input(w: World, more: Partial<FaucetPlanInput> = {}): FaucetPlanInput {
  return {
    state: w.state,
    settings: SETTINGS,
    facts: w.facts,
    memory: NO_RENDER,
    openedEarly: new Set(),
    deferred: undefined,
    defer: DEFER,
    force: false,
    ...more,
  };
}

/** What FAUCET runs after it confirmed a render of `w` (with the file as `w` has it). */
function confirmedOf(w: World): Confirmed {
  const plan = renderPlan(w.state, w.facts, planSpares(w.state, SETTINGS, w.facts, NO_RENDER, undefined));
  return { plan, text: w.facts.text };
}

const spareNumbers = (p: Plan): number[] =>
  (p.managed.dps.find((d) => d.name === 'net1')?.ports ?? [])
    .filter((x) => x.description === SPARE_DESCRIPTION)
    .map((x) => x.number);

describe('planFaucet: spare entries', () => {
  const cases: {
    name: string;
    endpoints: readonly Ep[];
    settings?: { readyPorts: number; sparePorts: number };
    raw?: Record<string, string>;
    text?: string;
    ports?: readonly PortState[];
    spares: readonly number[];
  }[] = [
    { name: 'a new network gets the floor', endpoints: [], spares: [1, 2, 3, 4, 5, 6, 7, 8] },
    {
      name: "containers' numbers are never spares",
      endpoints: [ep(1), ep(2)],
      spares: [3, 4, 5, 6, 7, 8, 9, 10],
    },
    {
      name: "an unresolved container's number may stay a spare (its port is down)",
      endpoints: [ep(1, { container: undefined })],
      spares: [1, 2, 3, 4, 5, 6, 7, 8],
    },
    {
      name: 'a port dovesnap keeps closed never becomes a spare',
      endpoints: [ep(1, { labels: { 'dovesnap.faucet.portacl': 'missing' } })],
      spares: [2, 3, 4, 5, 6, 7, 8, 9],
    },
    {
      name: 'a hand-added port keeps its number',
      endpoints: [],
      ports: [port('eth9', 2)],
      spares: [1, 3, 4, 5, 6, 7, 8, 9],
    },
    {
      name: 'no spares when DOVESNAP_SPARE_PORTS=0',
      endpoints: [ep(1)],
      settings: { readyPorts: 0, sparePorts: 0 },
      spares: [],
    },
    {
      name: 'preallocate_ports: its N entries stay on top of the spares',
      endpoints: [],
      settings: { readyPorts: 0, sparePorts: 2 },
      raw: { 'ovs.bridge.preallocate_ports': '4' },
      spares: [1, 2, 3, 4],
    },
    {
      name: 'preallocate_ports with ready ports: none of its own (its N are ready ports)',
      endpoints: [],
      settings: { readyPorts: 16, sparePorts: 2 },
      raw: { 'ovs.bridge.preallocate_ports': '6' },
      spares: [1, 2],
    },
    {
      name: 'a network with ready ports keeps the floor however many containers it has',
      endpoints: Array.from({ length: 40 }, (_, i) => ep(i + 1)),
      settings: { readyPorts: 16, sparePorts: 64 },
      spares: [41, 42, 43, 44, 45, 46, 47, 48],
    },
    {
      name: 'after a restart, the spares FAUCET runs are kept',
      endpoints: [],
      text: `${OPERATOR}dps:
  net1:
    dp_id: 16
    description: "dovesnap network ${NET}"
    interfaces:
      20: {native_vlan: 100, description: "${SPARE_DESCRIPTION}"}
      21: {native_vlan: 100, description: "${SPARE_DESCRIPTION}"}
`,
      spares: [20, 21],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const w = world(c.endpoints, {
        ...(c.raw && { raw: c.raw }),
        ...(c.text && { text: c.text }),
        ...(c.ports && { ports: c.ports }),
      });
      const out = planFaucet(input(w, { settings: c.settings ?? SETTINGS }), undefined, 0);
      assert.deepEqual(out.wanted.spares.get(NET), c.spares);
      assert.deepEqual(spareNumbers(out.wanted), c.spares, 'the managed document has an entry for each');
    });

  it('the next render keeps what the last one gave out (taking a spare changes nothing else)', () => {
    const before = world([]);
    const first = planFaucet(input(before), undefined, 0).wanted;
    const after = world([ep(1)]);
    const memory = rememberRender(after.state, first);
    assert.deepEqual(planFaucet(input(after, { memory }), undefined, 0).wanted.spares.get(NET), [2, 3, 4, 5, 6, 7, 8]);
  });

  it('a number FAUCET still mirrors, confirmed or last given, is no spare', () => {
    const w = world([]);
    const mirroring = withMirror(confirmedOf(w).plan, [3]);
    for (const [confirmed, last] of [
      [{ plan: mirroring, text: w.facts.text }, undefined],
      [undefined, mirroring],
    ] as const) {
      const spares = planSpares(w.state, SETTINGS, w.facts, { ...NO_RENDER, last }, confirmed);
      assert.equal(spares.get(NET)?.includes(3), false);
    }
  });
});

/** `plan` with one more port (number 99) mirroring `numbers`. */
function withMirror(plan: Plan, numbers: readonly number[], capture = false): Plan {
  const dps: FaucetDpSpec[] = plan.managed.dps.map((d) =>
    d.name !== 'net1'
      ? d
      : {
          ...d,
          ports: [
            ...d.ports,
            { number: 99, description: 'mirror', mirror: numbers, ...(capture && { capture: true as const }) },
          ],
        },
  );
  return { ...plan, managed: { ...plan.managed, dps } };
}

describe('planFaucet: write or raise', () => {
  it('FAUCET runs nothing yet: a write', () => {
    const out = planFaucet(input(world([ep(1)])), undefined, 0);
    assert.equal(out.action.kind, 'write');
  });

  const cases: {
    name: string;
    change: (w: World) => World;
    force?: boolean;
    kind: 'write' | 'raise';
    deferred?: boolean;
  }[] = [
    { name: 'nothing new: raise, nothing deferred', change: (w) => w, kind: 'raise', deferred: false },
    {
      name: 'a container takes a spare entry: raise at once, the name waits',
      change: () => world([ep(1)]),
      kind: 'raise',
      deferred: true,
    },
    {
      name: 'the same, forced (the deferred names are due): a write',
      change: () => world([ep(1)]),
      force: true,
      kind: 'write',
    },
    {
      name: "an operator's edit since the confirmed write: a write, even with nothing new to say",
      change: () => world([], { text: `${OPERATOR}# edited\n` }),
      kind: 'write',
    },
    {
      name: 'a container whose label names an ACL: a write (its entry differs)',
      change: () => world([ep(1, { labels: { 'dovesnap.faucet.portacl': 'allow' } })]),
      kind: 'write',
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const base = world([]);
      const confirmed = confirmedOf(base);
      const w = c.change(base);
      const memory = rememberRender(w.state, confirmed.plan);
      const out = planFaucet(input(w, { memory, force: c.force ?? false }), confirmed, 1_000);
      assert.equal(out.action.kind, c.kind);
      if (out.action.kind === 'raise') {
        assert.deepEqual([...out.action.raise], [...out.wanted.opened]);
        assert.equal(out.action.defer !== undefined, c.deferred);
        if (c.deferred) assert.equal(out.action.defer?.at, 1_000 + DEFER.quietMs);
      }
    });

  it('a write raises first the ports whose entry FAUCET already runs unchanged, not the one whose entry changes', () => {
    const base = world([]);
    const confirmed = confirmedOf(base);
    const w = world([ep(1), ep(2, { labels: { 'dovesnap.faucet.portacl': 'allow' } })]);
    const out = planFaucet(input(w, { memory: rememberRender(w.state, confirmed.plan) }), confirmed, 0);
    assert.equal(out.action.kind, 'write');
    if (out.action.kind === 'write') assert.deepEqual([...out.action.raiseFirst], [ep(1).id]);
  });

  it('a sync finding the same names waiting keeps their time (the periodic check does not push the write back)', () => {
    const confirmed = confirmedOf(world([]));
    const w = world([ep(1)]);
    const memory = rememberRender(w.state, confirmed.plan);
    const first = planFaucet(input(w, { memory }), confirmed, 1_000);
    assert.equal(first.action.kind, 'raise');
    const waiting = first.action.kind === 'raise' ? first.action.defer : undefined;
    const again = planFaucet(input(w, { memory, deferred: waiting }), confirmed, 4_000);
    assert.equal(again.action.kind === 'raise' && again.action.defer, waiting);
  });
});

describe('deferral: the quiet period and its cap', () => {
  const a = { at: 6_000, firstAt: 1_000, full: 'a' };
  const cases: { name: string; waiting: typeof a | undefined; full: string; now: number; want: typeof a }[] = [
    { name: 'first: quiet from now', waiting: undefined, full: 'a', now: 1_000, want: a },
    { name: 'the same names: unchanged', waiting: a, full: 'a', now: 4_000, want: a },
    {
      name: 'new names: quiet again from now',
      waiting: a,
      full: 'b',
      now: 4_000,
      want: { at: 9_000, firstAt: 1_000, full: 'b' },
    },
    {
      name: 'never later than maxDeferMs after the first',
      waiting: a,
      full: 'c',
      now: 58_000,
      want: { at: 61_000, firstAt: 1_000, full: 'c' },
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const got = deferral(c.waiting, c.full, c.now, DEFER);
      assert.deepEqual(got, c.want);
      if (c.waiting?.full === c.full) assert.equal(got, c.waiting, 'the very same deferral: its timer stays');
    });
});

describe('scaledDeferPolicy: names wait longer when a reload costs FAUCET more', () => {
  it('the base ceiling until a write took a tenth of it; ten times the write beyond', () => {
    assert.equal(scaledDeferPolicy(DEFER, undefined), DEFER);
    assert.equal(scaledDeferPolicy(DEFER, 150), DEFER);
    assert.deepEqual(scaledDeferPolicy(DEFER, 15_000), { ...DEFER, maxDeferMs: 150_000 });
    assert.equal(scaledDeferPolicy(DEFER, 15_000).quietMs, DEFER.quietMs);
  });
});

describe('planFaucet: blocked reasons', () => {
  const cases: { name: string; e: Ep; reason: RegExp | undefined; changes: boolean }[] = [
    { name: 'no label: open', e: ep(1), reason: undefined, changes: false },
    {
      name: 'an ACL faucet.yaml defines: open',
      e: ep(1, { labels: { 'dovesnap.faucet.portacl': 'allow' } }),
      reason: undefined,
      changes: false,
    },
    {
      name: 'an ACL faucet.yaml does not define: closed',
      e: ep(1, { labels: { 'dovesnap.faucet.portacl': 'missing' } }),
      reason: /does not define/,
      changes: true,
    },
    {
      name: "a VLAN's output ACL: closed",
      e: ep(1, { labels: { 'dovesnap.faucet.portacl': 'outbound' } }),
      reason: /output ACL/,
      changes: true,
    },
    {
      name: 'blocked before, its ACL defined now: open again',
      e: ep(1, { labels: { 'dovesnap.faucet.portacl': 'allow' }, blockedReason: 'was missing' }),
      reason: undefined,
      changes: true,
    },
    {
      name: 'the same reason as recorded: no change',
      e: ep(1, {
        labels: { 'dovesnap.faucet.portacl': 'missing' },
        blockedReason: "label dovesnap.faucet.portacl names ACL missing that FAUCET's configuration does not define",
      }),
      reason: /does not define/,
      changes: false,
    },
    {
      name: 'a port whose container is not known yet: not looked at',
      e: ep(1, { container: undefined }),
      reason: undefined,
      changes: false,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const w = world([c.e]);
      const out = planFaucet(input(w), undefined, 0);
      assert.deepEqual(out.blocked, blockedChanges(w.state, w.facts.config));
      assert.equal(out.blocked.length, c.changes ? 1 : 0);
      const change = out.blocked[0];
      if (c.changes && c.reason === undefined) assert.equal(change?.reason, undefined);
      if (c.changes && c.reason !== undefined) assert.match(change?.reason ?? '', c.reason);
      assert.equal(out.wanted.opened.has(c.e.id), c.reason === undefined && c.e.container !== undefined);
    });
});

describe('planFaucet: ports opened at CreateEndpoint', () => {
  const cases: { name: string; endpoints: readonly Ep[]; settled: boolean; close: boolean }[] = [
    {
      name: 'its container not known yet: watched on',
      endpoints: [ep(1, { container: undefined })],
      settled: false,
      close: false,
    },
    { name: 'gone: forgotten', endpoints: [], settled: true, close: false },
    {
      name: 'unlabelled, the spare entry it ran under is its own: left open',
      endpoints: [ep(1)],
      settled: true,
      close: false,
    },
    {
      name: 'its label names an ACL (its own entry differs): closed',
      endpoints: [ep(1, { labels: { 'dovesnap.faucet.portacl': 'allow' } })],
      settled: true,
      close: true,
    },
    {
      name: 'dovesnap keeps it closed: closed',
      endpoints: [ep(1, { labels: { 'dovesnap.faucet.portacl': 'missing' } })],
      settled: true,
      close: true,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const confirmed = confirmedOf(world([]));
      const w = world(c.endpoints);
      const id = ep(1).id;
      const out = planFaucet(
        input(w, { memory: rememberRender(w.state, confirmed.plan), openedEarly: new Set([id]) }),
        confirmed,
        0,
      );
      assert.deepEqual(out.earlySettled, c.settled ? [id] : []);
      assert.deepEqual(out.earlyClose, c.close ? [id] : []);
      const direct = mistakenEarly(w.state, new Set([id]), w.facts.config, out.wanted, confirmed.plan);
      assert.deepEqual(direct, { settled: out.earlySettled, close: out.earlyClose });
    });

  it('no entry confirmed yet: closed (it runs under nothing of its own)', () => {
    const w = world([ep(1)]);
    const out = planFaucet(input(w, { openedEarly: new Set([ep(1).id]) }), undefined, 0);
    assert.deepEqual(out.earlyClose, [ep(1).id]);
  });
});

describe('mirrored numbers', () => {
  const cases: {
    name: string;
    ports: { number: number; mirror?: number[]; capture?: true }[];
    n: number;
    want: boolean;
  }[] = [
    { name: "a label's mirror list", ports: [{ number: 9, mirror: [7, 3] }], n: 7, want: true },
    { name: 'a number no port mirrors', ports: [{ number: 9, mirror: [7, 3] }], n: 4, want: false },
    { name: 'no mirror lists', ports: [{ number: 99 }], n: 7, want: false },
    {
      name: "a capture port's list copies every port: not counted",
      ports: [{ number: 9, mirror: [7], capture: true }],
      n: 7,
      want: false,
    },
  ];
  for (const c of cases) it(`mirroredIn: ${c.name}`, () => assert.equal(mirroredIn({ ports: c.ports }, c.n), c.want));

  it('mirroredNumbers: what FAUCET runs and what it was last given, together', () => {
    const w = world([]);
    const base = confirmedOf(w).plan;
    const got = mirroredNumbers(w.state, NET, [withMirror(base, [3]), undefined, withMirror(base, [5, 6])]);
    assert.deepEqual([...got].sort(), [3, 5, 6]);
    assert.deepEqual([...mirroredNumbers(w.state, NET, [withMirror(base, [4], true)])], []);
  });

  it('runsEntry: a spare or ready entry FAUCET runs, unless mirrored', () => {
    const w = world([]);
    const plan = confirmedOf(w).plan;
    const cases: { plan: Plan | undefined; n: number; description: string; want: boolean }[] = [
      { plan, n: 1, description: SPARE_DESCRIPTION, want: true },
      { plan, n: 1, description: READY_DESCRIPTION, want: false },
      { plan, n: 50, description: SPARE_DESCRIPTION, want: false },
      { plan: withMirror(plan, [1]), n: 1, description: SPARE_DESCRIPTION, want: false },
      { plan: undefined, n: 1, description: SPARE_DESCRIPTION, want: false },
    ];
    for (const c of cases)
      assert.equal(runsEntry(c.plan, 'net1', c.n, c.description), c.want, `${c.n} ${c.description}`);
  });
});

describe('readyEntries', () => {
  it("lists the network's ready ports that the plan gives a ready entry, lowest number first", () => {
    const ready = (name: string, ofport: number): PortState =>
      port(name, ofport, { [ExtId.networkId]: NET, [ExtId.readyPort]: `${name}-c` });
    const w = world([], { ports: [ready('dsr2', 12), ready('dsr1', 11)] });
    const plan = planFaucet(input(w, { settings: { readyPorts: 16, sparePorts: 8 } }), undefined, 0).wanted;
    assert.deepEqual(
      readyEntries(w.state, plan, w.facts.ports)
        .get(NET)
        ?.map((r) => [r.hostIf, r.ofport]),
      [
        ['dsr1', 11],
        ['dsr2', 12],
      ],
    );
    const none = withMirror(plan, []);
    const stripped = { ...none, managed: { ...none.managed, dps: [] } };
    assert.equal(readyEntries(w.state, stripped, w.facts.ports).size, 0);
  });
});
