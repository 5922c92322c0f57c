import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyMacPrefix, parseContainerLabels } from '../../../src/model/labels.js';
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
