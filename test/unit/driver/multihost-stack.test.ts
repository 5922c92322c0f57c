import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { derivedDpid, ownedByHost } from '../../../src/driver/dp-naming.js';
import { managedState } from '../../../src/driver/faucet-desired.js';
import { StateStore, type NetworkRecord } from '../../../src/driver/state.js';
import { type StackFacts, stackIdentity } from '../../../src/driver/stack.js';
import { type Claims, NO_CLAIMS, type RemoteCall, planLeave, planRemote } from '../../../src/faucet/remote-plan.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { serve } from '../../fakes/fake-confrpc.js';

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

/** What FAUCET's parser checks of stacking (dp.py resolve_stack_dps): every far DP and port exists. */
function stackProblems(text: string): string[] {
  const dps = dpsOf(text);
  const out: string[] = [];
  for (const link of stackLinks(text)) {
    const [, far] = link.split('>') as [string, string];
    const at = far.lastIndexOf(':');
    const dp = dps.get(far.slice(0, at));
    if (dp === undefined) out.push(`${link}: stack DP not defined`);
    else if (!interfaces(dp).has(BigInt(far.slice(at + 1)))) out.push(`${link}: stack port not defined`);
  }
  return out;
}

const OPERATOR = `dps:
  core:
    dp_id: 1
    interfaces:
      1: {native_vlan: 100}
`;

interface Host {
  readonly name: string;
  readonly state: StateStore;
  stack: StackFacts;
  claims: Claims;
}

