import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyMacPrefix, composeNetworkOf, parseContainerLabels } from '../../../src/model/labels.js';
import { isDovesnapError } from '../../../src/util/errors.js';

describe('container labels', () => {
  it('gives nothing when there are no labels', () => {
    assert.deepEqual(parseContainerLabels({}, 'net1'), { portAcls: [], mirror: false, macPrefix: undefined });
  });

  it('reads the bare forms for every network', () => {
    const l = parseContainerLabels(
      {
        'dovesnap.faucet.portacl': 'allowall',
        'dovesnap.faucet.mirror': 'true',
        'dovesnap.faucet.mac_prefix': '0e:99',
      },
      'any',
    );
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
    const ofProject = (project: string, labels: Record<string, string>): Record<string, string> => ({
      'com.docker.compose.project': project,
      ...labels,
    });

    it("applies to the container's own project's network", () => {
      const l = parseContainerLabels(
        ofProject('proj', {
          'dovesnap.faucet.portacl': 'labnet:a1',
          'dovesnap.faucet.mirror': 'labnet:true',
          'dovesnap.faucet.antispoof': 'labnet:true',
          'dovesnap.faucet.mac_prefix': 'labnet:0e:99',
        }),
        labnet,
      );
      assert.deepEqual(l.portAcls, ['a1']);
      assert.equal(l.mirror, true);
      assert.equal(l.antispoof, true);
      assert.deepEqual(l.macPrefix, [0x0e, 0x99]);
    });

    it('the Docker name still applies, and wins over the compose-file name', () => {
      assert.deepEqual(
        parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.portacl': 'proj_labnet:a1' }), labnet).portAcls,
        ['a1'],
      );
      assert.deepEqual(
        parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.portacl': 'labnet:short/proj_labnet:full' }), labnet)
          .portAcls,
        ['full'],
      );
      assert.deepEqual(parseContainerLabels({ 'dovesnap.faucet.portacl': 'proj_labnet:a1' }, labnet).portAcls, ['a1']);
    });

    it('not for a container of another project, or of none, nor for a network of another project', () => {
      assert.deepEqual(
        parseContainerLabels(ofProject('other', { 'dovesnap.faucet.portacl': 'labnet:a1' }), labnet).portAcls,
        [],
      );
      assert.equal(parseContainerLabels({ 'dovesnap.faucet.mirror': 'labnet:true' }, labnet).mirror, false);
      assert.equal(
        parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.mirror': 'labnet:true' }), {
          name: 'other_labnet',
          compose: { project: 'other', network: 'labnet' },
        }).mirror,
        false,
      );
      assert.equal(
        parseContainerLabels(ofProject('proj', { 'dovesnap.faucet.mirror': 'labnet:true' }), 'proj_labnet').mirror,
        false,
      );
    });

    it("reads the Compose identity from a network's Docker labels", () => {
      assert.deepEqual(
        composeNetworkOf({
          'com.docker.compose.project': 'proj',
          'com.docker.compose.network': 'labnet',
          'com.docker.compose.version': '1.29.2',
        }),
        { project: 'proj', network: 'labnet' },
      );
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
      assert.throws(
        () => parseContainerLabels({ [label]: value }, 'net1'),
        (err: unknown) => isDovesnapError(err) && err.message.includes(label),
        `${label}=${value}`,
      );
    }
  });

  describe('dovesnap.faucet.capture', () => {
    it('reads the bare form, the per-network form (as mirror does), and false', () => {
      assert.equal(parseContainerLabels({ 'dovesnap.faucet.capture': 'true' }, 'net1').capture, true);
      assert.equal(parseContainerLabels({ 'dovesnap.faucet.capture': 'yes' }, 'any').capture, true);
      const labels = { 'dovesnap.faucet.capture': 'net1:true/net2:false' };
      assert.equal(parseContainerLabels(labels, 'net1').capture, true);
      assert.equal(parseContainerLabels(labels, 'net2').capture, undefined);
      assert.equal(parseContainerLabels(labels, 'net3').capture, undefined);
      assert.deepEqual(parseContainerLabels({ 'dovesnap.faucet.capture': 'false' }, 'net1'), {
        portAcls: [],
        mirror: false,
        macPrefix: undefined,
      });
      const proj = { 'com.docker.compose.project': 'proj', 'dovesnap.faucet.capture': 'labnet:true' };
      assert.equal(
        parseContainerLabels(proj, { name: 'proj_labnet', compose: { project: 'proj', network: 'labnet' } }).capture,
        true,
      );
    });

    it('refuses a value that is not a boolean, naming the label and the value', () => {
      // The value named is the one that failed: the network's part of a per-network label.
      for (const [value, shown] of [
        ['maybe', 'maybe'],
        ['net1:perhaps', 'perhaps'],
        ['net1:true/net1:false', 'net1:true/net1:false'],
        [':true', ':true'],
      ] as const) {
        assert.throws(
          () => parseContainerLabels({ 'dovesnap.faucet.capture': value }, 'net1'),
          (err: unknown) =>
            isDovesnapError(err) &&
            err.message.includes('label dovesnap.faucet.capture') &&
            err.message.includes(JSON.stringify(shown)),
          value,
        );
      }
    });

    it('refuses mirror or an ACL on the same network (a capture port takes nothing in), and allows them elsewhere', () => {
      assert.throws(
        () => parseContainerLabels({ 'dovesnap.faucet.capture': 'true', 'dovesnap.faucet.mirror': 'true' }, 'net1'),
        /label dovesnap\.faucet\.capture: a capture port receives nothing to mirror; label dovesnap\.faucet\.mirror/,
      );
      assert.throws(
        () =>
          parseContainerLabels({ 'dovesnap.faucet.capture': 'net1:true', 'dovesnap.faucet.portacl': 'allow' }, 'net1'),
        /output-only and takes no ACL; label dovesnap\.faucet\.portacl/,
      );
      const mixed = {
        'dovesnap.faucet.capture': 'net1:true',
        'dovesnap.faucet.mirror': 'net2:true',
        'dovesnap.faucet.portacl': 'net2:allow',
      };
      assert.equal(parseContainerLabels(mixed, 'net1').capture, true);
      assert.deepEqual(parseContainerLabels(mixed, 'net2'), {
        portAcls: ['allow'],
        mirror: true,
        macPrefix: undefined,
      });
      // Anti-spoofing and a MAC prefix are no contradiction: the port simply has no ACL to hold them.
      const l = parseContainerLabels(
        {
          'dovesnap.faucet.capture': 'true',
          'dovesnap.faucet.antispoof': 'true',
          'dovesnap.faucet.mac_prefix': '0e:99',
        },
        'net1',
      );
      assert.equal(l.capture, true);
      assert.deepEqual(l.macPrefix, [0x0e, 0x99]);
    });
  });

  it('replaces the start of a MAC address', () => {
    assert.equal(applyMacPrefix('02:42:ac:11:00:02', [0x0e, 0x99]), '0e:99:ac:11:00:02');
  });
});
