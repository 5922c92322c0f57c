import type { DatapathType } from '../ovs/vswitch.js';
import type { NetworkOptions } from '../model/options.js';
import type { ContainerNetworkLabels } from '../model/labels.js';
import type { IpamData, PortBinding } from '../plugin/protocol.js';

/**
 * The daemon's in-memory model: a cache of what lives in OVSDB external_ids and in Docker,
 * rebuilt at every start. Records are replaced, never mutated in place, so that a reader
 * (status API, FAUCET renderer) always sees a consistent record.
 */

export interface NetworkRecord {
  readonly id: string;
  /** Docker's name for the network, also the FAUCET DP name; learnt from Docker's events. */
  readonly name: string | undefined;
  readonly options: NetworkOptions;
  /** The options as Docker passed them, kept so a restart re-parses exactly what the user typed. */
  readonly rawOptions: Readonly<Record<string, string>>;
  readonly bridgeName: string;
  readonly datapathType: DatapathType;
  readonly controllers: readonly string[];
  readonly ipv4: readonly IpamData[];
  readonly internal: boolean;
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
  readonly portBindings: readonly PortBinding[];
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
}

export class StateStore {
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly endpoints = new Map<string, EndpointRecord>();

  network(id: string): NetworkRecord | undefined {
    return this.networks.get(id);
  }

  allNetworks(): NetworkRecord[] {
    return [...this.networks.values()];
  }

  putNetwork(n: NetworkRecord): void {
    this.networks.set(n.id, Object.freeze(n));
  }

  removeNetwork(id: string): void {
    this.networks.delete(id);
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
    this.endpoints.set(e.id, Object.freeze(e));
  }

  updateEndpoint(id: string, patch: Partial<Omit<EndpointRecord, 'id' | 'networkId'>>): EndpointRecord | undefined {
    const cur = this.endpoints.get(id);
    if (cur === undefined) return undefined;
    const next = Object.freeze({ ...cur, ...patch });
    this.endpoints.set(id, next);
    return next;
  }

  removeEndpoint(id: string): void {
    this.endpoints.delete(id);
  }

  networkByName(name: string): NetworkRecord | undefined {
    return this.allNetworks().find((n) => n.name === name);
  }
}

/** The fields of an endpoint known at CreateEndpoint; everything learnt later starts empty. */
export type NewEndpoint = Pick<EndpointRecord, 'id' | 'networkId' | 'hostIf' | 'containerIf' | 'mac'> & Partial<EndpointRecord>;

export function endpointRecord(fields: NewEndpoint): EndpointRecord {
  return {
    ipv4: undefined,
    ipv6: undefined,
    ofport: undefined,
    sandboxKey: undefined,
    portBindings: [],
    container: undefined,
    labels: undefined,
    blockedReason: undefined,
    ...fields,
  };
}
