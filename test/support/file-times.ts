/**
 * Per-file wall time of one `node --test` run, so that the CI budget stays visible: a reporter
 * (file-times-reporter.ts) feeds the run's events here and prints the table at the end.
 *
 * With --test-concurrency=1 the files run one after another, and the runner announces each file
 * by dequeuing a top-level entry named by its path; a file's time runs from there to the next
 * file's announcement (or the end of the run), so it includes the process start and the
 * after-hooks' clean-up, which the tests' own durations leave out.
 */

export interface RunnerEvent {
  readonly type: string;
  readonly data?: {
    readonly name?: string;
    readonly file?: string;
    readonly nesting?: number;
    readonly skip?: boolean | string;
    readonly todo?: boolean | string;
    readonly details?: { readonly type?: string };
  };
}

export interface FileTime {
  readonly file: string;
  readonly ms: number;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}

interface Open {
  file: string;
  start: number;
  passed: number;
  failed: number;
  skipped: number;
}

export class FileTimes {
  private readonly done: FileTime[] = [];
  private readonly byFile = new Map<string, Open>();
  private current: Open | undefined;

  /** `now` in milliseconds, taken when the event arrived. */
  observe(event: RunnerEvent, now: number): void {
    const d = event.data;
    if (d === undefined) return;
    if (event.type === 'test:dequeue' && d.nesting === 0 && d.name !== undefined && d.name === d.file) {
      this.close(now);
      this.current = { file: d.file, start: now, passed: 0, failed: 0, skipped: 0 };
      this.byFile.set(d.file, this.current);
      return;
    }
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || d.details?.type === 'suite') return;
    const open = (d.file === undefined ? undefined : this.byFile.get(d.file)) ?? this.current;
    if (open === undefined) return;
    if (d.skip !== undefined && d.skip !== false) open.skipped += 1;
    else if (event.type === 'test:pass') open.passed += 1;
    else open.failed += 1;
  }

  /** The files in the order they ran, the last one closed at `now`. */
  finish(now: number): readonly FileTime[] {
    this.close(now);
    return this.done;
  }

  private close(now: number): void {
    if (this.current === undefined) return;
    const { file, start, passed, failed, skipped } = this.current;
    this.done.push({ file, ms: now - start, passed, failed, skipped });
    this.current = undefined;
  }
}

/** The table: slowest file first, paths relative to `root`, and the total. */
export function formatFileTimes(times: readonly FileTime[], root: string): string {
  const rel = (f: string): string => (f.startsWith(root) ? f.slice(root.length).replace(/^\/+/, '') : f);
  const sorted = [...times].sort((a, b) => b.ms - a.ms);
  const total = times.reduce((s, t) => s + t.ms, 0);
  const width = Math.max(4, ...sorted.map((t) => rel(t.file).length));
  const secs = (ms: number): string => (ms / 1000).toFixed(1).padStart(7);
  const lines = [`# time per test file (${times.length} files, ${(total / 1000).toFixed(0)} s in all), slowest first`];
  for (const t of sorted) {
    const counts = `${t.passed} passed${t.failed > 0 ? `, ${t.failed} FAILED` : ''}${t.skipped > 0 ? `, ${t.skipped} skipped` : ''}`;
    lines.push(`# ${rel(t.file).padEnd(width)} ${secs(t.ms)} s  ${counts}`);
  }
  return `${lines.join('\n')}\n`;
}
