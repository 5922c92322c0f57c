import { readFileSync } from 'node:fs';
import type { Logger } from '../util/log.js';
import type { FaucetConfigOutcome } from '../faucet/types.js';
import { DovesnapError, ErrorCode, errorMessage, isDovesnapError } from '../util/errors.js';
import { coalesce, type Coalescer } from '../util/one-at-a-time.js';
import type { DaemonSettings } from '../config/settings.js';
import { type FaucetStore, FaucetConfigStore, pidfileReloader, sha256Hex } from '../faucet/store.js';
import { PENDING, RemoteFaucetStore } from '../faucet/remote-store.js';
import type { ConfrpcConnection } from '../confrpc/api.js';
import { FaucetConfigReader, type FaucetConfigFacts } from '../faucet/config-facts.js';
import type { PortState, VSwitch } from '../ovs/vswitch.js';
import type { FaucetView } from './faucet-api.js';
import type { ManagedFaucetState } from '../faucet/types.js';
import {
  antispoofOn,
  captureOn,
  dpNameConflict,
  operatorDps,
  operatorVlanIds,
  peerStackDps,
} from './faucet-desired.js';
import { type DpHolder, type DpOwner, dpHolders, dpNameHeld, faucetDpName } from './dp-naming.js';
import { SPARE_DESCRIPTION } from './faucet-plan.js';
import {
  type Confirmed,
  type DeferPolicy,
  type Deferral,
  type FaucetFacts,
  mirroredNumbers,
  NO_RENDER,
  type PlannerSettings,
  planFaucet,
  readyEntries,
  rememberRender,
  type RenderMemory,
  renderPlan,
  runsEntry,
  scaledDeferPolicy,
} from './faucet-planner.js';
import type { EndpointRecord, StateStore } from './state.js';
import type { StackFacts } from './stack.js';
import type { HostNet } from './host.js';
import { inPortsWithFlows } from '../ovs/ofctl.js';
import { READY_DESCRIPTION, type ReadyPort, ReadyFlowWatch } from './port-pool.js';
import { type Clock, PortRaiser, systemClock } from './port-raiser.js';

/** With FAUCET's metrics filtered to a few lines, polling this often costs next to nothing. */
const POLL_MS = 20;
const QUIET_MS = 5_000;
const MAX_DEFER_MS = 60_000;
/** How long after raising ports FAUCET's port_status is checked. */
const VERIFY_AFTER_MS = 2_000;
/** Ports raised this soon after their switch started running are checked. */
const COLD_START_WINDOW_MS = 15_000;

/** Injected in tests; in the daemon built from the settings. */
export interface FaucetControl {
  readonly reload: () => Promise<void>;
  /** A change that only renames ports waits this long for quiet (default 5 s)… */
  readonly quietMs?: number;
  /** …but never longer than this (default 60 s). */
  readonly maxDeferMs?: number;
  /** How long after raising ports FAUCET's port_status is looked at (default 2 s). */
  readonly verifyAfterMs?: number;
  /** How long a switch counts as just started (default 15 s): see PortRaiser. */
  readonly coldStartWindowMs?: number;
  /** How often the switch's flows are read for new ready ports (default 1 s), and how many times (default 30). */
  readonly readyCheckMs?: number;
  readonly readyCheckAttempts?: number;
  /** The time and timers (default: the system's). */
  readonly clock?: Clock;
}

