/**
 * What a long `up` or `down` is doing, as it does it: one line per step on stderr, with the
 * time since the command started, so that a slow step shows where it is and a failure shows
 * what came before it.
 */
export class Progress {
  private readonly t0 = Date.now();

  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(l)) {}

  elapsed(): number {
    return (Date.now() - this.t0) / 1000;
  }

  line(what: string): void {
    this.write(`[${this.elapsed().toFixed(1).padStart(6)}s] ${what}\n`);
  }

  /** A step reporter for one object: `node r1: start the container`. */
  of(kind: string, key: string): (step: string) => void {
    return (step) => this.line(`${kind} ${key}: ${step}`);
  }
}
