import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';

import { managedState } from '../../../src/driver/faucet-desired.js';
import { StateStore } from '../../../src/driver/state.js';
import type { Clock } from '../../../src/driver/port-raiser.js';
import {
  StackSettler,
  everyStackPortUp,
  stackSettleAclName,
  stackTopologyKey,
} from '../../../src/driver/stack-settle.js';
import { readFaucetConfigFacts } from '../../../src/faucet/config-facts.js';
import { type FetchLike, stackPortStateFromMetrics } from '../../../src/faucet/metrics.js';
import { serve } from '../../fakes/fake-confrpc.js';
import { desiredOf, stackedHost } from '../../fakes/stacked-hosts.js';
import { NO_CLAIMS, planLeave, planRemote } from '../../../src/faucet/remote-plan.js';

/**
 * The stack settler (driver/stack-settle.ts): after the stack's links change, and once FAUCET
 * reports every stack port up, an ACL no port uses changes, so that FAUCET reloads without
 * restarting a switch and rebuilds each switch's graph of the stack.
 */

const TWO_SWITCHES = `dps:
  a:
    dp_id: 1
    stack: {priority: 1}
    interfaces:
      1: {description: to b, stack: {dp: b, port: 2}}
      3: {native_vlan: 100}
  b:
    dp_id: 2
    interfaces:
      2: {description: to a, stack: {dp: a, port: 1}}
      4: {native_vlan: 100}
`;
const facts = readFaucetConfigFacts(TWO_SWITCHES);

function stackState(dp: string, port: number, description: string, value: number): string {
  return `port_stack_state{dp_id="0x1",dp_name="${dp}",port="${port}",port_description="${description}"} ${value}.0`;
}