export interface ClosableFaucetView extends FaucetView {
  /**
   * Renders and writes even if FAUCET's policy looks unchanged to the planner: for what its
   * keys leave out (the stack settle ACL, stack-settle.ts).
   */
  rewrite(reason: string): Promise<void>;
  /**
   * faucet.yaml changed on disk, or the faucetconfrpc server's text may have (read afresh):
   * re-render unless the change is dovesnap's own write.
   */
  fileChanged(): Promise<void>;
  /** Why FAUCET is not keeping up, if it is not: its last change was not confirmed in time. */
  unhealthy(): string | undefined;
  /**
   * Checks FAUCET's port_status of every raised container port and every host interface again
   * (with fresh bounce allowances): a switch can miss link-ups while its ovs-vswitchd has lost
   * OVSDB, after the bounces of the first check were spent. `hostPorts: false` looks at
   * container ports only (a host interface FAUCET never sees up is bounced three times per
   * episode, not on every periodic check).
   */
  recheckPorts(reason: string, opts?: { readonly hostPorts?: boolean }): void;
  /** Connects to where FAUCET's configuration lives, if that is a server (reports, never throws). */
  connect(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Where FAUCET's configuration is: the local faucet.yaml (FaucetConfigStore) or a faucetconfrpc
 * server (RemoteFaucetStore), behind one store.
 */
export interface FaucetBackend {
  readonly store: FaucetStore & { readonly lastWrittenSha?: string | undefined };
  /** The configuration's text as now known, without waiting (the file, or the server's last answer). */
  readNow(): string;
  /**
   * The configuration's text read afresh: the file, or the server asked again (its last answer
   * while it cannot be reached). Other hosts' writes are seen only this way.
   */
  refresh(): Promise<string>;
  /** Why a sync runs when refresh() found someone else's change (a log line's reason). */
  readonly changedReason: string;
  connect(): Promise<void>;
  close(): void;
}

/** Parts of FAUCET's configuration that come from elsewhere than the model: the stack switch. */
export interface FaucetExtras {
  readonly stackFacts?: () => StackFacts | undefined;
  /** Who this daemon is among several hosts writing one configuration (faucet-desired managedState). */
  readonly owner?: DpOwner;
  /** Told of each configuration write and what FAUCET made of it (for metrics). */
  readonly onConfigOutcome?: (outcome: FaucetConfigOutcome, detail?: string) => void;
  /** The input ports the bridge has flows for (default: `ovs-ofctl dump-flows`); see ReadyFlowWatch. */
  readonly programmedPorts?: (bridge: string) => Promise<Set<number>>;
  /** Told of each configuration FAUCET confirmed running (the stack settler watches its stack links). */
  readonly onRunning?: (facts: FaucetConfigFacts) => void;
  /** The faucetconfrpc client, when FAUCETCONFRPC_ADDR is set (confrpc/client.ts openConfrpc). */
  readonly confrpc?: ConfrpcConnection;
}

/** A sync asked for: why (several, when coalesced), and whether deferred descriptions are due. */
interface SyncRequest {
  readonly reasons: readonly string[];
  readonly force: boolean;
}

function describeReasons(reasons: readonly string[]): string {
  return reasons.length > 3 ? `${reasons.slice(0, 3).join('; ')} and ${reasons.length - 3} more` : reasons.join('; ');
}

function outcomeOf(err: unknown): FaucetConfigOutcome {
  if (isDovesnapError(err, ErrorCode.FaucetRejected)) return 'rejected';
  if (isDovesnapError(err, ErrorCode.FaucetTimeout)) return 'timeout';
  if (isDovesnapError(err, ErrorCode.FaucetInvalid)) return 'invalid';
  return 'failed';
}

interface FaucetApplierDeps {
  readonly backend: FaucetBackend;
  readonly planner: PlannerSettings;
  readonly defer: DeferPolicy;
  readonly state: StateStore;
  readonly vswitch: VSwitch;
  readonly store: FaucetBackend['store'];
  readonly log: Logger;
  readonly clock: Clock;
  readonly extras: FaucetExtras;
}

/**
 * The daemon's FAUCET: reads faucet.yaml for what the operator defined, and re-renders it from
 * the model on every change. What to do is planFaucet's (driver/faucet-planner.ts); this applies
 * it: the blocked reasons into the model, the plan into faucet.yaml through the store (which
 * coalesces writes, so fifty containers starting together cost a handful of FAUCET reloads),
 * the ports through the PortRaiser, ready ports' flows through the ReadyFlowWatch.
 */
class FaucetApplier implements ClosableFaucetView {
  private readonly reader = new FaucetConfigReader();
  readonly raiser: PortRaiser;
  readonly readyWatch: ReadyFlowWatch;
  /** One sync at a time; requests made meanwhile share the one run that follows. */
  private readonly passes: Coalescer<SyncRequest>;
  /** Syncs and checks not yet settled: shutdown waits for them, so no write is cut off half-confirmed. */
  private readonly inflight = new Set<Promise<void>>();
  /** What the renders gave out (the newest render, shared by coalesced syncs, included). */
  private memory: RenderMemory = NO_RENDER;
  /** The render FAUCET last confirmed running, and the file's text right after it. */
  private confirmed: Confirmed | undefined;
  /** Endpoints whose ports the last confirmed configuration opened. */
  private opened: ReadonlySet<string> = new Set<string>();
  /** Endpoints opened at CreateEndpoint on a spare entry, until their container is known. */
  private readonly earlyOpened = new Set<string>();
  /** The descriptions waiting for a quiet moment, and the cancel of their timer. */
  private deferred: { readonly deferral: Deferral; readonly cancel: () => void } | undefined;
  /** Set while FAUCET does not confirm what dovesnap writes (down, or not handling events). */
  private unconfirmed: { readonly since: number; readonly message: string } | undefined;
  /** How long the last confirmed write took, render to confirmation (scaledDeferPolicy). */
  private lastWriteMs: number | undefined;

  constructor(
    private readonly deps: FaucetApplierDeps,
    makeRaiser: (applier: FaucetApplier) => PortRaiser,
    makeReadyWatch: (applier: FaucetApplier) => ReadyFlowWatch,
  ) {
    this.raiser = makeRaiser(this);
    this.readyWatch = makeReadyWatch(this);
    this.passes = coalesce(
      (req) => this.syncOnce(req),
      (queued, more) => ({ reasons: [...queued.reasons, ...more.reasons], force: queued.force || more.force }),
    );
  }

  /** Keeps `p` until it settles, for close() to wait on. */
  track = <T>(p: Promise<T>): Promise<T> => {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    void settled.finally(() => this.inflight.delete(settled));
    return p;
  };

  request(reason: string, force = false): Promise<void> {
    return this.passes.request({ reasons: [reason], force });
  }

  private readNow(): string {
    return this.deps.backend.readNow();
  }

  /** faucet.yaml, and each local network's bridge ports (from the OVSDB replica), read once per sync. */
  private async readFacts(): Promise<FaucetFacts> {
    const { state, vswitch } = this.deps;
    const ports = new Map<string, readonly PortState[]>();
    for (const n of state.allNetworks())
      if (n.localFaucet) ports.set(n.id, (await vswitch.getBridge(n.bridgeName))?.ports ?? []);
    const text = this.readNow();
    const { extras } = this.deps;
    return { text, config: this.reader.facts(text), ports, stack: extras.stackFacts?.(), owner: extras.owner };
  }

  /** The DP name and port description FAUCET runs for a port: how it labels the port's live series. */
  runningLabels(dpId: bigint, number: number): { dpName?: string; description?: string } {
    const dp = this.confirmed?.plan.managed.dps.find((d) => d.dpId === dpId);
    const description = dp?.ports.find((p) => p.number === number)?.description;
    return { ...(dp === undefined ? {} : { dpName: dp.name }), ...(description === undefined ? {} : { description }) };
  }

  private async syncOnce(req: SyncRequest): Promise<void> {
    const { state, log, clock } = this.deps;
    const reason = describeReasons(req.reasons);
    const facts = await this.readFacts();
    const started = clock.now();
    const out = planFaucet(
      {
        state,
        settings: this.deps.planner,
        facts,
        memory: this.memory,
        openedEarly: this.earlyOpened,
        deferred: this.deferred?.deferral,
        defer: scaledDeferPolicy(this.deps.defer, this.lastWriteMs),
        force: req.force,
      },
      this.confirmed,
      started,
    );
    for (const c of out.blocked) {
      state.updateEndpoint(c.endpointId, { blockedReason: c.reason });
      if (c.reason !== undefined)
        log.warn({ container: c.container, endpoint: c.endpointId, reason: c.reason }, 'port kept closed in FAUCET');
      else log.info({ container: c.container, endpoint: c.endpointId }, 'port no longer blocked');
    }
    for (const id of out.earlySettled) this.earlyOpened.delete(id);
    await this.closeEarly(out.earlyClose);
    if (out.action.kind === 'raise') {
      this.memory = rememberRender(state, out.wanted, this.memory.last);
      await this.raiser.raise(out.action.raise);
      this.setDeferred(out.action.defer);
      return;
    }
    await this.raiser.raise(out.action.raiseFirst);
    await this.write(reason, facts, out.wanted.spares, started);
  }

  /**
   * Writes the plan, rendered at write time (the store coalesces writes: the render it calls
   * is the newest), and raises what FAUCET then runs.
   */
  private async write(
    reason: string,
    facts: FaucetFacts,
    spares: ReadonlyMap<string, readonly number[]>,
    started: number,
  ): Promise<void> {
    const { state, store, log, clock, extras } = this.deps;
    const render = (): ManagedFaucetState => {
      const config = this.reader.facts(this.readNow());
      const plan = renderPlan(
        state,
        { config, ports: facts.ports, stack: extras.stackFacts?.(), owner: extras.owner },
        spares,
      );
      this.memory = rememberRender(state, plan);
      return plan.managed;
    };
    try {
      const result = await store.apply(render);
      const before = this.confirmed;
      this.unconfirmed = undefined;
      // The write carried every description: nothing is left to defer.
      if (this.confirmRender()) this.setDeferred(undefined);
      // Before raising: raise waits for FAUCET to run the switches of the ports it raises.
      await this.raiser.connectNew(this.newSwitches(before));
      await this.raiser.raise(this.opened);
      if (this.confirmed !== undefined) {
        const onBridge = new Set([...facts.ports.values()].flatMap((list) => list.map((p) => p.name)));
        this.readyWatch.check(readyEntries(state, this.confirmed.plan, facts.ports), onBridge);
      }
      if (result.written) {
        if (result.confirmed) this.lastWriteMs = clock.now() - started;
        log.info(
          { reason, ms: clock.now() - started, confirmed: result.confirmed, callers: result.callers },
          'FAUCET configuration applied',
        );
        extras.onConfigOutcome?.('confirmed');
        this.raiser.verifyHostPorts(1);
      }
    } catch (err) {
      extras.onConfigOutcome?.(outcomeOf(err), errorMessage(err));
      if (isDovesnapError(err, ErrorCode.FaucetTimeout))
        this.unconfirmed ??= { since: clock.now(), message: errorMessage(err) };
      if (!isDovesnapError(err, ErrorCode.FaucetRejected)) {
        log.error({ reason, err: errorMessage(err) }, 'FAUCET configuration change failed');
        throw err;
      }
      await this.retryWithoutSuspects(reason, err, render);
      throw err;
    }
  }

  /**
   * FAUCET refused the whole file and the last good one is back in force. The likely culprits
   * are ports opened since then that carry ACLs (or are capture ports, whose mirror lists are
   * the other entries FAUCET checks across ports): keep those closed, retry.
   */
  private async retryWithoutSuspects(reason: string, err: unknown, render: () => ManagedFaucetState): Promise<void> {
    const { state, store, log, extras } = this.deps;
    const carriesAcl = (e: EndpointRecord): boolean => {
      const n = state.network(e.networkId);
      return (e.labels?.portAcls.length ?? 0) > 0 || (n !== undefined && antispoofOn(e, n)) || captureOn(e);
    };
    const suspects = state
      .allEndpoints()
      .filter(
        (e) => e.container !== undefined && !this.opened.has(e.id) && e.blockedReason === undefined && carriesAcl(e),
      );
    log.error(
      { reason, err: errorMessage(err), closing: suspects.map((e) => e.container?.name) },
      'FAUCET rejected the configuration; the previous one stays in force',
    );
    if (suspects.length === 0) return;
    for (const e of suspects) {
      const why = `FAUCET refused the configuration that opened this port: ${errorMessage(err)}`;
      state.updateEndpoint(e.id, { faucetRejected: why, blockedReason: why });
    }
    const retried = await store.apply(render);
    if (retried.written)
      extras.onConfigOutcome?.(
        'confirmed',
        `with ${suspects.length} port${suspects.length === 1 ? '' : 's'} kept closed`,
      );
    this.confirmRender();
    await this.raiser.raise(this.opened);
  }

  /**
   * The bridges of local networks whose DPs FAUCET confirmed now for the first time. None after
   * a restart (nothing confirmed before): those switches are FAUCET's already, or reconnecting.
   */
  private newSwitches(before: Confirmed | undefined): { dpId: bigint; bridge: string }[] {
    const now = this.confirmed;
    if (before === undefined || now === undefined) return [];
    const had = new Set(before.plan.managed.dps.map((d) => d.dpId));
    const fresh = new Set(now.plan.managed.dps.map((d) => d.dpId).filter((id) => !had.has(id)));
    return this.deps.state
      .allNetworks()
      .filter((n) => n.localFaucet && fresh.has(n.options.dpid))
      .map((n) => ({ dpId: n.options.dpid, bridge: n.bridgeName }));
  }

  /** The newest render is what FAUCET now runs; false if nothing was rendered yet. */
  private confirmRender(): boolean {
    const last = this.memory.last;
    if (last === undefined) return false;
    this.confirmed = { plan: last, text: this.readNow() };
    this.opened = last.opened;
    this.deps.extras.onRunning?.(this.reader.facts(this.confirmed.text));
    return true;
  }

  /**
   * Ports opened at CreateEndpoint whose container's entry differs from the one FAUCET runs (or
   * that dovesnap keeps closed) are taken down at once, and raised again only under their own
   * entry. (Not expected: the driver opens early only when no labelled container could be
   * joining; this is the guarantee should that ever be wrong.)
   */
  private async closeEarly(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const e = this.deps.state.endpoint(id);
      if (e === undefined) continue;
      this.deps.log.error(
        { container: e.container?.name, port: e.hostIf, ofport: e.ofport },
        "port opened before its container was known, but the container's entry differs from the one FAUCET runs: closed until FAUCET runs its own",
      );
      try {
        await this.raiser.lower(e.hostIf);
      } catch (err) {
        this.deps.log.error({ port: e.hostIf, err: errorMessage(err) }, 'could not close the port');
      }
    }
  }

  /** Waits for the descriptions' write until `deferral.at` (undefined: nothing waits). */
  private setDeferred(deferral: Deferral | undefined): void {
    if (this.deferred?.deferral === deferral) return;
    this.deferred?.cancel();
    if (deferral === undefined) {
      this.deferred = undefined;
      return;
    }
    const { clock } = this.deps;
    const cancel = clock.after(Math.max(0, deferral.at - clock.now()), () => {
      this.deferred = undefined;
      void this.track(this.request('port descriptions', true)).catch(() => undefined);
    });
    this.deferred = { deferral, cancel };
  }

  private async facts() {
    return this.reader.facts(await this.deps.store.read());
  }

  async foreignDps(): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    for (const [name, id] of operatorDps(await this.facts())) if (id !== undefined) out.set(name, id);
    return out;
  }

