import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { ownedByHost } from '../../../src/driver/dp-naming.js';
import { type RemoteCall, planLeave, planRemote } from '../../../src/faucet/remote-plan.js';
import { FOREIGN_PORT_MARK } from '../../../src/faucet/types.js';
import { serve } from '../../fakes/fake-confrpc.js';
import { desiredOf, type StackedHost as Host, stackedHost as host } from '../../fakes/stacked-hosts.js';

/**
 * Several hosts' dovesnap daemons writing one FAUCET configuration through faucetconfrpc
 * (simulated: test/fakes/fake-confrpc.ts), each with one network `web` and its stack switch,
 * the stack switches cabled in a line (h1 — h2 — h3) by STACKING_INTERFACES that name the
 * neighbour's stack switch. Every host writes only its own DPs; FAUCET must end up with each
 * DP once, symmetric stack links, and a valid file after every call.
 */

type Doc = Map<unknown, unknown>;

function parse(text: string): Doc {
  return (parseDocument(text, { version: '1.1', intAsBigInt: true }).toJS({ mapAsMap: true }) ?? new Map()) as Doc;
}

function dpsOf(text: string): Map<string, Doc> {
  return (parse(text).get('dps') as Map<string, Doc> | undefined) ?? new Map();
}

function interfaces(dp: Doc): Map<bigint, Doc> {
  return (dp.get('interfaces') as Map<bigint, Doc> | undefined) ?? new Map();
}

/** The stack links as `DP:port>DP:port`, sorted. */
function stackLinks(text: string): string[] {
  const out: string[] = [];
  for (const [name, dp] of dpsOf(text))
    for (const [number, port] of interfaces(dp)) {
      const stack = port.get('stack') as Doc | undefined;
      if (stack !== undefined) out.push(`${name}:${number}>${String(stack.get('dp'))}:${String(stack.get('port'))}`);
    }
  return out.sort();
}

/**
 * What FAUCET's parser checks of stacking: every far DP and port exists (dp.py
 * resolve_stack_dps), every link is declared in both directions, and every switch with a stack
 * port has a path to the root, the DP with `stack: {priority: 1}` (stack.py resolve_topology).
 */
function stackProblems(text: string): string[] {
  const dps = dpsOf(text);
  const out: string[] = [];
  const links = stackLinks(text);
  const edges = new Map<string, Set<string>>();
  for (const link of links) {
    const [near, far] = link.split('>') as [string, string];
    const at = far.lastIndexOf(':');
    const dp = dps.get(far.slice(0, at));
    if (dp === undefined) out.push(`${link}: stack DP not defined`);
    else if (!interfaces(dp).has(BigInt(far.slice(at + 1)))) out.push(`${link}: stack port not defined`);
    if (!links.includes(`${far}>${near}`)) out.push(`${link}: defined only in one direction`);
    const a = near.slice(0, near.lastIndexOf(':'));
    const b = far.slice(0, at);
    edges.set(a, new Set([...(edges.get(a) ?? []), b]));
    edges.set(b, new Set([...(edges.get(b) ?? []), a]));
  }
  if (edges.size === 0) return out;
  const root = [...dps].find(([, dp]) => (dp.get('stack') as Doc | undefined)?.get('priority') === 1n)?.[0];
  if (root === undefined) return [...out, 'stack without a root'];
  const seen = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const dp of [...seen])
      for (const next of edges.get(dp) ?? [])
        if (!seen.has(next)) {
          seen.add(next);
          grew = true;
        }
  }
  for (const dp of edges.keys()) if (!seen.has(dp)) out.push(`${dp} not connected to stack`);
  return out;
}

const OPERATOR = `dps:
  core:
    dp_id: 1
    interfaces:
      1: {native_vlan: 100}
`;

/** The DP names in a call that are written into (merge, replace) or trimmed (interfaces). */
function dpsTouched(call: RemoteCall): string[] {
  switch (call.kind) {
    case 'merge':
      return [...((parse(call.yaml).get('dps') as Map<string, unknown> | undefined)?.keys() ?? [])];
    case 'delDps':
      return [...call.names];
    case 'delInterfaces':
    case 'setInterfaces':
      return call.dps.map((d) => d.dp);
    case 'setDps':
      return call.dps.map((d) => d.name);
    default:
      return [];
  }
}

