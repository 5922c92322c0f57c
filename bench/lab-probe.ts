/**
 * Probes `bench/lab.ts` runs inside lab nodes, and what a node's container costs in memory.
 *
 * Probes enter the node's namespaces with `nsenter` (mount namespace included, so they run the
 * node's own `vtysh`, `ping` and `nc`) rather than `docker exec`: that costs ~10 ms instead of
 * ~100 ms and keeps dockerd out of what is being timed.
 */
import { readFileSync } from 'node:fs';
import { exec, memoryKb, type Result } from './proc.js';

/** Runs `args` in every namespace of the process `pid` (a container's main process). */
export function inNode(pid: number, args: readonly string[], timeoutMs = 10_000): Promise<Result> {
  return exec('nsenter', ['-t', String(pid), '-a', ...args], timeoutMs);
}

export interface FirstSuccessOptions {
  /** A new attempt starts this often, whether the earlier ones have ended or not. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** At most this many attempts at once; a tick with that many running starts none. */
  readonly maxInFlight: number;
  readonly now?: () => number;
}

/**
 * The time (`now()`) the first attempt to succeed ended. Attempts overlap: one that waits on
 * a lost SYN or an echo request that will never be answered does not hold back the next, so
 * the resolution is `intervalMs` plus one attempt's own cost, not its timeout. Rejects once
 * `timeoutMs` has passed without a success (attempts still running are left to end by
 * themselves: each must have its own timeout). An attempt that throws counts as a failure.
 */
export function firstSuccess(attempt: () => Promise<boolean>, opts: FirstSuccessOptions): Promise<number> {
  const now = opts.now ?? Date.now;
  return new Promise((resolve, reject) => {
    const deadline = now() + opts.timeoutMs;
    let inFlight = 0;
    let done = false;
    const finish = (err: Error | undefined, at?: number): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      if (err === undefined) resolve(at ?? now());
      else reject(err);
    };
    const tick = (): void => {
      if (done) return;
      if (now() > deadline) {
        finish(new Error(`no success within ${opts.timeoutMs} ms`));
        return;
      }
      if (inFlight >= opts.maxInFlight) return;
      inFlight++;
      attempt()
        .catch(() => false)
        .then((ok) => {
          inFlight--;
          if (ok) finish(undefined, now());
        });
    };
    const timer = setInterval(tick, opts.intervalMs);
    tick();
  });
}

/** A container's memory: its processes' RSS and PSS summed, and its memory cgroup's usage (page cache included). */
export interface ContainerMemory {
  readonly processes: number;
  readonly rssKb: number;
  readonly pssKb: number;
  readonly cgroupKb: number | undefined;
}

/** The memory cgroup directory of a process: cgroup v1's `memory` controller, or v2's unified one. */
function memoryCgroup(pid: number): { dir: string; v2: boolean } | undefined {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (v1 !== undefined)
    return { dir: `/sys/fs/cgroup/memory${v1.slice(v1.indexOf(':', v1.indexOf(':') + 1) + 1)}`, v2: false };
  const v2 = lines.find((l) => l.startsWith('0::'));
  return v2 === undefined ? undefined : { dir: `/sys/fs/cgroup${v2.slice(3)}`, v2: true };
}

export function containerMemory(pid: number): ContainerMemory {
  const cg = memoryCgroup(pid);
  let pids = [pid];
  let cgroupKb: number | undefined;
  if (cg !== undefined) {
    try {
      pids = readFileSync(`${cg.dir}/cgroup.procs`, 'utf8')
        .split('\n')
        .filter((s) => s !== '')
        .map(Number);
      cgroupKb = Math.round(
        Number(readFileSync(`${cg.dir}/${cg.v2 ? 'memory.current' : 'memory.usage_in_bytes'}`, 'utf8').trim()) / 1024,
      );
    } catch {
      // A container that stopped meanwhile: only its main process (if any) counts.
    }
  }
  let rssKb = 0;
  let pssKb = 0;
  let processes = 0;
  for (const p of pids) {
    const m = memoryKb(p);
    if (m === undefined) continue;
    processes++;
    rssKb += m.rss;
    pssKb += m.pss;
  }
  return { processes, rssKb, pssKb, cgroupKb };
}
