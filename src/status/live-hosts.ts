import type { HostStatus, NetworkStatus } from './documents.js';
import type { PeerView } from './peers.js';
import type { HostGraphInput } from '../graph/dot.js';

/**
 * The live view of several hosts: this host's documents and its peers' last answers
 * (DOVESNAP_STATUS_PEERS) as one list of hosts and one list of networks, each network with the
 * part of it on each host (a network of the same name on several hosts, as a multi-host stack
 * has, is one section of the page with a host column). Pure: live.ts feeds it.
 */

export interface LiveHost {
  /** How the page names the host: its HostName, else its status address; unique among the hosts. */
  readonly Name: string;
  /** Its status API (this host's: the address it listens on). */
  readonly Source: string;
  readonly Local: boolean;
  readonly State: PeerView['State'];
  readonly Error: string | null;
}

export interface LiveNetworkPart {
  /** LiveHost.Name of the host it is on. */
  readonly Host: string;
  readonly Local: boolean;
  readonly Network: NetworkStatus;
}

export interface LiveNetwork {
  /** The network's name (its ID's first 12 characters when it has none). */
  readonly Name: string;
  /** One per host that has it, in the hosts' order. */
  readonly Parts: readonly LiveNetworkPart[];
}

export interface LiveHosts {
  readonly Hosts: readonly LiveHost[];
  readonly Merged: readonly LiveNetwork[];
}

/** This host's documents, as the diagram takes them (its `/host` always there). */
export type LocalHostInput = HostGraphInput & { readonly host: HostStatus };

/** The host part of a status URL (`http://10.239.0.12:9401` -> `10.239.0.12:9401`). */
function shortSource(source: string): string {
  return source.replace(/^https?:\/\//, '').replace(/\/$/, '');
}

function networkName(n: NetworkStatus): string {
  return n.NetworkName === '' ? n.NetworkID.slice(0, 12) : n.NetworkName;
}

export function mergeHosts(local: LocalHostInput, peers: readonly PeerView[]): LiveHosts {
  const all = [
    {
      name: local.host.HostName ?? '',
      source: local.source,
      local: true,
      state: 'ok' as const,
      error: null,
      networks: local.networks,
    },
    ...peers.map((p) => ({
      name: p.Host?.HostName ?? '',
      source: p.Source,
      local: false,
      state: p.State,
      error: p.Error,
      networks: p.Networks,
    })),
  ];
  // Two hosts that give the same name (or none) are told apart by their addresses.
  const wanted = all.map((h) => (h.name === '' ? shortSource(h.source) : h.name));
  const names = wanted.map((w, i) =>
    wanted.filter((x) => x === w).length > 1 && w !== shortSource(all[i]?.source ?? '')
      ? `${w} (${shortSource(all[i]?.source ?? '')})`
      : w,
  );
  const hosts: LiveHost[] = all.map((h, i) => ({
    Name: names[i] ?? h.source,
    Source: h.source,
    Local: h.local,
    State: h.state,
    Error: h.error,
  }));
  const byName = new Map<string, LiveNetworkPart[]>();
  all.forEach((h, i) => {
    const nets = Object.values(h.networks).sort((a, b) => (a.BridgeName < b.BridgeName ? -1 : 1));
    for (const n of nets) {
      const key = networkName(n);
      const parts = byName.get(key) ?? [];
      parts.push({ Host: hosts[i]?.Name ?? h.source, Local: h.local, Network: n });
      byName.set(key, parts);
    }
  });
  const merged = [...byName.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([Name, Parts]) => ({ Name, Parts }));
  return { Hosts: hosts, Merged: merged };
}