/** One host's sync: plan against the server's text, check and send each call. */
function sync(h: Host, text: string): { text: string; calls: number } {
  const desired = desiredOf(h, text);
  const plan = planRemote(text, desired, h.claims);
  let now = text;
  const own = (dp: string): boolean => dp.endsWith(`@${h.name}`) || dp === h.stack.dpName;
  for (const call of plan.calls) {
    for (const dp of dpsTouched(call)) {
      if (own(dp)) continue;
      // The one exception: the far end of a new stack link to this host's switch (FAUCET takes a
      // link only with both ends at once), marked as such, in a merge.
      const sent =
        call.kind === 'merge'
          ? interfaces((parse(call.yaml).get('dps') as Map<string, Doc>).get(dp) ?? new Map())
          : new Map<bigint, Doc>();
      const farEnds = [...sent.values()].every(
        (port) =>
          String(port.get('description')).startsWith(FOREIGN_PORT_MARK) &&
          own(String((port.get('stack') as Doc | undefined)?.get('dp'))),
      );
      assert.ok(
        call.kind === 'merge' && sent.size > 0 && farEnds,
        `${h.name} wrote inside ${dp}, which is not its own (${call.kind})`,
      );
    }
    now = serve(now, [call]);
    assert.deepEqual(stackProblems(now), [], `FAUCET would refuse the file after ${h.name}'s ${call.kind}`);
  }
  h.claims = plan.claims;
  return { text: now, calls: plan.calls.length };
}

/** Every host syncs in turn (each sync is one periodic check), until a whole round sends nothing. */
function settle(hosts: readonly Host[], start: string): { text: string; rounds: number } {
  let text = start;
  for (let round = 1; round <= 6; round += 1) {
    let calls = 0;
    for (const h of hosts) {
      const r = sync(h, text);
      text = r.text;
      calls += r.calls;
    }
    if (calls === 0) return { text, rounds: round };
  }
  assert.fail('the hosts did not settle in 6 rounds');
}

function symmetric(links: readonly string[]): boolean {
  const set = new Set(links);
  return links.every((l) => {
    const [a, b] = l.split('>') as [string, string];
    return set.has(`${b}>${a}`);
  });
}

