import { endpointRecord, type NetworkRecord, type EndpointRecord } from './state.js';
import type { BridgeState, PortState } from '../ovs/vswitch.js';
import { parseNetworkOptions } from '../model/options.js';
import { derivedDpid } from './dp-naming.js';
import type { ComposeNetwork } from '../model/labels.js';
import type { IpamData } from '../model/plugin-protocol.js';
import type { PublishedPort } from './state.js';

/**
 * How the model is written into OVSDB external_ids, and read back at start. This is the
 * daemon's only durable state of its own: Docker never replays CreateNetwork or CreateEndpoint.
 */

export const ExtId = {
  networkId: 'dovesnap-network-id',
  networkName: 'dovesnap-network-name',
  /** The network's Compose project and compose-file name as JSON, 'null' for none, '' unknown. */
  compose: 'dovesnap-compose',
  options: 'dovesnap-options',
  ipv4: 'dovesnap-ipv4',
  internal: 'dovesnap-internal',
  /** With FAUCET's configuration shared by several hosts: the host part of the network's DP name (driver/dp-naming.ts). */
  dpHost: 'dovesnap-dp-host',
  endpointId: 'dovesnap-endpoint-id',
  containerIf: 'dovesnap-container-if',
  mac: 'dovesnap-mac',
  address: 'dovesnap-ipv4-address',
  address6: 'dovesnap-ipv6-address',
  sandbox: 'dovesnap-sandbox',
  portmap: 'dovesnap-portmap',
  containerId: 'dovesnap-container-id',
  containerName: 'dovesnap-container-name',
  labels: 'dovesnap-labels',
  /** On a ready port (driver/port-pool.ts): its container end's name; removed once a container takes it. */
  readyPort: 'dovesnap-ready-port',
  /** On a ready port FAUCET is not told of yet (driver/port-pool.ts): its container end's name. */
  readyPending: 'dovesnap-ready-pending',
  /** On an endpoint's port that was a ready port: 'true' (its FAUCET entry ignores link changes). */
  pooled: 'dovesnap-pooled',
  /** On ports dovesnap puts on a network's bridge for the options (add_ports: true, add_copro_ports: copro) and the mirror link (mirror). */
  hostPort: 'dovesnap-host-port',
  /** On the mirror bridge and its ports (see driver/mirror-bridge.ts). */
  role: 'dovesnap-role',
  /** On OVS ports `dovesnap attach` made: the attachment's key, the container's name, its VLAN (see attach/). */
  attach: 'dovesnap-attach',
  attachContainer: 'dovesnap-attach-container',
  attachVlan: 'dovesnap-attach-vlan',
  /** On OVS bridges `dovesnap attach` created (an `ovs…` name): removed with their last port. */
  attachBridge: 'dovesnap-attach-bridge',
} as const;

/** The values of ExtId.hostPort: the ports dovesnap puts on a bridge for the options, the mirror bridge and stacking. */
export const HostPortKind = {
  added: 'true',
  copro: 'copro',
  mirror: 'mirror',
  stack: 'stack',
  loopback: 'loopback',
} as const;

export function bridgeExternalIds(n: NetworkRecord): Record<string, string> {
  return {
    [ExtId.networkId]: n.id,
    [ExtId.networkName]: n.name ?? '',
    [ExtId.compose]: n.compose === undefined ? '' : JSON.stringify(n.compose),
    [ExtId.options]: JSON.stringify(n.rawOptions),
    [ExtId.ipv4]: JSON.stringify(n.ipv4),
    [ExtId.internal]: String(n.internal),
    ...(n.dpHost === undefined ? {} : { [ExtId.dpHost]: n.dpHost }),
  };
}

export function portExternalIds(e: EndpointRecord): Record<string, string> {
  return {
    [ExtId.networkId]: e.networkId,
    [ExtId.endpointId]: e.id,
    [ExtId.containerIf]: e.containerIf,
    [ExtId.mac]: e.mac,
    [ExtId.address]: e.ipv4 ?? '',
    [ExtId.address6]: e.ipv6 ?? '',
    [ExtId.sandbox]: e.sandboxKey ?? '',
    [ExtId.portmap]: e.published.length > 0 ? JSON.stringify(e.published) : '',
    [ExtId.containerId]: e.container?.id ?? '',
    [ExtId.containerName]: e.container?.name ?? '',
    [ExtId.labels]: e.container === undefined ? '' : JSON.stringify(e.container.labels),
    [ExtId.readyPort]: '',
    [ExtId.pooled]: e.pooled === true ? 'true' : '',
  };
}