  async dpNameConflict(
    name: string,
    network?: { readonly id: string; readonly dpHost?: string },
  ): Promise<string | undefined> {
    const facts = await this.facts();
    if (network?.dpHost === undefined) return dpNameConflict(name, facts);
    return dpNameHeld(faucetDpName({ name, dpHost: network.dpHost }) ?? name, network.id, facts);
  }

  async dpHolders(): Promise<DpHolder[]> {
    return dpHolders(await this.facts());
  }

  async stackableDps(): Promise<Set<string>> {
    const facts = await this.facts();
    const own = this.deps.extras.stackFacts?.()?.dpName ?? '';
    return new Set([...operatorDps(facts).keys(), ...peerStackDps(facts, own)]);
  }

  async definedAcls(): Promise<Set<string>> {
    return new Set((await this.facts()).acls);
  }

  async aclUsage(): Promise<{ input: Set<string>; output: Set<string> }> {
    const u = (await this.facts()).aclUsage;
    return { input: new Set(u.input), output: new Set(u.output) };
  }

  async operatorVlans(): Promise<ReadonlySet<number>> {
    return operatorVlanIds(await this.facts());
  }

  sync(reason: string): Promise<void> {
    return this.track(this.request(reason));
  }

  rewrite(reason: string): Promise<void> {
    return this.track(this.request(reason, true));
  }

