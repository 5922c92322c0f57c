/**
 * The live view's feed: what the page at `/` draws, pushed to every open page as server-sent
 * events. A `snapshot` event carries the topology (the status API's documents, the diagram as
 * SVG, FAUCET's last configuration load) whenever it changes; a `traffic` event carries every
 * port's counters every few seconds. Nothing is computed while no page is open. With other hosts'
 * status APIs (DOVESNAP_STATUS_PEERS; peers.ts), the snapshot holds their networks too
 * (live-hosts.ts) and the diagram is theirs and this host's in one picture.
 */
import { createHash } from 'node:crypto';
import type { FaucetConfigOutcome } from '../faucet/types.js';
import type { HostStatus, NetworksStatus } from './documents.js';
import { toDot, type HostGraphInput } from '../graph/dot.js';
import { mergeHosts, type LiveHost, type LiveNetwork } from './live-hosts.js';
import type { PeerView } from './peers.js';
import { errorMessage } from '../util/errors.js';

/** Counters of one interface, as Open vSwitch keeps them. */
export interface PortTraffic {
  readonly RxBytes: number;
  readonly TxBytes: number;
  readonly RxPackets: number;
  readonly TxPackets: number;
  readonly RxDropped: number;
  readonly TxDropped: number;
  readonly RxErrors: number;
  readonly TxErrors: number;
}

/** FAUCET's last configuration load as dovesnap saw it, and the last refusal. */
export interface FaucetLoadStatus {
  /** `none` until dovesnap writes a configuration after it started. */
  readonly Outcome: FaucetConfigOutcome | 'none';
  readonly At: string | null;
  readonly Message: string | null;
  readonly LastRefusal: { readonly At: string; readonly Message: string } | null;
}

export interface LiveSnapshot {
  readonly At: string;
  /** This host's documents, as `/networks` and `/host` answer them. */
  readonly Networks: NetworksStatus;
  readonly Host: HostStatus;
  /** This host, then each peer, with whether it answered. */
  readonly Hosts: readonly LiveHost[];
  /** Every host's networks, a network of the same name on several hosts as one (what the page draws). */
  readonly Merged: readonly LiveNetwork[];
  readonly Faucet: FaucetLoadStatus;
  /** The wiring diagram (as `dovesnap graph` draws it), or null with SvgError saying why. */
  readonly Svg: string | null;
  readonly SvgError: string | null;
}

export interface LiveTraffic {
  readonly At: string;
  /** Interface name -> counters. */
  readonly Ports: Readonly<Record<string, PortTraffic>>;
}

export interface LiveSources {
  networks(): Promise<NetworksStatus>;
  host(): Promise<HostStatus>;
  faucet(): FaucetLoadStatus;
  statistics(): Promise<ReadonlyMap<string, Readonly<Record<string, number>>>>;
  renderSvg(dot: string): Promise<string>;
  /** Called when something the view shows may have changed; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  /** Where the diagram says the host is: its status address. */
  readonly source: string;
  /** Other hosts' status APIs (status/peers.ts PeerPoller); none when absent. */
  readonly peers?: {
    current(): readonly PeerView[];
    watch(listener: () => void): () => void;
    /** Asks every peer once (bounded by its timeout). */
    poll(): Promise<void>;
  };
}

export interface LiveFeedOptions {
  /** How often the topology is compared with the last one sent, besides change notices. */
  readonly checkMs?: number;
  readonly trafficMs?: number;
  /** How long a burst of change notices is let settle before a snapshot. */
  readonly settleMs?: number;
}

export type LiveSend = (event: 'snapshot' | 'traffic', data: string) => void;

export function portTraffic(stats: Readonly<Record<string, number>>): PortTraffic {
  const n = (key: string): number => stats[key] ?? 0;
  return {
    RxBytes: n('rx_bytes'),
    TxBytes: n('tx_bytes'),
    RxPackets: n('rx_packets'),
    TxPackets: n('tx_packets'),
    RxDropped: n('rx_dropped'),
    TxDropped: n('tx_dropped'),
    RxErrors: n('rx_errors'),
    TxErrors: n('tx_errors'),
  };
}

/** The interfaces the view shows: containers' host ends and the bridges' other ports. */
export function shownInterfaces(networks: NetworksStatus, host: HostStatus): Set<string> {
  const names = new Set<string>();
  for (const n of Object.values(networks)) {
    for (const c of Object.values(n.Containers)) names.add(c.Interface);
    for (const p of n.HostPorts) names.add(p.Interface);
  }
  if (host.MirrorBridge !== null) {
    names.add(host.MirrorBridge.Out);
    if (host.MirrorBridge.In !== null) names.add(host.MirrorBridge.In);
  }
  for (const i of host.Stack?.Interfaces ?? []) names.add(i.Interface);
  return names;
}

export class LiveFeed {
  private readonly clients = new Set<LiveSend>();
  private readonly checkMs: number;
  private readonly trafficMs: number;
  private readonly settleMs: number;
  private timers: NodeJS.Timeout[] = [];
  private settleTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** The last snapshot sent, with the hash of its topology (the time left out). */
  private last: { hash: string; data: string; shown: Set<string> } | undefined;
  private lastTraffic: string | undefined;
  /** The last diagram: re-rendered only when its DOT changes. */
  private svgCache: { dot: string; svg: string | null; error: string | null } | undefined;
  private building: Promise<void> | undefined;
  private rebuildAgain = false;

