import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { randomMac, READY_CONTAINER_PREFIX, READY_HOST_PREFIX, type VethNames } from '../net/links.js';
import type { PortState, VSwitch } from '../ovs/vswitch.js';
import type { HostNet } from './host.js';
import type { NetworkRecord } from './state.js';
import { ExtId } from './persist.js';

/**
 * Ready ports: veth pairs a network keeps on its bridge, up at both ends and programmed by
 * FAUCET before any container needs one.
 *
 * Why: FAUCET 1.10 rebuilds a VLAN's flooding on every port event it acts on, at a cost that
 * grows with the square of the VLAN's ports (docs/benchmarks.md: ~1.4 s of CPU per event at
 * 500 ports). A container whose port is added at CreateEndpoint waits for that rebuild before
 * its first packet gets through, and past a few hundred ports its first ARP is lost. A ready
 * port's FAUCET entry has `opstatus_reconf: false`: FAUCET programs such a port when its entry
 * first appears (several in one rebuild) and ignores its link changes from then on, so a
 * container that takes one (Docker moving the container end into its namespace and raising it)
 * costs FAUCET nothing, and its first packet is forwarded by flows that are already there.
 *
 * The order matters, and FAUCET's code sets it: an `opstatus_reconf: false` entry is programmed
 * only if FAUCET has already seen its port up when the entry appears (any later event is
 * ignored). So a ready port joins the bridge with both ends up, and its entry is written only
 * once the port has a number; ReadyFlowWatch (below) then checks the switch's flows before the
 * port is handed out (a port FAUCET did not program is removed and replaced).
 *
 * Only a container whose entry is exactly the ready port's (the network's VLAN and default ACL)
 * may take one, under the same rule as a port opened at CreateEndpoint (driver/early-open.ts).
 */

export { READY_CONTAINER_PREFIX, READY_HOST_PREFIX };
export const READY_DESCRIPTION = 'dovesnap ready port';
const READY_SETTLE_MS = 1_000;

export interface ReadyPort {
  readonly hostIf: string;
  readonly containerIf: string;
  readonly ofport: number;
}

/** A ready port's pair of names: 12 random hex characters keep both within Linux's 15 bytes. */
export function readyPortNames(random: (n: number) => Uint8Array): VethNames {
  const hex = Buffer.from(random(6)).toString('hex');
  return { host: `${READY_HOST_PREFIX}${hex}`, container: `${READY_CONTAINER_PREFIX}${hex}` };
}

/** Every ready-port link on a network's bridge, announced or not (what the collector must keep). */
export function readyLinksOf(networkId: string, ports: readonly Pick<PortState, 'name' | 'externalIds'>[]): string[] {
  return ports
    .filter((p) => p.externalIds[ExtId.networkId] === networkId && (p.externalIds[ExtId.endpointId] ?? '') === '')
    .filter((p) => (p.externalIds[ExtId.readyPort] ?? '') !== '' || (p.externalIds[ExtId.readyPending] ?? '') !== '')
    .map((p) => p.name);
}

/** Ports made but not yet announced to FAUCET (see PortPool.fill). */
function pendingOf(
  networkId: string,
  ports: readonly Pick<PortState, 'name' | 'externalIds'>[],
): { hostIf: string; containerIf: string }[] {
  return ports.flatMap((p) => {
    const containerIf = p.externalIds[ExtId.readyPending] ?? '';
    if (
      containerIf === '' ||
      p.externalIds[ExtId.networkId] !== networkId ||
      (p.externalIds[ExtId.endpointId] ?? '') !== ''
    )
      return [];
    return [{ hostIf: p.name, containerIf }];
  });
}

/** The ready ports (announced, numbered, not taken) among a network's bridge ports, lowest number first. */
export function readyPortsOf(
  networkId: string,
  ports: readonly Pick<PortState, 'name' | 'ofport' | 'externalIds'>[],
): ReadyPort[] {
  const out: ReadyPort[] = [];
  for (const p of ports) {
    const containerIf = p.externalIds[ExtId.readyPort];
    if (containerIf === undefined || containerIf === '' || p.ofport === undefined) continue;
    if (p.externalIds[ExtId.networkId] !== networkId || (p.externalIds[ExtId.endpointId] ?? '') !== '') continue;
    out.push({ hostIf: p.name, containerIf, ofport: p.ofport });
  }
  return out.sort((a, b) => a.ofport - b.ofport);
}

