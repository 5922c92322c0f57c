import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Process helpers the benchmarks share: commands, bounded parallelism, waiting, memory. */

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function exec(file: string, args: readonly string[], timeoutMs = 600_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      file,
      args as string[],
      { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
        resolve({ code, stdout: stdout.trim(), stderr: String(stderr).trim() });
      },
    );
  });
}

/**
 * `exec` that never rejects either, for the benchmarks that stop on Ctrl-C: killed when `signal`
 * aborts (leave it out for clean-up commands, which must run to the end); stderr falls back to
 * the error's message (a timeout, a missing binary).
 */
export function execAbortable(
  file: string,
  args: readonly string[],
  { timeoutMs = 120_000, signal, env }: { timeoutMs?: number; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      file,
      args as string[],
      {
        timeout: timeoutMs,
        maxBuffer: 16 << 20,
        encoding: 'utf8',
        ...(env === undefined ? {} : { env }),
        ...(signal === undefined ? {} : { signal }),
      },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
        resolve({ code, stdout: stdout.trim(), stderr: String(stderr).trim() || (err?.message ?? '') });
      },
    );
  });
}

export async function must(file: string, args: readonly string[]): Promise<string> {
  const r = await exec(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Runs fn over items, at most `width` at a time, keeping the order of the results. */
export async function poolMap<T, R>(
  items: readonly T[],
  width: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T, i);
      }
    }),
  );
  return out;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resident and proportional set size of a process, in kB (PSS shares pages among those using them). */
export function memoryKb(pid: number): { rss: number; pss: number } | undefined {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
    return { rss: field('Rss'), pss: field('Pss') };
  } catch {
    return undefined;
  }
}

/** `docker run` arguments for a benchmark's container: detached, named, labelled with the run, sleeping a day. */
export function sleeperRunArgs(
  name: string,
  network: string,
  label: string,
  image: string,
  extra: readonly string[] = [],
): string[] {
  return ['run', '-d', '--name', name, '--net', network, '--label', label, ...extra, image, 'sleep', '86400'];
}