  runsSpare(networkId: string, ofport: number): boolean {
    const n = this.deps.state.network(networkId);
    if (n === undefined || this.unconfirmed !== undefined) return false;
    // A switch FAUCET is still starting can lose the port's ADD (see PortRaiser.raise).
    if (!this.raiser.warm(n.options.dpid)) return false;
    return runsEntry(this.confirmed?.plan, faucetDpName(n), ofport, SPARE_DESCRIPTION);
  }

  runsReady(networkId: string, port: ReadyPort): boolean {
    // Not gated on FAUCET answering: the flows are in the switch, and a busy FAUCET is when
    // ready ports matter most.
    const n = this.deps.state.network(networkId);
    if (n === undefined || !this.readyWatch.has(port.hostIf)) return false;
    return runsEntry(this.confirmed?.plan, faucetDpName(n), port.ofport, READY_DESCRIPTION);
  }

  mirroredNumbers(networkId: string): ReadonlySet<number> {
    return mirroredNumbers(this.deps.state, networkId, [this.confirmed?.plan, this.memory.last]);
  }

  spareNumbers(networkId: string): ReadonlySet<number> {
    return new Set(this.memory.spares.get(networkId) ?? []);
  }

  /** Whether dovesnap is writing FAUCET's configuration now, or FAUCET has not confirmed the last write. */
  busy(): boolean {
    return this.passes.busy() || this.unconfirmed !== undefined;
  }