/** A clock whose timers run when the test says so, and whose sleeps only move time on. */
class ManualClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
  /** Moves time on by `ms` and runs the timers due. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((x) => x.live && x.at <= this.t);
    this.timers = this.timers.filter((x) => !due.includes(x));
    for (const x of due) x.fn();
  }
}

function metricsServing(bodies: string[]): { fetch: FetchLike; reads: () => number } {
  let reads = 0;
  const fetch: FetchLike = async () => {
    const body = bodies[Math.min(reads, bodies.length - 1)] ?? '';
    reads += 1;
    return { ok: true, status: 200, text: async () => body };
  };
  return { fetch, reads: () => reads };
}

const settled = async (): Promise<void> => {
  for (let i = 0; i < 20; i += 1) await new Promise((r) => setImmediate(r));
};

describe('stack settling: what is read', () => {
  it('the topology key lists every stack link, and changes only with them', () => {
    assert.equal(stackTopologyKey(facts), 'a:1>b:2 b:2>a:1');
    const withAcl = readFaucetConfigFacts(`${TWO_SWITCHES}acls:\n  x:\n  - rule: {actions: {allow: 1}}\n`);
    assert.equal(stackTopologyKey(withAcl), stackTopologyKey(facts));
    const oneWay = readFaucetConfigFacts(TWO_SWITCHES.replace('stack: {dp: a, port: 1}', 'native_vlan: 100'));
    assert.notEqual(stackTopologyKey(oneWay), stackTopologyKey(facts));
    assert.equal(stackTopologyKey(readFaucetConfigFacts('dps:\n  a: {dp_id: 1}\n')), '');
  });

  it("every stack port up: the series of the port's configured description decides, stale ones do not", () => {
    const up = [stackState('a', 1, 'to b', 3), stackState('b', 2, 'to a', 3)];
    assert.equal(everyStackPortUp(facts, stackPortStateFromMetrics(up.join('\n'))), true);
    assert.equal(
      everyStackPortUp(facts, stackPortStateFromMetrics(up[0] ?? '')),
      false,
      'a port FAUCET says nothing of is not up',
    );
    // An older description's series still says up; the live one says initializing.
    const stale = [stackState('a', 1, 'to b', 1), stackState('a', 1, 'old name', 3), stackState('b', 2, 'to a', 3)];
    assert.equal(everyStackPortUp(facts, stackPortStateFromMetrics(stale.join('\n'))), false);
    // Only a series of another description: that one decides.
    const renamed = [stackState('a', 1, 'old name', 3), stackState('b', 2, 'to a', 3)];
    assert.equal(everyStackPortUp(facts, stackPortStateFromMetrics(renamed.join('\n'))), true);
  });
});

describe('stack settling: when the mark changes', () => {
  it('a while after the links changed, once every stack port is up: one new mark, one forced write', async () => {
    const clock = new ManualClock();
    const syncs: string[] = [];
    const down = [stackState('a', 1, 'to b', 1), stackState('b', 2, 'to a', 3)].join('\n');
    const up = [stackState('a', 1, 'to b', 3), stackState('b', 2, 'to a', 3)].join('\n');
    const m = metricsServing([down, down, up]);
    const settler = new StackSettler({
      metricsUrl: 'http://127.0.0.1:9302/metrics',
      sync: (r) => syncs.push(r),
      quietMs: 10_000,
      pollMs: 2_000,
      clock,
      fetch: m.fetch,
    });
    settler.observe(facts);
    clock.advance(9_999);
    await settled();
    assert.equal(m.reads(), 0, 'nothing is read before the links have been quiet');
    clock.advance(1);
    await settled();
    assert.equal(m.reads(), 3, 'read until every stack port is up');
    assert.deepEqual(syncs, ['stack links settled']);
    assert.match(settler.mark ?? '', /^#1 at \d{4}-/);
    // The write of the mark (an ACL) leaves the links as they were: no second round.
    settler.observe(
      readFaucetConfigFacts(`${TWO_SWITCHES}acls:\n  ${stackSettleAclName('a')}:\n  - rule: {actions: {allow: 1}}\n`),
    );
    clock.advance(60_000);
    await settled();
    assert.deepEqual(syncs, ['stack links settled']);
    settler.close();
  });

  it('links changing again restart the wait; no stack, no settling; FAUCET never all up: settles after maxWaitMs', async () => {
    const clock = new ManualClock();
    const syncs: string[] = [];
    const down = stackState('a', 1, 'to b', 1);
    const settler = new StackSettler({
      metricsUrl: 'http://127.0.0.1:9302/metrics',
      sync: (r) => syncs.push(r),
      quietMs: 10_000,
      pollMs: 2_000,
      maxWaitMs: 20_000,
      clock,
      fetch: metricsServing([down]).fetch,
    });
    settler.observe(readFaucetConfigFacts('dps:\n  a: {dp_id: 1}\n'));
    clock.advance(30_000);
    await settled();
    assert.deepEqual(syncs, [], 'no stack links: nothing to settle');
    settler.observe(facts);
    clock.advance(5_000);
    settler.observe(readFaucetConfigFacts(TWO_SWITCHES.replace('port: 2}', 'port: 2}\n      5: {native_vlan: 100}')));
    settler.observe(readFaucetConfigFacts(TWO_SWITCHES.replace('{dp: b, port: 2}', '{dp: b, port: 4}')));
    clock.advance(9_999);
    await settled();
    assert.deepEqual(syncs, [], 'the wait starts again from the last change');
    clock.advance(1);
    await settled();
    assert.deepEqual(syncs, ['stack links settled'], 'FAUCET never reported all up: settled after maxWaitMs anyway');
    settler.close();
  });

  it('without FAUCET metrics: settles after the quiet time alone', async () => {
    const clock = new ManualClock();
    const syncs: string[] = [];
    const settler = new StackSettler({ sync: (r) => syncs.push(r), quietMs: 10_000, clock });
    settler.observe(facts);
    clock.advance(10_000);
    await settled();
    assert.deepEqual(syncs, ['stack links settled']);
    settler.close();
    settler.observe(readFaucetConfigFacts(TWO_SWITCHES.replace('port: 2}', 'port: 9}')));
    clock.advance(60_000);
    await settled();
    assert.deepEqual(syncs, ['stack links settled'], 'closed: nothing more');
  });
});

describe('stack settling: the ACL in FAUCET’s configuration', () => {
  const OPERATOR = 'dps:\n  core:\n    dp_id: 1\n    interfaces:\n      1: {native_vlan: 100}\n';

  it("a host's desired state carries its stack switch's settle ACL once marked, used by no port", () => {
    const h = stackedHost(1, 1, 'dovesnap-h1');
    const before = desiredOf(h, OPERATOR);
    assert.equal(
      before.acls?.some((a) => a.name === stackSettleAclName('dovesnap-h1')),
      false,
    );
    const marked = { ...h, stack: { ...h.stack, settled: '#1 at 2026-12-07T19:00:00.000Z' } };
    const text = serve(OPERATOR, planRemote(OPERATOR, desiredOf(marked, OPERATOR), NO_CLAIMS).calls);
    const doc = parse(text) as {
      acls?: Record<string, { rule: { description: string } }[]>;
      dps: Record<string, unknown>;
    };
    const acl = doc.acls?.[stackSettleAclName('dovesnap-h1')];
    assert.match(acl?.[0]?.rule.description ?? '', /settled #1 at 2026-12-07/);
    assert.doesNotMatch(JSON.stringify(doc.dps), /stack-settled/, 'no port uses it');
  });

  it("another host's settle ACL is left alone by the controller's own dovesnap, and `confrpc leave` removes the host's own", () => {
    const h2 = stackedHost(2, 2, 'dovesnap-h2');
    const marked = { ...h2, stack: { ...h2.stack, settled: '#3 at 2026-12-07T19:00:00.000Z' } };
    const text = serve(OPERATOR, planRemote(OPERATOR, desiredOf(marked, OPERATOR), NO_CLAIMS).calls);
    assert.match(text, new RegExp(stackSettleAclName('dovesnap-h2')));
    // The controller's host: its dovesnap writes the local file, with no network of its own.
    const local = managedState(new StateStore(), text, new Set(), new Map(), new Map(), undefined, {
      dpHost: undefined,
      stackDp: 'dovesnap-controller',
    });
    assert.ok(local.kept?.acls.has(stackSettleAclName('dovesnap-h2')));
    const leave = planLeave(text, (dp) => dp === 'dovesnap-h2' || dp.endsWith('@h2'));
    // Its settle ACL was the only one: the whole section goes, not leaving `acls: {}` behind.
    assert.ok(
      leave.some((c) => c.kind === 'removeSection' && c.section === 'acls'),
      JSON.stringify(leave),
    );
    assert.equal(serve(text, leave), serve(OPERATOR, []));
  });
});