/**
 * How many ready ports a network keeps: more for a network that grows, within `ceiling`. With
 * `ovs.bridge.preallocate_ports=N` (`preallocated`), while fewer than N containers are there:
 * what is left of N plus a headroom (a tenth of N, 8 at least, within the ceiling), past the
 * ceiling (an operator who asks for N expects N). So ports for N containers and a few more are
 * ready from the create on, and no top-up (a reload of the whole DP, 8.5 s of FAUCET at 440
 * containers) lands among the N starts; the usual rule takes over at N, while the headroom
 * still serves the containers past N (seen at N = 500: a pool topped up only once 8 were left
 * had the 501st container wait 24 s for it).
 */
export function readyTarget(endpoints: number, ceiling: number, preallocated = 0): number {
  if (ceiling <= 0) return 0;
  const floor = Math.min(8, ceiling);
  if (preallocated > 0 && endpoints < preallocated)
    return preallocated - endpoints + Math.min(ceiling, Math.max(floor, Math.ceil(preallocated / 10)));
  return Math.min(ceiling, Math.max(floor, Math.ceil(endpoints / 2)));
}

/** Whether a network will keep ready ports once named: its local FAUCET configures it, and no anti-spoofing. */
export function willKeepReadyPorts(net: Pick<NetworkRecord, 'localFaucet' | 'options'>, ceiling: number): boolean {
  return ceiling > 0 && net.localFaucet && !net.options.antispoof;
}

/** Whether a network keeps ready ports now: as willKeepReadyPorts, and named (FAUCET's DP needs the name). */
export function keepsReadyPorts(
  net: Pick<NetworkRecord, 'localFaucet' | 'name' | 'options'>,
  ceiling: number,
): boolean {
  return willKeepReadyPorts(net, ceiling) && net.name !== undefined;
}

/**
 * How many to add now: none while at least half the target is left, so that ports are added
 * (and FAUCET reloads) in batches, not one per container.
 */
export function readyShortfall(have: number, target: number): number {
  return have * 2 >= target ? 0 : target - have;
}

/** What the ready ports and the FAUCET path's port work act on: the switch, the host, the log. */
export interface SwitchHostDeps {
  readonly vswitch: VSwitch;
  readonly host: HostNet;
  readonly logger: Logger;
}

export interface PortPoolDeps extends SwitchHostDeps {
  readonly random: (n: number) => Uint8Array;
  /** Most ready ports per network (DOVESNAP_READY_PORTS); 0: none. */
  readonly ceiling: number;
  /** Runs `work` under the network's lock, which also guards the driver's choice of port numbers. */
  underLock<T>(net: NetworkRecord, work: () => Promise<T>): Promise<T>;
  /** The lowest port number free on the network's bridge (the driver's rule). */
  freeOfport(net: NetworkRecord): Promise<number>;
  endpointCount(networkId: string): number;
  /** The network as it is now (undefined once removed). */
  network(networkId: string): NetworkRecord | undefined;
  /** Whether FAUCET runs this ready port's entry and the switch has its flows. */
  programmed(networkId: string, port: ReadyPort): boolean;
  /** Asks for a FAUCET render once ports were added. */
  requestSync(reason: string): void;
  /** Settles when dovesnap has no FAUCET reload in progress or queued. */
  faucetIdle(): Promise<void>;
  readonly ofportTimeoutMs: number;
  /** How long after FAUCET went idle new ports are announced (default 1 s): see fill. */
  readonly settleMs?: number;
}

export class PortPool {
  private readonly log: Logger;
  private readonly filling = new Map<string, Promise<void>>();
  /** Host ends being made now: not leftovers for the collector. */
  private readonly making = new Set<string>();

  constructor(private readonly deps: PortPoolDeps) {
    this.log = deps.logger.child({ component: 'ready-ports' });
  }

