import { readFileSync } from 'node:fs';
import type { Logger } from '../util/log.js';
import type { FaucetConfigOutcome } from '../faucet/types.js';
import { ErrorCode, errorMessage, isDovesnapError } from '../util/errors.js';
import type { DaemonSettings } from '../config/settings.js';
import { FaucetConfigStore, pidfileReloader, sha256Hex } from '../faucet/store.js';
import { FaucetConfigReader, type FaucetConfigFacts } from '../faucet/config-facts.js';
import { portReportedUp, readPortStatus, readRunningDps } from '../faucet/metrics.js';
import type { PortState, VSwitch } from '../ovs/vswitch.js';
import type { FaucetView } from './driver.js';
import type { ManagedFaucetState } from '../faucet/types.js';
import {
  antispoofOn,
  blockReason,
  captureOn,
  dpNameConflict,
  managedState,
  operatorDps,
  operatorVlanIds,
} from './faucet-desired.js';
import {
  fullKey,
  nextSpares,
  policyKey,
  portPolicies,
  preallocatedNumbers,
  SPARE_DESCRIPTION,
  spareTarget,
} from './faucet-plan.js';
import { heldPortNumbers } from './port-numbers.js';
import { OFPP_LOCAL } from '../faucet/types.js';
import type { EndpointRecord, StateStore } from './state.js';
import type { StackFacts } from './stack.js';
import type { HostNet } from './host.js';
import { HOST_VETH_PREFIX, READY_HOST_PREFIX } from '../net/links.js';
import { inPortsWithFlows } from '../ovs/ofctl.js';
import { keepsReadyPorts, READY_DESCRIPTION, readyPortsOf, type ReadyPort } from './port-pool.js';

/** With FAUCET's metrics filtered to a few lines, polling this often costs next to nothing. */
const POLL_MS = 20;

/** Injected in tests; in the daemon built from the settings. */
export interface FaucetControl {
  readonly reload: () => Promise<void>;
  /** A change that only renames ports waits this long for quiet (default 5 s)… */
  readonly quietMs?: number;
  /** …but never longer than this (default 60 s). */
  readonly maxDeferMs?: number;
  /** How long after raising ports FAUCET's port_status is looked at (default 2 s). */
  readonly verifyAfterMs?: number;
  /** How long a switch counts as just started (default 15 s): see COLD_START_WINDOW_MS. */
  readonly coldStartWindowMs?: number;
  /** How often the switch's flows are read for new ready ports (default 1 s), and how many times (default 30). */
  readonly readyCheckMs?: number;
  readonly readyCheckAttempts?: number;
}

const QUIET_MS = 5_000;
/** How long after raising ports FAUCET's port_status is checked, how often, and how long a bounce's down lasts. */
const VERIFY_AFTER_MS = 2_000;
const VERIFY_ATTEMPTS = 3;
const BOUNCE_MS = 200;
/** Ports raised this soon after their switch started running are checked. */
const COLD_START_WINDOW_MS = 15_000;
const MAX_DEFER_MS = 60_000;
/** How often, and how many times, the switch's flows are read for new ready ports. */
const READY_CHECK_ATTEMPTS = 30;
const READY_CHECK_MS = 1_000;

/** One render of the desired state, and what it means for the ports. */
interface Plan {
  readonly managed: ManagedFaucetState;
  /** Endpoints whose ports this render opens. */
  readonly opened: ReadonlySet<string>;
  readonly policy: string;
  readonly full: string;
  readonly ports: ReadonlyMap<string, ReadonlyMap<number, string>>;
  readonly spares: ReadonlyMap<string, readonly number[]>;
}

/**
 * Whether FAUCET, running `dp`, copies port `number`'s traffic somewhere: a number a mirrored
 * container gave back is still listed until FAUCET has reloaded, and a port handed out under it
 * would be mirrored (seen: a container recreated without the mirror label took a ready port of
 * that number and was mirrored).
 */
export function mirroredIn(dp: MirroringDp, number: number): boolean {
  return mirrorTargets(dp).has(number);
}

type MirroringDp = {
  readonly ports: readonly { readonly number: number; readonly mirror?: readonly number[]; readonly capture?: true }[];
};

/**
 * Every port number some port of `dp` mirrors because of a container's label (the mirror link,
 * the stack loopback). Not a capture port's list: it copies every port of the network, the
 * ready and spare entries included, so a number in it is copied whoever takes it, as it should
 * be (counting it would keep every ready port and spare from being handed out).
 */
function mirrorTargets(dp: MirroringDp | undefined, into = new Set<number>()): Set<number> {
  for (const port of dp?.ports ?? []) if (port.capture !== true) for (const m of port.mirror ?? []) into.add(m);
  return into;
}

/** Endpoints whose ports a configuration rendered now opens. */
function openPorts(state: StateStore, definedAcls: ReadonlySet<string>, outputAcls: ReadonlySet<string>): Set<string> {
  return new Set(
    state
      .allEndpoints()
      .filter(
        (e) =>
          e.container !== undefined &&
          e.ofport !== undefined &&
          state.network(e.networkId)?.localFaucet === true &&
          blockReason(e, definedAcls, outputAcls) === undefined,
      )
      .map((e) => e.id),
  );
}

