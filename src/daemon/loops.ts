import { watch } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import type { StateStore } from '../driver/state.js';
import type { VSwitch } from '../ovs/vswitch.js';
import { watchBridgePorts } from '../driver/bridge-watch.js';
import type { Driver } from '../driver/driver.js';
import type { NarwhalDriver } from '../narwhal/driver.js';
import type { DaemonMetrics } from '../status/metrics.js';

/** How often faucet.yaml is rendered again and dead ports looked for, even if nothing seemed to change. */
export const RESYNC_MS = 30_000;
/** How often the mirror bridge's flows are rewritten even if nothing seemed to change (ovs-vswitchd forgets them on restart). */
export const MIRROR_CHECK_MS = 10_000;
/**
 * How often another host's faucetconfrpc server is asked for FAUCET's configuration: other
 * hosts' writes (a stack switch joining, a mirror sink port declared) reach this host only so.
 */
export const REMOTE_CONFIG_CHECK_MS = 5_000;
/** How often leftovers (see Driver.collectGarbage) are looked for after the start. */
export const GC_MS = 60_000;
/** How long OVSDB must be quiet before the host-wide switches are looked at after a change. */
const OVSDB_QUIET_MS = 1_000;
/** How long faucet.yaml must be quiet after a change before it is read. */
const FAUCET_FILE_QUIET_MS = 300;

/**
 * Intervals, watchers and subscriptions, each registered with what ends it, all ended together
 * in the order they were registered. Every timer is unref'd: none keeps the process alive.
 */
export class Periodic {
  private readonly stops: (() => void)[] = [];

  /** `fn` every `ms`. */
  every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.stops.push(() => clearInterval(timer));
  }

  /** Something started elsewhere (a watcher, a subscription) that ends with the others. */
  own(stop: () => void): void {
    this.stops.push(stop);
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
  }
}

/** Runs `fn` once `ms` have passed since the last `poke`; `cancel` drops a run not yet due. */
function afterQuiet(ms: number, fn: () => void): { poke(): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const cancel = (): void => {
    if (timer !== undefined) clearTimeout(timer);
  };
  return {
    poke() {
      cancel();
      timer = setTimeout(fn, ms);
      timer.unref();
    },
    cancel,
  };
}

/** What the daemon's periodic work acts on. */
export interface LoopTargets {
  readonly state: StateStore;
  readonly vswitch: VSwitch;
  readonly faucet: {
    sync(reason: string): Promise<void>;
    recheckPorts(reason: string, opts?: { hostPorts?: boolean }): void;
    /** The configuration (faucet.yaml, or the faucetconfrpc server's) may have changed. */
    fileChanged(): Promise<void>;
  };
  /** The local faucet.yaml, watched for edits; undefined when FAUCET's configuration is another host's. */
  readonly faucetConfigPath: string | undefined;
  /** The host-wide switches (mirror bridge, stack): owned state, reconciled again and again. */
  readonly hostWide: readonly { ensure(why: string): Promise<void> }[];
  /** Looks for leftovers and tops ready ports up (see startDaemon). */
  readonly collect: () => Promise<void>;
  readonly replenish: () => void;
  readonly logger: Logger;
}

/**
 * Starts the daemon's periodic work and the watchers that feed it; `stop()` on the result ends
 * all of it. Each loop mends something that can drift while nobody asks: faucet.yaml edited by
 * hand, a link-up FAUCET missed, ports added outside dovesnap, flows ovs-vswitchd forgot,
 * leftovers of what failed half-way.
 */
