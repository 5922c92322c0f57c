import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyMacPrefix, composeNetworkOf, parseContainerLabels } from '../../../src/model/labels.js';
import { isDovesnapError } from '../../../src/util/errors.js';

describe('container labels', () => {
  it('gives nothing when there are no labels', () => {
    assert.deepEqual(parseContainerLabels({}, 'net1'), { portAcls: [], mirror: false, macPrefix: undefined });
  });

  it('reads the bare forms for every network', () => {
    const l = parseContainerLabels({ 'dovesnap.faucet.portacl': 'allowall', 'dovesnap.faucet.mirror': 'true', 'dovesnap.faucet.mac_prefix': '0e:99' }, 'any');
    assert.deepEqual(l.portAcls, ['allowall']);
    assert.equal(l.mirror, true);
    assert.deepEqual(l.macPrefix, [0x0e, 0x99]);
  });

  it('reads the per-network forms, and several ACLs for one port', () => {
    const labels = { 'dovesnap.faucet.portacl': 'net1:a1,a2/net2:b', 'dovesnap.faucet.mirror': 'net2:true' };
    assert.deepEqual(parseContainerLabels(labels, 'net1').portAcls, ['a1', 'a2']);
    assert.equal(parseContainerLabels(labels, 'net1').mirror, false);
    assert.deepEqual(parseContainerLabels(labels, 'net2').portAcls, ['b']);
    assert.equal(parseContainerLabels(labels, 'net2').mirror, true);
    assert.deepEqual(parseContainerLabels(labels, 'net3').portAcls, []);
  });

  describe('a network of a Docker Compose project, named as in the compose file', () => {
    const labnet = { name: 'proj_labnet', compose: { project: 'proj', network: 'labnet' } };
    const ofProject = (project: string, labels: Record<string, string>): Record<string, string> => ({ 'com.docker.compose.project': project, ...labels });

    it("applies to the container's own project's network", () => {
      const l = parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.portacl': 'labnet:a1', 'dovesnap.faucet.mirror': 'labnet:true', 'dovesnap.faucet.antispoof': 'labnet:true', 'dovesnap.faucet.mac_prefix': 'labnet:0e:99' }), labnet);
      assert.deepEqual(l.portAcls, ['a1']);
      assert.equal(l.mirror, true);
      assert.equal(l.antispoof, true);
      assert.deepEqual(l.macPrefix, [0x0e, 0x99]);
    });

    it('the Docker name still applies, and wins over the compose-file name', () => {
      assert.deepEqual(parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.portacl': 'proj_labnet:a1' }), labnet).portAcls, ['a1']);
      assert.deepEqual(parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.portacl': 'labnet:short/proj_labnet:full' }), labnet).portAcls, ['full']);
      assert.deepEqual(parseContainerLabels({ 'dovesnap.faucet.portacl': 'proj_labnet:a1' }, labnet).portAcls, ['a1']);
    });

    it("not for a container of another project, or of none, nor for a network of another project", () => {
      assert.deepEqual(parseContainerLabels(ofProject('other', { 'dovesnap.faucet.portacl': 'labnet:a1' }), labnet).portAcls, []);
      assert.equal(parseContainerLabels({ 'dovesnap.faucet.mirror': 'labnet:true' }, labnet).mirror, false);
      assert.equal(parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.mirror': 'labnet:true' }), { name: 'other_labnet', compose: { project: 'other', network: 'labnet' } }).mirror, false);
      assert.equal(parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.mirror': 'labnet:true' }), 'proj_labnet').mirror, false);
    });

    it("reads the Compose identity from a network's Docker labels", () => {
      assert.deepEqual(composeNetworkOf({ 'com.docker.compose.project': 'proj', 'com.docker.compose.network': 'labnet', 'com.docker.compose.version': '1.29.2' }), { project: 'proj', network: 'labnet' });
      assert.equal(composeNetworkOf({ 'com.docker.compose.project': 'proj' }), undefined);
      assert.equal(composeNetworkOf(null), undefined);
      assert.equal(composeNetworkOf({}), undefined);
    });
  });

  it('rejects malformed values, naming the label', () => {
    for (const [label, value] of [
      ['dovesnap.faucet.mac_prefix', '0e:9'],
      ['dovesnap.faucet.mac_prefix', '01:00'],
      ['dovesnap.faucet.mac_prefix', '0e:01:02:03:04:05'],
      ['dovesnap.faucet.portacl', 'net1:a/net1:b'],
      ['dovesnap.faucet.portacl', ':a'],
      ['dovesnap.faucet.mirror', 'sometimes'],
    ] as const) {
      assert.throws(() => parseContainerLabels({ [label]: value }, 'net1'), (err: unknown) => isDovesnapError(err) && err.message.includes(label), `${label}=${value}`);
    }
  });

  it('replaces the start of a MAC address', () => {
    assert.equal(applyMacPrefix('02:42:ac:11:00:02', [0x0e, 0x99]), '0e:99:ac:11:00:02');
  });
});