export interface ClosableFaucetView extends FaucetView {
  /** faucet.yaml changed on disk: re-render unless the change is dovesnap's own write. */
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
  close(): Promise<void>;
}

/**
 * The daemon's FAUCET: reads faucet.yaml for what the operator defined, and re-renders it from
 * the model on every change. Each sync renders the state as it is at write time, and the store
 * coalesces bursts, so fifty containers starting together cost a handful of FAUCET reloads.
 */
/** Parts of FAUCET's configuration that come from elsewhere than the model: the stack switch. */
export interface FaucetExtras {
  readonly stackFacts?: () => StackFacts | undefined;
  /** Told of each configuration write and what FAUCET made of it (for metrics). */
  readonly onConfigOutcome?: (outcome: FaucetConfigOutcome, detail?: string) => void;
  /** The input ports the bridge has flows for (default: `ovs-ofctl dump-flows`); see checkReady. */
  readonly programmedPorts?: (bridge: string) => Promise<Set<number>>;
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
  const reload =
    control?.reload ??
    (settings.faucetPidfile === undefined
      ? async () => flog.debug('no FAUCET pidfile configured: relying on FAUCET_CONFIG_STAT_RELOAD')
      : pidfileReloader({ faucetPidfile: settings.faucetPidfile, gaugePidfile: settings.gaugePidfile, logger: flog }));
  const store = new FaucetConfigStore({
    configPath: settings.faucetConfigPath,
    reload,
    metricsUrl: settings.faucetMetricsUrl,
    confirmTimeoutMs: settings.faucetConfirmTimeoutMs,
    pollIntervalMs: POLL_MS,
    logger: flog,
    // `dovesnap lab` writes the file too (its ACLs): neither renames inside the other's re-check.
    lockRenames: true,
  });

  const reader = new FaucetConfigReader();
  /** Syncs not yet settled: shutdown waits for them, so no write is cut off half-confirmed. */
  const inflight = new Set<Promise<void>>();
  /** Checks that FAUCET saw raised ports come up (see verifyUp). */
  const verifyTimers = new Set<NodeJS.Timeout>();
  /** Host interfaces raised again, by bridge/name/ofport (see verifyHostPorts). */
  const hostPortBounces = new Map<string, number>();
  let hostVerifyPending = false;
  /** When this process first saw FAUCET running each DP. */
  const runningSince = new Map<bigint, number>();
  let closing = false;

  const track = (p: Promise<void>): Promise<void> => {
    const settled = p.catch(() => undefined);
    inflight.add(settled);
    void settled.finally(() => inflight.delete(settled));
    return p;
  };

  const readNow = (): string => {
    try {
      return readFileSync(settings.faucetConfigPath, 'utf8');
    } catch {
      return '';
    }
  };

  /** Each local network's bridge ports, read once per sync (from the OVSDB replica). */
  const bridgePorts = async (): Promise<Map<string, readonly PortState[]>> => {
    const out = new Map<string, readonly PortState[]>();
    for (const n of state.allNetworks())
      if (n.localFaucet) out.set(n.id, (await vswitch.getBridge(n.bridgeName))?.ports ?? []);
    return out;
  };

  /** Endpoints whose ports the last confirmed configuration opened. */
  let opened: ReadonlySet<string> = new Set<string>();
  /** The newest render; coalesced syncs share one render, so this is shared too. */
  let lastPlan: Plan | undefined;
  /** The render FAUCET last confirmed running, and the file's text right after it. */
  let confirmed: Plan | undefined;
  let confirmedText: string | undefined;
  /** Spare numbers of the last render, and the numbers it gave each network's ports. */
  let spareSets: ReadonlyMap<string, readonly number[]> = new Map();
  let renderedNumbers = new Map<string, Set<number>>();
  /** Ready ports (by host end) whose flows the switch was seen to have under the confirmed configuration. */
  const programmedReady = new Set<string>();
  const programmedPorts = extras.programmedPorts ?? inPortsWithFlows;
  const readyCheckMs = control?.readyCheckMs ?? READY_CHECK_MS;
  const readyCheckAttempts = control?.readyCheckAttempts ?? READY_CHECK_ATTEMPTS;
  /** Host ends already brought up by this process. */
  const raised = new Set<string>();
  /** Endpoints opened at CreateEndpoint on a spare entry, until their container is known. */
  const openedEarly = new Set<string>();
  const quietMs = control?.quietMs ?? QUIET_MS;
  const maxDeferMs = control?.maxDeferMs ?? MAX_DEFER_MS;
  const coldStartWindowMs = control?.coldStartWindowMs ?? COLD_START_WINDOW_MS;
  let deferred: { timer: NodeJS.Timeout; firstAt: number; full: string } | undefined;
  /** Set while FAUCET does not confirm what dovesnap writes (down, or not handling events). */
  let unconfirmed: { since: number; message: string } | undefined;

