import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { PLACEHOLDER_DP_ID, PLACEHOLDER_DP_NAME } from '../../../src/faucet/placeholder.js';
import { managedVlanName, parseManagedVlanName } from '../../../src/faucet/entries.js';
import { gaugeConfig, initialFaucetConfig } from '../../../src/faucet/initial-files.js';
import { checkDpClaim, definedAcls, definedDps, definedVlans } from '../../../src/faucet/operator-file.js';
import { renderFaucetConfig } from '../../../src/faucet/render.js';
import { parseFaucetDocument } from '../../../src/faucet/yaml.js';
import type { FaucetDpSpec } from '../../../src/faucet/types.js';
import { validateFaucetConfig } from '../../../src/faucet/validate.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { assertGolden, fixture, NET1, NET1_UPDATED, NET2, OWNED, state } from './specs.js';

const OPERATOR = fixture('operator.yaml');

/** Every operator line survives, in order (the output may interleave dovesnap's lines). */
function assertKeepsLines(original: string, rendered: string): void {
  const out = rendered.split('\n');
  let at = 0;
  for (const line of original.split('\n')) {
    const found = out.indexOf(line, at);
    assert.notEqual(found, -1, `operator line lost or moved: ${JSON.stringify(line)}`);
    at = found + 1;
  }
}

function errorsOf(text: string): string[] {
  return validateFaucetConfig(text)
    .filter((p) => p.severity === 'error')
    .map((p) => p.message);
}

const throwsCode = (fn: () => unknown, code: string, pattern?: RegExp): void => {
  assert.throws(
    fn,
    (err: unknown) => isDovesnapError(err) && err.code === code && (pattern === undefined || pattern.test(err.message)),
  );
};

describe('renderFaucetConfig into an operator file', () => {
  const added = renderFaucetConfig(OPERATOR, state([NET1, NET2]));

  it('adds managed DPs and VLANs as in the golden file', () => {
    assertGolden('operator.add.golden.yaml', added);
    assert.deepEqual(errorsOf(added), []);
  });

  it('keeps every operator byte, comment and key order', () => {
    assertKeepsLines(OPERATOR, added);
    assert.ok(added.startsWith(OPERATOR.slice(0, OPERATOR.indexOf('    guest:'))));
  });

  it('matches the operator indentation (4 spaces here)', () => {
    assert.match(added, /^ {4}dovesnet1:\n {8}dp_id: 0x10\n/m);
  });

  it('renders dp_id in hex, ports sorted numerically, lists sorted except ACLs', () => {
    assert.match(added, /dp_id: 0xd0e5a90000000002\n/);
    const ports = [...added.slice(added.indexOf('    dovesnet1:')).matchAll(/^ {12}(\d+):$/gm)].map((m) =>
      Number(m[1]),
    );
    assert.deepEqual(ports, [1, 2, 3, 4294967294, 1, 8]);
    assert.match(added, /mirror: \[1, 2\]/);
    assert.match(added, /acls_in: \[block-ssh, allow-all\]/);
  });

  it('is byte-stable', () => {
    assert.equal(renderFaucetConfig(added, state([NET1, NET2])), added);
    assert.equal(renderFaucetConfig(added, state([NET2, NET1])), added);
  });

  it('keeps the bytes of an owned entry another writer spelled differently but equally', () => {
    // faucetconfrpc dumps the file with decimal dp_ids and its own quoting; rewriting that after
    // every write of the server would make two writers fight over the same bytes.
    const respelled = added
      .replace('dp_id: 0x10\n', 'dp_id: 16\n')
      .replace('mirror: [1, 2]', 'mirror:\n                - 1\n                - 2');
    assert.notEqual(respelled, added);
    assert.equal(renderFaucetConfig(respelled, state([NET1, NET2])), respelled);
    assert.match(renderFaucetConfig(respelled, state([NET1_UPDATED, NET2])), /dp_id: 0x10\n/);
  });

  it('updates a DP in place and touches nothing else', () => {
    const updated = renderFaucetConfig(added, state([NET1_UPDATED, NET2]));
    assertGolden('operator.update.golden.yaml', updated);
    assertKeepsLines(OPERATOR, updated);
    assert.equal(renderFaucetConfig(updated, state([NET1_UPDATED, NET2])), updated);
  });

  it('removes DPs and their VLANs, giving back the original bytes', () => {
    const updated = renderFaucetConfig(added, state([NET1_UPDATED, NET2]));
    assert.equal(renderFaucetConfig(updated, state([])), OPERATOR);
    const onlyNet1 = renderFaucetConfig(updated, state([NET1_UPDATED]));
    assert.doesNotMatch(onlyNet1, /dovesnet2/);
    assert.equal(renderFaucetConfig(onlyNet1, state([])), OPERATOR);
  });

  it('never adds the placeholder next to an operator DP', () => {
    assert.doesNotMatch(added, new RegExp(PLACEHOLDER_DP_NAME));
    assert.doesNotMatch(renderFaucetConfig(OPERATOR, state([])), new RegExp(PLACEHOLDER_DP_NAME));
  });

  it('leaves alone an operator DP and VLAN whose names look like unowned dovesnap ones', () => {
    const withOther = OPERATOR.replace('    guest:', '    othernet-vlan5:\n        vid: 5\n    guest:');
    const out = renderFaucetConfig(withOther, state([NET1]));
    assert.match(out, /othernet-vlan5:\n {8}vid: 5\n/);
    assert.equal(renderFaucetConfig(out, state([])), withOther);
  });
});

