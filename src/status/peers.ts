import type { HostStatus, NetworksStatus } from './documents.js';
import { errorMessage } from '../util/errors.js';

/**
 * The other hosts' status APIs (DOVESNAP_STATUS_PEERS), for the live view: each peer's
 * `/networks` and `/host`, fetched every few seconds while a page is open. The view reads the
 * last answers (`current()`) and never waits for a peer: one that does not answer within the
 * timeout is marked unreachable, with why, until it answers again.
 */

export interface PeerView {
  /** The peer's status API, as given (`http://10.239.0.12:9401`). */
  readonly Source: string;
  /** `waiting` until its first answer (or failure), then `ok` or `unreachable`. */
  readonly State: 'waiting' | 'ok' | 'unreachable';
  readonly Error: string | null;
  /** Its last answers; empty while it is not `ok`. */
  readonly Networks: NetworksStatus;
  /** Null while it is not `ok`, and for an older daemon that has no `/host`. */
  readonly Host: HostStatus | null;
}

/** Fetches one document of a peer: JSON, or throws saying why not; `undefined` for a 404. */
export type PeerFetch = (base: string, path: string, timeoutMs: number) => Promise<unknown>;

export interface PeerPollerOptions {
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly fetchJson?: PeerFetch;
}

export const httpPeerFetch: PeerFetch = async (base, path, timeoutMs) => {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).slice(0, 200).trim();
    throw new Error(`${path} answered ${res.status}${text === '' ? '' : `: ${text}`}`);
  }
  return res.json();
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One peer's documents, checked enough that the view and the diagram can read them. */
export async function askPeer(base: string, fetchJson: PeerFetch, timeoutMs: number): Promise<PeerView> {
  let timer: NodeJS.Timeout | undefined;
  // The fetch's own timeout covers the connection; this one a peer that answers too slowly.
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const [networks, host] = await Promise.race([
      Promise.all([fetchJson(base, '/networks', timeoutMs), fetchJson(base, '/host', timeoutMs)]),
      late,
    ]);
    if (!isObject(networks)) throw new Error('/networks is not a status document');
    if (host !== undefined && (!isObject(host) || !('Stack' in host) || !('MirrorBridge' in host)))
      throw new Error('/host is not a status document');
    return {
      Source: base,
      State: 'ok',
      Error: null,
      Networks: networks as unknown as NetworksStatus,
      Host: (host as HostStatus | undefined) ?? null,
    };
  } catch (err) {
    return { Source: base, State: 'unreachable', Error: errorMessage(err), Networks: {}, Host: null };
  } finally {
    clearTimeout(timer);
  }
}

export class PeerPoller {
  private views: PeerView[];
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly fetchJson: PeerFetch;

  constructor(
    readonly peers: readonly string[],
    options: PeerPollerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 3000;
    // Shorter than the interval, so that a round never overlaps the next.
    this.timeoutMs = options.timeoutMs ?? Math.min(2500, Math.max(100, this.intervalMs - 100));
    this.fetchJson = options.fetchJson ?? httpPeerFetch;
    this.views = peers.map((p) => ({ Source: p, State: 'waiting', Error: null, Networks: {}, Host: null }));
  }

  /** The last answers, in the order the peers were given. */
  current(): readonly PeerView[] {
    return this.views;
  }

  /** Polls while someone watches; `listener` hears of every change of a peer's view. */
  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1 && this.peers.length > 0) {
      void this.poll();
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** One round: every peer asked at once; listeners told when any view changed. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const next = await Promise.all(this.peers.map((p) => askPeer(p, this.fetchJson, this.timeoutMs)));
      const changed = JSON.stringify(next) !== JSON.stringify(this.views);
      this.views = next;
      if (changed) for (const l of [...this.listeners]) l();
    } finally {
      this.polling = false;
    }
  }
}
