import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';

import {
  type Claims,
  NO_CLAIMS,
  describeCalls,
  planRemote,
  serverMerge,
  yamlText,
} from '../../../src/faucet/remote-plan.js';
import { FOREIGN_PORT_MARK, type FaucetDpSpec, type ManagedFaucetState } from '../../../src/faucet/types.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { serve } from '../../fakes/fake-confrpc.js';

/**
 * The calls a host's daemon makes to faucetconfrpc, change by change: which calls, in which
 * order, and never an entry that is not this host's. The server's merge is simulated by
 * serverMerge (faucetconfrpc's `_yaml_merge`); test/contract/confrpc-store.test.ts runs the real one.
 */

/** The operator's switch, VLAN and ACL. */
const OPERATOR = `vlans:
  office: {vid: 100}
acls:
  office-acl: [{rule: {actions: {allow: 1}}}]
dps:
  core:
    dp_id: 1
    interfaces:
      1: {native_vlan: office}
`;

function dp(name: string, id: bigint, ports: number[], extra: Partial<FaucetDpSpec> = {}): FaucetDpSpec {
  return {
    name,
    dpId: id,
    description: `dovesnap network ${name}`,
    ports: ports.map((number) => ({ number, description: `port ${number}`, nativeVlan: 200 })),
    ...extra,
  };
}

function managed(dps: FaucetDpSpec[], more: Partial<ManagedFaucetState> = {}): ManagedFaucetState {
  return { ...more, dps, owned: new Set([...dps.map((d) => d.name), ...(more.owned ?? [])]) };
}

/** Plans, serves, and checks that a second plan has nothing left to do. */
function converge(text: string, want: ManagedFaucetState, claims: Claims = NO_CLAIMS) {
  const plan = planRemote(text, want, claims);
  const after = serve(text, plan.calls);
  assert.deepEqual(describeCalls(planRemote(after, want, plan.claims).calls), [], 'converged in one round');
  return { plan, after, kinds: plan.calls.map((c) => c.kind), words: describeCalls(plan.calls) };
}

function section(text: string, ...keys: unknown[]): unknown {
  return parseDocument(text, { intAsBigInt: true }).getIn(keys);
}

