import { ConfrpcError, type ConfrpcApi } from '../confrpc/api.js';
import { DovesnapError, ErrorCode, errorMessage, isDovesnapError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { LatestWins } from './latest-wins.js';
import { readFaucetConfigState, type FaucetConfigState } from './metrics.js';
import { type Claims, NO_CLAIMS, type RemoteCall, describeCalls, planRemote } from './remote-plan.js';
import {
  type ApplyResult,
  type Clock,
  type DesiredFaucetState,
  type FaucetStore,
  confirmWindow,
  describeState,
  isFresh,
  sha256Hex,
  systemClock,
} from './store.js';
import type { ManagedFaucetState } from './types.js';
import { type PollStep, pollUntil } from './poll.js';

/**
 * FAUCET's configuration on another host, written through faucetconfrpc: the second backend of
 * the FAUCET configuration store (store.ts is the local file). Each apply reads the server's
 * text, plans the calls that make it hold this host's entries (remote-plan.ts: per-DP and
 * per-entry calls, never the whole file, so several hosts' daemons write side by side), sends
 * them, reads again until nothing is left to send, and confirms through FAUCET's metrics that
 * FAUCET (which stat-reloads the file the server wrote) runs it.
 *
 * While the server cannot be reached, applies fail at once with FaucetTimeout ("FAUCET
 * configuration pending") and `retry` is called with a growing delay, until an apply goes
 * through: the daemon's state then converges on its own.
 */
export const PENDING = 'FAUCET configuration pending';

export interface RemoteFaucetStoreOptions {
  readonly api: ConfrpcApi;
  /** ADDR:PORT, for messages. */
  readonly target: string;
  /** FAUCET's Prometheus endpoint: without it (or readState) writes are not confirmed. */
  readonly metricsUrl?: string;
  readonly readState?: () => Promise<FaucetConfigState>;
  readonly confirmTimeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly clock?: Clock;
  /** Asks for another apply (the daemon syncs again); called after each failure to reach the server. */
  readonly retry?: () => void;
  /** First and longest delay before `retry` (default 1 s, 30 s). */
  readonly retryMs?: { readonly first: number; readonly max: number };
  readonly logger?: Logger;
}

/** How many read-plan-send rounds one apply makes while other writers keep changing the file. */
const MAX_ROUNDS = 4;

function union(a: Claims, b: Claims): Claims {
  return {
    dps: new Set([...a.dps, ...b.dps]),
    vlans: new Set([...a.vlans, ...b.vlans]),
    acls: new Set([...a.acls, ...b.acls]),
  };
}

/** One planned call (remote-plan.ts), as faucetconfrpc's RPC. */
export async function sendRemoteCall(api: ConfrpcApi, call: RemoteCall): Promise<void> {
  switch (call.kind) {
    case 'merge':
      return api.setConfigFile(call.yaml, { merge: true });
    case 'delDps':
      return api.delDps(call.names);
    case 'delInterfaces':
      return api.delDpInterfaces(call.dps);
    case 'setDps':
      return api.setDps(call.dps);
    case 'setInterfaces':
      return api.setDpInterfaces(call.dps);
    case 'replace':
      return api.setConfigFile(call.yaml, { merge: true, delKeys: [call.section, call.key] });
    case 'remove':
      return api.setConfigFile('{}', { merge: true, delKeys: [call.section, call.key] });
    case 'removeSection':
      return api.setConfigFile('{}', { merge: true, delKeys: [call.section] });
  }
}

export class RemoteFaucetStore implements FaucetStore<ManagedFaucetState> {
  private readonly writes = new LatestWins<DesiredFaucetState, ApplyResult>((desired, callers) =>
    this.applyOnce(desired, callers),
  );
  private readonly readState: (() => Promise<FaucetConfigState>) | undefined;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly pollMs: number;
  private claims: Claims = NO_CLAIMS;
  private text = '';
  private readFailing = false;
  private retryDelay: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** How long FAUCET took to show the last write it confirmed: the window grows after a slow load (store.ts). */
  private lastLoadMs: number | undefined;

  constructor(private readonly opts: RemoteFaucetStoreOptions) {
    const { metricsUrl } = opts;
    this.readState = opts.readState ?? (metricsUrl === undefined ? undefined : () => readFaucetConfigState(metricsUrl));
    this.clock = opts.clock ?? systemClock;
    this.timeoutMs = opts.confirmTimeoutMs ?? 30_000;
    this.pollMs = opts.pollIntervalMs ?? 250;
  }

  /** Whether writes wait for FAUCET's confirmation. */
  get confirms(): boolean {
    return this.readState !== undefined;
  }

  /** The server's text as last read ('' before the first read). */
  cachedText(): string {
    return this.text;
  }

  /** The server's text; the last one read while the server cannot be reached. */
  async read(): Promise<string> {
    try {
      const text = await this.fetch();
      this.readFailing = false;
      return text;
    } catch (err) {
      // Said once per outage: the daemon reads again every few seconds (loops.ts).
      if (!this.readFailing)
        this.opts.logger?.warn({ err: errorMessage(err) }, 'faucetconfrpc server not reached: using its last text');
      this.readFailing = true;
      return this.text;
    }
  }

  apply(desired: DesiredFaucetState): Promise<ApplyResult> {
    return this.writes.submit(desired);
  }

  /** Stops the retry timer. */
  close(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async fetch(): Promise<string> {
    this.text = await this.opts.api.getConfigFile();
    return this.text;
  }

  private async applyOnce(desired: DesiredFaucetState, callers: number): Promise<ApplyResult> {
    try {
      const result = await this.converge(desired, callers);
      this.retryDelay = undefined;
      return result;
    } catch (err) {
      if (err instanceof ConfrpcError && err.kind === 'unreachable') {
        this.scheduleRetry();
        throw new DovesnapError(
          ErrorCode.FaucetTimeout,
          `${PENDING}: the faucetconfrpc server ${this.opts.target} cannot be reached (${err.message}); dovesnap keeps trying`,
          { cause: err },
        );
      }
      if (err instanceof ConfrpcError)
        throw new DovesnapError(
          ErrorCode.FaucetRejected,
          `the faucetconfrpc server refused the change: ${err.message}`,
          {
            cause: err,
          },
        );
      throw err;
    }
  }

  private scheduleRetry(): void {
    const { first, max } = this.opts.retryMs ?? { first: 1_000, max: 30_000 };
    this.retryDelay = this.retryDelay === undefined ? first : Math.min(max, this.retryDelay * 2);
    if (this.retryTimer !== undefined || this.opts.retry === undefined) return;
    const retry = this.opts.retry;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      retry();
    }, this.retryDelay);
    this.retryTimer.unref();
  }

  private async converge(desired: DesiredFaucetState, callers: number): Promise<ApplyResult> {
    const log = this.opts.logger;
    let baseline: FaucetConfigState | undefined;
    let written = false;
    for (let round = 1; round <= MAX_ROUNDS; round += 1) {
      const text = await this.fetch();
      const plan = planRemote(text, typeof desired === 'function' ? desired() : desired, this.claims);
      if (plan.calls.length === 0) {
        this.claims = plan.claims;
        const sha = sha256Hex(text);
        if (!written) return { written: false, confirmed: await this.runsSomething(), sha256: sha, callers };
        return { written: true, confirmed: await this.confirm(desired, text, baseline), sha256: sha, callers };
      }
      if (!written && this.readState !== undefined) baseline = await this.readState().catch(() => undefined);
      log?.info(
        { calls: describeCalls(plan.calls), round, callers },
        'writing FAUCET configuration through faucetconfrpc',
      );
      try {
        for (const call of plan.calls) {
          await this.send(call);
          written = true;
        }
      } finally {
        // What was sent may be there even if a later call failed: claim it, to remove it later.
        this.claims = union(this.claims, plan.claims);
      }
      this.claims = plan.claims;
    }
    throw new DovesnapError(
      ErrorCode.FaucetTimeout,
      `FAUCET's configuration on the faucetconfrpc server ${this.opts.target} still differed from this host's entries after ${MAX_ROUNDS} rounds of changes (other writers?); dovesnap tries again at its next change`,
    );
  }

  private send(call: RemoteCall): Promise<void> {
    return sendRemoteCall(this.opts.api, call);
  }

  /** FAUCET answers and reports no load error (nothing was written: no reload to wait for). */
  private async runsSomething(): Promise<boolean> {
    const state = await this.readState?.().catch(() => undefined);
    return state !== undefined && !state.loadError && state.hashes.length > 0;
  }

  /**
   * FAUCET stat-reloads the file the server wrote: wait until its metrics show a configuration
   * other than before the write with no load error, and the server's text (read again) still
   * holds this host's entries and is the one FAUCET loaded. Without metrics: not confirmed.
   */
  private async confirm(
    desired: DesiredFaucetState,
    written: string,
    baseline: FaucetConfigState | undefined,
  ): Promise<boolean> {
    const readState = this.readState;
    if (readState === undefined) return false;
    const started = this.clock.now();
    const window = confirmWindow(this.timeoutMs, this.lastLoadMs);
    const deadline = started + window;
    const loaded = (): true => {
      this.lastLoadMs = this.clock.now() - started;
      return true;
    };
    let text = written;
    const r = await pollUntil(this.clock, this.pollMs, deadline, async (): Promise<PollStep<true>> => {
      try {
        const state = await readState();
        if (state.loadError && state.error !== '' && isFresh(state, baseline))
          throw new DovesnapError(
            ErrorCode.FaucetRejected,
            `FAUCET refused the configuration the faucetconfrpc server ${this.opts.target} wrote: ${state.error}`,
          );
        if (!state.loadError && state.hashes.includes(sha256Hex(text))) return { done: loaded() };
        if (!state.loadError && state.hashes.some((h) => !(baseline?.hashes ?? []).includes(h))) {
          // FAUCET loaded a text other than before: maybe another writer's, which must still hold ours.
          text = await this.fetch();
          const plan = planRemote(text, typeof desired === 'function' ? desired() : desired, this.claims);
          if (plan.calls.length === 0 && state.hashes.includes(sha256Hex(text))) return { done: loaded() };
        }
        return { last: describeState(state) };
      } catch (err) {
        if (isDovesnapError(err)) throw err;
        return { last: errorMessage(err) };
      }
    });
    if ('done' in r) return r.done;
    throw new DovesnapError(
      ErrorCode.FaucetTimeout,
      `FAUCET did not confirm loading the configuration the faucetconfrpc server ${this.opts.target} wrote (sha256 ${sha256Hex(text).slice(0, 12)}) within ${window} ms (FAUCET must run with FAUCET_CONFIG_STAT_RELOAD=1 to see the server's writes); last seen: ${r.timedOut}`,
    );
  }
}
