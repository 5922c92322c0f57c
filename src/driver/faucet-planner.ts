import type { FaucetConfigFacts } from '../faucet/config-facts.js';
import { type ManagedFaucetState, OFPP_LOCAL } from '../faucet/types.js';
import type { PortState } from '../ovs/vswitch.js';
import { blockReason, managedState } from './faucet-desired.js';
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
import { keepsReadyPorts, READY_DESCRIPTION, type ReadyPort, readyPortsOf } from './port-pool.js';
import type { StackFacts } from './stack.js';
import type { StateStore } from './state.js';
import { type DpOwner, faucetDpName } from './dp-naming.js';

/**
 * The FAUCET path's decisions, as pure functions (FAUCET's valve.py is the model): given the
 * model, the facts read from the host and faucet.yaml, what FAUCET last confirmed and `now`,
 * they say what FAUCET should run and what to do about the ports. No I/O, no timers, no clock:
 * driver/faucet-view.ts reads the facts, applies the result and keeps what is to be remembered.
 */

/** One render of the desired state, and what it means for the ports. */
export interface Plan {
  readonly managed: ManagedFaucetState;
  /** Endpoints whose ports this render opens. */
  readonly opened: ReadonlySet<string>;
  readonly policy: string;
  readonly full: string;
  readonly ports: ReadonlyMap<string, ReadonlyMap<number, string>>;
  readonly spares: ReadonlyMap<string, readonly number[]>;
}

/** The settings the planner reads (config/settings.ts). */
export interface PlannerSettings {
  /** Most ready ports per network; 0: none. */
  readonly readyPorts: number;
  /** The spare entries' ceiling (DOVESNAP_SPARE_PORTS). */
  readonly sparePorts: number;
}

/** What is read before each plan: faucet.yaml, each local network's bridge ports, the stack switch. */
export interface FaucetFacts {
  /** faucet.yaml as it is now, and what it says. */
  readonly text: string;
  readonly config: FaucetConfigFacts;
  /** Each local network's bridge ports (from the OVSDB replica), by network ID. */
  readonly ports: ReadonlyMap<string, readonly PortState[]>;
  readonly stack?: StackFacts | undefined;
  readonly owner?: DpOwner | undefined;
}

/** What FAUCET last confirmed running, and the file's text right after it. */
export interface Confirmed {
  readonly plan: Plan;
  readonly text: string;
}

/** What earlier renders gave out, so that the next one keeps it (see nextSpares). */
export interface RenderMemory {
  /** The spare numbers of the last render, and the numbers it gave each network's ports. */
  readonly spares: ReadonlyMap<string, readonly number[]>;
  readonly numbers: ReadonlyMap<string, ReadonlySet<number>>;
  /** The newest render (coalesced syncs share one), whose mirror lists FAUCET may be about to run. */
  readonly last?: Plan | undefined;
}

export const NO_RENDER: RenderMemory = { spares: new Map(), numbers: new Map() };

/** A write of port descriptions only, waiting for a quiet moment: due `at`, first asked for `firstAt`. */
export interface Deferral {
  readonly at: number;
  readonly firstAt: number;
  readonly full: string;
}

export interface DeferPolicy {
  /** A change that only renames ports waits this long for quiet… */
  readonly quietMs: number;
  /** …but never longer than this since it was first deferred. */
  readonly maxDeferMs: number;
}

/** A port's blocked reason changing: `reason` undefined when it may open again. */
export interface BlockedChange {
  readonly endpointId: string;
  readonly container: string;
  readonly reason: string | undefined;
}

export interface FaucetPlanInput {
  readonly state: StateStore;
  readonly settings: PlannerSettings;
  readonly facts: FaucetFacts;
  readonly memory: RenderMemory;
  /** Endpoints opened at CreateEndpoint on a spare entry whose container was not known then. */
  readonly openedEarly: ReadonlySet<string>;
  readonly deferred: Deferral | undefined;
  readonly defer: DeferPolicy;
  /** Write even when FAUCET already enforces the plan (the deferred descriptions are due). */
  readonly force: boolean;
}

