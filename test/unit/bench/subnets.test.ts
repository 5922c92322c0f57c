import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { benchSubnet } from '../../../bench/subnets.js';

describe('benchmark subnets', () => {
  it('a /24 up to 253 containers, then a /22 (1021), then a /20, aligned to their size', () => {
    assert.equal(benchSubnet(7, 253), '10.232.7.0/24');
    assert.equal(benchSubnet(7, 254), '10.232.28.0/22');
    assert.equal(benchSubnet(0, 502), '10.232.0.0/22');
    assert.equal(benchSubnet(3, 1021), '10.232.12.0/22');
    assert.equal(benchSubnet(3, 1022), '10.232.48.0/20');
  });

  it('wraps inside 10.232.0.0/16, and refuses what no /20 holds', () => {
    assert.equal(benchSubnet(256, 10), '10.232.0.0/24');
    assert.equal(benchSubnet(64, 500), '10.232.0.0/22');
    assert.equal(benchSubnet(-1, 10), '10.232.255.0/24');
    assert.throws(() => benchSubnet(0, 4094), /hosts: 4094 containers do not fit a \/20/);
    assert.throws(() => benchSubnet(0, 0), /hosts: expected a positive whole number/);
  });
});
