import { errorMessage } from '../util/errors.js';
import { portReportedUp, readPortStatus, readRunningDps } from '../faucet/metrics.js';
import { HOST_VETH_PREFIX, READY_HOST_PREFIX } from '../net/links.js';
import type { SwitchHostDeps } from './port-pool.js';
import type { EndpointRecord, StateStore } from './state.js';

/** The time and timers the FAUCET path uses; tests may pass their own. */
export interface Clock {
  now(): number;
  /** Calls `fn` once `ms` have passed (without keeping the process alive); returns its cancel. */
  after(ms: number, fn: () => void): () => void;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms).unref()),
};

/** How many times a port FAUCET reports down is raised again, and how long a bounce's down lasts. */
const VERIFY_ATTEMPTS = 3;
const BOUNCE_MS = 200;

export interface PortRaiserDeps extends SwitchHostDeps {
  readonly state: StateStore;
  readonly clock: Clock;
  /** FAUCET's metrics (port_status, dp_status); undefined: nothing is verified. */
  readonly metricsUrl: string | undefined;
  /** How long raising waits for FAUCET to run a switch. */
  readonly confirmTimeoutMs: number;
  /** How often FAUCET's dp_status is read while waiting. */
  readonly pollMs: number;
  /** How long after raising ports FAUCET's port_status is looked at. */
  readonly verifyAfterMs: number;
  /** Ports raised this soon after their switch started running are checked. */
  readonly coldStartWindowMs: number;
  /** The DP name and port description FAUCET runs for a port: how it labels the port's live series. */
  runningLabels(dpId: bigint, number: number): { dpName?: string; description?: string };
  /** Background work the owner waits for when it closes. */
  track(work: Promise<void>): void;
}

/**
 * Raising container ports once FAUCET runs their entries, and verifying that FAUCET saw them
 * (and the host interfaces on dovesnap's bridges) come up: a port whose link-up FAUCET missed is
 * bounced, a few times at most.
 */
export class PortRaiser {
  /** Host ends already brought up by this process. */
  private readonly raised = new Set<string>();
  /** When this process first saw FAUCET running each DP. */
  private readonly runningSince = new Map<bigint, number>();
  /** Pending checks that FAUCET saw raised ports come up (cancels). */
  private readonly verifyTimers = new Set<() => void>();
  /** Host interfaces raised again, by bridge/name/ofport (see verifyHostPorts). */
  private readonly hostPortBounces = new Map<string, number>();
  private hostVerifyPending = false;
  private closing = false;

  constructor(private readonly deps: PortRaiserDeps) {}

  /** A port opened at CreateEndpoint (driver/early-open.ts): raised by the driver. */
  markRaised(hostIf: string): void {
    this.raised.add(hostIf);
  }

  /** Whether FAUCET has run the switch long enough that a link-up is not lost (see raise). */
  warm(dpId: bigint): boolean {
    const since = this.runningSince.get(dpId);
    return since !== undefined && this.deps.clock.now() - since >= this.deps.coldStartWindowMs;
  }

  /**
   * FAUCET refuses a switch whose DP it does not know, and OVS tries again only after its
   * backoff (1 s). A new network's bridge connects a moment before its DP is written, so its
   * switch, and the first containers' ports (raise waits for the switch), would wait that long.
   * Once FAUCET confirmed new DPs, the switches of those it does not run yet connect at once.
   */
  async connectNew(switches: readonly { readonly dpId: bigint; readonly bridge: string }[]): Promise<void> {
    const { metricsUrl: url, vswitch, logger: log } = this.deps;
    if (url === undefined || switches.length === 0) return;
    const running = await readRunningDps(url).catch(() => undefined);
    if (running === undefined) return;
    for (const { dpId, bridge } of switches) {
      if (running.has(dpId)) continue;
      try {
        await vswitch.reconnectControllers(bridge);
        log.info({ bridge, dpid: `0x${dpId.toString(16)}` }, 'new switch connects to FAUCET now');
      } catch (err) {
        log.debug({ bridge, err: errorMessage(err) }, 'could not reconnect the switch; OVS retries by itself');
      }
    }
  }

  /** Takes a port down again (opened early under an entry that turned out not to be its own). */
  async lower(hostIf: string): Promise<void> {
    await this.deps.host.setLinkDown(hostIf);
    this.raised.delete(hostIf);
  }

