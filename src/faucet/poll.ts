/** One look at FAUCET: settled with a value, or not yet, with words for what was seen. */
export type PollStep<T> = { readonly done: T } | { readonly last: string };

/**
 * Looks (`step`) every `pollMs` until a look settles or `deadline` (on `clock`'s scale) has
 * passed: the one waiting loop of both configuration stores, local and remote, while FAUCET
 * loads a write. What `step` throws ends the wait; it catches what it counts as "not yet".
 */
export async function pollUntil<T>(
  clock: { now(): number; sleep(ms: number): Promise<void> },
  pollMs: number,
  deadline: number,
  step: () => Promise<PollStep<T>>,
): Promise<{ readonly done: T } | { readonly timedOut: string }> {
  for (;;) {
    const r = await step();
    if ('done' in r) return r;
    const left = deadline - clock.now();
    if (left <= 0) return { timedOut: r.last };
    await clock.sleep(Math.min(pollMs, left));
  }
}