export interface FaucetPlanOutput {
  readonly blocked: readonly BlockedChange[];
  /** The plan as of these facts (the write itself renders again, at write time: renderPlan). */
  readonly wanted: Plan;
  /** Early-opened endpoints settled by this plan (now known, or gone), and those of them to close. */
  readonly earlySettled: readonly string[];
  readonly earlyClose: readonly string[];
  /**
   * `raise`: FAUCET already enforces the plan's policy; open `raise` now, and write the names
   * at `defer` (unchanged when it is the deferral already waiting; undefined: nothing to write).
   * `write`: a write is needed; `raiseFirst` are ports whose entry FAUCET already runs unchanged.
   */
  readonly action:
    | { readonly kind: 'raise'; readonly raise: ReadonlySet<string>; readonly defer: Deferral | undefined }
    | { readonly kind: 'write'; readonly raiseFirst: ReadonlySet<string> };
}

/**
 * One sync's decisions: the blocked reasons that change, the plan, which ports opened early
 * must close, and whether FAUCET needs a write or only the ports need raising.
 */
export function planFaucet(input: FaucetPlanInput, confirmed: Confirmed | undefined, now: number): FaucetPlanOutput {
  const { state, facts } = input;
  const blocked = blockedChanges(state, facts.config);
  const wanted = renderPlan(state, facts, planSpares(state, input.settings, facts, input.memory, confirmed));
  const early = mistakenEarly(state, input.openedEarly, facts.config, wanted, confirmed?.plan);
  const base = { blocked, wanted, earlySettled: early.settled, earlyClose: early.close };
  // Only while the file is still the one FAUCET confirmed: an operator's edit since (or a lost
  // write) takes the full path, which renders against the file as it is now.
  if (
    !input.force &&
    confirmed !== undefined &&
    facts.text === confirmed.text &&
    wanted.policy === confirmed.plan.policy
  ) {
    // FAUCET already enforces exactly this: open what it opens now; names can wait.
    const defer =
      wanted.full === confirmed.plan.full ? input.deferred : deferral(input.deferred, wanted.full, now, input.defer);
    return { ...base, action: { kind: 'raise', raise: wanted.opened, defer } };
  }
  return { ...base, action: { kind: 'write', raiseFirst: runningUnchanged(state, wanted, confirmed?.plan) } };
}

/** The blocked reason of each container's port, where it differs from the one recorded. */
export function blockedChanges(state: StateStore, config: FaucetConfigFacts): BlockedChange[] {
  const out: BlockedChange[] = [];
  for (const e of state.allEndpoints()) {
    if (e.container === undefined) continue;
    const reason = blockReason(e, config.acls, config.aclUsage.output);
    if (reason !== e.blockedReason) out.push({ endpointId: e.id, container: e.container.name, reason });
  }
  return out;
}

/** Renders the model against `facts` with these spare numbers. */
export function renderPlan(
  state: StateStore,
  facts: Pick<FaucetFacts, 'config' | 'ports' | 'stack' | 'owner'>,
  spares: ReadonlyMap<string, readonly number[]>,
): Plan {
  const { config } = facts;
  const managed = managedState(state, config, config.acls, facts.ports, spares, facts.stack, facts.owner);
  return {
    managed,
    opened: openPorts(state, config),
    policy: policyKey(managed.dps, managed.vlans),
    full: fullKey(managed.dps, managed.vlans),
    ports: portPolicies(managed.dps),
    spares,
  };
}

/** What a render gave out, for the next one to keep; `last`, the newest render written or being written. */
export function rememberRender(state: StateStore, plan: Plan, last: Plan | undefined = plan): RenderMemory {
  const numbers = new Map<string, Set<number>>();
  for (const n of state.allNetworks()) {
    const dp = plan.managed.dps.find((d) => d.name === faucetDpName(n));
    if (dp !== undefined) numbers.set(n.id, new Set(dp.ports.map((x) => x.number).filter((x) => x !== OFPP_LOCAL)));
  }
  return { spares: plan.spares, numbers, last };
}

/** Endpoints whose ports a configuration rendered now opens. */
function openPorts(state: StateStore, config: FaucetConfigFacts): Set<string> {
  return new Set(
    state
      .allEndpoints()
      .filter(
        (e) =>
          e.container !== undefined &&
          e.ofport !== undefined &&
          state.network(e.networkId)?.localFaucet === true &&
          blockReason(e, config.acls, config.aclUsage.output) === undefined,
      )
      .map((e) => e.id),
  );
}

