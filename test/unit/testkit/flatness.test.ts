import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { growthIn, type Sample } from '../../e2e/flatness.js';

const at = (rssMb: number, fds: number): Sample => ({ rssMb, fds });

describe('load test flatness verdict', () => {
  it('open files that fall during the run are no leak (CI, stop 17: 36 → 30)', () => {
    const samples = [at(60, 36), at(61, 31), at(60, 30), at(62, 30), at(61, 30), at(60, 30)];
    assert.equal(growthIn(samples, 'run/rm cycles'), null);
  });

  it('open files that climb past the first half’s lowest count by more than 5 are a leak', () => {
    const samples = [at(60, 36), at(60, 30), at(60, 33), at(60, 35), at(60, 36)];
    assert.match(growthIn(samples, 'cycles') ?? '', /open files grew from 30 to 36/);
  });

  it('RSS more than 15 MB above the first half’s highest is a leak; within it is not', () => {
    assert.match(growthIn([at(60, 30), at(70, 30), at(80, 30), at(86, 30)], 'x') ?? '', /RSS grew from 70 MB to 86 MB/);
    assert.equal(growthIn([at(60, 30), at(70, 30), at(80, 30), at(85, 30)], 'x'), null);
  });

  it('one sample is too few to call flat', () => {
    assert.match(growthIn([at(60, 30)], 'x') ?? '', /too few/);
  });
});