  idle(): Promise<void> {
    return this.passes.idle();
  }

  openedEarly(endpointId: string): void {
    const e = this.deps.state.endpoint(endpointId);
    if (e === undefined) return;
    this.raiser.markRaised(e.hostIf);
    this.earlyOpened.add(endpointId);
  }

  recheckPorts(reason: string, opts: { readonly hostPorts?: boolean } = {}): void {
    const ports = this.raiser.recheck(opts.hostPorts !== false);
    this.deps.log.debug({ reason, ports }, 'checking again that FAUCET sees the raised ports up');
  }

  unhealthy(): string | undefined {
    const u = this.unconfirmed;
    if (u === undefined) return undefined;
    const since = new Date(u.since).toISOString();
    // The faucetconfrpc server away: say so first (remote-store.ts).
    if (u.message.startsWith(PENDING)) return `${u.message} (since ${since})`;
    return `FAUCET has not confirmed a configuration since ${since}: ${u.message}`;
  }

  connect(): Promise<void> {
    return this.deps.backend.connect();
  }

  async fileChanged(): Promise<void> {
    const text = await this.deps.backend.refresh();
    if (text === this.confirmed?.text || sha256Hex(text) === this.deps.store.lastWrittenSha) return;
    await this.track(this.request(this.deps.backend.changedReason));
  }

