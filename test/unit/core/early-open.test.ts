import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { policyHolder, POLICY_LABELS } from '../../../src/core/early-open.js';
import { Label } from '../../../src/model/labels.js';

const c = (id: string, labels: Record<string, string>) => ({ id, name: `/${id}`, labels });

describe('policyHolder: who could join with a port that is not the network default', () => {
  it('nobody when no container carries a port label', () => {
    assert.equal(policyHolder([], 'web', new Set()), undefined);
    assert.equal(policyHolder([c('a', { other: 'x' })], 'web', new Set()), undefined);
  });

  it('a container with an ACL, mirroring or anti-spoofing for this network', () => {
    assert.equal(policyHolder([c('a', { [Label.portacl]: 'allowall' })], 'web', new Set()), '/a');
    assert.equal(policyHolder([c('a', { [Label.mirror]: 'true' })], 'web', new Set()), '/a');
    assert.equal(policyHolder([c('a', { [Label.antispoof]: 'true' })], 'web', new Set()), '/a');
  });

  it('not a container whose labels name only other networks, or turn things off', () => {
    assert.equal(policyHolder([c('a', { [Label.portacl]: 'db:allowall' })], 'web', new Set()), undefined);
    assert.equal(policyHolder([c('a', { [Label.mirror]: 'false', [Label.antispoof]: 'false' })], 'web', new Set()), undefined);
    assert.equal(policyHolder([c('a', { [Label.macPrefix]: '0e:99' })], 'web', new Set()), undefined);
  });

  it('not a container already resolved on this network', () => {
    assert.equal(policyHolder([c('a', { [Label.portacl]: 'allowall' })], 'web', new Set(['a'])), undefined);
    assert.equal(policyHolder([c('a', { [Label.portacl]: 'allowall' }), c('b', { [Label.mirror]: 'true' })], 'web', new Set(['a'])), '/b');
  });

  it('a container with a label dovesnap refuses (its port is kept closed)', () => {
    assert.equal(policyHolder([c('a', { [Label.macPrefix]: '01:00' })], 'web', new Set()), '/a');
    assert.equal(policyHolder([c('a', { [Label.mirror]: 'maybe' })], 'web', new Set()), '/a');
  });

  it('asks about every label that can change a port', () => {
    assert.deepEqual([...POLICY_LABELS].sort(), [Label.antispoof, Label.macPrefix, Label.mirror, Label.portacl].sort());
  });
});