describe('planRemote: which calls for which change', () => {
  it('a new DP with its VLAN entry: one merge, nothing of the operator in it', () => {
    const want = managed([dp('net1', 0x10n, [1, 2], { vlans: [{ vid: 200, maxHosts: 65536 }] })]);
    const { plan, after, words } = converge(OPERATOR, want);
    assert.deepEqual(words, ['merge DP net1, vlans net1-vlan200']);
    const sent = (plan.calls[0] as { yaml: string }).yaml;
    assert.doesNotMatch(sent, /core|office/, 'the operator entries are never sent');
    assert.equal(section(after, 'dps', 'core', 'dp_id'), 1n);
    assert.equal(section(after, 'vlans', 'office', 'vid'), 100n);
    assert.equal(section(after, 'dps', 'net1', 'dp_id'), 0x10n);
  });

  it('nothing changed: no call at all (a restart adopts what the server holds)', () => {
    const want = managed([dp('net1', 0x10n, [1, 2])]);
    const { after } = converge(OPERATOR, want);
    assert.deepEqual(planRemote(after, want, NO_CLAIMS).calls, []);
  });

  it('a port added or renamed: a merge (it makes exactly the new DP)', () => {
    const before = converge(OPERATOR, managed([dp('net1', 0x10n, [1])])).after;
    const renamed = dp('net1', 0x10n, [1, 2]);
    const ports = renamed.ports.map((p) => (p.number === 1 ? { ...p, description: 'web-1' } : p));
    assert.deepEqual(converge(before, managed([{ ...renamed, ports }])).words, ['merge DP net1']);
  });

  it('a port removed: DelDpInterfaces for exactly that port', () => {
    const before = converge(OPERATOR, managed([dp('net1', 0x10n, [1, 2, 3])])).after;
    const { plan, words } = converge(before, managed([dp('net1', 0x10n, [1, 3])]));
    assert.deepEqual(words, ['DelDpInterfaces net1:2']);
    assert.equal(plan.calls.length, 1);
  });

  it('a key dropped from a port (a merge cannot remove it): SetDps for the whole DP', () => {
    const withAcl = dp('net1', 0x10n, [1]);
    const acl = { name: 'dovesnap-antispoof-net1-1-aaaa', rules: [{ actions: { allow: 1 } }] };
    const ports = withAcl.ports.map((p) => ({ ...p, aclsIn: [acl.name] }));
    const before = converge(OPERATOR, managed([{ ...withAcl, ports }], { acls: [acl] })).after;
    const { words } = converge(before, managed([withAcl]), {
      dps: new Set(['net1']),
      vlans: new Set(),
      acls: new Set([acl.name]),
    });
    // The port stops using the ACL before the ACL goes.
    assert.deepEqual(words, ['SetDps net1', 'remove acls dovesnap-antispoof-net1-1-aaaa']);
  });

  it('an ACL whose digest changed: the new one and the port in one merge, the old one removed last', () => {
    const base = dp('net1', 0x10n, [1]);
    const old = { name: 'dovesnap-antispoof-net1-1-aaaa', rules: [{ actions: { allow: 1 } }] };
    const neu = { name: 'dovesnap-antispoof-net1-1-bbbb', rules: [{ actions: { allow: 0 } }] };
    const using = (name: string) => ({ ...base, ports: base.ports.map((p) => ({ ...p, aclsIn: [name] })) });
    const first = converge(OPERATOR, managed([using(old.name)], { acls: [old] }));
    const { words, after } = converge(first.after, managed([using(neu.name)], { acls: [neu] }), first.plan.claims);
    assert.deepEqual(words, [
      'merge DP net1, acls dovesnap-antispoof-net1-1-bbbb',
      'remove acls dovesnap-antispoof-net1-1-aaaa',
    ]);
    assert.ok(section(after, 'acls', 'office-acl') !== undefined, "the operator's ACL stays");
  });

  it('a DP removed: DelDps, then its VLAN entry; a DP this host never claimed is not removed', () => {
    const want = managed([dp('net1', 0x10n, [1], { vlans: [{ vid: 200 }] }), dp('net2', 0x11n, [1])]);
    const first = converge(OPERATOR, want);
    const removal = managed([dp('net2', 0x11n, [1])], { owned: new Set(['net1', 'net2']) });
    assert.deepEqual(converge(first.after, removal, first.plan.claims).words, [
      'DelDps net1',
      'remove vlans net1-vlan200',
    ]);
    // After a restart (no claims), a marked DP of another host is left alone.
    assert.deepEqual(describeCalls(planRemote(first.after, removal, NO_CLAIMS).calls), []);
  });

  it('the last entries of a section removed: the section goes with them, not `acls: {}` left behind', () => {
    // No ACL of the operator's here: this host's ACL is the only one.
    const bare = 'dps:\n  core:\n    dp_id: 1\n    interfaces:\n      1: {native_vlan: 100}\n';
    const acl = { name: 'dovesnap-stack-settled-dovesnap-h1', rules: [{ actions: { allow: true } }] };
    const first = converge(bare, managed([dp('net1', 0x10n, [1])], { acls: [acl] }));
    assert.ok(section(first.after, 'acls', acl.name) !== undefined);
    const gone = converge(first.after, managed([], { owned: new Set(['net1']) }), first.plan.claims);
    assert.deepEqual(gone.words, ['DelDps net1', 'remove acls (its last entries)']);
    assert.equal(gone.after, serve(bare, []));
    // With the operator's ACL beside it, only this host's entry goes.
    const beside = converge(OPERATOR, managed([dp('net1', 0x10n, [1])], { acls: [acl] }));
    const left = converge(beside.after, managed([], { owned: new Set(['net1']) }), beside.plan.claims);
    assert.deepEqual(left.words, ['DelDps net1', `remove acls ${acl.name}`]);
    assert.ok(section(left.after, 'acls', 'office-acl') !== undefined);
  });

  it("another host's DP and its shared VLAN entry survive this host's changes", () => {
    const hostA = managed([dp('a-net', 0x20n, [1])], { vlans: [{ vid: 200, maxHosts: 65536 }] });
    const hostB = managed([dp('b-net', 0x30n, [1])], { vlans: [{ vid: 200, maxHosts: 65536 }] });
    const a = converge(OPERATOR, hostA);
    const b = converge(a.after, hostB);
    assert.deepEqual(b.words, ['merge DP b-net'], 'the shared VLAN entry is already there');
    // Host B leaves: its DP goes, the VLAN entry host A still uses stays.
    const leave = managed([], { owned: new Set(['b-net', 'a-net']) });
    const gone = converge(b.after, leave, b.plan.claims);
    assert.deepEqual(gone.words, ['DelDps b-net']);
    assert.equal(section(gone.after, 'dps', 'a-net', 'dp_id'), 0x20n);
    assert.equal(section(gone.after, 'vlans', 'dovesnap-vid200', 'vid'), 200n);
    assert.ok(gone.plan.claims.vlans.has('dovesnap-vid200'), 'still claimed, to be removed once unused');
  });

  it('a DP name another host holds with another dp_id is refused, not overwritten', () => {
    const a = converge(OPERATOR, managed([dp('web', 0x20n, [1])]));
    assert.throws(
      () => planRemote(a.after, managed([dp('web', 0x30n, [1])]), NO_CLAIMS),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.FaucetRejected) && /already has a DP named web/.test(err.message),
    );
  });

  it('a stack link: both ends in the same merge; removed: both ends in one DelDpInterfaces', () => {
    const link = { number: 5, description: 'stack link to core via eth5', stack: { dp: 'core', port: 7 } };
    const far = {
      dp: 'core',
      port: { number: 7, description: `${FOREIGN_PORT_MARK} to stack1`, stack: { dp: 'stack1', port: 5 } },
    };
    const stack = dp('stack1', 0x40n, [1]);
    const first = converge(OPERATOR, managed([stack]));
    const linked = converge(
      first.after,
      managed([{ ...stack, ports: [...stack.ports, link] }], { foreignPorts: [far] }),
      first.plan.claims,
    );
    assert.deepEqual(linked.words, ['merge DP stack1, stack link end core:7']);
    assert.equal(section(linked.after, 'dps', 'core', 'interfaces', 1n, 'native_vlan'), 'office');
    const unlinked = converge(linked.after, managed([stack]), linked.plan.claims);
    assert.deepEqual(unlinked.words, ['DelDpInterfaces stack1:5, core:7']);
    assert.equal(section(unlinked.after, 'dps', 'core', 'interfaces', 7n), undefined);
  });

  it("an operator's own interface at the far end's number wins", () => {
    const far = {
      dp: 'core',
      port: { number: 1, description: `${FOREIGN_PORT_MARK} to s`, stack: { dp: 's', port: 5 } },
    };
    const plan = planRemote(OPERATOR, managed([dp('s', 0x40n, [1])], { foreignPorts: [far] }), NO_CLAIMS);
    assert.deepEqual(describeCalls(plan.calls), ['merge DP s']);
  });

  it('order: merge, DelDps, DelDpInterfaces, SetDps, replaced entries, removed entries', () => {
    const order = ['merge', 'delDps', 'delInterfaces', 'setDps', 'setInterfaces', 'replace', 'remove'];
    const acl = { name: 'dovesnap-x', rules: [{ actions: { allow: 1 } }] };
    const vlan = { vid: 300, aclsIn: ['dovesnap-x'] };
    const start = managed(
      [dp('keep', 0x50n, [1, 2], { vlans: [vlan] }), dp('drop', 0x51n, [1]), dp('strip', 0x52n, [1])],
      { acls: [acl] },
    );
    const strip = dp('strip', 0x52n, [1]);
    const first = converge(OPERATOR, {
      ...start,
      dps: start.dps.map((d) => (d.name === 'strip' ? { ...strip, egressPipeline: true } : d)),
    });
    const next = managed([dp('keep', 0x50n, [1], { vlans: [{ vid: 300 }] }), strip, dp('new', 0x53n, [1])], {
      owned: new Set(['drop']),
    });
    const { kinds } = converge(first.after, next, first.plan.claims);
    assert.deepEqual(kinds, ['merge', 'delDps', 'delInterfaces', 'setDps', 'replace', 'remove']);
    assert.deepEqual(
      kinds,
      [...kinds].sort((x, y) => order.indexOf(x) - order.indexOf(y)),
    );
  });
});