  eligible(net: NetworkRecord): boolean {
    return keepsReadyPorts(net, this.deps.ceiling);
  }

  /** A programmed ready port among the bridge's `ports` for a new endpoint, lowest number first; the caller holds the network's lock. */
  pick(net: NetworkRecord, ports: readonly PortState[]): ReadyPort | undefined {
    if (!this.eligible(net)) return undefined;
    return readyPortsOf(net.id, ports).find((p) => this.deps.programmed(net.id, p));
  }

  /** Tops the network's ready ports up in the background (one run per network at a time). */
  replenish(net: NetworkRecord): void {
    if (!this.eligible(net) || this.filling.has(net.id)) return;
    const run = this.fill(net)
      .catch((err: unknown) =>
        this.log.warn({ network: net.name, err: errorMessage(err) }, 'ready ports not topped up'),
      )
      .finally(() => this.filling.delete(net.id));
    this.filling.set(net.id, run);
  }

  /**
   * A new network's first ready ports, made at CreateNetwork, before Docker names the network:
   * FAUCET's first configuration of the DP then lists them, and the switch's first connection
   * (a cold start) programs them. Announced at once: FAUCET learns of ports on a switch from the
   * switch's port list when it connects, so no reload can have missed their ADD (see fill).
   * Made later, they would come as a reload of a DP FAUCET already runs, a warm start that
   * deletes and re-adds the network's VLAN with every host FAUCET learnt on it (valve.py,
   * `_apply_config_changes`), while the network's first containers and host ports talk.
   * A failure is logged and leaves the ports made so far: the usual top-up makes the rest.
   */
  async makeFirst(net: NetworkRecord): Promise<void> {
    if (!willKeepReadyPorts(net, this.deps.ceiling) || this.filling.has(net.id)) return;
    const run = (async () => {
      const added = await this.addPorts(net, readyTarget(0, this.deps.ceiling), true);
      this.log.info({ network: net.id, added }, 'first ready ports added');
    })()
      .catch((err: unknown) =>
        this.log.warn({ network: net.id, err: errorMessage(err) }, 'first ready ports not all made'),
      )
      .finally(() => this.filling.delete(net.id));
    this.filling.set(net.id, run);
    await run;
    // Named meanwhile (Docker names it once the create returned): any top-up is the usual one.
    const now = this.deps.network(net.id);
    if (now?.name !== undefined) this.replenish(now);
  }

  /** Waits for a top-up in progress (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.filling.values()]);
  }

  /**
   * Makes the missing ports, then announces them (and any a killed daemon left unannounced).
   * FAUCET programs a port's `opstatus_reconf: false` entry only if it has already read the
   * port's ADD; a FAUCET busy with a reload reads it late (seen: 142 of ~500 at N = 500, never
   * programmed). So the ports are marked ready, which puts them into FAUCET's file, only once
   * dovesnap has no FAUCET reload running and `settleMs` have passed: FAUCET has read what
   * ovs-vswitchd sent meanwhile.
   */
  private async fill(net: NetworkRecord): Promise<void> {
    const target = readyTarget(this.deps.endpointCount(net.id), this.deps.ceiling, net.options.preallocatePorts);
    const bridgePorts = async (): Promise<readonly PortState[]> =>
      (await this.deps.vswitch.getBridge(net.bridgeName))?.ports ?? [];
    const have = readyLinksOf(net.id, await bridgePorts()).length;
    const missing = readyShortfall(have, target);
    const added = await this.addPorts(net, missing, false);
    // Not one whose veth is gone (a top-up rolled back while OVSDB was away): the collector
    // removes its port, and announced it would be handed to a container with nothing behind it.
    const onBridge = pendingOf(net.id, await bridgePorts());
    const veths = new Set(await this.deps.host.linkNames(READY_HOST_PREFIX));
    const pending = onBridge.filter((p) => veths.has(p.hostIf));
    if (pending.length === 0) return;
    await this.deps.faucetIdle();
    await new Promise((r) => setTimeout(r, this.deps.settleMs ?? READY_SETTLE_MS));
    // Under the network's lock: a delete that started meanwhile has removed these ports, and
    // announcing them then would only fail (seen at the end of the benchmark's runs).
    const announced = await this.deps.underLock(net, async () => {
      if (this.deps.network(net.id) === undefined) return false;
      for (const p of pending) {
        await this.deps.vswitch.setPortExternalIds(p.hostIf, {
          [ExtId.readyPort]: p.containerIf,
          [ExtId.readyPending]: '',
        });
      }
      return true;
    });
    if (!announced) return;
    this.log.info({ network: net.name, added, announced: pending.length }, 'ready ports added');
    this.deps.requestSync(
      `${pending.length} ready port${pending.length === 1 ? '' : 's'} added to ${net.name ?? net.bridgeName}`,
    );
  }