export function startLoops(t: LoopTargets): Periodic {
  const loops = new Periodic();
  const log = t.logger;
  // A hand edit of faucet.yaml racing one of ours can leave our DPs out of the file; a cheap
  // periodic render (no write when nothing differs) puts them back.
  loops.every(RESYNC_MS, () => {
    t.faucet.sync('periodic check').catch(() => undefined);
    // A link-up FAUCET missed leaves a port dead until someone looks: look, now and then.
    t.faucet.recheckPorts('periodic check', { hostPorts: false });
  });
  // No file to watch when the configuration is on a faucetconfrpc server: read it now and then,
  // and re-render when someone else changed it (fileChanged ignores this host's own writes).
  if (t.faucetConfigPath === undefined)
    loops.every(REMOTE_CONFIG_CHECK_MS, () => {
      t.faucet.fileChanged().catch(() => undefined);
    });
  else
    loops.own(
      watchFaucetConfig(
        t.faucetConfigPath,
        () => {
          t.faucet.fileChanged().catch(() => undefined);
        },
        log,
      ),
    );
  loops.own(
    watchBridgePorts({ state: t.state, vswitch: t.vswitch, sync: (reason) => t.faucet.sync(reason), logger: log }),
  );
  // Host-wide switches (mirror bridge, stack) are owned state: reconciled on every network
  // change, once OVSDB has settled after a change, and periodically (ovs-vswitchd forgets flows).
  const ensureHostWide = (why: string): void => {
    for (const r of t.hostWide) void r.ensure(why);
  };
  loops.own(
    t.state.subscribe((change) => {
      if (change.kind === 'network') ensureHostWide(change.record === undefined ? 'network removed' : 'network added');
    }),
  );
  // Every port dovesnap adds is an OVSDB change too: look once things are quiet.
  const ovsdbQuiet = afterQuiet(OVSDB_QUIET_MS, () => ensureHostWide('OVSDB changed'));
  loops.own(t.vswitch.onChange(() => ovsdbQuiet.poke()));
  loops.every(MIRROR_CHECK_MS, () => ensureHostWide('periodic check'));
  loops.own(ovsdbQuiet.cancel);
  loops.every(GC_MS, () => {
    t.collect().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'leftover collection failed'));
    // A top-up cut short (OVSDB or FAUCET away) is finished here: its ports made, or announced.
    t.replenish();
  });
  return loops;
}

/**
 * Looks for what failed half-way and belongs to nothing (narwhal's and the OVS driver's leftover
 * links, ports and forwarding rules), removes it and counts it: at start, when OVSDB is back,
 * and every GC_MS.
 */
export function leftoverCollector(deps: {
  readonly narwhal: Pick<NarwhalDriver, 'collectGarbage'>;
  readonly driver: Pick<Driver, 'collectGarbage'>;
  readonly metrics: Pick<DaemonMetrics, 'repaired'>;
  readonly logger: Logger;
}): () => Promise<void> {
  const { narwhal, driver, metrics, logger: log } = deps;
  return async () => {
    const leftovers = await narwhal
      .collectGarbage()
      .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'narwhal leftover collection failed'));
    metrics.repaired('leftover_link', leftovers?.links.length ?? 0);
    metrics.repaired('forwarding_rule', leftovers?.rules.length ?? 0);
    const found = await driver.collectGarbage();
    metrics.repaired('leftover_link', found.links.length);
    metrics.repaired('leftover_port', found.ports.length);
    metrics.repaired('forwarding_rule', found.forwardingTags.length);
  };
}

/**
 * Calls `onChange` (debounced) when faucet.yaml changes: an operator's edit that dropped or
 * broke dovesnap's DPs is mended within a second rather than at the next periodic check. The
 * directory is watched, since an atomic replace (ours, an editor's) is a new file. A sync
 * against an unchanged file costs a read and a compare.
 */
function watchFaucetConfig(configPath: string, onChange: () => void, log: Logger): () => void {
  const quiet = afterQuiet(FAUCET_FILE_QUIET_MS, onChange);
  try {
    const watcher = watch(path.dirname(configPath), (_event, file) => {
      if (file !== null && file !== path.basename(configPath)) return;
      quiet.poke();
    });
    watcher.on('error', (err) =>
      log.warn({ err: errorMessage(err) }, 'no longer watching faucet.yaml; the periodic check still runs'),
    );
    watcher.unref();
    return () => {
      quiet.cancel();
      watcher.close();
    };
  } catch (err) {
    log.warn({ path: configPath, err: errorMessage(err) }, 'cannot watch faucet.yaml; the periodic check still runs');
    return () => undefined;
  }
}
