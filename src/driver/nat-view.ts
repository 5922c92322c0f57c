import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import {
  renderNatScript,
  unpublishable,
  type GatewayNetwork,
  type NatState,
  type PortMapping,
} from '../net/nat-rules.js';
import type { HostNet } from './host.js';
import { targetKey, type PortProxies, type ProxyTarget } from '../net/port-proxy.js';
import { publishPaths, showHostAddress } from '../net/publish-paths.js';
import type { NetworkRecord, StateStore } from './state.js';
import { failpoint } from '../util/failpoints.js';

/** The network's subnet and gateway from Docker's IPAM data, when it has them. */
export function ipv4Of(n: NetworkRecord): { subnet: string; gatewayCidr: string; gateway: string } | undefined {
  const d = n.ipv4.find(
    (x) => x.Pool !== undefined && x.Pool !== '0.0.0.0/0' && x.Gateway !== undefined && x.Gateway !== '',
  );
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
    const hostRoutePrefixes = n.options.hostRoutes.map((r) => r.prefix);
    networks.push({
      id: n.id,
      bridge: n.bridgeName,
      subnet: ip.subnet,
      mode: n.options.mode,
      ...(hostRoutePrefixes.length > 0 ? { hostRoutePrefixes } : {}),
    });
    for (const e of state.endpointsOf(n.id)) {
      if (e.sandboxKey === undefined || e.ipv4 === undefined) continue;
      const containerIp = e.ipv4.split('/')[0] ?? '';
      for (const p of e.published) {
        mappings.push({
          networkId: n.id,
          bridge: n.bridgeName,
          subnet: ip.subnet,
          ...p,
          containerIp,
          endpointId: e.id,
        });
      }
    }
  }
  return { networks, mappings };
}

export interface NatView {
  /** Makes the host's NAT table match the state; settles when the rules are in place. */
  sync(reason: string): Promise<void>;
  /**
   * The endpoint's mappings that the last sync could not serve at all: their only path, a
   * port proxy, could not listen (e.g. the host has no such address). One line each.
   */
  unserved(endpointId: string): string[];
  close(): Promise<void>;
}

/** A port proxy the state wants, and the mapping it serves. */
export interface WantedProxy {
  readonly target: ProxyTarget;
  readonly mapping: PortMapping;
  /** No DNAT rule serves the mapping: without the proxy it does not work at all. */
  readonly only: boolean;
}

/** What the port proxies serve: loopback and IPv6 host addresses, and 127.0.0.1 for every-address mappings. */
export function wantedProxies(nat: NatState): WantedProxy[] {
  const out: WantedProxy[] = [];
  for (const m of nat.mappings) {
    const paths = unpublishable(m) === undefined ? publishPaths(m.hostIp) : undefined;
    if (paths?.proxy === undefined) continue;
    const target = {
      protocol: m.protocol,
      address: paths.proxy,
      hostPort: m.hostPort,
      containerIp: m.containerIp,
      containerPort: m.containerPort,
    };
    out.push({ target, mapping: m, only: paths.dnat === undefined });
  }
  return out;
}

/** Mappings that cannot be published at all; each line names the endpoint and why. */
function refusedMappings(nat: NatState): string[] {
  return nat.mappings.flatMap((m) => {
    const why = unpublishable(m);
    return why === undefined
      ? []
      : [`endpoint ${m.endpointId.slice(0, 12)} ${m.containerPort}/${m.protocol} on host port ${m.hostPort}: ${why}`];
  });
}

/**
 * Serialises table rewrites: each one renders the state as it is when it runs, so a burst of
 * changes ends with the rules of the newest state, and none is ever applied out of order.
 */
export function createNatView(state: StateStore, host: HostNet, log: Logger, proxies?: PortProxies): NatView {
  const nlog = log.child({ component: 'nat' });
  let chain: Promise<void> = Promise.resolve();
  let lastScript = '';
  let lastRefused = '';
  let unserved = new Map<string, string[]>();

  const startProxies = async (nat: NatState): Promise<void> => {
    const wanted = wantedProxies(nat);
    const failed = (await proxies?.reconcile(wanted.map((p) => p.target))) ?? new Map<string, string>();
    const now = new Map<string, string[]>();
    for (const p of wanted) {
      const why = failed.get(targetKey(p.target));
      if (why === undefined) continue;
      const line = `${p.mapping.containerPort}/${p.mapping.protocol} on ${showHostAddress(p.target.address)}:${p.target.hostPort}: ${why}`;
      if (p.only) now.set(p.mapping.endpointId, [...(now.get(p.mapping.endpointId) ?? []), line]);
      nlog.warn(
        { endpoint: p.mapping.endpointId, mapping: line },
        p.only
          ? 'port proxy cannot listen: the mapping is not published'
          : "port proxy cannot listen: the mapping's other host addresses still work",
      );
    }
    unserved = now;
  };

  return {
    async close(): Promise<void> {
      await chain;
      await proxies?.closeAll();
    },
    unserved(endpointId: string): string[] {
      return unserved.get(endpointId) ?? [];
    },
    sync(reason: string): Promise<void> {
      const run = async (): Promise<void> => {
        const wanted = natState(state);
        const refused = refusedMappings(wanted);
        if (refused.length > 0 && refused.join('\n') !== lastRefused)
          nlog.error({ reason, refused }, 'port mappings left out; the other rules are applied');
        lastRefused = refused.join('\n');
        await startProxies(wanted);
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
