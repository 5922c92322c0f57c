/**
 * A connection to OVSDB that outlives the server. ovsdb-server restarts (package upgrades,
 * `systemctl restart openvswitch-switch`, a crash) and a daemon that connected once would
 * then fail every call until it is restarted itself. This keeps one OvsdbClient at a time,
 * replaces it with exponential backoff when it is lost, and runs the owner's `onConnect`
 * (which re-creates its monitors) on every new connection before callers may use it, so
 * nobody ever sees a connection whose monitors are missing.
 *
 * Transport-agnostic like jsonrpc.ts: it takes a function that yields a connected stream, so
 * tests drive it over in-memory duplexes.
 */
import type { Duplex } from 'node:stream';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { OvsdbClient } from './client.js';

export interface OvsdbHealth {
  readonly connected: boolean;
  /** Date.now() of the last change of `connected`. */
  readonly since: number;
  /** Why the last connection was lost or the last attempt failed; kept after recovery, for the record. */
  readonly lastError: string | undefined;
  /** How many times a lost connection was re-established. */
  readonly reconnects: number;
}

export type HealthListener = (health: OvsdbHealth) => void;

/** Yields a freshly connected stream to the server, or rejects. */
export type StreamConnector = () => Promise<Duplex>;

/** Prepares a new connection (creates monitors); the connection counts as up only once this resolves. */
export type ConnectHook = (client: OvsdbClient) => Promise<void>;

export interface ReconnectOptions {
  /** Delay before the first reconnect attempt; doubles after each failed attempt. Default 100 ms. */
  readonly initialBackoffMs?: number;
  /** Ceiling of that delay. Default 5 s. */
  readonly maxBackoffMs?: number;
  /** How long a call waits for a lost connection to come back before it fails. Default 5 s. */
  readonly unavailableAfterMs?: number;
  /** An attempt (connect plus monitors) that takes longer than this is abandoned and retried. Default 10 s. */
  readonly attemptTimeoutMs?: number;
}

export const RECONNECT_DEFAULTS: Required<ReconnectOptions> = {
  initialBackoffMs: 100,
  maxBackoffMs: 5000,
  unavailableAfterMs: 5000,
  attemptTimeoutMs: 10_000,
};

/** The delay after `previous` when another attempt failed. */
export function nextBackoff(previous: number, options: Pick<Required<ReconnectOptions>, 'maxBackoffMs'>): number {
  return Math.min(previous * 2, options.maxBackoffMs);
}

interface ReadyWaiter {
  readonly resolve: (client: OvsdbClient) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

export class ReconnectingOvsdb {
  private readonly options: Required<ReconnectOptions>;
  /** Connected, monitors in place; undefined while down. */
  private current: OvsdbClient | undefined;
  /** The connection being set up, so close() can abandon it. */
  private attempting: OvsdbClient | undefined;
  private closed = false;
  private everConnected = false;
  private state: OvsdbHealth;
  private readonly healthListeners = new Set<HealthListener>();
  private readonly closeListeners = new Set<() => void>();
  private readonly waiters = new Set<ReadyWaiter>();
  /** Cuts the backoff sleep short when close() is called. */
  private wake: (() => void) | undefined;

  constructor(
    private readonly connectStream: StreamConnector,
    /** What we connect to, for messages: the socket path. */
    readonly target: string,
    private readonly onConnect: ConnectHook,
    private readonly logger?: Logger,
    options: ReconnectOptions = {},
  ) {
    this.options = { ...RECONNECT_DEFAULTS, ...options };
    this.state = { connected: false, since: Date.now(), lastError: undefined, reconnects: 0 };
  }