describe('placeholder DP', () => {
  it('is the only DP of the initial config, which is valid and commented', () => {
    const initial = initialFaucetConfig();
    assertGolden('initial.golden.yaml', initial);
    assert.deepEqual([...definedDps(initial)], [[PLACEHOLDER_DP_NAME, PLACEHOLDER_DP_ID]]);
    assert.deepEqual(errorsOf(initial), []);
    assert.match(initial, /^# /);
  });

  it('disappears when a managed DP arrives and comes back when it leaves', () => {
    const initial = initialFaucetConfig();
    const withNet = renderFaucetConfig(initial, state([NET1]));
    assert.deepEqual([...definedDps(withNet).keys()], ['dovesnet1']);
    assert.equal(renderFaucetConfig(withNet, state([])), initial);
  });

  it('disappears when the operator adds a DP of their own', () => {
    const initial = initialFaucetConfig();
    const operatorAdded = `${initial}  core:\n    dp_id: 7\n    interfaces: {1: {native_vlan: 10}}\n`;
    assert.deepEqual([...definedDps(operatorAdded).keys()], [PLACEHOLDER_DP_NAME, 'core']);
    const out = renderFaucetConfig(operatorAdded, state([]));
    assert.deepEqual([...definedDps(out).keys()], ['core']);
    assert.deepEqual(errorsOf(out), []);
  });

  it('is written into a missing or empty file', () => {
    const out = renderFaucetConfig('', state([]));
    assert.deepEqual([...definedDps(out).keys()], [PLACEHOLDER_DP_NAME]);
    assert.equal(renderFaucetConfig(out, state([])), out);
  });
});

describe('renderFaucetConfig edge cases', () => {
  it('handles comment-only text and text without a final newline', () => {
    const out = renderFaucetConfig('# just a comment', state([NET1]));
    assert.ok(out.startsWith('# just a comment\ndps:\n  dovesnet1:\n'));
    const noNewline = 'acls:\n  a:\n    - rule: {actions: {allow: 1}}';
    const out2 = renderFaucetConfig(noNewline, state([NET1]));
    assert.ok(out2.startsWith(`${noNewline}\ndps:\n  dovesnet1:\n`));
    assert.deepEqual([...definedAcls(out2)], ['a']);
  });

  it('fills an empty `dps:` / `dps: {}` section', () => {
    for (const text of ['dps:\n', 'dps:   # mine\nvlans: {}\n', 'dps: {}\n', 'dps: ~\n']) {
      const out = renderFaucetConfig(text, state([NET1]));
      assert.deepEqual([...definedDps(out).keys()], ['dovesnet1'], text);
      assert.equal(renderFaucetConfig(out, state([NET1])), out, text);
    }
    assert.match(renderFaucetConfig('dps:   # mine\n', state([NET1])), /^dps: {3}# mine\n {2}dovesnet1:\n/);
    // No blank left behind the key (faucetconfrpc's dump writes `dps: {}` once every DP is gone).
    for (const text of ['dps: {}\n', 'dps: ~\n', 'dps:\t{}\n'])
      assert.match(renderFaucetConfig(text, state([NET1])), /^dps:\n {2}dovesnet1:\n/, JSON.stringify(text));
  });

  it('keeps comments next to a managed DP and replaces only its lines', () => {
    const text =
      'dps:\n  # before\n  dovesnet1:   # operator note\n    dp_id: 1\n    interfaces: {1: {native_vlan: 2}}   # old\n  # after\n  core:\n    dp_id: 2\n    interfaces: {1: {native_vlan: 2}}\n';
    const out = renderFaucetConfig(text, state([NET1]));
    assert.ok(out.startsWith('dps:\n  # before\n  dovesnet1:\n    dp_id: 0x10\n'));
    assert.ok(out.endsWith('  # after\n  core:\n    dp_id: 2\n    interfaces: {1: {native_vlan: 2}}\n'));
  });

  it('quotes names FAUCET would read as numbers, and keeps odd descriptions on one line', () => {
    const odd: FaucetDpSpec = {
      name: '1_000',
      dpId: 0xffffffffffffffffn,
      description: 'line one\nline "two": #not a comment,\tünïcode \u0085 \u2028 \u0001 \u009f',
      ports: [{ number: 1, description: 'yes', nativeVlan: 5 }],
    };
    const out = renderFaucetConfig('', state([odd], new Set(['1_000'])));
    assert.match(out, /^ {2}"1_000":$/m);
    assert.match(out, /dp_id: 0xffffffffffffffff\n/);
    assert.deepEqual([...definedDps(out)], [['1_000', 0xffffffffffffffffn]]);
    assert.equal(out.split('\n').filter((l) => l.includes('line one')).length, 1);
    const parsed = parseFaucetDocument(out).toJS() as { dps: Record<string, { description: string }> };
    assert.equal(parsed.dps['1_000']?.description, odd.description);
    assert.doesNotMatch(out, /[\u0085\u2028\u0001\u009f]/);
    assert.deepEqual(errorsOf(out), []);
  });

  it('refuses text it cannot edit safely', () => {
    throwsCode(() => renderFaucetConfig('dps: [\n', state([])), ErrorCode.FaucetInvalid, /not valid YAML/);
    throwsCode(
      () => renderFaucetConfig('dps:\n  a: 1\n  a: 2\n', state([])),
      ErrorCode.FaucetInvalid,
      /not valid YAML/,
    );
    throwsCode(
      () => renderFaucetConfig('dps: {core: {dp_id: 1}}\n', state([NET1])),
      ErrorCode.FaucetInvalid,
      /flow mapping/,
    );
    throwsCode(() => renderFaucetConfig('- a\n- b\n', state([])), ErrorCode.FaucetInvalid, /block mapping/);
    throwsCode(
      () => renderFaucetConfig('dps:\n  &x dovesnet1: {dp_id: 1}\n', state([NET1])),
      ErrorCode.FaucetInvalid,
      /does not start its own line/,
    );
  });

  it('rejects a desired state that breaks its contract', () => {
    throwsCode(() => renderFaucetConfig('', state([NET1], new Set())), ErrorCode.Internal, /not in 'owned'/);
    throwsCode(() => renderFaucetConfig('', state([NET1, NET1])), ErrorCode.Internal, /twice/);
    const placeholder = { ...NET1, name: PLACEHOLDER_DP_NAME };
    throwsCode(
      () => renderFaucetConfig('', state([placeholder], new Set([PLACEHOLDER_DP_NAME]))),
      ErrorCode.Internal,
      /reserved/,
    );
  });

  it('never rewrites an operator DP that is not owned', () => {
    const text = 'dps:\n  dovesnet1:\n    dp_id: 5\n    interfaces: {1: {native_vlan: 2}}\n';
    const out = renderFaucetConfig(text, state([NET2], new Set(['dovesnet2'])));
    assert.ok(out.startsWith(text));
  });
});

describe('readers', () => {
  const added = renderFaucetConfig(OPERATOR, state([NET1, NET2]));

  it('definedDps reads hex and decimal dp_ids', () => {
    assert.deepEqual(
      definedDps(added),
      new Map([
        ['core-sw1', 1n],
        ['dovesnet1', 0x10n],
        ['dovesnet2', 0xd0e5a90000000002n],
      ]),
    );
    assert.deepEqual(
      definedDps('dps:\n  a: {dp_id: 42}\n  b: {dp_id: 0o17}\n  c: {}\n'),
      new Map([
        ['a', 42n],
        ['b', 15n],
      ]),
    );
  });

  it('definedAcls and definedVlans list what the file defines', () => {
    assert.deepEqual(definedAcls(added), new Set(['block-ssh', 'allow-all', 'rate-limited']));
    assert.deepEqual(
      definedVlans(added),
      new Map([
        ['office', 100],
        ['guest', 200],
        [managedVlanName('dovesnet2', 400), 400],
      ]),
    );
    assert.deepEqual(definedVlans('vlans:\n  7: {description: x}\n'), new Map([['7', 7]]));
    assert.deepEqual(definedAcls(''), new Set());
  });

  it('managed VLAN names decompose unambiguously', () => {
    assert.deepEqual(parseManagedVlanName(managedVlanName('a-vlan1', 5)), { dpName: 'a-vlan1', vid: 5 });
    assert.deepEqual(parseManagedVlanName('a-vlan1'), { dpName: 'a', vid: 1 });
    assert.equal(parseManagedVlanName('office'), undefined);
  });

  it('checkDpClaim refuses taken names and DPIDs', () => {
    throwsCode(
      () => checkDpClaim(added, { name: 'core-sw1', dpId: 99n }, OWNED),
      ErrorCode.Conflict,
      /core-sw1.*does not manage/,
    );
    throwsCode(
      () => checkDpClaim(added, { name: 'newnet', dpId: 1n }, OWNED),
      ErrorCode.Conflict,
      /0x1 of network 'newnet'.*'core-sw1'/,
    );
    throwsCode(() => checkDpClaim(added, { name: 'newnet', dpId: 0x10n }, OWNED), ErrorCode.Conflict, /'dovesnet1'/);
    throwsCode(() => checkDpClaim('', { name: 'x', dpId: PLACEHOLDER_DP_ID }, OWNED), ErrorCode.Conflict, /reserved/);
    checkDpClaim(added, { name: 'dovesnet1', dpId: 0x10n }, OWNED);
    checkDpClaim(added, { name: 'newnet', dpId: 0x11n }, OWNED);
  });
});

describe('gaugeConfig', () => {
  it('watches all DPs and exports to Prometheus', () => {
    assertGolden(
      'gauge.golden.yaml',
      gaugeConfig({ faucetConfigPath: '/etc/faucet/faucet.yaml', prometheusPort: 9303, prometheusAddr: '127.0.0.1' }),
    );
    assert.doesNotMatch(gaugeConfig({ faucetConfigPath: '/x/faucet.yaml', prometheusPort: 9303 }), /prometheus_addr/);
  });

  it('rejects a relative path or a bad port', () => {
    throwsCode(
      () => gaugeConfig({ faucetConfigPath: 'faucet.yaml', prometheusPort: 9303 }),
      ErrorCode.BadOption,
      /absolute/,
    );
    throwsCode(() => gaugeConfig({ faucetConfigPath: '/f.yaml', prometheusPort: 70000 }), ErrorCode.BadOption, /70000/);
  });
});
