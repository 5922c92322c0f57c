/**
 * Wraps a reconcile pass so that passes never overlap: a call while one runs waits for it and
 * then for one more pass (with the latest reason), however many calls came meanwhile. The pass
 * itself handles its errors; a rejection here would be a bug in it.
 */
export function oneAtATime(pass: (reason: string) => Promise<void>): (reason: string) => Promise<void> {
  let running: Promise<void> | undefined;
  let again: string | undefined;
  const run = async (reason: string): Promise<void> => {
    if (running !== undefined) {
      again = reason;
      return running;
    }
    running = (async () => {
      try {
        await pass(reason);
      } finally {
        running = undefined;
      }
      if (again !== undefined) {
        const next = again;
        again = undefined;
        await run(next);
      }
    })();
    return running;
  };
  return run;
}