  /**
   * The first connection. Rejects (and gives up) if it fails: at start-up the caller decides how
   * long to wait for OVSDB. Once it succeeds, every later loss is repaired here.
   */
  async start(): Promise<void> {
    let lost: Promise<void>;
    try {
      ({ lost } = await this.attempt());
    } catch (err) {
      this.closed = true;
      this.setHealth({ lastError: errorMessage(err) });
      throw err;
    }
    void this.supervise(lost);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  health(): OvsdbHealth {
    return this.state;
  }

  onHealthChange(listener: HealthListener): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  /** Called once, when close() is called. */
  onClose(listener: () => void): () => void {
    if (this.closed) {
      queueMicrotask(listener);
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * The connected client. While the connection is down, waits up to `unavailableAfterMs` for
   * it to come back, then rejects with DovesnapError(Ovsdb); after close(), with Disposed.
   */
  ready(): Promise<OvsdbClient> {
    if (this.closed) return Promise.reject(this.disposedError());
    if (this.current?.isOpen === true) return Promise.resolve(this.current);
    const waitMs = this.options.unavailableAfterMs;
    return new Promise((resolve, reject) => {
      const waiter: ReadyWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const last = this.state.lastError === undefined ? '' : ` (last error: ${this.state.lastError})`;
          reject(
            new DovesnapError(
              ErrorCode.Ovsdb,
              `OVSDB is unavailable at ${this.target}: not connected within ${waitMs} ms${last}`,
            ),
          );
        }, waitMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Stops reconnecting, closes the connection, and rejects every waiting call with Disposed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    this.attempting?.close();
    const client = this.current;
    this.current = undefined;
    client?.close();
    for (const waiter of [...this.waiters]) {
      clearTimeout(waiter.timer);
      waiter.reject(this.disposedError());
    }
    this.waiters.clear();
    if (this.state.connected) this.setHealth({ connected: false });
    const listeners = [...this.closeListeners];
    this.closeListeners.clear();
    for (const listener of listeners) this.callSafely(listener, 'OVSDB close listener threw');
  }

  // -------------------------------------------------------------------------------------------

  /** Reconnects whenever the connection is lost, until close(). Never rejects. */
  private async supervise(firstLost: Promise<void>): Promise<void> {
    let lost: Promise<void> | undefined = firstLost;
    let delay = this.options.initialBackoffMs;
    while (!this.closed) {
      if (lost !== undefined) {
        await lost;
        lost = undefined;
        delay = this.options.initialBackoffMs;
        continue;
      }
      await this.pause(delay);
      if (this.closed) return;
      try {
        ({ lost } = await this.attempt());
      } catch (err) {
        if (this.closed) return;
        this.setHealth({ lastError: errorMessage(err) });
        this.logger?.debug(
          { socket: this.target, err: errorMessage(err), retryInMs: nextBackoff(delay, this.options) },
          'OVSDB reconnect attempt failed',
        );
        delay = nextBackoff(delay, this.options);
      }
    }
  }

  /**
   * One connection attempt: connect, run the hook, and only then publish the client. Resolves
   * with a promise that settles when that connection is lost.
   */
  private async attempt(): Promise<{ lost: Promise<void> }> {
    let abandoned = false;
    let client: OvsdbClient | undefined;
    let timer: NodeJS.Timeout | undefined;
    const work = (async () => {
      const stream = await this.connectStream();
      if (abandoned || this.closed) {
        stream.destroy();
        throw this.disposedError();
      }
      const opened = OvsdbClient.over(stream, this.logger);
      client = opened;
      this.attempting = opened;
      // Registered before the hook runs, so a loss during set-up is never missed.
      const lost = new Promise<void>((resolve) =>
        opened.onClose((cause) => {
          this.connectionLost(opened, cause);
          resolve();
        }),
      );
      await this.onConnect(opened);
      if (abandoned || this.closed) throw this.disposedError();
      if (!opened.isOpen)
        throw new DovesnapError(ErrorCode.Ovsdb, `OVSDB connection to ${this.target} closed while it was being set up`);
      return { client: opened, lost };
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new DovesnapError(
            ErrorCode.Ovsdb,
            `OVSDB at ${this.target} did not answer within ${this.options.attemptTimeoutMs} ms`,
          ),
        );
      }, this.options.attemptTimeoutMs);
    });
    try {
      const { client: opened, lost } = await Promise.race([work, timeout]);
      if (this.closed) throw this.disposedError();
      this.publish(opened);
      return { lost };
    } catch (err) {
      abandoned = true;
      client?.close();
      // The race's loser must not become an unhandled rejection.
      work.catch(() => {});
      throw err;
    } finally {
      clearTimeout(timer);
      if (client !== undefined && this.attempting === client) this.attempting = undefined;
    }
  }

  private publish(client: OvsdbClient): void {
    const isReconnect = this.everConnected;
    this.current = client;
    this.everConnected = true;
    this.setHealth({ connected: true, reconnects: this.state.reconnects + (isReconnect ? 1 : 0) });
    if (isReconnect)
      this.logger?.info({ socket: this.target, reconnects: this.state.reconnects }, 'OVSDB connection re-established');
    for (const waiter of [...this.waiters]) {
      clearTimeout(waiter.timer);
      waiter.resolve(client);
    }
    this.waiters.clear();
  }

  /** Synchronous, so that a caller whose request just failed already sees the connection as down. */
  private connectionLost(client: OvsdbClient, cause: unknown): void {
    if (this.current !== client) return;
    this.current = undefined;
    if (this.closed) return;
    const why = cause === undefined ? `connection to ${this.target} closed` : errorMessage(cause);
    this.logger?.warn({ socket: this.target, err: why }, 'OVSDB connection lost; reconnecting');
    this.setHealth({ connected: false, lastError: why });
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => {
      this.wake = undefined;
    });
  }

  private setHealth(change: Partial<Omit<OvsdbHealth, 'since'>>): void {
    const previous = this.state;
    const connected = change.connected ?? previous.connected;
    this.state = {
      connected,
      since: connected === previous.connected ? previous.since : Date.now(),
      lastError: 'lastError' in change ? change.lastError : previous.lastError,
      reconnects: change.reconnects ?? previous.reconnects,
    };
    // Listeners hear about transitions, not about every failed attempt while down.
    if (connected === previous.connected) return;
    const snapshot = this.state;
    for (const listener of [...this.healthListeners])
      this.callSafely(() => listener(snapshot), 'OVSDB health listener threw');
  }

  private callSafely(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.logger?.error({ err }, what);
    }
  }

  private disposedError(): DovesnapError {
    return new DovesnapError(ErrorCode.Disposed, `OVSDB connection to ${this.target} was closed`);
  }
}
