/**
 * Is FAUCET there, running a configuration, and handling events? Asked by `dovesnap faucet health` and
 * `dovesnap faucet reload`, which scripts/up.sh and scripts/status.sh run: the answers come from the
 * same metrics reading (metrics.ts) and the same SIGHUP (store.ts) the daemon uses.
 */
import { readFile } from 'node:fs/promises';
import { errorMessage } from '../util/errors.js';
import { FAUCET_CONFIG_METRICS, readFaucetConfigState, type FaucetConfigState } from './metrics.js';
import { signalFromPidfile } from './store.js';

export type FaucetHealthState = 'ok' | 'load-error' | 'unreachable';

export interface FaucetHealth {
  readonly state: FaucetHealthState;
  /** One line for a person: what FAUCET said, or why it could not be asked. */
  readonly detail: string;
}

/** Exit statuses of `dovesnap faucet health` (1 and 2 are the CLI's own errors). */
export const HEALTH_EXIT: Readonly<Record<FaucetHealthState, number>> = { ok: 0, 'load-error': 4, unreachable: 3 };

/**
 * Judges what FAUCET's metrics say. A page without FAUCET's reload counter (exposed from FAUCET's
 * start, before any configuration loads) is somebody else's. A load error leaves FAUCET running
 * its last good configuration: it is running, but not what its file says.
 */
export function judgeFaucetHealth(state: FaucetConfigState | Error, metricsUrl: string): FaucetHealth {
  if (state instanceof Error) return { state: 'unreachable', detail: errorMessage(state) };
  if (state.reloadRequests === undefined) {
    return {
      state: 'unreachable',
      detail: `${metricsUrl} answers without ${FAUCET_CONFIG_METRICS.reloadRequests}: not FAUCET's metrics`,
    };
  }
  if (state.loadError) {
    return {
      state: 'load-error',
      detail: `FAUCET rejects its configuration (${state.error || 'no message'}) and runs its last good one`,
    };
  }
  const files = state.files.length === 0 ? 'none reported' : state.files.join(', ');
  return {
    state: 'ok',
    detail: `FAUCET runs its configuration (${files}); ${state.reloadRequests} reload requests handled`,
  };
}

export async function faucetHealth(metricsUrl: string, timeoutMs = 5000): Promise<FaucetHealth> {
  const state = await readFaucetConfigState(metricsUrl, fetch, timeoutMs).catch((err: unknown) =>
    err instanceof Error ? err : new Error(String(err)),
  );
  return judgeFaucetHealth(state, metricsUrl);
}

/**
 * CPU time a process used, in clock ticks (utime + stime, fields 14 and 15 of /proc/PID/stat).
 * Counted after the command's closing parenthesis: the command itself may hold spaces and parentheses.
 */
export function cpuTicksFromStat(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isInteger(utime) && Number.isInteger(stime) ? utime + stime : undefined;
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return cpuTicksFromStat(stat) ?? 0;
}

/**
 * The share of a core above which a FAUCET that has not handled a reload counts as busy (a cold
 * start or a storm of port events on a large switch: slow, not hung) rather than idle: a hung
 * FAUCET still serves /metrics, which costs a little. 6 s of CPU over the 15 s make up waits.
 */
export const BUSY_SHARE = 0.4;
/** Clock ticks a second in /proc/PID/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

export type ReloadOutcome = 'reloaded' | 'busy' | 'hung';

/** Exit statuses of `dovesnap faucet reload`. */
export const RELOAD_EXIT: Readonly<Record<ReloadOutcome, number>> = { reloaded: 0, hung: 3, busy: 4 };

export interface ReloadReport {
  readonly outcome: ReloadOutcome;
  readonly pid: number;
  readonly detail: string;
}

/** What a reload request came to: handled, or not handled by a FAUCET that is busy or idle (hung). */
export function judgeReload(r: {
  readonly pid: number;
  readonly before: number;
  readonly after: number | undefined;
  readonly ticksUsed: number;
  readonly waitedS: number;
}): ReloadReport {
  const after = r.after === undefined ? '?' : String(r.after);
  if (r.after !== undefined && r.after > r.before)
    return {
      outcome: 'reloaded',
      pid: r.pid,
      detail: `pid ${r.pid} handled the reload request (reload requests ${r.before} -> ${after})`,
    };
  if (r.ticksUsed > BUSY_SHARE * r.waitedS * TICKS_PER_S)
    return {
      outcome: 'busy',
      pid: r.pid,
      detail: `pid ${r.pid} is busy (no reload handled within ${r.waitedS} s, ${Math.floor(r.ticksUsed / TICKS_PER_S)} s of CPU meanwhile)`,
    };
  return {
    outcome: 'hung',
    pid: r.pid,
    detail: `pid ${r.pid} answers metrics but handles no events (reload requests ${r.before} -> ${after}, idle)`,
  };
}

export interface ReloadDeps {
  /** FAUCET's reload counter; throws when FAUCET cannot be read. */
  readonly reloads: () => Promise<number | undefined>;
  /** Sends SIGHUP, returning the pid signalled. */
  readonly signal: () => Promise<number>;
  readonly cpuTicks: (pid: number) => Promise<number>;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * Asks FAUCET to reload (SIGHUP) and waits up to `timeoutMs` for its reload counter to move. A FAUCET
 * that answers its metrics but no longer handles events (its event loop blocked for good: the known
 * cause, a SIGHUP during a storm of port events, is what dovesnap_faucet_sighup removes, but a FAUCET
 * started by someone else may lack it) comes back 'hung', for the caller to restart.
 */
export async function reloadFaucet(deps: ReloadDeps, timeoutMs: number, pollMs = 500): Promise<ReloadReport> {
  const before = await deps.reloads();
  if (before === undefined) throw new Error(`FAUCET's metrics have no ${FAUCET_CONFIG_METRICS.reloadRequests}`);
  const pid = await deps.signal();
  const ticksBefore = await deps.cpuTicks(pid);
  const deadline = deps.now() + timeoutMs;
  let after: number | undefined;
  for (;;) {
    after = await deps.reloads().catch(() => undefined);
    if ((after !== undefined && after > before) || deps.now() >= deadline) break;
    await deps.sleep(pollMs);
  }
  const ticksUsed = (await deps.cpuTicks(pid)) - ticksBefore;
  return judgeReload({ pid, before, after, ticksUsed, waitedS: Math.round(timeoutMs / 1000) });
}

/** reloadFaucet against the real FAUCET: its metrics, its pidfile, /proc. */
export function faucetReloadDeps(metricsUrl: string, pidfile: string): ReloadDeps {
  return {
    reloads: async () => (await readFaucetConfigState(metricsUrl)).reloadRequests,
    signal: () => signalFromPidfile(pidfile, 'SIGHUP'),
    cpuTicks,
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