  /**
   * `count` ready ports: the veth pairs made together with both ends up (net/links.ts
   * createVethsUp), then each joins the bridge under the network's lock, one per turn of it, so
   * that the network's CreateEndpoints wait for one port, not all. Both ends are up before a
   * port joins the bridge, so that FAUCET sees it up (see above). `announced`: marked ready at
   * once (makeFirst), else pending until fill announces it. Returns how many joined; the pairs
   * that did not (the network went, or a port failed) are deleted.
   */
  private async addPorts(net: NetworkRecord, count: number, announced: boolean): Promise<number> {
    if (count <= 0) return 0;
    const { host, vswitch } = this.deps;
    const pairs = Array.from({ length: count }, () => readyPortNames(this.deps.random));
    for (const p of pairs) this.making.add(p.host);
    let joined = 0;
    try {
      await host.createVethsUp(
        pairs.map((names) => ({
          names,
          containerMac: randomMac(this.deps.random),
          mtu: net.options.mtu,
          disableContainerTxOffload: net.datapathType === 'netdev',
          quietContainerEnd: true,
        })),
      );
      for (const names of pairs) {
        const ok = await this.deps.underLock(net, async () => {
          if (this.deps.network(net.id) === undefined) return false;
          const ofportRequest = await this.deps.freeOfport(net);
          try {
            await vswitch.addPort({
              bridge: net.bridgeName,
              name: names.host,
              ofportRequest,
              mtu: net.options.mtu,
              externalIds: {
                [ExtId.networkId]: net.id,
                ...(announced ? { [ExtId.readyPort]: names.container } : { [ExtId.readyPending]: names.container }),
              },
            });
            await vswitch.waitOfport(names.host, this.deps.ofportTimeoutMs);
          } catch (err) {
            await vswitch.deletePort(net.bridgeName, names.host).catch(() => undefined);
            throw err;
          }
          return true;
        });
        if (!ok) break;
        joined++;
      }
      return joined;
    } finally {
      for (const names of pairs.slice(joined)) await host.deleteLink(names.host).catch(() => undefined);
      for (const p of pairs) this.making.delete(p.host);
    }
  }

  /** Whether a ready-port link is one this process is making right now. */
  isBeingMade(hostIf: string): boolean {
    return this.making.has(hostIf);
  }
}

/** How often, and how many times, the switch's flows are read for new ready ports. */
const READY_CHECK_ATTEMPTS = 30;
const READY_CHECK_MS = 1_000;

export interface ReadyFlowWatchDeps extends SwitchHostDeps {
  /** The network as it is now (undefined once removed). */
  network(networkId: string): NetworkRecord | undefined;
  /** The input ports the bridge has flows for (`ovs-ofctl dump-flows`). */
  programmedPorts(bridge: string): Promise<Set<number>>;
  /** Asks for a FAUCET render (a port FAUCET never programmed was removed). */
  requestSync(reason: string): void;
  /** Background work the owner waits for when it closes. */
  track(work: Promise<void>): void;
  /** Whether dovesnap's FAUCET write is in progress or unconfirmed: such a check does not count. */
  faucetBusy?(): boolean;
  sleep(ms: number): Promise<void>;
  /** How often the flows are read (default 1 s), and how many times (default 30). */
  readonly checkMs?: number;
  readonly attempts?: number;
}

