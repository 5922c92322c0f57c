/** One reading of the daemon's resident memory and open file descriptors. */
export interface Sample {
  readonly rssMb: number;
  readonly fds: number;
}

/**
 * Why the samples show growth, or null when they are flat. Flat means:
 * - the second half's highest RSS is within 15 MB of the first half's (V8 collects in steps, so
 *   single samples move by several MB);
 * - the last count of open files is at most 5 above the lowest count of the first half. Fewer
 *   open files at the end is not a leak: the first sample may still hold keep-alive sockets of
 *   the test before, which close during the run.
 */
export function growthIn(samples: readonly Sample[], what: string): string | null {
  if (samples.length < 2) return `${what}: ${samples.length} sample(s), too few to judge`;
  const half = Math.max(1, Math.floor(samples.length / 2));
  const firstHalf = samples.slice(0, half);
  const rssBefore = Math.max(...firstHalf.map((s) => s.rssMb));
  const rssAfter = Math.max(...samples.slice(half).map((s) => s.rssMb));
  if (rssAfter > rssBefore + 15) {
    return `${what}: daemon RSS grew from ${rssBefore} MB to ${rssAfter} MB: ${JSON.stringify(samples)}`;
  }
  const fdsBefore = Math.min(...firstHalf.map((s) => s.fds));
  const fdsAfter = (samples[samples.length - 1] as Sample).fds;
  if (fdsAfter > fdsBefore + 5) {
    return `${what}: daemon open files grew from ${fdsBefore} to ${fdsAfter}: ${JSON.stringify(samples)}`;
  }
  return null;
}
