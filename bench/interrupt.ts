/**
 * Ctrl-C for the benchmarks that drive the stack (startup, multihost): the first SIGINT/SIGTERM
 * aborts a signal that kills the commands in flight, and the run cleans up; their progress
 * lines go to stderr with a tag and the time.
 */
export class Interrupted extends Error {}

/** Throws Interrupted once `signal` has aborted: the run stops at the next step and cleans up. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted('interrupted');
}

/** A progress logger: `[tag HH:MM:SS.mmm] message` on stderr (stdout carries the results). */
export function progressLog(tag: string): (msg: string) => void {
  return (msg) => void process.stderr.write(`[${tag} ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}