/**
 * Ready ports are handed out only once the switch has their flows. FAUCET programs an
 * `opstatus_reconf: false` entry only if it saw the port up before the entry appeared (see
 * above); should the port's ADD have reached it late, the port is never programmed. A busy
 * FAUCET can take several seconds after it confirmed a file to send the flows of a few hundred
 * ports, so the switch is looked at for a while (in the background: the next sync need not
 * wait) before a port counts as never programmed; such a port, if still not taken, is removed
 * (its entry goes with the next render) and the pool makes another.
 */
export class ReadyFlowWatch {
  /** Ready ports (by host end) whose flows the switch was seen to have under the confirmed configuration. */
  private readonly programmed = new Set<string>();
  /** Networks whose flows are being watched now. */
  private readonly checking = new Set<string>();
  private closing = false;

  constructor(private readonly deps: ReadyFlowWatchDeps) {}

  /** Whether the switch was seen to have this ready port's flows. */
  has(hostIf: string): boolean {
    return this.programmed.has(hostIf);
  }

  /**
   * FAUCET confirmed a configuration with these ready entries (by network); `onBridge` are the
   * names of every port on dovesnap's bridges (a port gone is forgotten).
   */
  check(entries: ReadonlyMap<string, readonly ReadyPort[]>, onBridge: ReadonlySet<string>): void {
    for (const name of [...this.programmed]) if (!onBridge.has(name)) this.programmed.delete(name);
    for (const [networkId, ready] of entries) {
      const pending = ready.filter((r) => !this.programmed.has(r.hostIf));
      if (pending.length === 0 || this.checking.has(networkId)) continue;
      this.checking.add(networkId);
      this.deps.track(this.watch(networkId, pending).finally(() => this.checking.delete(networkId)));
    }
  }

  close(): void {
    this.closing = true;
  }

  private async watch(networkId: string, ready: readonly ReadyPort[]): Promise<void> {
    const { logger: log } = this.deps;
    let pending = [...ready];
    const attempts = this.deps.attempts ?? READY_CHECK_ATTEMPTS;
    // Only checks made while FAUCET is not busy with a write of dovesnap's count: past ~900
    // ports a reload takes FAUCET longer than all the attempts, and removing its ports meanwhile
    // cost another reload, and the pool ran dry (seen at N = 1,000). Never more than ten times
    // as many checks in all, so that a FAUCET that never gets quiet cannot hold them for ever.
    let quiet = 0;
    for (
      let attempt = 1;
      quiet < attempts && attempt <= attempts * 10 && pending.length > 0 && !this.closing;
      attempt++
    ) {
      if (attempt > 1) await this.deps.sleep(this.deps.checkMs ?? READY_CHECK_MS);
      if (this.deps.faucetBusy?.() !== true) quiet++;
      const n = this.deps.network(networkId);
      if (n === undefined) return;
      try {
        const seen = await this.deps.programmedPorts(n.bridgeName);
        const now = pending.filter((r) => seen.has(r.ofport));
        for (const r of now) this.programmed.add(r.hostIf);
        if (now.length > 0) log.info({ network: n.name, ports: now.length }, 'ready ports programmed');
      } catch (err) {
        log.debug({ bridge: n.bridgeName, err: errorMessage(err) }, 'could not read the flows of the ready ports');
      }
      pending = pending.filter((r) => !this.programmed.has(r.hostIf));
    }
    const n = this.deps.network(networkId);
    if (pending.length === 0 || n === undefined || this.closing) return;
    const stillReady = new Set(
      readyPortsOf(networkId, (await this.deps.vswitch.getBridge(n.bridgeName))?.ports ?? []).map((r) => r.hostIf),
    );
    const gone = pending.filter((r) => stillReady.has(r.hostIf));
    for (const r of gone) {
      log.warn(
        { network: n.name, port: r.hostIf, ofport: r.ofport },
        'FAUCET did not program a ready port: removed, another replaces it',
      );
      await this.deps.vswitch.deletePort(n.bridgeName, r.hostIf).catch(() => undefined);
      await this.deps.host.deleteLink(r.hostIf).catch(() => undefined);
    }
    if (gone.length > 0) this.deps.requestSync('ready ports FAUCET did not program removed');
  }
}
