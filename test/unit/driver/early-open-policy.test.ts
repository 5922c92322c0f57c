import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { policyHolder, POLICY_LABELS } from '../../../src/driver/early-open.js';
import { Label } from '../../../src/model/labels.js';

const c = (id: string, labels: Record<string, string>) => ({ id, name: `/${id}`, labels });

describe('policyHolder: who could join with a port that is not the network default', () => {
  it('nobody when no container carries a port label', () => {
    assert.equal(policyHolder([], { name: 'web', compose: null }, new Set()), undefined);
    assert.equal(policyHolder([c('a', { other: 'x' })], { name: 'web', compose: null }, new Set()), undefined);
  });

  it('a container with an ACL, mirroring or anti-spoofing for this network', () => {
    assert.equal(
      policyHolder([c('a', { [Label.portacl]: 'allowall' })], { name: 'web', compose: null }, new Set()),
      '/a',
    );
    assert.equal(policyHolder([c('a', { [Label.mirror]: 'true' })], { name: 'web', compose: null }, new Set()), '/a');
    assert.equal(
      policyHolder([c('a', { [Label.antispoof]: 'true' })], { name: 'web', compose: null }, new Set()),
      '/a',
    );
  });

  it('a capture container for this network (its port must never open as a VLAN port), not one for another', () => {
    assert.ok(POLICY_LABELS.includes(Label.capture));
    assert.equal(policyHolder([c('a', { [Label.capture]: 'true' })], { name: 'web', compose: null }, new Set()), '/a');
    assert.equal(
      policyHolder([c('a', { [Label.capture]: 'web:true' })], { name: 'web', compose: null }, new Set()),
      '/a',
    );
    assert.equal(
      policyHolder([c('a', { [Label.capture]: 'db:true' })], { name: 'web', compose: null }, new Set()),
      undefined,
    );
    assert.equal(policyHolder([c('a', { [Label.capture]: 'maybe' })], { name: 'web', compose: null }, new Set()), '/a');
    // Once resolved here, the other containers' ports may open early again (their entries are the default).
    assert.equal(
      policyHolder([c('a', { [Label.capture]: 'true' })], { name: 'web', compose: null }, new Set(['a'])),
      undefined,
    );
  });

  it('not a container whose labels name only other networks, or turn things off', () => {
    assert.equal(
      policyHolder([c('a', { [Label.portacl]: 'db:allowall' })], { name: 'web', compose: null }, new Set()),
      undefined,
    );
    assert.equal(
      policyHolder(
        [c('a', { [Label.mirror]: 'false', [Label.antispoof]: 'false' })],
        { name: 'web', compose: null },
        new Set(),
      ),
      undefined,
    );
    assert.equal(
      policyHolder([c('a', { [Label.macPrefix]: '0e:99' })], { name: 'web', compose: null }, new Set()),
      undefined,
    );
  });

  it('not a container already resolved on this network', () => {
    assert.equal(
      policyHolder([c('a', { [Label.portacl]: 'allowall' })], { name: 'web', compose: null }, new Set(['a'])),
      undefined,
    );
    assert.equal(
      policyHolder(
        [c('a', { [Label.portacl]: 'allowall' }), c('b', { [Label.mirror]: 'true' })],
        { name: 'web', compose: null },
        new Set(['a']),
      ),
      '/b',
    );
  });

  it('a container with a label dovesnap refuses (its port is kept closed)', () => {
    assert.equal(
      policyHolder([c('a', { [Label.macPrefix]: '01:00' })], { name: 'web', compose: null }, new Set()),
      '/a',
    );
    assert.equal(policyHolder([c('a', { [Label.mirror]: 'maybe' })], { name: 'web', compose: null }, new Set()), '/a');
  });

  it('a container of a Compose project naming the network by its compose-file name, only in that project', () => {
    const labnet = { name: 'proj_labnet', compose: { project: 'proj', network: 'labnet' } };
    const project = (p: string) => ({ 'com.docker.compose.project': p });
    assert.equal(
      policyHolder([c('a', { ...project('proj'), [Label.mirror]: 'labnet:true' })], labnet, new Set()),
      '/a',
    );
    assert.equal(
      policyHolder([c('a', { ...project('other'), [Label.mirror]: 'labnet:true' })], labnet, new Set()),
      undefined,
    );
  });

  it("any container of a Compose project while the network's compose-file name is not known yet", () => {
    const unknown = { name: 'proj_labnet', compose: undefined };
    assert.equal(
      policyHolder(
        [c('a', { 'com.docker.compose.project': 'proj', [Label.portacl]: 'labnet:allowall' })],
        unknown,
        new Set(),
      ),
      '/a',
    );
    assert.equal(policyHolder([c('a', { [Label.portacl]: 'labnet:allowall' })], unknown, new Set()), undefined);
  });

  it('asks about every label that can change a port', () => {
    assert.deepEqual(
      [...POLICY_LABELS].sort(),
      [Label.antispoof, Label.capture, Label.macPrefix, Label.mirror, Label.portacl].sort(),
    );
  });
});
