/**
 * Serialised, coalesced runs with the newest input winning: while one run is in flight, every
 * further `submit` joins a single following run, which gets the NEWEST input submitted and
 * whose result all of them share. Right for FAUCET's configuration stores (store.ts,
 * remote-store.ts), whose inputs are full snapshots of everything dovesnap wants, never deltas:
 * the newest one includes what the older ones asked for.
 */
interface Waiter<R> {
  resolve(result: R): void;
  reject(err: unknown): void;
}

export class LatestWins<T, R> {
  private pending: { value: T; waiters: Waiter<R>[] } | undefined;
  private running = false;

  /** `run` gets the input and how many submits it serves. */
  constructor(private readonly run: (value: T, callers: number) => Promise<R>) {}

  submit(value: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.pending === undefined) this.pending = { value, waiters: [] };
      this.pending.value = value;
      this.pending.waiters.push({ resolve, reject });
      // Deferred so that submits made in the same tick share the first run too.
      queueMicrotask(() => this.drain());
    });
  }

  /** Whether a run is in flight. */
  get busy(): boolean {
    return this.running;
  }

  private drain(): void {
    const batch = this.pending;
    if (this.running || batch === undefined) return;
    this.pending = undefined;
    this.running = true;
    this.run(batch.value, batch.waiters.length)
      .then(
        (result) => {
          for (const waiter of batch.waiters) waiter.resolve(result);
        },
        (err: unknown) => {
          for (const waiter of batch.waiters) waiter.reject(err);
        },
      )
      .finally(() => {
        this.running = false;
        this.drain();
      });
  }
}