  constructor(
    private readonly sources: LiveSources,
    options: LiveFeedOptions = {},
  ) {
    this.checkMs = options.checkMs ?? 1000;
    this.trafficMs = options.trafficMs ?? 2000;
    this.settleMs = options.settleMs ?? 150;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Adds a page: it gets the current snapshot and traffic at once, then every change. */
  add(send: LiveSend): () => void {
    this.clients.add(send);
    if (this.clients.size === 1) this.start();
    if (this.last !== undefined) {
      send('snapshot', this.last.data);
      if (this.lastTraffic !== undefined) send('traffic', this.lastTraffic);
    } else {
      this.changed(0);
    }
    return () => {
      this.clients.delete(send);
      if (this.clients.size === 0) this.stop();
    };
  }

  /** The snapshot as a page would get it now (also `GET /live/snapshot`). */
  async snapshot(): Promise<LiveSnapshot> {
    const [networks, host] = await Promise.all([this.sources.networks(), this.sources.host()]);
    // No page open (`GET /live/snapshot`): nobody polls the peers, so ask them now, at most
    // for the poll's timeout. With pages, their last answers: a peer never holds up the view.
    if (this.clients.size === 0) await this.sources.peers?.poll();
    const peers = this.sources.peers?.current() ?? [];
    const { Hosts, Merged } = mergeHosts({ source: this.sources.source, networks, host }, peers);
    const graphed: HostGraphInput[] = [{ source: this.sources.source, networks, host }];
    for (const p of peers)
      if (p.State === 'ok') graphed.push({ source: p.Source, networks: p.Networks, host: p.Host ?? undefined });
    const dot = toDot(graphed);
    const drawn = await this.diagram(dot);
    return {
      At: new Date().toISOString(),
      Networks: networks,
      Host: host,
      Hosts,
      Merged,
      Faucet: this.sources.faucet(),
      Svg: drawn.svg,
      SvgError: drawn.error,
    };
  }

  async traffic(shown?: ReadonlySet<string>): Promise<LiveTraffic> {
    const stats = await this.sources.statistics();
    const ports: Record<string, PortTraffic> = {};
    for (const [name, s] of stats) if (shown === undefined || shown.has(name)) ports[name] = portTraffic(s);
    return { At: new Date().toISOString(), Ports: ports };
  }

  close(): void {
    this.clients.clear();
    this.stop();
  }

  private start(): void {
    const unsubscribeLocal = this.sources.onChange(() => this.changed(this.settleMs));
    const unwatchPeers = this.sources.peers?.watch(() => this.changed(0));
    this.unsubscribe = () => {
      unsubscribeLocal();
      unwatchPeers?.();
    };
    const check = setInterval(() => this.changed(0), this.checkMs);
    const traffic = setInterval(() => void this.sendTraffic(), this.trafficMs);
    check.unref();
    traffic.unref();
    this.timers = [check, traffic];
  }

  private stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.settleTimer !== undefined) clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.last = undefined;
    this.lastTraffic = undefined;
  }

  private changed(afterMs: number): void {
    if (this.clients.size === 0) return;
    if (afterMs === 0) {
      void this.rebuild();
      return;
    }
    if (this.settleTimer !== undefined) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      void this.rebuild();
    }, afterMs);
    this.settleTimer.unref();
  }

  /** One build at a time; a change during a build gets one more build after it. */
  private async rebuild(): Promise<void> {
    if (this.building !== undefined) {
      this.rebuildAgain = true;
      return this.building;
    }
    this.building = this.buildAndSend().finally(() => {
      this.building = undefined;
      if (this.rebuildAgain) {
        this.rebuildAgain = false;
        void this.rebuild();
      }
    });
    return this.building;
  }

  private async buildAndSend(): Promise<void> {
    let snap: LiveSnapshot;
    try {
      snap = await this.snapshot();
    } catch {
      return; // OVSDB or the status sources are down: the next check tries again
    }
    const { At: _at, ...topology } = snap;
    const hash = createHash('sha256').update(JSON.stringify(topology)).digest('hex');
    if (this.last?.hash === hash || this.clients.size === 0) return;
    const first = this.last === undefined;
    this.last = { hash, data: JSON.stringify(snap), shown: shownInterfaces(snap.Networks, snap.Host) };
    this.broadcast('snapshot', this.last.data);
    if (first) await this.sendTraffic();
  }

  private async sendTraffic(): Promise<void> {
    if (this.last === undefined || this.clients.size === 0) return;
    try {
      this.lastTraffic = JSON.stringify(await this.traffic(this.last.shown));
    } catch {
      return;
    }
    this.broadcast('traffic', this.lastTraffic);
  }

  private broadcast(event: 'snapshot' | 'traffic', data: string): void {
    for (const send of this.clients) {
      try {
        send(event, data);
      } catch {
        this.clients.delete(send);
      }
    }
  }

  private async diagram(dot: string): Promise<{ svg: string | null; error: string | null }> {
    if (this.svgCache?.dot === dot) return this.svgCache;
    let drawn: { svg: string | null; error: string | null };
    try {
      drawn = { svg: await this.sources.renderSvg(dot), error: null };
    } catch (err) {
      drawn = { svg: null, error: errorMessage(err) };
    }
    this.svgCache = { dot, ...drawn };
    return drawn;
  }
}
