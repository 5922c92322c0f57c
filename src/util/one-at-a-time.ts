/**
 * Runs passes one at a time and coalesces requests: a request made while a pass runs joins the
 * single pass that follows it (`merge` folds the requests it carries into one), and settles with
 * that pass. Each pass sees the state as it is when it starts, so nothing asked for is lost, and
 * a burst of requests costs one more pass, not one each. A pass that fails fails only its own
 * callers; the queued pass still runs.
 */
export interface Coalescer<R> {
  request(req: R): Promise<void>;
  /** Settles when no pass runs and none is queued. */
  idle(): Promise<void>;
  /** Whether a pass runs now. */
  busy(): boolean;
}

export function coalesce<R>(pass: (req: R) => Promise<void>, merge: (queued: R, more: R) => R): Coalescer<R> {
  let running: Promise<void> | undefined;
  let next: { req: R; resolve: () => void; reject: (err: unknown) => void; promise: Promise<void> } | undefined;
  const start = (req: R): Promise<void> => {
    const run = pass(req);
    running = run;
    const after = (): void => {
      running = undefined;
      const queued = next;
      if (queued === undefined) return;
      next = undefined;
      start(queued.req).then(queued.resolve, queued.reject);
    };
    void run.then(after, after);
    return run;
  };
  return {
    request(req: R): Promise<void> {
      if (running === undefined) return start(req);
      if (next === undefined) {
        let resolve!: () => void;
        let reject!: (err: unknown) => void;
        const promise = new Promise<void>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        next = { req, resolve, reject, promise };
      } else next.req = merge(next.req, req);
      return next.promise;
    },
    async idle(): Promise<void> {
      while (running !== undefined) await running.catch(() => undefined);
    },
    busy: () => running !== undefined,
  };
}

/**
 * Wraps a reconcile pass so that passes never overlap: a call while one runs waits for it and
 * then for one more pass (with the latest reason), however many calls came meanwhile. The pass
 * itself handles its errors; a rejection here would be a bug in it.
 */
export function oneAtATime(pass: (reason: string) => Promise<void>): (reason: string) => Promise<void> {
  const passes = coalesce(pass, (_queued, latest) => latest);
  return async (reason) => {
    await passes.request(reason);
    await passes.idle();
  };
}
