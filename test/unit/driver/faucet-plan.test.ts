import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextSpares, policyKey, fullKey, preallocatedNumbers, spareTarget } from '../../../src/driver/faucet-plan.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import type { FaucetDpSpec } from '../../../src/faucet/types.js';

describe('spare ports', () => {
  it('grows with the network within bounds', () => {
    assert.equal(spareTarget(0, 64), 8);
    assert.equal(spareTarget(40, 64), 20);
    assert.equal(spareTarget(500, 64), 64);
    assert.equal(spareTarget(10, 4), 4);
    assert.equal(spareTarget(10, 0), 0);
  });

  it('keeps the set while enough remain, so that taking a spare changes nothing else', () => {
    const first = nextSpares([], new Set(), 8);
    assert.deepEqual(first, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(nextSpares(first, new Set([1]), 8), [2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(nextSpares([7, 8], new Set([1, 2, 3, 4, 5, 6]), 8), [7, 8]);
  });

  it('tops up from the lowest free numbers once fewer than a quarter remain', () => {
    assert.deepEqual(nextSpares([8], new Set([1, 2, 3, 4, 5, 6, 7]), 8), [8, 9, 10, 11, 12, 13, 14, 15]);
  });

  it('a freed number comes back as a spare; too many are trimmed', () => {
    assert.deepEqual(nextSpares([5, 6, 7, 8, 3], new Set([1, 2, 4]), 8), [3, 5, 6, 7, 8]);
    assert.equal(
      nextSpares(
        Array.from({ length: 32 }, (_, i) => i + 1),
        new Set(),
        8,
      ).length,
      32,
      'kept up to the bound',
    );
    assert.equal(
      nextSpares(
        Array.from({ length: 40 }, (_, i) => i + 1),
        new Set(),
        8,
      ).length,
      16,
      'past it, trimmed to twice the target',
    );
  });

  it('off when the target is 0', () => {
    assert.deepEqual(nextSpares([1, 2], new Set(), 0), []);
  });
});

describe('policy keys', () => {
  const dp = (description: string, acl?: string): FaucetDpSpec => ({
    name: 'n',
    dpId: 1n,
    description: 'dovesnap network x',
    ports: [{ number: 1, description, nativeVlan: 100, ...(acl ? { aclsIn: [acl] } : {}) }],
  });
  it('ignore port descriptions, and only them', () => {
    assert.equal(policyKey([dp('a')]), policyKey([dp('b')]));
    assert.notEqual(fullKey([dp('a')]), fullKey([dp('b')]));
    assert.notEqual(policyKey([dp('a')]), policyKey([dp('a', 'allow')]));
  });
});

describe('preallocatedNumbers', () => {
  it("gives N numbers to containers: the reserved ones and those of the bridge's other ports are skipped", () => {
    const o = parseNetworkOptions({
      'ovs.bridge.dpid': '1',
      'ovs.bridge.preallocate_ports': '10',
      'ovs.bridge.lbport': '5',
    });
    // A coprocessor port that OVS numbered 1 (no number asked for) does not take one of the ten.
    assert.deepEqual(preallocatedNumbers(o, new Set([1])), [2, 3, 4, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(preallocatedNumbers(o).length, 10);
  });
});
