import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FaucetConfigReader, readFaucetConfigFacts } from '../../../src/faucet/config-facts.js';
import { aclUsage, dpNameConflict, markedDps, operatorDps } from '../../../src/driver/faucet-desired.js';

/** An operator's file that uses YAML merge keys, as FAUCET (ruamel) reads them. */
const MERGED = `acls:
  base-in:
    - rule: {actions: {allow: 1}}
  out-only:
    - rule: {actions: {allow: 1}}
port-defaults: &port_defaults
  native_vlan: 100
  acls_in: [base-in]
vlan-defaults: &vlan_defaults
  acls_out: [out-only]
vlans:
  office:
    <<: *vlan_defaults
    vid: 200
dp-defaults: &dp_defaults
  hardware: Open vSwitch
  description: "dovesnap network ${'c'.repeat(64)}"
dps:
  core:
    dp_id: 1
    interfaces:
      1:
        <<: *port_defaults
  copied:
    <<: *dp_defaults
    dp_id: 2
    interfaces: {1: {native_vlan: 100}}
`;

describe('FAUCET config facts: one reader with FAUCET semantics (defect 9)', () => {
  it('sees ACLs, VLANs and descriptions that arrive through << merge keys', () => {
    const usage = aclUsage(MERGED);
    assert.ok(usage.input.has('base-in'), 'acls_in merged into a port');
    assert.ok(usage.output.has('out-only'), 'acls_out merged into a VLAN');
    assert.deepEqual(markedDps(MERGED), new Set(['copied']));
    assert.deepEqual(operatorDps(MERGED), new Map([['core', 1n]]));
  });

  it('reads hex, binary and underscored dp_ids as FAUCET does', () => {
    const facts = readFaucetConfigFacts('dps:\n  a: {dp_id: 0x1f}\n  b: {dp_id: 1_000}\n  c: {dp_id: 0b101}\n');
    assert.deepEqual(
      [...facts.dps].map(([n, d]) => [n, d.dpId]),
      [
        ['a', 31n],
        ['b', 1000n],
        ['c', 5n],
      ],
    );
  });

  it('an unparsable file has no facts', () => {
    const facts = readFaucetConfigFacts('dps: {a: 1\n');
    assert.equal(facts.parsed, false);
    assert.equal(facts.dps.size, 0);
  });

  it('names taken by an operator DP or the placeholder conflict; marked DPs do not', () => {
    assert.match(dpNameConflict('core', MERGED) ?? '', /already has a DP named core/);
    assert.equal(dpNameConflict('copied', MERGED), undefined);
    assert.equal(dpNameConflict('fresh', MERGED), undefined);
    assert.match(dpNameConflict('dovesnap-placeholder', MERGED) ?? '', /reserved/);
  });

  it('readers keep their own memory (no module-global cache)', () => {
    const a = new FaucetConfigReader();
    const b = new FaucetConfigReader();
    const fa = a.facts(MERGED);
    assert.equal(a.facts(MERGED), fa, 'same text: same facts object');
    assert.notEqual(b.facts(MERGED), fa);
  });
});