  /** Port numbers of a network that FAUCET runs, or was last given, in a `mirror:` list. */
  const mirroredNumbers = (networkId: string): ReadonlySet<number> => {
    const name = state.network(networkId)?.name;
    const out = new Set<number>();
    for (const p of [confirmed, lastPlan])
      mirrorTargets(
        p?.managed.dps.find((d) => d.name === name),
        out,
      );
    return out;
  };

  /** Numbers a network's spares may not use: every port on its bridge but unresolved containers'. */
  const takenNumbers = (
    networkId: string,
    ports: readonly PortState[],
    definedAcls: ReadonlySet<string>,
    outputAcls: ReadonlySet<string>,
  ): Set<number> => {
    const taken = new Set<number>();
    const unresolved = new Set<string>();
    for (const e of state.endpointsOf(networkId)) {
      // A port not yet tied to a container is down; its number may stay a spare until it is.
      if (e.container === undefined && e.ofport !== undefined) unresolved.add(e.hostIf);
      else if (e.ofport !== undefined) taken.add(e.ofport);
      // Never a spare (which would carry traffic) for a port dovesnap keeps closed.
      if (e.ofport !== undefined && e.container !== undefined && blockReason(e, definedAcls, outputAcls) !== undefined)
        taken.add(e.ofport);
    }
    const net = state.network(networkId);
    if (net !== undefined)
      for (const n of heldPortNumbers(ports, net.options, mirroredNumbers(networkId), unresolved)) taken.add(n);
    return taken;
  };

  const planSpares = (
    ports: ReadonlyMap<string, readonly PortState[]>,
    facts: FaucetConfigFacts,
  ): Map<string, number[]> => {
    const definedAcls = facts.acls;
    const outputAcls = facts.aclUsage.output;
    const out = new Map<string, number[]>();
    for (const n of state.allNetworks()) {
      if (!n.localFaucet || n.name === undefined) continue;
      // A network with ready ports hands them to its containers: its spares serve only while the
      // pool is empty, so they stay at the floor (grown with the network, they cost whole-DP
      // reloads that served nobody: two in the N = 500 benchmark).
      const ready = keepsReadyPorts(n, settings.readyPorts);
      const target = spareTarget(ready ? 0 : state.endpointsOf(n.id).length, settings.sparePorts);
      // After a restart, the spares FAUCET runs now: a restarted daemon does not rewrite
      // FAUCET's file (a reload of a big DP costs seconds) only to pick other numbers.
      const inFile = (): number[] =>
        [...(facts.dps.get(n.name ?? '')?.interfaceDescriptions ?? new Map<number, string>())]
          .filter(([, d]) => d === SPARE_DESCRIPTION)
          .map(([x]) => x);
      const previous = [...(spareSets.get(n.id) ?? inFile()), ...(renderedNumbers.get(n.id) ?? [])];
      const taken = takenNumbers(n.id, ports.get(n.id) ?? [], definedAcls, outputAcls);
      const chosen = nextSpares(previous, taken, target);
      // ovs.bridge.preallocate_ports: these entries stay whatever the spare policy does. A
      // network with ready ports has its N as ready ports instead (core/port-pool.ts).
      if (ready) {
        out.set(n.id, chosen);
        continue;
      }
      const endpointPorts = new Set(state.endpointsOf(n.id).map((e) => e.hostIf));
      const others = new Set(
        (ports.get(n.id) ?? [])
          .filter((p) => p.ofport !== undefined && !endpointPorts.has(p.name) && p.name !== n.bridgeName)
          .map((p) => p.ofport as number),
      );
      const fixed = preallocatedNumbers(n.options, others).filter((x) => !taken.has(x) && !chosen.includes(x));
      out.set(n.id, fixed.length === 0 ? chosen : [...chosen, ...fixed].sort((a, b) => a - b));
    }
    return out;
  };

  const plan = (
    text: string,
    ports: ReadonlyMap<string, readonly PortState[]>,
    spares: ReadonlyMap<string, readonly number[]>,
  ): Plan => {
    const facts = reader.facts(text);
    const managed = managedState(state, facts, facts.acls, ports, spares, extras.stackFacts?.());
    return {
      managed,
      opened: openPorts(state, facts.acls, facts.aclUsage.output),
      policy: policyKey(managed.dps, managed.vlans),
      full: fullKey(managed.dps, managed.vlans),
      ports: portPolicies(managed.dps),
      spares,
    };
  };

  /** Remembers what a render gave out, so that the next one keeps it (see nextSpares). */
  const noteRendered = (p: Plan): void => {
    spareSets = p.spares;
    const numbers = new Map<string, Set<number>>();
    for (const n of state.allNetworks()) {
      const dp = p.managed.dps.find((d) => d.name === n.name);
      if (dp !== undefined) numbers.set(n.id, new Set(dp.ports.map((x) => x.number).filter((x) => x !== OFPP_LOCAL)));
    }
    renderedNumbers = numbers;
  };

