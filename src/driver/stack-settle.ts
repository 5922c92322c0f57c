import type { FaucetConfigFacts } from '../faucet/config-facts.js';
import { type FetchLike, readStackPortState, type StackPortStateReport } from '../faucet/metrics.js';
import { type FaucetAclSpec, stackSettleAclName } from '../faucet/types.js';

export { stackSettleAclName };
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { type Clock, systemClock } from './port-raiser.js';

/**
 * Why dovesnap makes FAUCET reload once a stack change has settled.
 *
 * FAUCET (1.10) keeps, per switch, its own graph of the stack, and learns a host that arrives
 * on a stack port on the port leading towards the host's own switch in that graph. A change of
 * the stack's configuration cold-starts the stack switches, and FAUCET makes each reconnect; a
 * link that comes up while another switch is still reconnecting never reaches that switch's
 * graph. The switch then learns the hosts behind that link towards the root instead, and
 * traffic to them is dropped until the learned entry expires (FAUCET's `timeout`, 300 s): seen
 * with three hosts, where host 2's switch learned host 3's container on its port to host 1
 * (faucet.log: "L2 learned on Port 1 … Port 2 … from remote DP dovesnap-dsh-h3").
 *
 * A reload in which no DP changes rebuilds every switch's graph from the configuration. So, a
 * while after the stack's links in FAUCET's configuration last changed, and once FAUCET reports
 * every stack port up, dovesnap changes an ACL that no port uses (its one rule's description
 * says when): FAUCET reloads, restarts nothing, and learns from then on along the whole stack.
 */

export function stackSettleAcl(stackDp: string, mark: string): FaucetAclSpec {
  return {
    name: stackSettleAclName(stackDp),
    rules: [{ description: `dovesnap: stack links settled ${mark} (used by no port)`, actions: { allow: true } }],
  };
}

/** The stack's links as configured, one canonical string: equal strings, same stack. */
export function stackTopologyKey(facts: FaucetConfigFacts): string {
  const links: string[] = [];
  for (const [dp, d] of facts.dps)
    for (const [port, far] of d.stackLinks) links.push(`${dp}:${port}>${far.dp}:${far.port}`);
  return links.sort().join(' ');
}

/** `port_stack_state` is 3 for a stack port that is up (faucet/port.py STACK_STATE_UP). */
const STACK_STATE_UP = 3;

/**
 * Whether FAUCET reports every stack port of the configuration up. prometheus_client keeps a
 * port's series of earlier descriptions at their last value, so the one of the configured
 * description decides where there is one (as metrics.ts portReportedUp).
 */
export function everyStackPortUp(facts: FaucetConfigFacts, report: StackPortStateReport): boolean {
  for (const [dp, d] of facts.dps) {
    for (const port of d.stackLinks.keys()) {
      const all = report.get(`${dp}:${port}`) ?? [];
      const live = all.filter((s) => s.description === d.interfaceDescriptions.get(port));
      if (!(live.length > 0 ? live : all).some((s) => s.state === STACK_STATE_UP)) return false;
    }
  }
  return true;
}

export interface StackSettlerOptions {
  /** FAUCET's Prometheus endpoint; without it the settling waits `quietMs` only. */
  readonly metricsUrl?: string | undefined;
  /** Asks for a render and write (forced: ACLs are not part of the planner's keys). */
  readonly sync: (reason: string) => void;
  /** How long the stack's links must stay unchanged (default 10 s). */
  readonly quietMs?: number;
  /** How often, and for how long at most, FAUCET's stack ports are read after that (2 s, 60 s). */
  readonly pollMs?: number;
  readonly maxWaitMs?: number;
  readonly clock?: Clock;
  readonly fetch?: FetchLike;
  readonly logger?: Logger;
}

/**
 * Watches the stack's links in each configuration FAUCET runs (observe), and once they have
 * settled sets a new `mark`, which faucet-desired writes as the stack settle ACL.
 */
export class StackSettler {
  private key: string | undefined;
  private pending: { readonly key: string; cancel: () => void } | undefined;
  private current: string | undefined;
  private seq = 0;
  private closed = false;
  private readonly clock: Clock;

  constructor(private readonly opts: StackSettlerOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** The mark to write (undefined until the stack first settled). */
  get mark(): string | undefined {
    return this.current;
  }

  /** A configuration FAUCET now runs (or is about to): a new set of stack links starts the wait. */
  observe(facts: FaucetConfigFacts): void {
    const key = stackTopologyKey(facts);
    if (key === this.key || this.closed) return;
    this.key = key;
    this.pending?.cancel();
    this.pending = undefined;
    if (key === '') return;
    const pending: { readonly key: string; cancel: () => void } = { key, cancel: () => {} };
    this.pending = pending;
    pending.cancel = this.clock.after(this.opts.quietMs ?? 10_000, () => {
      void this.settle(pending, facts);
    });
  }

  close(): void {
    this.closed = true;
    this.pending?.cancel();
    this.pending = undefined;
  }

  private async settle(pending: { readonly key: string }, facts: FaucetConfigFacts): Promise<void> {
    const up = await this.waitForStackPorts(pending, facts);
    if (this.pending !== pending || this.closed) return;
    this.pending = undefined;
    this.seq += 1;
    this.current = `#${this.seq} at ${new Date().toISOString()}`;
    this.opts.logger?.info(
      { links: pending.key.split(' ').length, allUp: up },
      'stack links settled: making FAUCET reload its stack graphs (an unused ACL changes)',
    );
    this.opts.sync('stack links settled');
  }

  /** True once FAUCET reports every stack port up; false if it did not within maxWaitMs (or cannot be asked). */
  private async waitForStackPorts(pending: { readonly key: string }, facts: FaucetConfigFacts): Promise<boolean> {
    const url = this.opts.metricsUrl;
    if (url === undefined) return false;
    const deadline = this.clock.now() + (this.opts.maxWaitMs ?? 60_000);
    for (;;) {
      if (this.pending !== pending || this.closed) return false;
      try {
        if (everyStackPortUp(facts, await readStackPortState(url, this.opts.fetch))) return true;
      } catch (err) {
        this.opts.logger?.debug({ err: errorMessage(err) }, 'FAUCET metrics not read while the stack settles');
      }
      if (this.clock.now() >= deadline) return false;
      await this.clock.sleep(this.opts.pollMs ?? 2_000);
    }
  }
}
