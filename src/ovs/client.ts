/**
 * OVSDB client: typed `transact` and `monitor` over a JsonRpcConnection. One connection, no
 * reconnect logic: whoever owns the client decides what a lost connection means (onClose);
 * for the VSwitch that is session.ts, which replaces it.
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { ConnectionState, JsonRpcConnection, type CloseHandler } from './jsonrpc.js';
import {
  Monitor,
  MonitorCancel,
  Transact,
  UPDATE_NOTIFICATION,
  decodeTransactResults,
  decodeUpdateParams,
  type MethodDescriptor,
  type MonitorRequests,
  type Operation,
  type ResultsOf,
  type TableUpdates,
  type TransactFailure,
} from './protocol.js';

export const DEFAULT_OVSDB_SOCKET = '/var/run/openvswitch/db.sock';

/** A transaction OVSDB refused. `failure.index === ops.length` means the commit itself failed. */
export class OvsdbTransactionError extends DovesnapError {
  constructor(
    readonly db: string,
    readonly failure: TransactFailure,
    /** The failing operation; undefined when the commit failed. */
    readonly operation: Operation | undefined,
  ) {
    super(ErrorCode.Ovsdb, describeFailure(db, failure, operation));
    this.name = 'OvsdbTransactionError';
  }
}

function describeFailure(db: string, failure: TransactFailure, operation: Operation | undefined): string {
  const table = operation !== undefined && 'table' in operation ? ` on ${operation.table}` : '';
  const where = operation === undefined ? 'commit' : `operation ${failure.index} (${operation.op}${table})`;
  const details = failure.details === undefined ? '' : ` (${failure.details})`;
  return `OVSDB transaction on ${db} failed at ${where}: ${failure.error}${details}`;
}

/** Receives a monitor's initial contents first, then every change, in order. */
export type UpdateHandler = (updates: TableUpdates) => void;

export interface MonitorHandle {
  /** Stops updates. Safe to call more than once and after the connection closed. */
  cancel(): Promise<void>;
}

export class OvsdbClient {
  private nextMonitor = 1;
  private readonly monitors = new Map<string, UpdateHandler>();

  constructor(
    private readonly rpc: JsonRpcConnection,
    private readonly logger?: Logger,
  ) {
    rpc.onNotification(UPDATE_NOTIFICATION, (params) => this.deliverUpdate(params));
  }

  /** A client over an already connected stream (tests pass an in-memory duplex). */
  static over(stream: Duplex, logger?: Logger): OvsdbClient {
    return new OvsdbClient(new JsonRpcConnection(stream, logger), logger);
  }

  get isOpen(): boolean {
    return this.rpc.state === ConnectionState.Open;
  }

  async call<P extends readonly unknown[], R>(descriptor: MethodDescriptor<P, R>, ...params: P): Promise<R> {
    const raw = await this.rpc.request(descriptor.method, descriptor.encodeParams(...params));
    return descriptor.decodeResult(raw);
  }

  /**
   * Runs `ops` atomically. Resolves with one typed result per operation; if any operation or
   * the commit fails, rejects with OvsdbTransactionError and nothing was changed.
   */
  async transact<const Ops extends readonly Operation[]>(db: string, ops: Ops): Promise<ResultsOf<Ops>> {
    const raw = await this.call(Transact, db, ...ops);
    const outcome = decodeTransactResults(ops, raw);
    if (!outcome.ok) throw new OvsdbTransactionError(db, outcome.failure, ops[outcome.failure.index]);
    // decodeTransactResults decoded each entry by its op kind, which is exactly what ResultsOf states.
    return outcome.results as ResultsOf<Ops>;
  }

  /**
   * Starts a monitor. The initial contents go to `onUpdate` before this resolves, so that no
   * change can be seen ahead of the state it changes.
   */
  async monitor(db: string, requests: MonitorRequests, onUpdate: UpdateHandler): Promise<MonitorHandle> {
    const monitorId = `dovesnap-monitor-${this.nextMonitor++}`;
    // Registered before the request: an update may follow the reply in the same chunk.
    let initialDelivered = false;
    const queued: TableUpdates[] = [];
    this.monitors.set(monitorId, (updates) => (initialDelivered ? onUpdate(updates) : queued.push(updates)));
    let initial: TableUpdates;
    try {
      initial = await this.call(Monitor, db, monitorId, requests);
    } catch (err) {
      this.monitors.delete(monitorId);
      throw err;
    }
    initialDelivered = true;
    onUpdate(initial);
    for (const updates of queued) onUpdate(updates);
    this.monitors.set(monitorId, onUpdate);
    return { cancel: () => this.cancelMonitor(monitorId) };
  }

  /** `cause` is the error that ended the connection, undefined for an orderly close. */
  onClose(handler: CloseHandler): () => void {
    return this.rpc.onClose(handler);
  }

  close(): void {
    this.rpc.dispose();
  }

  private async cancelMonitor(monitorId: string): Promise<void> {
    if (!this.monitors.delete(monitorId) || !this.isOpen) return;
    try {
      await this.call(MonitorCancel, monitorId);
    } catch (err) {
      // The server may have closed meanwhile; the monitor is gone either way.
      this.logger?.debug({ err, monitorId }, 'monitor_cancel failed');
    }
  }

  private deliverUpdate(params: unknown): void {
    const { monitorId, updates } = decodeUpdateParams(params);
    const handler = typeof monitorId === 'string' ? this.monitors.get(monitorId) : undefined;
    if (handler === undefined) {
      this.logger?.debug({ monitorId }, 'update for unknown monitor');
      return;
    }
    handler(updates);
  }
}

/** Opens the OVSDB server's unix socket (or any path `net.connect` accepts) as a plain stream. */
export function connectSocket(socketPath: string = DEFAULT_OVSDB_SOCKET): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const fail = (err: Error): void => {
      reject(
        new DovesnapError(ErrorCode.Ovsdb, `cannot connect to OVSDB at ${socketPath}: ${err.message}`, { cause: err }),
      );
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/** Connects to the OVSDB server's unix socket (or any path `net.connect` accepts). */
export async function connectOvsdb(socketPath: string = DEFAULT_OVSDB_SOCKET, logger?: Logger): Promise<OvsdbClient> {
  return OvsdbClient.over(await connectSocket(socketPath), logger);
}