function jsonOr<T>(text: string | undefined, fallback: T): T {
  if (text === undefined || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/**
 * Rebuilds a network and its endpoints from a bridge we own; undefined for bridges that are not
 * ours. `isLocalFaucet` says whether the bridge's controllers are this host's FAUCET.
 */
export function restoreFromBridge(
  b: BridgeState,
  isLocalFaucet: (controllers: readonly string[]) => boolean = () => true,
): { network: NetworkRecord; endpoints: EndpointRecord[] } | { error: string } | undefined {
  const id = b.externalIds[ExtId.networkId];
  if (id === undefined || id === '') return undefined;
  const rawOptions = jsonOr<Record<string, string>>(b.externalIds[ExtId.options], {});
  const dpHost = b.externalIds[ExtId.dpHost] || undefined;
  let options: ReturnType<typeof parseNetworkOptions>;
  try {
    options = parseNetworkOptions(rawOptions, dpHost === undefined ? undefined : derivedDpid(dpHost, id));
  } catch (err) {
    return {
      error: `bridge ${b.name} (network ${id}) has options this version cannot read: ${(err as Error).message}`,
    };
  }
  const name = b.externalIds[ExtId.networkName];
  const compose = composeFrom(jsonOr<unknown>(b.externalIds[ExtId.compose], undefined));
  const network: NetworkRecord = {
    id,
    name: name === undefined || name === '' ? undefined : name,
    ...(compose === undefined ? {} : { compose }),
    options,
    rawOptions,
    bridgeName: b.name,
    datapathType: b.datapathType === 'netdev' ? 'netdev' : 'system',
    controllers: b.controllers,
    ipv4: jsonOr<IpamData[]>(b.externalIds[ExtId.ipv4], []),
    internal: b.externalIds[ExtId.internal] === 'true',
    localFaucet: isLocalFaucet(b.controllers),
    ...(dpHost === undefined ? {} : { dpHost }),
  };
  const endpoints = b.ports.map((p) => endpointFromPort(p, id)).filter((e): e is EndpointRecord => e !== undefined);
  return { network, endpoints };
}

/** A stored Compose identity; undefined (learnt again from Docker) for anything else. */
function composeFrom(stored: unknown): ComposeNetwork | null | undefined {
  if (stored === null) return null;
  if (typeof stored !== 'object') return undefined;
  const { project, network } = stored as Record<string, unknown>;
  return typeof project === 'string' && typeof network === 'string' ? { project, network } : undefined;
}

/**
 * Published ports as stored: our own form, or (written by versions before 0.2) Docker's
 * PortBinding wire form, which is converted. Anything else is dropped.
 */
export function publishedFrom(stored: unknown): PublishedPort[] {
  if (!Array.isArray(stored)) return [];
  const out: PublishedPort[] = [];
  for (const item of stored as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const r = item as Record<string, unknown>;
    if (
      (r['protocol'] === 'tcp' || r['protocol'] === 'udp') &&
      typeof r['hostPort'] === 'number' &&
      typeof r['containerPort'] === 'number'
    ) {
      out.push({
        protocol: r['protocol'],
        hostIp: typeof r['hostIp'] === 'string' ? r['hostIp'] : '',
        hostPort: r['hostPort'],
        containerPort: r['containerPort'],
      });
    } else if (
      (r['Proto'] === 6 || r['Proto'] === 17) &&
      typeof r['HostPort'] === 'number' &&
      r['HostPort'] > 0 &&
      typeof r['Port'] === 'number'
    ) {
      const hostIp = typeof r['HostIP'] === 'string' && r['HostIP'] !== '0.0.0.0' ? r['HostIP'] : '';
      out.push({
        protocol: r['Proto'] === 6 ? 'tcp' : 'udp',
        hostIp,
        hostPort: r['HostPort'],
        containerPort: r['Port'],
      });
    }
  }
  return out;
}

function endpointFromPort(p: PortState, networkId: string): EndpointRecord | undefined {
  const x = p.externalIds;
  const id = x[ExtId.endpointId];
  if (id === undefined || id === '') return undefined;
  const containerId = x[ExtId.containerId] ?? '';
  const s = (k: string): string | undefined => (x[k] === undefined || x[k] === '' ? undefined : x[k]);
  return endpointRecord({
    id,
    networkId,
    hostIf: p.name,
    containerIf: x[ExtId.containerIf] ?? '',
    mac: x[ExtId.mac] ?? '',
    ipv4: s(ExtId.address),
    ipv6: s(ExtId.address6),
    ofport: p.ofport,
    sandboxKey: s(ExtId.sandbox),
    published: publishedFrom(jsonOr<unknown>(x[ExtId.portmap], [])),
    container:
      containerId === ''
        ? undefined
        : {
            id: containerId,
            name: x[ExtId.containerName] ?? '',
            labels: jsonOr<Record<string, string>>(x[ExtId.labels], {}),
          },
    ...(x[ExtId.pooled] === 'true' ? { pooled: true } : {}),
  });
}