  async close(): Promise<void> {
    this.raiser.close();
    this.readyWatch.close();
    // Names waiting for a quiet moment go out now.
    if (this.deferred !== undefined) {
      this.deferred.cancel();
      this.deferred = undefined;
      void this.track(this.request('port descriptions (shutdown)', true)).catch(() => undefined);
    }
    // Let every write in flight finish and be confirmed (or fail): a daemon stopped in the
    // middle would leave FAUCET's file and FAUCET's running state for the next start to sort out.
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    this.deps.backend.close();
  }
}

/** The local faucet.yaml: written, FAUCET signalled, its metrics read for confirmation. */
function localBackend(settings: DaemonSettings, log: Logger, control: FaucetControl | undefined): FaucetBackend {
  const reload =
    control?.reload ??
    (settings.faucetPidfile === undefined
      ? async () => log.debug('no FAUCET pidfile configured: relying on FAUCET_CONFIG_STAT_RELOAD')
      : pidfileReloader({ faucetPidfile: settings.faucetPidfile, gaugePidfile: settings.gaugePidfile, logger: log }));
  const store = new FaucetConfigStore({
    configPath: settings.faucetConfigPath,
    reload,
    metricsUrl: settings.faucetMetricsUrl,
    confirmTimeoutMs: settings.faucetConfirmTimeoutMs,
    pollIntervalMs: POLL_MS,
    logger: log,
    // `dovesnap lab` writes the file too (its ACLs): neither renames inside the other's re-check.
    lockRenames: true,
  });
  const backend: FaucetBackend = {
    store,
    readNow: () => {
      try {
        return readFileSync(settings.faucetConfigPath, 'utf8');
      } catch {
        return '';
      }
    },
    refresh: async () => backend.readNow(),
    changedReason: 'faucet.yaml changed',
    connect: async () => undefined,
    close: () => undefined,
  };
  return backend;
}