/** Host `k` (1-based) of `n` in a line: stacking interface 10+j towards host j, on each side. */
function host(k: number, n: number, root: string, networkName = 'web'): Host {
  const name = `h${k}`;
  const id = `${k}${k}`.repeat(32);
  const rawOptions = {};
  const record: NetworkRecord = {
    id,
    name: networkName,
    options: parseNetworkOptions({ ...rawOptions, 'ovs.bridge.dpid': `0x${derivedDpid(name, id).toString(16)}` }),
    rawOptions,
    bridgeName: `ovsbr-${id.slice(0, 5)}`,
    datapathType: 'netdev',
    controllers: ['tcp:10.239.0.1:6653'],
    ipv4: [],
    internal: false,
    localFaucet: true,
    dpHost: name,
  };
  const state = new StateStore();
  state.putNetwork(record);
  const identity = stackIdentity(name, `${k}`.repeat(32));
  const neighbours = [k - 1, k + 1].filter((j) => j >= 1 && j <= n);
  return {
    name,
    state,
    claims: NO_CLAIMS,
    stack: {
      dpName: identity.dpName,
      dpId: identity.dpId,
      priority1: root,
      interfaces: neighbours.map((j) => ({
        remoteDp: `dovesnap-h${j}`,
        remotePort: 10 + k,
        interface: `veth${k}${j}`,
        ofport: 10 + j,
      })),
      links: new Map([[id, { networkPort: 65000, stackPort: 2 }]]),
      loopbacks: new Map(),
      mirror: undefined,
    },
  };
}

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
  const desired = managedState(h.state, text, new Set(), new Map(), new Map(), h.stack);
  const plan = planRemote(text, desired, h.claims);
  let now = text;
  const own = (dp: string): boolean => dp.endsWith(`@${h.name}`) || dp === h.stack.dpName;
  for (const call of plan.calls) {
    for (const dp of dpsTouched(call)) {
      if (own(dp)) continue;
      // The one exception: removing another DP's stack ports that point at a DP of this host's it removes.
      const ports = call.kind === 'delInterfaces' ? (call.dps.find((d) => d.dp === dp)?.ports ?? []) : [];
      const peers = ports.map((p) =>
        (
          interfaces(dpsOf(now).get(dp) ?? new Map())
            .get(BigInt(p))
            ?.get('stack') as Doc
        )?.get('dp'),
      );
      assert.ok(
        ports.length > 0 && peers.every((peer) => typeof peer === 'string' && own(peer)),
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

  it('a host whose neighbour is not there yet waits with an output-only port, and links once it comes', () => {
    const [h1, h2] = [host(1, 2, 'dovesnap-h1'), host(2, 2, 'dovesnap-h1')] as [Host, Host];
    const first = settle([h1], OPERATOR).text;
    // dovesnap-h2 is unknown: h1 declares nothing towards it (FAUCET would refuse the link).
    assert.deepEqual(
      stackLinks(first).filter((l) => l.includes('h2')),
      [],
    );
    const second = sync(h2, first).text;
    // h2 finds dovesnap-h1 without port 12: its own end waits, output-only, for h1's next write.
    const waiting = interfaces(dpsOf(second).get('dovesnap-h2') ?? new Map()).get(11n);
    assert.equal(waiting?.get('output_only'), true);
    assert.equal(waiting?.get('stack'), undefined);
    const { text } = settle([h1, h2], second);
    assert.ok(symmetric(stackLinks(text)));
    assert.ok(stackLinks(text).includes('dovesnap-h2:11>dovesnap-h1:12'));
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

  it('a host that leaves while its neighbour links to its waiting port: the link goes too, the removal is valid', () => {
    const [h1, h2] = [host(1, 2, 'dovesnap-h1'), host(2, 2, 'dovesnap-h1')] as [Host, Host];
    const first = sync(h1, OPERATOR).text;
    const second = sync(h2, first).text; // dovesnap-h2:11 waits (output-only)
    const linked = sync(h1, second).text; // dovesnap-h1:12 links to it
    assert.ok(stackLinks(linked).includes('dovesnap-h1:12>dovesnap-h2:11'));
    assert.equal(
      interfaces(dpsOf(linked).get('dovesnap-h2') ?? new Map())
        .get(11n)
        ?.get('stack'),
      undefined,
    );
    h2.state.removeNetwork(h2.state.allNetworks()[0]?.id ?? '');
    const left = sync(h2, linked).text;
    assert.deepEqual([...dpsOf(left).keys()].sort(), ['core', 'dovesnap-h1', 'web@h1']);
    assert.deepEqual(stackProblems(left), []);
    assert.deepEqual(
      stackLinks(left).filter((l) => l.includes('h2')),
      [],
    );
  });

  it('a host that leaves with its daemon stopped (make down-all): its DPs by name, nothing of the others', () => {
    const hosts = [1, 2, 3].map((k) => host(k, 3, 'dovesnap-h1'));
    const before = settle(hosts, OPERATOR).text;
    for (const leaving of ['h2', 'h3']) {
      let text = before;
      for (const call of planLeave(before, ownedByHost(leaving))) {
        text = serve(text, [call]);
        assert.deepEqual(stackProblems(text), [], `valid after ${call.kind}`);
      }
      const left = [...dpsOf(text).keys()].sort();
      const kept = [...dpsOf(before).keys()].filter((n) => !n.endsWith(`@${leaving}`) && n !== `dovesnap-${leaving}`);
      assert.deepEqual(left, kept.sort());
      assert.ok(symmetric(stackLinks(text)), stackLinks(text).join(' '));
      assert.deepEqual(
        stackLinks(text).filter((l) => l.includes(leaving)),
        [],
      );
      // The others' networks and their links to their own stack switches are untouched.
      for (const h of hosts.filter((x) => x.name !== leaving))
        assert.deepEqual(dpsOf(text).get(`web@${h.name}`), dpsOf(before).get(`web@${h.name}`));
      assert.deepEqual(planLeave(text, ownedByHost(leaving)), [], 'nothing left to remove');
    }
  });

  it('the same network name on every host: one DP per host, each with its own derived dp_id', () => {
    const hosts = [1, 2, 3].map((k) => host(k, 3, 'dovesnap-h2', 'lab_net'));
    const { text } = settle(hosts, OPERATOR);
    const ids = ['lab_net@h1', 'lab_net@h2', 'lab_net@h3'].map((name) => dpsOf(text).get(name)?.get('dp_id'));
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.equal(typeof id === 'bigint' ? id >> 48n : undefined, 0x0d5en);
  });
});