/** The spare numbers of each local network. */
export function planSpares(
  state: StateStore,
  settings: PlannerSettings,
  facts: Pick<FaucetFacts, 'config' | 'ports'>,
  memory: RenderMemory,
  confirmed: Confirmed | undefined,
): Map<string, number[]> {
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
      [...(facts.config.dps.get(faucetDpName(n) ?? '')?.interfaceDescriptions ?? new Map<number, string>())]
        .filter(([, d]) => d === SPARE_DESCRIPTION)
        .map(([x]) => x);
    const previous = [...(memory.spares.get(n.id) ?? inFile()), ...(memory.numbers.get(n.id) ?? [])];
    const mirrored = mirroredNumbers(state, n.id, [confirmed?.plan, memory.last]);
    const taken = takenNumbers(state, n.id, facts.ports.get(n.id) ?? [], facts.config, mirrored);
    const chosen = nextSpares(previous, taken, target);
    // ovs.bridge.preallocate_ports: these entries stay whatever the spare policy does. A
    // network with ready ports has its N as ready ports instead (driver/port-pool.ts).
    if (ready) {
      out.set(n.id, chosen);
      continue;
    }
    const endpointPorts = new Set(state.endpointsOf(n.id).map((e) => e.hostIf));
    const others = new Set(
      (facts.ports.get(n.id) ?? [])
        .filter((p) => p.ofport !== undefined && !endpointPorts.has(p.name) && p.name !== n.bridgeName)
        .map((p) => p.ofport as number),
    );
    const fixed = preallocatedNumbers(n.options, others).filter((x) => !taken.has(x) && !chosen.includes(x));
    out.set(n.id, fixed.length === 0 ? chosen : [...chosen, ...fixed].sort((a, b) => a - b));
  }
  return out;
}

/** Numbers a network's spares may not use: every port on its bridge but unresolved containers'. */
function takenNumbers(
  state: StateStore,
  networkId: string,
  ports: readonly PortState[],
  config: FaucetConfigFacts,
  mirrored: ReadonlySet<number>,
): Set<number> {
  const taken = new Set<number>();
  const unresolved = new Set<string>();
  for (const e of state.endpointsOf(networkId)) {
    // A port not yet tied to a container is down; its number may stay a spare until it is.
    if (e.container === undefined && e.ofport !== undefined) unresolved.add(e.hostIf);
    else if (e.ofport !== undefined) taken.add(e.ofport);
    // Never a spare (which would carry traffic) for a port dovesnap keeps closed.
    if (
      e.ofport !== undefined &&
      e.container !== undefined &&
      blockReason(e, config.acls, config.aclUsage.output) !== undefined
    )
      taken.add(e.ofport);
  }
  const net = state.network(networkId);
  if (net !== undefined) for (const n of heldPortNumbers(ports, net.options, mirrored, unresolved)) taken.add(n);
  return taken;
}

type MirroringDp = {
  readonly ports: readonly { readonly number: number; readonly mirror?: readonly number[]; readonly capture?: true }[];
};

/**
 * Whether FAUCET, running `dp`, copies port `number`'s traffic somewhere: a number a mirrored
 * container gave back is still listed until FAUCET has reloaded, and a port handed out under it
 * would be mirrored (seen: a container recreated without the mirror label took a ready port of
 * that number and was mirrored).
 */
export function mirroredIn(dp: MirroringDp, number: number): boolean {
  return mirrorTargets(dp).has(number);
}

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

/** Port numbers of a network that any of `plans` (what FAUCET runs, what it was last given) mirrors. */
export function mirroredNumbers(
  state: StateStore,
  networkId: string,
  plans: readonly (Plan | undefined)[],
): ReadonlySet<number> {
  const name = state.network(networkId)?.name;
  const out = new Set<number>();
  for (const p of plans)
    mirrorTargets(
      p?.managed.dps.find((d) => d.name === name),
      out,
    );
  return out;
}

/**
 * Whether `confirmed` gives the network's port `number` the entry described `description` (a
 * spare or a ready port's), and mirrors nothing there: a container may take it at once.
 */
export function runsEntry(
  confirmed: Plan | undefined,
  dpName: string | undefined,
  number: number,
  description: string,
): boolean {
  if (confirmed === undefined || dpName === undefined) return false;
  const dp = confirmed.managed.dps.find((d) => d.name === dpName);
  return (
    dp?.ports.some((p) => p.number === number && p.description === description) === true && !mirroredIn(dp, number)
  );
}