  /**
   * A container's switch port gets carrier only once FAUCET runs a configuration that has the
   * port. FAUCET ignores a port's link-up while it does not know the port, or while it is still
   * cold-starting the switch, and then treats the port as down for good; raising the link after
   * the configuration is loaded makes FAUCET see the link come up, every time.
   */
  async raise(ids: ReadonlySet<string>): Promise<void> {
    const { state, host, logger: log, clock } = this.deps;
    const toRaise = [...ids]
      .map((id) => state.endpoint(id))
      .filter((e): e is EndpointRecord => e !== undefined && !this.raised.has(e.hostIf));
    if (toRaise.length === 0) return;
    const dpIds = new Set(
      toRaise.map((e) => state.network(e.networkId)?.options.dpid).filter((d): d is bigint => d !== undefined),
    );
    await this.waitUntilRunning(dpIds);
    const now: EndpointRecord[] = [];
    for (const e of toRaise) {
      try {
        await host.setLinkUp(e.hostIf);
        this.raised.add(e.hostIf);
        now.push(e);
      } catch (err) {
        log.warn({ port: e.hostIf, err: errorMessage(err) }, 'could not bring the switch port up');
      }
    }
    for (const name of this.raised) if (!state.allEndpoints().some((e) => e.hostIf === name)) this.raised.delete(name);
    // Only a switch FAUCET has just started can lose a link-up; elsewhere a port FAUCET has not
    // reported up yet is one it has not got to (a busy FAUCET), and a bounce would only add work.
    const fresh = now.filter((e) => {
      const dpid = state.network(e.networkId)?.options.dpid;
      const since = dpid === undefined ? undefined : this.runningSince.get(dpid);
      return since !== undefined && clock.now() - since < this.deps.coldStartWindowMs;
    });
    this.verifyUp(
      fresh.map((e) => e.id),
      1,
    );
  }

  /**
   * Checks FAUCET's port_status of every raised container port, and unless `hostPorts` is
   * false every host interface (with fresh bounce allowances), again.
   */
  recheck(hostPorts: boolean): number {
    const ids = this.deps.state
      .allEndpoints()
      .filter((e) => this.raised.has(e.hostIf))
      .map((e) => e.id);
    this.verifyUp(ids, 1);
    if (hostPorts) {
      this.hostPortBounces.clear();
      this.verifyHostPorts(1);
    }
    return ids.length;
  }

  close(): void {
    this.closing = true;
    for (const cancel of this.verifyTimers) cancel();
    this.verifyTimers.clear();
  }

  /**
   * FAUCET also ignores port events of a switch it has not finished starting (a new network's
   * switch connects a moment after its DP is configured). Wait for its dp_status first.
   */
  private async waitUntilRunning(dpIds: ReadonlySet<bigint>): Promise<void> {
    const { metricsUrl: url, clock } = this.deps;
    if (url === undefined || dpIds.size === 0) return;
    const deadline = clock.now() + this.deps.confirmTimeoutMs;
    for (;;) {
      const running = await readRunningDps(url).catch(() => new Set<bigint>());
      for (const id of running) if (!this.runningSince.has(id)) this.runningSince.set(id, clock.now());
      if ([...dpIds].every((id) => running.has(id))) return;
      if (clock.now() > deadline) {
        this.deps.logger.warn(
          { dps: [...dpIds].map((d) => `0x${d.toString(16)}`) },
          'FAUCET is not running the switch yet; raising its ports anyway',
        );
        return;
      }
      await clock.sleep(this.deps.pollMs);
    }
  }

  /** Runs `check` after verifyAfterMs, in the background, unless closing. */
  private later(check: () => Promise<void>): void {
    const cancel = this.deps.clock.after(this.deps.verifyAfterMs, () => {
      this.verifyTimers.delete(cancel);
      this.deps.track(check());
    });
    this.verifyTimers.add(cancel);
  }

  /** Takes a link down and up again, which FAUCET does see. */
  private async bounce(name: string): Promise<void> {
    await this.deps.host.setLinkDown(name);
    await this.deps.clock.sleep(BOUNCE_MS);
    await this.deps.host.setLinkUp(name);
  }

