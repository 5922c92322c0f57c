import type { Logger } from '../util/log.js';
import type { VSwitch } from '../ovs/vswitch.js';
import { handAddedPorts } from './faucet-desired.js';
import { ExtId, HostPortKind } from './persist.js';
import type { StateStore } from './state.js';

/**
 * Ports that appear on dovesnap's bridges without dovesnap asking for them: added by hand
 * (`ovs-vsctl add-port`), or the mirror links the mirror bridge makes. FAUCET's configuration
 * lists ports by number, so each appearance and disappearance needs a render; the OVSDB change
 * feed says when, and a per-network signature says whether anything that matters moved.
 */
export interface BridgeWatchDeps {
  readonly state: StateStore;
  readonly vswitch: Pick<VSwitch, 'getBridge' | 'onChange'>;
  readonly sync: (reason: string) => Promise<void>;
  readonly logger: Logger;
  /** OVSDB reports every port dovesnap adds too; changes are looked at this long after the last. */
  readonly debounceMs?: number;
}

type Signature = Map<string, string>;

async function signature(deps: BridgeWatchDeps): Promise<Signature> {
  const out: Signature = new Map();
  for (const n of deps.state.allNetworks()) {
    if (!n.localFaucet || n.name === undefined) continue;
    const ports = (await deps.vswitch.getBridge(n.bridgeName))?.ports ?? [];
    const hand = handAddedPorts(n, ports).map((p) => `${p.name}=${p.ofport}`);
    const links = ports
      .filter((p) => p.externalIds[ExtId.hostPort] === HostPortKind.mirror)
      .map((p) => `mirror:${p.name}=${p.ofport ?? ''}`);
    out.set(n.id, [...hand, ...links].sort().join(','));
  }
  return out;
}

function names(sig: string | undefined): Set<string> {
  return new Set((sig ?? '').split(',').filter((x) => x !== ''));
}

/** Starts watching; returns the function that stops it. */
export function watchBridgePorts(deps: BridgeWatchDeps): () => void {
  const log = deps.logger.child({ component: 'bridge-watch' });
  let last: Signature | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;

  const look = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const now = await signature(deps);
      const before = last;
      last = now;
      if (before === undefined) return;
      const changed: string[] = [];
      for (const [id, sig] of now) {
        if (before.get(id) === sig) continue;
        const was = names(before.get(id));
        const is = names(sig);
        const bridge = deps.state.network(id)?.bridgeName;
        for (const p of is)
          if (!was.has(p))
            log.info({ network: id, bridge, port: p }, 'port appeared on a dovesnap bridge; giving it a FAUCET entry');
        for (const p of was)
          if (!is.has(p))
            log.info({ network: id, bridge, port: p }, 'port left a dovesnap bridge; removing its FAUCET entry');
        changed.push(bridge ?? id);
      }
      if (changed.length > 0) await deps.sync(`ports added or removed outside dovesnap on ${changed.join(', ')}`);
    } catch (err) {
      log.warn({ err: String(err) }, 'could not compare bridge ports');
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };

  const schedule = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void look();
    }, deps.debounceMs ?? 300);
    timer.unref();
  };

  const stop = deps.vswitch.onChange(schedule);
  void look();
  return () => {
    stop();
    if (timer !== undefined) clearTimeout(timer);
  };
}