/** Ports of `wanted` whose entry FAUCET already runs unchanged (a spare taken): they need not wait for the write. */
function runningUnchanged(state: StateStore, wanted: Plan, confirmed: Plan | undefined): Set<string> {
  if (confirmed === undefined) return new Set();
  return new Set(
    [...wanted.opened].filter((id) => {
      const e = state.endpoint(id);
      const dp = e === undefined ? undefined : state.network(e.networkId)?.name;
      if (e?.ofport === undefined || dp === undefined) return false;
      const policy = wanted.ports.get(dp)?.get(e.ofport);
      return policy !== undefined && confirmed.ports.get(dp)?.get(e.ofport) === policy;
    }),
  );
}

/**
 * A port opened at CreateEndpoint (driver/early-open.ts) ran under its number's spare entry on
 * the promise that its container's entry would be the same. Checked once the container is
 * known: a port whose own entry differs, or that dovesnap keeps closed, is closed. `settled`
 * are the endpoints no longer to watch (known now, or gone); `close` those of them to close.
 */
export function mistakenEarly(
  state: StateStore,
  openedEarly: ReadonlySet<string>,
  config: FaucetConfigFacts,
  wanted: Plan,
  confirmed: Plan | undefined,
): { settled: string[]; close: string[] } {
  const settled: string[] = [];
  const close: string[] = [];
  for (const id of openedEarly) {
    const e = state.endpoint(id);
    if (e !== undefined && (e.container === undefined || e.ofport === undefined)) continue;
    settled.push(id);
    if (e?.ofport === undefined) continue;
    const dp = state.network(e.networkId)?.name;
    const own = dp === undefined ? undefined : wanted.ports.get(dp)?.get(e.ofport);
    const runs = dp === undefined ? undefined : confirmed?.ports.get(dp)?.get(e.ofport);
    const blocked = blockReason(e, config.acls, config.aclUsage.output) !== undefined;
    if (!blocked && own !== undefined && own === runs) continue;
    close.push(id);
  }
  return { settled, close };
}

/**
 * When descriptions `full` are to be written: once changes have been quiet for `quietMs`, never
 * later than `maxDeferMs` after the first was deferred. The same `full` already waiting is no
 * change and keeps its time (a sync with nothing new, the periodic check, must not push the
 * write back: a removed hand-added port kept its entry's description for 10 s in CI).
 */
export function deferral(waiting: Deferral | undefined, full: string, now: number, policy: DeferPolicy): Deferral {
  if (waiting?.full === full) return waiting;
  const firstAt = waiting?.firstAt ?? now;
  return { at: Math.min(now + policy.quietMs, firstAt + policy.maxDeferMs), firstAt, full };
}

/**
 * How many times its own duration a write of port descriptions alone may be held back at most.
 * Names only label FAUCET's series; a reload costs FAUCET the same for them as for anything else
 * (15–20 s of CPU past 900 ports here), and with containers starting all the time the quiet
 * period never comes, so only the ceiling keeps FAUCET from spending a third of its time on names.
 */
export const DESCRIPTION_RELOAD_SHARE = 10;

/** The defer policy for a FAUCET whose last write took `lastWriteMs`: the ceiling grows with it. */
export function scaledDeferPolicy(base: DeferPolicy, lastWriteMs: number | undefined): DeferPolicy {
  const scaled = (lastWriteMs ?? 0) * DESCRIPTION_RELOAD_SHARE;
  return scaled > base.maxDeferMs ? { ...base, maxDeferMs: scaled } : base;
}

/** The ready ports whose entry `plan` gives FAUCET, by network. */
export function readyEntries(
  state: StateStore,
  plan: Plan,
  ports: ReadonlyMap<string, readonly PortState[]>,
): Map<string, ReadyPort[]> {
  const out = new Map<string, ReadyPort[]>();
  for (const n of state.allNetworks()) {
    const dp = plan.managed.dps.find((d) => d.name === faucetDpName(n));
    if (dp === undefined) continue;
    const ready = readyPortsOf(n.id, ports.get(n.id) ?? []).filter((r) =>
      dp.ports.some((x) => x.number === r.ofport && x.description === READY_DESCRIPTION),
    );
    if (ready.length > 0) out.set(n.id, ready);
  }
  return out;
}