describe('serverMerge (faucetconfrpc _yaml_merge)', () => {
  it('merges dicts key by key, replaces lists and scalars, refuses a dict by a scalar', () => {
    const a = new Map<unknown, unknown>([
      [
        'x',
        new Map<unknown, unknown>([
          ['k', 1n],
          ['l', [1n, 2n]],
        ]),
      ],
    ]);
    const b = new Map<unknown, unknown>([
      [
        'x',
        new Map<unknown, unknown>([
          ['l', [3n]],
          ['m', 'v'],
        ]),
      ],
    ]);
    assert.deepEqual(
      serverMerge(a, b),
      new Map([
        [
          'x',
          new Map<unknown, unknown>([
            ['k', 1n],
            ['l', [3n]],
            ['m', 'v'],
          ]),
        ],
      ]),
    );
    assert.throws(() => serverMerge(new Map([['x', new Map()]]), new Map([['x', [1]]])));
  });

  it('YAML for the server quotes what YAML 1.1 would read otherwise, and keeps integer keys', () => {
    const text = yamlText(
      new Map<unknown, unknown>([
        ['d', 'yes'],
        [1n, new Map([['t', '1:30']])],
      ]),
    );
    assert.match(text, /"d": "yes"/);
    assert.match(text, /^1:/m);
    assert.match(text, /"t": "1:30"/);
  });
});