  /**
   * Host interfaces on a network's bridge (`add_ports`, coprocessor ports, ports added by hand)
   * are up before FAUCET has their entry, and FAUCET ignores the link-up of a port it does not
   * know: it then keeps the port down for good (seen in CI: a hand-added port that never carried
   * traffic). After a configuration is confirmed, a host interface that is up while FAUCET reports
   * its port down is taken down and up again, which FAUCET sees; at most three times per port.
   */
  verifyHostPorts(attempt: number): void {
    const url = this.deps.metricsUrl;
    if (url === undefined || this.closing || this.hostVerifyPending) return;
    this.hostVerifyPending = true;
    this.later(async () => {
      this.hostVerifyPending = false;
      const { state, vswitch, host, logger: log } = this.deps;
      // Candidates from the OVSDB replica first: most writes concern bridges with no host
      // interface at all, and then FAUCET's metrics are not fetched.
      const candidates: { bridge: string; dpid: bigint; name: string; ofport: number }[] = [];
      for (const n of state.allNetworks()) {
        if (!n.localFaucet || n.name === undefined) continue;
        const bridge = await vswitch.getBridge(n.bridgeName).catch(() => undefined);
        for (const p of bridge?.ports ?? []) {
          // Kernel interfaces only (not patch ports), and not container ports (raise's) nor
          // ready ports (whose entries FAUCET runs whatever their link does).
          if (
            p.type !== '' ||
            p.ofport === undefined ||
            p.name.startsWith(HOST_VETH_PREFIX) ||
            p.name.startsWith(READY_HOST_PREFIX)
          )
            continue;
          if ((this.hostPortBounces.get(`${n.bridgeName}/${p.name}/${p.ofport}`) ?? 0) < VERIFY_ATTEMPTS)
            candidates.push({ bridge: n.bridgeName, dpid: n.options.dpid, name: p.name, ofport: p.ofport });
        }
      }
      if (candidates.length === 0) return;
      const status = await readPortStatus(url).catch(() => undefined);
      if (status === undefined) return;
      let bounced = false;
      for (const p of candidates) {
        if (
          portReportedUp(status, p.dpid, p.ofport, this.deps.runningLabels(p.dpid, p.ofport)) !== false ||
          !(await host.linkIsUp(p.name))
        )
          continue;
        const key = `${p.bridge}/${p.name}/${p.ofport}`;
        const done = this.hostPortBounces.get(key) ?? 0;
        log.warn(
          { bridge: p.bridge, port: p.name, ofport: p.ofport, attempt: done + 1 },
          'FAUCET reports a host interface down that is up (it missed the link-up); raising it again',
        );
        try {
          await this.bounce(p.name);
          this.hostPortBounces.set(key, done + 1);
          bounced = true;
        } catch (err) {
          log.warn({ port: p.name, err: errorMessage(err) }, 'could not raise the host interface again');
        }
      }
      if (bounced && attempt < VERIFY_ATTEMPTS) this.verifyHostPorts(attempt + 1);
    });
  }

  /**
   * The link-up of a port can still be lost when it lands while FAUCET cold-starts the switch
   * (seen with a brand-new network whose first container takes a spare entry at once): FAUCET
   * then keeps the port down for good. A moment after raising ports, FAUCET's own port_status
   * says whether it saw them; a port it reports down is taken down and up again, which FAUCET
   * does see, a couple of times at most.
   */
  private verifyUp(ids: readonly string[], attempt: number): void {
    const url = this.deps.metricsUrl;
    if (url === undefined || ids.length === 0 || this.closing) return;
    this.later(async () => {
      const { state, host, logger: log } = this.deps;
      const status = await readPortStatus(url).catch(() => undefined);
      if (status === undefined) return;
      const missed: string[] = [];
      for (const id of ids) {
        const e = state.endpoint(id);
        const dpid = e === undefined ? undefined : state.network(e.networkId)?.options.dpid;
        if (e?.ofport === undefined || dpid === undefined || !this.raised.has(e.hostIf)) continue;
        // Opened at CreateEndpoint and not yet resolved: down in FAUCET until Docker raises the
        // container's end, which is no missed link-up.
        if (e.container === undefined) continue;
        if (portReportedUp(status, dpid, e.ofport, this.deps.runningLabels(dpid, e.ofport)) !== false) continue;
        // Only a port that should carry traffic and whose link is up: a bounce raises the link.
        if (e.blockedReason !== undefined || !(await host.linkIsUp(e.hostIf).catch(() => false))) continue;
        log.warn(
          { port: e.hostIf, ofport: e.ofport, attempt },
          'FAUCET reports the port down while its link is up (it missed the link-up); raising it again',
        );
        try {
          await this.bounce(e.hostIf);
          missed.push(id);
        } catch (err) {
          log.warn({ port: e.hostIf, err: errorMessage(err) }, 'could not raise the switch port again');
        }
      }
      if (attempt < VERIFY_ATTEMPTS) this.verifyUp(missed, attempt + 1);
    });
  }
}