/**
 * FAUCET's configuration on another host, through faucetconfrpc (FAUCETCONFRPC_*). `retry` is
 * asked for a sync while the server cannot be reached, with a growing delay.
 */
function remoteBackend(
  settings: DaemonSettings,
  server: ConfrpcConnection,
  log: Logger,
  retry: () => void,
): FaucetBackend {
  const store = new RemoteFaucetStore({
    api: server.api,
    target: server.target,
    metricsUrl: settings.faucetMetricsUrl,
    confirmTimeoutMs: settings.faucetConfirmTimeoutMs,
    pollIntervalMs: POLL_MS,
    retry,
    logger: log,
  });
  return {
    store,
    readNow: () => store.cachedText(),
    refresh: () => store.read(),
    changedReason: 'FAUCET configuration changed on the faucetconfrpc server',
    connect: async () => {
      const ok = await server.connect((attempt, err) =>
        log.warn(
          { attempt, of: server.attempts, server: server.target, err: errorMessage(err) },
          'faucetconfrpc server not reached yet',
        ),
      );
      if (ok) log.info({ server: server.target }, 'connected to the faucetconfrpc server');
      else
        log.error(
          { server: server.target, attempts: server.attempts },
          `faucetconfrpc server not reached (FAUCETCONFRPC_CONNRETRIES attempts): ${PENDING} until it answers; dovesnap keeps trying`,
        );
    },
    close: () => {
      store.close();
      server.close();
    },
  };
}

export function createFaucetView(
  settings: DaemonSettings,
  state: StateStore,
  vswitch: VSwitch,
  host: HostNet,
  log: Logger,
  control?: FaucetControl,
  extras: FaucetExtras = {},
): ClosableFaucetView {
  const flog = log.child({ component: 'faucet' });
  const clock = control?.clock ?? systemClock;
  let applier: FaucetApplier | undefined;
  if (settings.confrpc !== undefined && extras.confrpc === undefined)
    throw new DovesnapError(
      ErrorCode.Internal,
      'bug: FAUCETCONFRPC_ADDR is set but no faucetconfrpc client was opened',
    );
  const backend =
    extras.confrpc === undefined
      ? localBackend(settings, flog, control)
      : remoteBackend(settings, extras.confrpc, flog, () => {
          const a = applier;
          if (a !== undefined)
            void a.track(a.request(`${PENDING}: trying the faucetconfrpc server again`)).catch(() => undefined);
        });
  const store = backend.store;
  applier = new FaucetApplier(
    {
      backend,
      planner: { readyPorts: settings.readyPorts, sparePorts: settings.sparePorts },
      defer: { quietMs: control?.quietMs ?? QUIET_MS, maxDeferMs: control?.maxDeferMs ?? MAX_DEFER_MS },
      state,
      vswitch,
      store,
      log: flog,
      clock,
      extras,
    },
    (applier) =>
      new PortRaiser({
        state,
        vswitch,
        host,
        logger: flog,
        clock,
        metricsUrl: settings.faucetMetricsUrl,
        confirmTimeoutMs: settings.faucetConfirmTimeoutMs,
        pollMs: POLL_MS,
        verifyAfterMs: control?.verifyAfterMs ?? VERIFY_AFTER_MS,
        coldStartWindowMs: control?.coldStartWindowMs ?? COLD_START_WINDOW_MS,
        runningLabels: (dpId, number) => applier.runningLabels(dpId, number),
        track: (work) => void applier.track(work),
      }),
    (applier) =>
      new ReadyFlowWatch({
        vswitch,
        host,
        logger: flog,
        network: (id) => state.network(id),
        programmedPorts: extras.programmedPorts ?? inPortsWithFlows,
        requestSync: (reason) => void applier.track(applier.request(reason)).catch(() => undefined),
        track: (work) => void applier.track(work),
        faucetBusy: () => applier.busy(),
        sleep: (ms) => clock.sleep(ms),
        ...(control?.readyCheckMs === undefined ? {} : { checkMs: control.readyCheckMs }),
        ...(control?.readyCheckAttempts === undefined ? {} : { attempts: control.readyCheckAttempts }),
      }),
  );
  return applier;
}