describe('several hosts, one FAUCET: DPs and stack links written by each host for itself', () => {
  for (const n of [2, 3]) {
    for (const rootHost of [1, n]) {
      it(`${n} hosts, root dovesnap-h${rootHost}: each DP once, symmetric stack links, operator untouched`, () => {
        const hosts = Array.from({ length: n }, (_, i) => host(i + 1, n, `dovesnap-h${rootHost}`));
        const { text } = settle(hosts, OPERATOR);
        const names = [...dpsOf(text).keys()].sort();
        const want = ['core', ...hosts.flatMap((h) => [`web@${h.name}`, h.stack.dpName])].sort();
        assert.deepEqual(names, want);
        const links = stackLinks(text);
        assert.ok(symmetric(links), links.join(' '));
        // Between neighbours k and k+1: port 10+k+1 on k's switch to port 10+k on k+1's.
        for (let k = 1; k < n; k += 1)
          assert.ok(links.includes(`dovesnap-h${k}:${11 + k}>dovesnap-h${k + 1}:${10 + k}`), links.join(' '));
        // Each host's network linked to its own stack switch, both ends.
        for (const h of hosts) assert.ok(links.includes(`web@${h.name}:65000>${h.stack.dpName}:2`));
        const root = dpsOf(text).get(`dovesnap-h${rootHost}`);
        assert.equal((root?.get('stack') as Doc | undefined)?.get('priority'), 1n);
        assert.deepEqual(dpsOf(text).get('core'), dpsOf(OPERATOR).get('core'));
        const dpIds = [...dpsOf(text).values()].map((dp) => dp.get('dp_id'));
        assert.equal(new Set(dpIds).size, dpIds.length, 'every dp_id once');
      });
    }
  }

  it('stack mirroring across hosts: host 1 declares the sink port, every host tunnels its mirrored traffic there', () => {
    const sink = { dp: 'dovesnap-h1', port: 99 };
    const hosts = [1, 2, 3].map((k) => {
      const h = host(k, 3, 'dovesnap-h1');
      const id = h.state.allNetworks()[0]?.id ?? '';
      const mirror = k === 1 ? { ...sink, interface: 'sink0' } : sink;
      return { ...h, stack: { ...h.stack, mirror, loopbacks: new Map([[id, 70]]) } };
    });
    // Hosts 2 and 3 first: no tunnel until host 1 has declared the port (FAUCET would refuse it).
    const early = settle(hosts.slice(1), OPERATOR).text;
    assert.ok(!early.includes('tunnel'), early);
    const { text } = settle(hosts, early);
    assert.deepEqual(stackProblems(text), []);
    const port = interfaces(dpsOf(text).get('dovesnap-h1') ?? new Map()).get(99n);
    assert.equal(port?.get('output_only'), true);
    assert.match(String(port?.get('description')), /where mirrored traffic of every host ends up \(sink0\)/);
    const acls = parse(text).get('acls') as Map<string, Doc[]> | undefined;
    const vid = hosts[0]?.state.allNetworks()[0]?.options.mirrorTunnelVid;
    const rules = acls?.get(`dovesnap-mirror-tunnel-${vid}`) ?? [];
    const tunnel = ((rules[1]?.get('rule') as Doc | undefined)?.get('actions') as Doc | undefined)?.get('output') as
      | Doc
      | undefined;
    assert.equal(String((tunnel?.get('tunnel') as Doc | undefined)?.get('dp')), 'dovesnap-h1');
    assert.equal((tunnel?.get('tunnel') as Doc | undefined)?.get('port'), 99n);
    for (const h of hosts) {
      const loop = interfaces(dpsOf(text).get(`web@${h.name}`) ?? new Map()).get(70n);
      assert.deepEqual(loop?.get('acls_in'), [`dovesnap-mirror-tunnel-${vid}`], `${h.name}'s loopback tunnels`);
    }
  });

  it('a host that leaves removes exactly its DPs; its neighbour drops the link, the others keep theirs', () => {
    const hosts = [1, 2, 3].map((k) => host(k, 3, 'dovesnap-h1'));
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    const before = settle(hosts, OPERATOR).text;
    h3.state.removeNetwork(h3.state.allNetworks()[0]?.id ?? '');
    const left = sync(h3, before).text;
    assert.deepEqual([...dpsOf(left).keys()].sort(), ['core', 'dovesnap-h1', 'dovesnap-h2', 'web@h1', 'web@h2']);
    assert.deepEqual(stackProblems(left), []);
    const { text } = settle([h1, h2], left);
    assert.ok(symmetric(stackLinks(text)));
    assert.deepEqual(
      stackLinks(text).filter((l) => l.includes('h3')),
      [],
    );
    assert.ok(stackLinks(text).includes('dovesnap-h1:12>dovesnap-h2:11'));
    assert.deepEqual(dpsOf(text).get('core'), dpsOf(OPERATOR).get('core'));
  });

  it('hosts that leave with their daemons stopped (make down-all), from the end of the line: their DPs by name, nothing of the others', () => {
    const hosts = [1, 2, 3].map((k) => host(k, 3, 'dovesnap-h1'));
    let text = settle(hosts, OPERATOR).text;
    for (const leaving of ['h3', 'h2']) {
      const before = text;
      for (const call of planLeave(before, ownedByHost(leaving))) {
        text = serve(text, [call]);
        assert.deepEqual(stackProblems(text), [], `valid after ${call.kind}`);
      }
      const kept = [...dpsOf(before).keys()].filter((n) => !n.endsWith(`@${leaving}`) && n !== `dovesnap-${leaving}`);
      assert.deepEqual([...dpsOf(text).keys()].sort(), kept.sort());
      assert.deepEqual(
        stackLinks(text).filter((l) => l.includes(leaving)),
        [],
      );
      for (const h of hosts.filter((x) => x.name !== leaving && kept.includes(`web@${x.name}`)))
        assert.deepEqual(dpsOf(text).get(`web@${h.name}`), dpsOf(before).get(`web@${h.name}`));
      assert.deepEqual(planLeave(text, ownedByHost(leaving)), [], 'nothing left to remove');
    }
    assert.deepEqual([...dpsOf(text).keys()].sort(), ['core', 'dovesnap-h1', 'web@h1']);
  });

  it('a host in the middle cannot leave first: FAUCET would find the far host cut off from the root', () => {
    const hosts = [1, 2, 3].map((k) => host(k, 3, 'dovesnap-h1'));
    const text = serve(settle(hosts, OPERATOR).text, planLeave(settle(hosts, OPERATOR).text, ownedByHost('h2')));
    assert.deepEqual(stackProblems(text), ['dovesnap-h3 not connected to stack', 'web@h3 not connected to stack']);
  });

  it('a host joining before the root: its stack switch stays out until a link reaches the stack', () => {
    const [h1, h2] = [host(1, 2, 'dovesnap-h2'), host(2, 2, 'dovesnap-h2')] as [Host, Host];
    const alone = settle([h1], OPERATOR).text;
    assert.deepEqual([...dpsOf(alone).keys()].sort(), ['core', 'web@h1']);
    assert.deepEqual(stackLinks(alone), []);
    const { text } = settle([h2, h1], alone);
    assert.ok(stackLinks(text).includes('dovesnap-h1:12>dovesnap-h2:11'));
    assert.ok(stackLinks(text).includes('dovesnap-h2:11>dovesnap-h1:12'));
  });

  it('the same network name on every host: one DP per host, each with its own derived dp_id', () => {
    const hosts = [1, 2, 3].map((k) => host(k, 3, 'dovesnap-h2', 'lab_net'));
    const { text } = settle(hosts, OPERATOR);
    const ids = ['lab_net@h1', 'lab_net@h2', 'lab_net@h3'].map((name) => dpsOf(text).get(name)?.get('dp_id'));
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.equal(typeof id === 'bigint' ? id >> 48n : undefined, 0x0d5en);
  });
});
