import type { DatapathType } from '../ovs/vswitch.js';
import type { NetworkOptions } from '../model/options.js';
import type { ComposeNetwork, ContainerNetworkLabels } from '../model/labels.js';
import type { IpamData } from '../model/plugin-protocol.js';

/**
 * The daemon's in-memory model: a cache of what lives in OVSDB external_ids and in Docker,
 * rebuilt at every start. Records are replaced, never mutated in place, so that a reader
 * (status API, FAUCET renderer) always sees a consistent record.
 */

export interface NetworkRecord {
  readonly id: string;
  /** Docker's name for the network, also the FAUCET DP name; learnt from Docker's events. */
  readonly name: string | undefined;
  /**
   * The network's place in a Docker Compose project (its `com.docker.compose.*` labels), by which
   * its containers' labels may name it; null: Compose did not make it; undefined: not learnt from
   * Docker yet (learnt with the name, from the network's labels).
   */
  readonly compose?: ComposeNetwork | null | undefined;
  readonly options: NetworkOptions;
  /** The options as Docker passed them, kept so a restart re-parses exactly what the user typed. */
  readonly rawOptions: Readonly<Record<string, string>>;
  readonly bridgeName: string;
  readonly datapathType: DatapathType;
  readonly controllers: readonly string[];
  readonly ipv4: readonly IpamData[];
  readonly internal: boolean;
  /**
   * Whether this host's FAUCET controls the network (one of its controllers is the local
   * FAUCET). Standalone networks and networks of a remote controller are not written into the
   * local faucet.yaml, and their ports carry traffic as soon as the container joins.
   */
  readonly localFaucet: boolean;
  /**
   * With FAUCET's configuration shared by several hosts (FAUCETCONFRPC_ADDR): this host's part
   * of the network's DP name, `<name>@<dpHost>` (driver/dp-naming.ts), fixed when the network is
   * created. Unset with the local file: the DP is named after the network.
   */
  readonly dpHost?: string;
}