describe("planRemote: another host's entries inside this host's DP", () => {
  it("the far end of another host's stack link in this host's DP stays, even when the DP is replaced", () => {
    const mine = dp('stack-a', 0x60n, [1, 2]);
    const first = converge(OPERATOR, managed([mine]));
    // Host B writes the far end of its link into host A's stack DP (port 9).
    const far = `${FOREIGN_PORT_MARK} to stack-b`;
    const withFar = serve(first.after, [
      {
        kind: 'merge',
        yaml: `dps:\n  stack-a:\n    interfaces:\n      9:\n        description: ${far}\n        stack: {dp: stack-b, port: 3}\n`,
        what: [],
      },
    ]);
    // Host A drops a port (DelDpInterfaces) and a key (SetDps): port 9 is never in a call.
    const next = { ...dp('stack-a', 0x60n, [1]), egressPipeline: undefined };
    const plan = planRemote(withFar, managed([next]), first.plan.claims);
    assert.deepEqual(describeCalls(plan.calls), ['DelDpInterfaces stack-a:2']);
    const after = serve(withFar, plan.calls);
    assert.equal(section(after, 'dps', 'stack-a', 'interfaces', 9n, 'description'), far);
    const stripped = planRemote(
      after,
      managed([{ ...next, ports: next.ports.map((p) => ({ ...p, nativeVlan: undefined, taggedVlans: [200] })) }]),
      plan.claims,
    );
    assert.deepEqual(describeCalls(stripped.calls), ['SetDps stack-a']);
    const setDps = stripped.calls[0] as unknown as { dps: { yaml: string }[] };
    assert.match(setDps.dps[0]?.yaml ?? '', /stack-b/);
  });
});
