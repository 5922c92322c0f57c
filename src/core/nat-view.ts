import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { renderNatScript, type GatewayNetwork, type NatState, type PortMapping } from '../net/nat-rules.js';
import type { HostNet } from './host.js';
import type { LoopbackProxies, LoopbackTarget } from '../net/loopback-proxy.js';
import type { NetworkRecord, StateStore } from './state.js';
import { failpoint } from '../util/failpoints.js';

/** The network's subnet and gateway from Docker's IPAM data, when it has them. */
export function ipv4Of(n: NetworkRecord): { subnet: string; gatewayCidr: string; gateway: string } | undefined {
  const d = n.ipv4.find((x) => x.Pool !== undefined && x.Pool !== '0.0.0.0/0' && x.Gateway !== undefined && x.Gateway !== '');
  if (d?.Pool === undefined || d.Gateway === undefined) return undefined;
  const gateway = d.Gateway.split('/')[0] ?? '';
  const plen = d.Pool.split('/')[1] ?? '32';
  // Docker gives the gateway with the pool's prefix length, but be safe if it does not.
  return { subnet: d.Pool, gatewayCidr: d.Gateway.includes('/') ? d.Gateway : `${d.Gateway}/${plen}`, gateway };
}

/** NAT and port-mapping state as the rules need it: a pure function of the model. */
export function natState(state: StateStore): NatState {
  const networks: GatewayNetwork[] = [];
  const mappings: PortMapping[] = [];
  for (const n of state.allNetworks()) {
    if (n.options.mode === 'flat') continue;
    const ip = ipv4Of(n);
    if (ip === undefined) continue;
    networks.push({ id: n.id, bridge: n.bridgeName, subnet: ip.subnet, mode: n.options.mode });
    for (const e of state.endpointsOf(n.id)) {
      if (e.sandboxKey === undefined || e.ipv4 === undefined) continue;
      const containerIp = e.ipv4.split('/')[0] ?? '';
      for (const p of e.published) {
        mappings.push({ networkId: n.id, bridge: n.bridgeName, subnet: ip.subnet, ...p, containerIp, endpointId: e.id });
      }
    }
  }
  return { networks, mappings };
}

export interface NatView {
  /** Makes the host's NAT table match the state; settles when the rules are in place. */
  sync(reason: string): Promise<void>;
  close(): Promise<void>;
}

/** Mappings that also answer on 127.0.0.1 (every address, or 127.0.0.1 itself). */
export function loopbackTargets(nat: NatState): LoopbackTarget[] {
  return nat.mappings
    .filter((m) => m.hostIp === '' || m.hostIp === '127.0.0.1')
    .map((m) => ({ protocol: m.protocol, hostPort: m.hostPort, containerIp: m.containerIp, containerPort: m.containerPort }));
}

/**
 * Serialises table rewrites: each one renders the state as it is when it runs, so a burst of
 * changes ends with the rules of the newest state, and none is ever applied out of order.
 */
export function createNatView(state: StateStore, host: HostNet, log: Logger, proxies?: LoopbackProxies): NatView {
  const nlog = log.child({ component: 'nat' });
  let chain: Promise<void> = Promise.resolve();
  let lastScript = '';
  return {
    async close(): Promise<void> {
      await chain;
      await proxies?.closeAll();
    },
    sync(reason: string): Promise<void> {
      const run = async (): Promise<void> => {
        const wanted = natState(state);
        await proxies?.reconcile(loopbackTargets(wanted));
        const script = renderNatScript(wanted);
        if (script === lastScript) return;
        try {
          await failpoint('nat.beforeApply');
          await host.applyNftScript(script);
          lastScript = script;
          nlog.info({ reason }, 'nftables rules applied');
        } catch (err) {
          nlog.error({ reason, err: errorMessage(err) }, 'nftables rules not applied');
          throw err;
        }
      };
      const next = chain.then(run, run);
      chain = next.catch(() => undefined);
      return next;
    },
  };
}