/** One published port: the host's `hostIp:hostPort` ('' = every address) to the container's port. */
export interface PublishedPort {
  readonly protocol: 'tcp' | 'udp';
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

export interface ContainerInfo {
  readonly id: string;
  /** Docker's name, with its leading slash, as FAUCET port descriptions show it. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface EndpointRecord {
  readonly id: string;
  readonly networkId: string;
  readonly hostIf: string;
  readonly containerIf: string;
  /** The MAC the container's interface has (after any `mac_prefix` label was applied). */
  readonly mac: string;
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  readonly ofport: number | undefined;
  readonly sandboxKey: string | undefined;
  /** Host ports published for the container (`docker run -p`), as chosen at Join. */
  readonly published: readonly PublishedPort[];
  readonly container: ContainerInfo | undefined;
  /** Parsed labels for this network; undefined until the container is known. */
  readonly labels: ContainerNetworkLabels | undefined;
  /** Why the port is held closed in FAUCET, when it is (e.g. a label names an ACL FAUCET lacks). */
  readonly blockedReason: string | undefined;
  /**
   * FAUCET refused a configuration that opened this port (e.g. its ACL outputs to a port the DP
   * lacks): the port stays closed, for good, so that one bad container cannot stall every
   * other change. Recreating the container tries again.
   */
  readonly faucetRejected?: string | undefined;
  /**
   * When Docker's Join reached this process (Date.now()); undefined for endpoints restored from
   * OVSDB. Ties a container's `connect` event, which Docker sends after the Join, to at most
   * the endpoints that had joined by then.
   */
  readonly joinedAt?: number | undefined;
  /** On an `ovs.bridge.dhcp` network, the address of the container's current DHCP lease (no prefix). */
  readonly leasedIpv4?: string | undefined;
  /**
   * The port was a ready port (driver/port-pool.ts): FAUCET programmed it before the container
   * existed, and its entry ignores link changes (opstatus_reconf: false).
   */
  readonly pooled?: boolean;
}

/** A change to the model, for subscribers (status views, metrics, the event log). */
export type StateChange =
  | { readonly kind: 'network'; readonly id: string; readonly record: NetworkRecord | undefined }
  | {
      readonly kind: 'endpoint';
      readonly id: string;
      readonly networkId: string;
      readonly record: EndpointRecord | undefined;
    };

/** An endpoint removed before any container was tied to it; see StateStore.unresolvedJoins. */
interface Tombstone {
  readonly networkId: string;
  readonly joinedAt: number;
  readonly removedAt: number;
}

/** How long a removed, never-resolved endpoint still counts as a candidate for late events. */
const TOMBSTONE_TTL_MS = 120_000;

export class StateStore {
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly endpoints = new Map<string, EndpointRecord>();
  private readonly listeners = new Set<(change: StateChange) => void>();
  private tombstones: Tombstone[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Calls `listener` after every change; returns the function that unsubscribes. */
  subscribe(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private publish(change: StateChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch {
        // A subscriber's failure is its own; the model has changed either way.
      }
    }
  }

  network(id: string): NetworkRecord | undefined {
    return this.networks.get(id);
  }

  allNetworks(): NetworkRecord[] {
    return [...this.networks.values()];
  }

  putNetwork(n: NetworkRecord): void {
    const record = Object.freeze(n);
    this.networks.set(n.id, record);
    this.publish({ kind: 'network', id: n.id, record });
  }

  removeNetwork(id: string): void {
    if (this.networks.delete(id)) this.publish({ kind: 'network', id, record: undefined });
  }

  endpoint(id: string): EndpointRecord | undefined {
    return this.endpoints.get(id);
  }

  endpointsOf(networkId: string): EndpointRecord[] {
    return [...this.endpoints.values()].filter((e) => e.networkId === networkId);
  }

  allEndpoints(): EndpointRecord[] {
    return [...this.endpoints.values()];
  }

  putEndpoint(e: EndpointRecord): void {
    const record = Object.freeze(e);
    this.endpoints.set(e.id, record);
    this.publish({ kind: 'endpoint', id: e.id, networkId: e.networkId, record });
  }

  updateEndpoint(id: string, patch: Partial<Omit<EndpointRecord, 'id' | 'networkId'>>): EndpointRecord | undefined {
    const cur = this.endpoints.get(id);
    if (cur === undefined) return undefined;
    const next = Object.freeze({ ...cur, ...patch });
    this.endpoints.set(id, next);
    this.publish({ kind: 'endpoint', id, networkId: cur.networkId, record: next });
    return next;
  }

  removeEndpoint(id: string): void {
    const cur = this.endpoints.get(id);
    if (cur === undefined) return;
    this.endpoints.delete(id);
    if (cur.container === undefined && cur.joinedAt !== undefined) {
      this.tombstones.push({ networkId: cur.networkId, joinedAt: cur.joinedAt, removedAt: this.now() });
    }
    this.publish({ kind: 'endpoint', id, networkId: cur.networkId, record: undefined });
  }

  /**
   * How many endpoints of the network had joined by `atMs` and were never tied to a container:
   * those still here (restored ones, whose join time is unknown, always count) plus those
   * removed since (a container that died at once). A `connect` event sent at `atMs` belongs to
   * one of them; only when there is exactly one is it known which, without asking Docker.
   */
  unresolvedJoins(networkId: string, atMs: number): { live: EndpointRecord[]; removed: number } {
    const now = this.now();
    this.tombstones = this.tombstones.filter((t) => now - t.removedAt < TOMBSTONE_TTL_MS);
    const live = this.endpointsOf(networkId).filter(
      (e) => e.sandboxKey !== undefined && e.container === undefined && (e.joinedAt ?? 0) <= atMs,
    );
    const removed = this.tombstones.filter((t) => t.networkId === networkId && t.joinedAt <= atMs).length;
    return { live, removed };
  }

  networkByName(name: string): NetworkRecord | undefined {
    return this.allNetworks().find((n) => n.name === name);
  }
}

/** The fields of an endpoint known at CreateEndpoint; everything learnt later starts empty. */
export type NewEndpoint = Pick<EndpointRecord, 'id' | 'networkId' | 'hostIf' | 'containerIf' | 'mac'> &
  Partial<EndpointRecord>;

export function endpointRecord(fields: NewEndpoint): EndpointRecord {
  return {
    ipv4: undefined,
    ipv6: undefined,
    ofport: undefined,
    sandboxKey: undefined,
    published: [],
    container: undefined,
    labels: undefined,
    blockedReason: undefined,
    ...fields,
  };
}
