import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { median, percentile, ratio, summarize } from '../../../bench/stats.js';

describe('bench statistics', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
  });

  it('interpolates percentiles between the nearest ranks (NumPy linear)', () => {
    const v = Array.from({ length: 101 }, (_, i) => i); // 0..100
    assert.equal(percentile(v, 95), 95);
    assert.equal(percentile([10, 20], 95), 19.5);
    assert.equal(percentile([1, 2, 3, 4, 5], 0), 1);
    assert.equal(percentile([1, 2, 3, 4, 5], 100), 5);
    // 20 values 1..20: rank 0.95 * 19 = 18.05 -> 19 + 0.05 * (20 - 19)
    assert.ok(
      Math.abs(
        percentile(
          Array.from({ length: 20 }, (_, i) => i + 1),
          95,
        ) - 19.05,
      ) < 1e-9,
    );
  });

  it('does not reorder its input', () => {
    const v = [5, 1, 4];
    percentile(v, 50);
    assert.deepEqual(v, [5, 1, 4]);
  });

  it('gives NaN for no values and refuses nonsense', () => {
    assert.ok(Number.isNaN(median([])));
    assert.throws(() => percentile([1], 101), RangeError);
    assert.throws(() => percentile([1], -1), RangeError);
    assert.throws(() => percentile([1, Number.NaN], 50), RangeError);
  });

  it('summarizes count, median, p95 and max', () => {
    const s = summarize([1, 2, 3, 4]);
    assert.deepEqual({ count: s.count, median: s.median, max: s.max }, { count: 4, median: 2.5, max: 4 });
    assert.ok(Math.abs(s.p95 - 3.85) < 1e-9);
    const empty = summarize([]);
    assert.equal(empty.count, 0);
    assert.ok(Number.isNaN(empty.median) && Number.isNaN(empty.p95) && Number.isNaN(empty.max));
  });

  it('divides only finite numbers by non-zero ones', () => {
    assert.equal(ratio(3, 2), 1.5);
    assert.ok(Number.isNaN(ratio(1, 0)));
    assert.ok(Number.isNaN(ratio(Number.NaN, 2)));
  });
});
