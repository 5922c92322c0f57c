import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { renderFaucetConfig } from '../../../src/faucet/render.js';
import {
  assertValidFaucetConfig,
  FaucetConfigInvalidError,
  validateFaucetConfig,
} from '../../../src/faucet/validate.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { BAD_CONFIGS, dp, fixture, GOOD_CONFIGS, NET1, NET2, PORT1, state } from './specs.js';

describe('validateFaucetConfig', () => {
  for (const { name, text, code, message } of BAD_CONFIGS) {
    it(`catches: ${name}`, () => {
      const errors = validateFaucetConfig(text).filter((p) => p.severity === 'error');
      const match = errors.find((p) => p.code === code && message.test(p.message));
      assert.ok(match, `expected ${code} matching ${message}, got ${JSON.stringify(errors, null, 1)}`);
    });
  }

  for (const { name, text } of GOOD_CONFIGS) {
    it(`accepts: ${name}`, () => {
      assert.deepEqual(
        validateFaucetConfig(text).filter((p) => p.severity === 'error'),
        [],
      );
    });
  }

  it('accepts the operator fixture and everything dovesnap renders into it', () => {
    const operator = fixture('operator.yaml');
    assert.deepEqual(validateFaucetConfig(operator), []);
    assert.deepEqual(validateFaucetConfig(renderFaucetConfig(operator, state([NET1, NET2]))), []);
  });

  it('catches a managed port naming an ACL the operator never defined', () => {
    const broken = { ...NET1, ports: [{ number: 1, description: 'c', nativeVlan: 300, aclsIn: ['typo-acl'] }] };
    const problems = validateFaucetConfig(renderFaucetConfig(fixture('operator.yaml'), state([broken])));
    assert.deepEqual(
      problems.map((p) => [p.code, p.path]),
      [['acl-undefined', 'dps.dovesnet1.interfaces.1.acls_in']],
    );
    assert.match(problems[0]?.message ?? '', /DP 'dovesnet1' port 1: ACL 'typo-acl'/);
  });

  it('warns only, for what FAUCET accepts (duplicate port number, includes)', () => {
    const duplicate = validateFaucetConfig(dp(`${PORT1}      2: {native_vlan: 100, number: 1}\n`));
    assert.deepEqual(
      duplicate.map((p) => [p.severity, p.code]),
      [['warning', 'duplicate-port']],
    );
    const included = validateFaucetConfig(
      `include: [acls.yaml]\n${dp('      1: {native_vlan: 100, acls_in: [elsewhere]}\n')}`,
    );
    assert.deepEqual(
      included.map((p) => [p.severity, p.code]),
      [
        ['warning', 'include-not-checked'],
        ['warning', 'acl-undefined'],
      ],
    );
  });
});

describe('assertValidFaucetConfig', () => {
  it('throws FaucetInvalid carrying every problem', () => {
    const text = dp('      1: {native_vlan: 100, acls_in: [a1]}\n      0: {native_vlan: 9999}\n');
    assert.throws(
      () => assertValidFaucetConfig(text),
      (err: unknown) =>
        err instanceof FaucetConfigInvalidError &&
        isDovesnapError(err, ErrorCode.FaucetInvalid) &&
        err.problems.length === 3 &&
        /ACL 'a1'/.test(err.message) &&
        /9999/.test(err.message),
    );
  });

  it('passes a valid file', () => {
    assertValidFaucetConfig(dp(PORT1));
  });
});