  /** The DP name and port description FAUCET runs for a port: how it labels the port's live series. */
  const runningLabels = (dpId: bigint, number: number): { dpName?: string; description?: string } => {
    const dp = confirmed?.managed.dps.find((d) => d.dpId === dpId);
    const description = dp?.ports.find((p) => p.number === number)?.description;
    return { ...(dp === undefined ? {} : { dpName: dp.name }), ...(description === undefined ? {} : { description }) };
  };

  /**
   * FAUCET also ignores port events of a switch it has not finished starting (a new network's
   * switch connects a moment after its DP is configured). Wait for its dp_status first.
   */
  const waitUntilRunning = async (dpIds: ReadonlySet<bigint>): Promise<void> => {
    const url = settings.faucetMetricsUrl;
    if (url === undefined || dpIds.size === 0) return;
    const deadline = Date.now() + settings.faucetConfirmTimeoutMs;
    for (;;) {
      const running = await readRunningDps(url).catch(() => new Set<bigint>());
      for (const id of running) if (!runningSince.has(id)) runningSince.set(id, Date.now());
      if ([...dpIds].every((id) => running.has(id))) return;
      if (Date.now() > deadline) {
        flog.warn(
          { dps: [...dpIds].map((d) => `0x${d.toString(16)}`) },
          'FAUCET is not running the switch yet; raising its ports anyway',
        );
        return;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  /**
   * A container's switch port gets carrier only once FAUCET runs a configuration that has the
   * port. FAUCET ignores a port's link-up while it does not know the port, or while it is still
   * cold-starting the switch, and then treats the port as down for good; raising the link after
   * the configuration is loaded makes FAUCET see the link come up, every time.
   */
  const raiseOpened = async (ids: ReadonlySet<string>): Promise<void> => {
    const toRaise = [...ids]
      .map((id) => state.endpoint(id))
      .filter((e): e is EndpointRecord => e !== undefined && !raised.has(e.hostIf));
    if (toRaise.length === 0) return;
    const dpIds = new Set(
      toRaise.map((e) => state.network(e.networkId)?.options.dpid).filter((d): d is bigint => d !== undefined),
    );
    await waitUntilRunning(dpIds);
    const now: EndpointRecord[] = [];
    for (const e of toRaise) {
      try {
        await host.setLinkUp(e.hostIf);
        raised.add(e.hostIf);
        now.push(e);
      } catch (err) {
        flog.warn({ port: e.hostIf, err: errorMessage(err) }, 'could not bring the switch port up');
      }
    }
    for (const name of raised) if (!state.allEndpoints().some((e) => e.hostIf === name)) raised.delete(name);
    // Only a switch FAUCET has just started can lose a link-up; elsewhere a port FAUCET has not
    // reported up yet is one it has not got to (a busy FAUCET), and a bounce would only add work.
    const fresh = now.filter((e) => {
      const dpid = state.network(e.networkId)?.options.dpid;
      const since = dpid === undefined ? undefined : runningSince.get(dpid);
      return since !== undefined && Date.now() - since < coldStartWindowMs;
    });
    verifyUp(
      fresh.map((e) => e.id),
      1,
    );
  };

  /**
   * Host interfaces on a network's bridge (`add_ports`, coprocessor ports, ports added by hand)
   * are up before FAUCET has their entry, and FAUCET ignores the link-up of a port it does not
   * know: it then keeps the port down for good (seen in CI: a hand-added port that never carried
   * traffic). After a configuration is confirmed, a host interface that is up while FAUCET reports
   * its port down is taken down and up again, which FAUCET sees; at most three times per port.
   */
  const verifyHostPorts = (attempt: number): void => {
    const url = settings.faucetMetricsUrl;
    if (url === undefined || closing || hostVerifyPending) return;
    hostVerifyPending = true;
    const timer = setTimeout(() => {
      verifyTimers.delete(timer);
      hostVerifyPending = false;
      void track(
        (async () => {
          // Candidates from the OVSDB replica first: most writes concern bridges with no host
          // interface at all, and then FAUCET's metrics are not fetched.
          const candidates: { bridge: string; dpid: bigint; name: string; ofport: number }[] = [];
          for (const n of state.allNetworks()) {
            if (!n.localFaucet || n.name === undefined) continue;
            const bridge = await vswitch.getBridge(n.bridgeName).catch(() => undefined);
            for (const p of bridge?.ports ?? []) {
              // Kernel interfaces only (not patch ports), and not container ports (raiseOpened's)
              // nor ready ports (whose entries FAUCET runs whatever their link does).
              if (
                p.type !== '' ||
                p.ofport === undefined ||
                p.name.startsWith(HOST_VETH_PREFIX) ||
                p.name.startsWith(READY_HOST_PREFIX)
              )
                continue;
              if ((hostPortBounces.get(`${n.bridgeName}/${p.name}/${p.ofport}`) ?? 0) < VERIFY_ATTEMPTS)
                candidates.push({ bridge: n.bridgeName, dpid: n.options.dpid, name: p.name, ofport: p.ofport });
            }
          }
          if (candidates.length === 0) return;
          const status = await readPortStatus(url).catch(() => undefined);
          if (status === undefined) return;
          let bounced = false;
          for (const p of candidates) {
            if (
              portReportedUp(status, p.dpid, p.ofport, runningLabels(p.dpid, p.ofport)) !== false ||
              !(await host.linkIsUp(p.name))
            )
              continue;
            const key = `${p.bridge}/${p.name}/${p.ofport}`;
            const done = hostPortBounces.get(key) ?? 0;
            flog.warn(
              { bridge: p.bridge, port: p.name, ofport: p.ofport, attempt: done + 1 },
              'FAUCET reports a host interface down that is up (it missed the link-up); raising it again',
            );
            try {
              await host.setLinkDown(p.name);
              await new Promise((r) => setTimeout(r, BOUNCE_MS));
              await host.setLinkUp(p.name);
              hostPortBounces.set(key, done + 1);
              bounced = true;
            } catch (err) {
              flog.warn({ port: p.name, err: errorMessage(err) }, 'could not raise the host interface again');
            }
          }
          if (bounced && attempt < VERIFY_ATTEMPTS) verifyHostPorts(attempt + 1);
        })(),
      );
    }, control?.verifyAfterMs ?? VERIFY_AFTER_MS);
    timer.unref();
    verifyTimers.add(timer);
  };

  /**
   * The link-up of a port can still be lost when it lands while FAUCET cold-starts the switch
   * (seen with a brand-new network whose first container takes a spare entry at once): FAUCET
   * then keeps the port down for good. A moment after raising ports, FAUCET's own port_status
   * says whether it saw them; a port it reports down is taken down and up again, which FAUCET
   * does see, a couple of times at most.
   */
  const verifyUp = (ids: readonly string[], attempt: number): void => {
    const url = settings.faucetMetricsUrl;
    if (url === undefined || ids.length === 0 || closing) return;
    const timer = setTimeout(() => {
      verifyTimers.delete(timer);
      void track(
        (async () => {
          const status = await readPortStatus(url).catch(() => undefined);
          if (status === undefined) return;
          const missed: string[] = [];
          for (const id of ids) {
            const e = state.endpoint(id);
            const dpid = e === undefined ? undefined : state.network(e.networkId)?.options.dpid;
            if (e?.ofport === undefined || dpid === undefined || !raised.has(e.hostIf)) continue;
            // Opened at CreateEndpoint and not yet resolved: down in FAUCET until Docker raises the
            // container's end, which is no missed link-up.
            if (e.container === undefined) continue;
            if (portReportedUp(status, dpid, e.ofport, runningLabels(dpid, e.ofport)) !== false) continue;
            // Only a port that should carry traffic and whose link is up: a bounce raises the link.
            if (e.blockedReason !== undefined || !(await host.linkIsUp(e.hostIf).catch(() => false))) continue;
            flog.warn(
              { port: e.hostIf, ofport: e.ofport, attempt },
              'FAUCET reports the port down while its link is up (it missed the link-up); raising it again',
            );
            try {
              await host.setLinkDown(e.hostIf);
              await new Promise((r) => setTimeout(r, BOUNCE_MS));
              await host.setLinkUp(e.hostIf);
              missed.push(id);
            } catch (err) {
              flog.warn({ port: e.hostIf, err: errorMessage(err) }, 'could not raise the switch port again');
            }
          }
          if (attempt < VERIFY_ATTEMPTS) verifyUp(missed, attempt + 1);
        })(),
      );
    }, control?.verifyAfterMs ?? VERIFY_AFTER_MS);
    timer.unref();
    verifyTimers.add(timer);
  };

  /**
   * A port opened at CreateEndpoint (core/early-open.ts) ran under its number's spare entry on
   * the promise that its container's entry would be the same. Checked once the container is
   * known: a port whose own entry differs, or that dovesnap keeps closed, is taken down at once
   * and raised again only under its own entry. (Not expected: the driver opens early only when
   * no labelled container could be joining; this is the guarantee should that ever be wrong.)
   */
  const closeMistakenEarly = async (wanted: Plan): Promise<void> => {
    for (const id of [...openedEarly]) {
      const e = state.endpoint(id);
      if (e === undefined) {
        openedEarly.delete(id);
        continue;
      }
      if (e.container === undefined || e.ofport === undefined) continue;
      openedEarly.delete(id);
      const dp = state.network(e.networkId)?.name;
      const own = dp === undefined ? undefined : wanted.ports.get(dp)?.get(e.ofport);
      const runs = dp === undefined ? undefined : confirmed?.ports.get(dp)?.get(e.ofport);
      if (e.blockedReason === undefined && own !== undefined && own === runs) continue;
      flog.error(
        { container: e.container.name, port: e.hostIf, ofport: e.ofport },
        "port opened before its container was known, but the container's entry differs from the one FAUCET runs: closed until FAUCET runs its own",
      );
      try {
        await host.setLinkDown(e.hostIf);
        raised.delete(e.hostIf);
      } catch (err) {
        flog.error({ port: e.hostIf, err: errorMessage(err) }, 'could not close the port');
      }
    }
  };

  /**
   * Writes descriptions once changes have been quiet for `quietMs`. `full` is what is waiting:
   * a sync that finds the same waiting (the periodic check, a port event with nothing new) is
   * no change, and must not push the write back (a removed hand-added port kept its entry's
   * description for 10 s in CI when the periodic check landed in the quiet period).
   */
  const scheduleDeferred = (full: string): void => {
    if (deferred?.full === full) return;
    const now = Date.now();
    const firstAt = deferred?.firstAt ?? now;
    if (deferred !== undefined) clearTimeout(deferred.timer);
    const at = Math.min(now + quietMs, firstAt + maxDeferMs);
    const timer = setTimeout(
      () => {
        deferred = undefined;
        void track(requestSync('port descriptions', true)).catch(() => undefined);
      },
      Math.max(0, at - now),
    );
    timer.unref();
    deferred = { timer, firstAt, full };
  };

  const sync = async (reason: string, force = false): Promise<void> => {
    const ports = await bridgePorts();
    const current = readNow();
    const facts = reader.facts(current);
    const outputAcls = facts.aclUsage.output;
    for (const e of state.allEndpoints()) {
      if (e.container === undefined) continue;
      const why = blockReason(e, facts.acls, outputAcls);
      if (why !== e.blockedReason) {
        state.updateEndpoint(e.id, { blockedReason: why });
        if (why !== undefined)
          flog.warn({ container: e.container.name, endpoint: e.id, reason: why }, 'port kept closed in FAUCET');
        else flog.info({ container: e.container.name, endpoint: e.id }, 'port no longer blocked');
      }
    }
    const started = Date.now();
    const spares = planSpares(ports, facts);
    const wanted = plan(current, ports, spares);
    if (openedEarly.size > 0) await closeMistakenEarly(wanted);
    // Only while the file is still the one FAUCET confirmed: an operator's edit since (or a
    // lost write) takes the full path, which renders against the file as it is now.
    if (!force && confirmed !== undefined && current === confirmedText && wanted.policy === confirmed.policy) {
      // FAUCET already enforces exactly this: open what it opens now; names can wait.
      noteRendered(wanted);
      await raiseOpened(wanted.opened);
      if (wanted.full !== confirmed.full) scheduleDeferred(wanted.full);
      return;
    }
    if (confirmed !== undefined) {
      // Ports whose entry FAUCET already runs unchanged (a spare taken) need not wait for this write.
      const known = confirmed;
      const already = new Set(
        [...wanted.opened].filter((id) => {
          const e = state.endpoint(id);
          const dp = e === undefined ? undefined : state.network(e.networkId)?.name;
          if (e?.ofport === undefined || dp === undefined) return false;
          const policy = wanted.ports.get(dp)?.get(e.ofport);
          return policy !== undefined && known.ports.get(dp)?.get(e.ofport) === policy;
        }),
      );
      await raiseOpened(already);
    }
    const render = (): ManagedFaucetState => {
      lastPlan = plan(readNow(), ports, spares);
      noteRendered(lastPlan);
      return lastPlan.managed;
    };
    try {
      const result = await store.apply(render);
      unconfirmed = undefined;
      if (lastPlan !== undefined) {
        confirmed = lastPlan;
        confirmedText = readNow();
        opened = lastPlan.opened;
        // The write carried every description: nothing is left to defer.
        if (deferred !== undefined) {
          clearTimeout(deferred.timer);
          deferred = undefined;
        }
      }
      await raiseOpened(opened);
      if (confirmed !== undefined) checkReady(confirmed, ports);
      if (result.written) {
        flog.info(
          { reason, ms: Date.now() - started, confirmed: result.confirmed, callers: result.callers },
          'FAUCET configuration applied',
        );
        extras.onConfigOutcome?.('confirmed');
        verifyHostPorts(1);
      }
    } catch (err) {
      extras.onConfigOutcome?.(
        isDovesnapError(err, ErrorCode.FaucetRejected)
          ? 'rejected'
          : isDovesnapError(err, ErrorCode.FaucetTimeout)
            ? 'timeout'
            : isDovesnapError(err, ErrorCode.FaucetInvalid)
              ? 'invalid'
              : 'failed',
        errorMessage(err),
      );
      if (isDovesnapError(err, ErrorCode.FaucetTimeout))
        unconfirmed ??= { since: Date.now(), message: errorMessage(err) };
      if (!isDovesnapError(err, ErrorCode.FaucetRejected)) {
        flog.error({ reason, err: errorMessage(err) }, 'FAUCET configuration change failed');
        throw err;
      }
      // FAUCET refused the whole file and the last good one is back in force. The likely
      // culprits are ports opened since then that carry ACLs (or are capture ports, whose
      // mirror lists are the other entries FAUCET checks across ports): keep those closed, retry.
      const carriesAcl = (e: EndpointRecord): boolean => {
        const n = state.network(e.networkId);
        return (e.labels?.portAcls.length ?? 0) > 0 || (n !== undefined && antispoofOn(e, n)) || captureOn(e);
      };
      const suspects = state
        .allEndpoints()
        .filter(
          (e) => e.container !== undefined && !opened.has(e.id) && e.blockedReason === undefined && carriesAcl(e),
        );
      flog.error(
        { reason, err: errorMessage(err), closing: suspects.map((e) => e.container?.name) },
        'FAUCET rejected the configuration; the previous one stays in force',
      );
      if (suspects.length === 0) throw err;
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
      if (lastPlan !== undefined) {
        confirmed = lastPlan;
        confirmedText = readNow();
        opened = lastPlan.opened;
      }
      await raiseOpened(opened);
      throw err;
    }
  };

  /** The ready ports whose entry `p` gives FAUCET, by network. */
  const readyEntries = (p: Plan, ports: ReadonlyMap<string, readonly PortState[]>): Map<string, ReadyPort[]> => {
    const out = new Map<string, ReadyPort[]>();
    for (const n of state.allNetworks()) {
      const dp = p.managed.dps.find((d) => d.name === n.name);
      if (dp === undefined) continue;
      const ready = readyPortsOf(n.id, ports.get(n.id) ?? []).filter((r) =>
        dp.ports.some((x) => x.number === r.ofport && x.description === READY_DESCRIPTION),
      );
      if (ready.length > 0) out.set(n.id, ready);
    }
    return out;
  };

  /**
   * Ready ports are handed out only once the switch has their flows. FAUCET programs an
   * `opstatus_reconf: false` entry only if it saw the port up before the entry appeared (see
   * core/port-pool.ts); should the port's ADD have reached it late, the port is never
   * programmed. A busy FAUCET can take several seconds after it confirmed a file to send the
   * flows of a few hundred ports, so the switch is looked at for a while (in the background:
   * the next sync need not wait) before a port counts as never programmed; such a port, if
   * still not taken, is removed (its entry goes with the next render) and the pool makes another.
   */
  const checking = new Set<string>();
  const checkReady = (p: Plan, ports: ReadonlyMap<string, readonly PortState[]>): void => {
    for (const name of [...programmedReady]) if (!readyStillThere(name, ports)) programmedReady.delete(name);
    for (const [networkId, ready] of readyEntries(p, ports)) {
      const pending = ready.filter((r) => !programmedReady.has(r.hostIf));
      if (pending.length === 0 || checking.has(networkId)) continue;
      checking.add(networkId);
      void track(watchReady(networkId, pending).finally(() => checking.delete(networkId)));
    }
  };
  const watchReady = async (networkId: string, ready: readonly ReadyPort[]): Promise<void> => {
    let pending = [...ready];
    for (let attempt = 1; attempt <= readyCheckAttempts && pending.length > 0 && !closing; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, readyCheckMs).unref());
      const n = state.network(networkId);
      if (n === undefined) return;
      try {
        const seen = await programmedPorts(n.bridgeName);
        const now = pending.filter((r) => seen.has(r.ofport));
        for (const r of now) programmedReady.add(r.hostIf);
        if (now.length > 0) flog.info({ network: n.name, ports: now.length }, 'ready ports programmed');
      } catch (err) {
        flog.debug({ bridge: n.bridgeName, err: errorMessage(err) }, 'could not read the flows of the ready ports');
      }
      pending = pending.filter((r) => !programmedReady.has(r.hostIf));
    }
    const n = state.network(networkId);
    if (pending.length === 0 || n === undefined || closing) return;
    const stillReady = new Set(
      readyPortsOf(networkId, (await vswitch.getBridge(n.bridgeName))?.ports ?? []).map((r) => r.hostIf),
    );
    const gone = pending.filter((r) => stillReady.has(r.hostIf));
    for (const r of gone) {
      flog.warn(
        { network: n.name, port: r.hostIf, ofport: r.ofport },
        'FAUCET did not program a ready port: removed, another replaces it',
      );
      await vswitch.deletePort(n.bridgeName, r.hostIf).catch(() => undefined);
      await host.deleteLink(r.hostIf).catch(() => undefined);
    }
    if (gone.length > 0) void track(requestSync('ready ports FAUCET did not program removed')).catch(() => undefined);
  };
  const readyStillThere = (hostIf: string, ports: ReadonlyMap<string, readonly PortState[]>): boolean => {
    for (const list of ports.values()) if (list.some((x) => x.name === hostIf)) return true;
    return false;
  };

  /**
   * One sync at a time; requests made meanwhile share the one run that follows it (each run
   * renders the whole state as it is then, so nothing asked for is lost). Without this, a
   * burst of removals on a big network held one full plan per request while FAUCET was slow.
   */
  let running: Promise<void> | undefined;
  let next:
    | { reasons: string[]; force: boolean; resolve: () => void; reject: (err: unknown) => void; promise: Promise<void> }
    | undefined;
  const startRun = (reason: string, force: boolean): Promise<void> => {
    const run = sync(reason, force);
    running = run;
    void run.then(
      () => afterRun(),
      () => afterRun(),
    );
    return run;
  };
  const afterRun = (): void => {
    running = undefined;
    const queued = next;
    if (queued === undefined) return;
    next = undefined;
    const reason =
      queued.reasons.length > 3
        ? `${queued.reasons.slice(0, 3).join('; ')} and ${queued.reasons.length - 3} more`
        : queued.reasons.join('; ');
    startRun(reason, queued.force).then(queued.resolve, queued.reject);
  };
  const requestSync = (reason: string, force = false): Promise<void> => {
    if (running === undefined) return startRun(reason, force);
    if (next === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      next = { reasons: [], force: false, resolve, reject, promise };
    }
    next.reasons.push(reason);
    next.force ||= force;
    return next.promise;
  };

  return {
    async foreignDps() {
      const out = new Map<string, bigint>();
      for (const [name, id] of operatorDps(reader.facts(await store.read()))) if (id !== undefined) out.set(name, id);
      return out;
    },
    async dpNameConflict(name: string) {
      return dpNameConflict(name, reader.facts(await store.read()));
    },
    async definedAcls() {
      return new Set(reader.facts(await store.read()).acls);
    },
    async aclUsage() {
      const u = reader.facts(await store.read()).aclUsage;
      return { input: new Set(u.input), output: new Set(u.output) };
    },
    async operatorVlans() {
      return operatorVlanIds(reader.facts(await store.read()));
    },
    sync(reason: string): Promise<void> {
      return track(requestSync(reason));
    },
    runsSpare(networkId: string, ofport: number): boolean {
      const n = state.network(networkId);
      if (n === undefined || n.name === undefined || confirmed === undefined || unconfirmed !== undefined) return false;
      // A switch FAUCET is still starting can lose the port's ADD (see raiseOpened).
      const since = runningSince.get(n.options.dpid);
      if (since === undefined || Date.now() - since < coldStartWindowMs) return false;
      const dp = confirmed.managed.dps.find((d) => d.name === n.name);
      return (
        dp?.ports.some((p) => p.number === ofport && p.description === SPARE_DESCRIPTION) === true &&
        !mirroredIn(dp, ofport)
      );
    },
    runsReady(networkId: string, port: ReadyPort): boolean {
      // Not gated on FAUCET answering: the flows are in the switch, and a busy FAUCET is when
      // ready ports matter most.
      const n = state.network(networkId);
      if (n === undefined || n.name === undefined || confirmed === undefined || !programmedReady.has(port.hostIf))
        return false;
      const dp = confirmed.managed.dps.find((d) => d.name === n.name);
      return (
        dp?.ports.some((p) => p.number === port.ofport && p.description === READY_DESCRIPTION) === true &&
        !mirroredIn(dp, port.ofport)
      );
    },
    mirroredNumbers,
    spareNumbers(networkId: string): ReadonlySet<number> {
      return new Set(spareSets.get(networkId) ?? []);
    },
    async idle(): Promise<void> {
      while (running !== undefined) await running.catch(() => undefined);
    },
    openedEarly(endpointId: string): void {
      const e = state.endpoint(endpointId);
      if (e === undefined) return;
      raised.add(e.hostIf);
      openedEarly.add(endpointId);
    },
    recheckPorts(reason: string, opts: { readonly hostPorts?: boolean } = {}) {
      const ids = state
        .allEndpoints()
        .filter((e) => raised.has(e.hostIf))
        .map((e) => e.id);
      flog.debug({ reason, ports: ids.length }, 'checking again that FAUCET sees the raised ports up');
      verifyUp(ids, 1);
      if (opts.hostPorts === false) return;
      hostPortBounces.clear();
      verifyHostPorts(1);
    },
    unhealthy() {
      return unconfirmed === undefined
        ? undefined
        : `FAUCET has not confirmed a configuration since ${new Date(unconfirmed.since).toISOString()}: ${unconfirmed.message}`;
    },
    async fileChanged() {
      const text = readNow();
      if (text === confirmedText || sha256Hex(text) === store.lastWrittenSha) return;
      await track(requestSync('faucet.yaml changed'));
    },
    async close() {
      closing = true;
      for (const t of verifyTimers) clearTimeout(t);
      verifyTimers.clear();
      // Names waiting for a quiet moment go out now.
      if (deferred !== undefined) {
        clearTimeout(deferred.timer);
        deferred = undefined;
        void track(requestSync('port descriptions (shutdown)', true)).catch(() => undefined);
      }
      // Let every write in flight finish and be confirmed (or fail): a daemon stopped in the
      // middle would leave FAUCET's file and FAUCET's running state for the next start to sort out.
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}
