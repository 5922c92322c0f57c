/**
 * Order statistics for the benchmarks. Pure functions, no I/O.
 *
 * Percentiles interpolate linearly between the two nearest ranks (NumPy's default "linear",
 * Hyndman & Fan type 7): p = 0 is the minimum, p = 100 the maximum, p = 50 the median.
 */

export interface Summary {
  readonly count: number;
  readonly median: number;
  readonly p95: number;
  readonly max: number;
}

/** The p-th percentile (0..100) of the values; NaN for an empty list. Does not modify `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  if (values.some((v) => Number.isNaN(v))) throw new RangeError('percentile of a list containing NaN');
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Count, median, p95 and max; the statistics are NaN when there are no values. */
export function summarize(values: readonly number[]): Summary {
  return {
    count: values.length,
    median: percentile(values, 50),
    p95: percentile(values, 95),
    max: values.length === 0 ? Number.NaN : Math.max(...values),
  };
}

/** a / b, or NaN when either is not a finite number or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}
