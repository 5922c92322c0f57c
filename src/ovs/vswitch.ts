/**
 * The bridge/port operations the daemon needs, and their implementation over OVSDB.
 *
 * Reads come from a local replica that one monitor keeps current (replica.ts), so they cost
 * no round trip however many ports exist. Every write is one transaction. Writes that depend
 * on what was read carry `wait` guards (timeout 0: an assertion, not a blocking wait) so a
 * concurrent writer makes the transaction fail cleanly instead of acting on stale state; such
 * a failure is retried from the replica, which by then holds the other writer's change (the
 * server sends updates before replies). Port, Interface and Controller rows are not root
 * rows: OVSDB deletes them once nothing refers to them, so removing a thing means removing
 * the reference to it.
 *
 * The connection is owned by a ReconnectingOvsdb (session.ts): when ovsdb-server restarts,
 * the replica is rebuilt from the new monitor's snapshot before any call proceeds. A write
 * whose connection dropped before its reply may or may not have been committed, so it is
 * never resent as is: the whole method runs again against the new replica. That is safe only
 * because every write method is idempotent by construction (see each method).
 */
import type { Duplex } from 'node:stream';
import { DovesnapError, ErrorCode, errorMessage, isDovesnapError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { connectSocket, DEFAULT_OVSDB_SOCKET, OvsdbTransactionError, type OvsdbClient } from './client.js';
import {
  byUuid,
  decodeIntegerMap,
  decodeOptionalInteger,
  decodeString,
  eq,
  mapOf,
  namedUuid,
  Op,
  optional,
  setOf,
  uuid,
  type Atom,
  type Mutation,
  type Operation,
  type OperationResult,
  type TableUpdates,
  type Value,
} from './protocol.js';
import {
  OvsdbReplica,
  REPLICA_MONITOR,
  usableOfport,
  type BridgeRow,
  type InterfaceRow,
  type PortRow,
} from './replica.js';
import { ReconnectingOvsdb, type HealthListener, type OvsdbHealth, type ReconnectOptions } from './session.js';

import type { BridgeState } from './bridge-state.js';

export { usableOfport } from './replica.js';
export type { BridgeState, PortState } from './bridge-state.js';
export type { OvsdbHealth } from './session.js';

export type DatapathType = 'system' | 'netdev';
export type FailMode = 'secure' | 'standalone';

export interface BridgeSpec {
  readonly name: string;
  readonly datapathType: DatapathType;
  /**
   * Written as other_config:datapath-id, 16 lower-case hex digits. Unset (with no controllers,
   * no fail mode and `protocols: []`): a bridge as `ovs-vsctl add-br` makes it, whose datapath
   * ID ovs-vswitchd derives from a MAC (`dovesnap attach`'s `ovs…` bridges).
   */
  readonly dpid?: bigint;
  /** Controller rows with these targets, e.g. 'tcp:127.0.0.1:6653'. */
  readonly controllers: readonly string[];
  /** Unset: none written (Open vSwitch then behaves as standalone). */
  readonly failMode?: FailMode;
  /** Default ['OpenFlow13'] (FAUCET speaks OF1.3); [] writes none (Open vSwitch's default versions). */
  readonly protocols?: readonly string[];
  /** mtu_request on the bridge's internal interface. */
  readonly mtu?: number;
  /** The MAC of the bridge's own (LOCAL) interface; unset leaves it to Open vSwitch. */
  readonly localMac?: string;
  readonly externalIds: Readonly<Record<string, string>>;
}

export interface PortSpec {
  readonly bridge: string;
  /** Port name == interface name. */
  readonly name: string;
  readonly type?: '' | 'internal' | 'patch';
  readonly ofportRequest?: number;
  readonly mtu?: number;
  /** The port's access VLAN (`ovs-vsctl add-port … tag=N`): OVS's own VLANs, on a bridge FAUCET does not run. */
  readonly tag?: number;
  /** e.g. the patch peer. */
  readonly options?: Readonly<Record<string, string>>;
  /** Written on the Port row AND the Interface row. */
  readonly externalIds: Readonly<Record<string, string>>;
}

export interface VSwitch {
  listBridges(): Promise<BridgeState[]>;
  getBridge(name: string): Promise<BridgeState | undefined>;
  /**
   * Create the bridge (Bridge + its internal Port/Interface, added to Open_vSwitch.bridges) or,
   * if it exists, repair only what differs (controllers, fail_mode, datapath-id, protocols,
   * external_ids merged). Never deletes/recreates an existing bridge.
   */
  ensureBridge(spec: BridgeSpec): Promise<void>;
  /** Deletes the bridge and its ports/controllers. Succeeds if already gone. */
  deleteBridge(name: string): Promise<void>;
  /** Idempotent: adds the port, or repairs external_ids/ofport_request/mtu/tag of an existing one of that name on that bridge. */
  addPort(spec: PortSpec): Promise<void>;
  /** Removes the port from the bridge. Succeeds if already gone. */
  deletePort(bridge: string, name: string): Promise<void>;
  /**
   * Resolves with the OpenFlow port number once ovs-vswitchd assigns it; rejects with
   * DovesnapError(Ovsdb) including the Interface `error` column if it becomes -1 / errors,
   * or Timeout after timeoutMs.
   */
  waitOfport(ifname: string, timeoutMs: number): Promise<number>;
  /**
   * Drops the bridge's controller connections and opens them again at once. A switch FAUCET
   * refused (its DP was not configured yet) is retried only after OVS's backoff (1 s, see
   * CONTROLLER_MAX_BACKOFF_MS), which a new network's first containers would wait out.
   */
  reconnectControllers(name: string): Promise<void>;
  /** Merge; a value of '' removes the key. */
  setBridgeExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void>;
  /** Merge on Port and Interface; '' removes. */
  setPortExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void>;
  /**
   * Interface counters by interface name (OVSDB's `statistics` column: rx_bytes, tx_packets,
   * rx_dropped, …), as ovs-vswitchd last wrote them (every 5 s by default). Read on demand,
   * not replicated: they change all the time.
   */
  interfaceStatistics(): Promise<Map<string, Readonly<Record<string, number>>>>;
  /** Whether OVSDB is reachable now, since when, and how often it came back. */
  health(): OvsdbHealth;
  /** Called on every change of `connected`; returns the function that unsubscribes. */
  onHealthChange(listener: (health: OvsdbHealth) => void): () => void;
  /** Called after every change OVSDB reports (any table dovesnap watches); returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  /** Stops reconnecting; pending and later calls reject with DovesnapError(Disposed). */
  close(): void;
}

export const DEFAULT_PROTOCOLS: readonly string[] = ['OpenFlow13'];

/**
 * FAUCET refuses a switch whose DP it does not know yet, and OVS then backs off up to 8 s
 * before it tries again; a bridge made a moment before its DP is configured would sit
 * uncontrolled that long. A 1 s ceiling keeps that wait short for a local controller.
 */
export const CONTROLLER_MAX_BACKOFF_MS = 1000;

/** How long reconnectControllers waits for ovs-vswitchd to drop the connections before it re-adds them. */
const RECONNECT_APPLY_TIMEOUT_MS = 1000;

/**
 * How long a controller connection may stay silent before ovs-vswitchd probes it, and as long
 * again for the answer before it drops the connection (OVS's default is 5 s). FAUCET handles one
 * event at a time, and its reload of a DP with about a thousand ports on two cores held it for
 * longer than 10 s: every switch dropped it, FAUCET cold-started the switch on the reconnect,
 * which held it again, and from then on no new port was ever programmed (seen at 952 containers
 * on one network). A dead FAUCET closes its connections, which the switch sees at once; the
 * probe only decides how long a silent one is trusted, and a `secure` bridge keeps its flows
 * meanwhile.
 */
export const CONTROLLER_INACTIVITY_PROBE_MS = 30_000;

function controllerRow(target: string): { target: string; max_backoff: number; inactivity_probe: number } {
  return { target, max_backoff: CONTROLLER_MAX_BACKOFF_MS, inactivity_probe: CONTROLLER_INACTIVITY_PROBE_MS };
}

/**
 * ovs-vswitchd accepts other_config:datapath-id only as exactly 16 hex digits and ignores
 * zero (it then derives a dpid from a MAC address), so both are checked here.
 */
/** The datapath ID and `hwaddr` (the LOCAL interface's MAC), each where the spec sets one. */
function bridgeOtherConfig(spec: BridgeSpec, dpid: string | undefined): Record<string, string> {
  return {
    ...(dpid === undefined ? {} : { 'datapath-id': dpid }),
    ...(spec.localMac === undefined ? {} : { hwaddr: spec.localMac }),
  };
}

export function formatDatapathId(dpid: bigint): string {
  if (dpid <= 0n || dpid >= 1n << 64n) {
    throw new DovesnapError(ErrorCode.Internal, `datapath id ${dpid} is outside 1..2^64-1`);
  }
  return dpid.toString(16).padStart(16, '0');
}

/** What a waitOfport watcher reports each time the Interface row changes. */
export type InterfaceObservation =
  | { readonly ofport: number | undefined; readonly error: string | undefined }
  | 'removed';

/** Starts watching one interface; returns the function that stops watching. */
export type OfportWatch = (observe: (seen: InterfaceObservation) => void, fail: (err: unknown) => void) => () => void;

/**
 * The rules of waitOfport, shared by the OVSDB implementation and the fake so both settle the
 * same way: first positive ofport wins; -1 or an error column fails; so does the row going
 * away; the watch is stopped exactly once whatever happens first.
 */
export function awaitOfport(ifname: string, timeoutMs: number, watch: OfportWatch): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = false;
    let stop: (() => void) | undefined;
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stop?.();
      settle();
    };
    const fail = (err: unknown): void => finish(() => reject(err));
    const timer = setTimeout(
      () =>
        fail(new DovesnapError(ErrorCode.Timeout, `interface ${ifname} got no OpenFlow port within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const observe = (seen: InterfaceObservation): void => {
      if (seen === 'removed') {
        fail(new DovesnapError(ErrorCode.Ovsdb, `interface ${ifname} was removed while waiting for its ofport`));
        return;
      }
      const ofport = usableOfport(seen.ofport);
      if (ofport !== undefined) finish(() => resolve(ofport));
      else if (seen.ofport === -1 || seen.error !== undefined) {
        const why = seen.error ?? 'ofport is -1';
        fail(new DovesnapError(ErrorCode.Ovsdb, `ovs-vswitchd could not add interface ${ifname}: ${why}`));
      }
    };
    const unwatch = watch((seen) => {
      try {
        observe(seen);
      } catch (err) {
        fail(err);
      }
    }, fail);
    // The watch may have settled synchronously, before `stop` could be set.
    if (done) unwatch();
    else stop = unwatch;
  });
}

/** Does merging `ids` ('' removes a key) into `current` change anything? */
export function mergeChanges(
  current: Readonly<Record<string, string>>,
  ids: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(ids).some(([key, value]) =>
    value === '' ? Object.hasOwn(current, key) : current[key] !== value,
  );
}

/** Map-column merge as mutations: `insert` never overwrites a key, so the keys are deleted first. */
function mergeMutations(column: string, ids: Readonly<Record<string, string>>): Mutation[] {
  const keys = Object.keys(ids);
  if (keys.length === 0) return [];
  const kept = nonEmpty(ids);
  const mutations: Mutation[] = [[column, 'delete', setOf(keys)]];
  if (Object.keys(kept).length > 0) mutations.push([column, 'insert', mapOf(kept)]);
  return mutations;
}

function nonEmpty(ids: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(ids).filter(([, value]) => value !== ''));
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
}

// ---------------------------------------------------------------------------------------------

const DB = 'Open_vSwitch';

function countOf(result: OperationResult | undefined): number {
  return result !== undefined && 'count' in result ? result.count : 0;
}

/** A guard `wait` failed: someone else changed what we read. Re-reading and retrying is safe. */
function isGuardFailure(err: unknown): boolean {
  return err instanceof OvsdbTransactionError && err.operation?.op === 'wait';
}

const GUARD_ATTEMPTS = 3;
/** How many times one call re-runs after losing its connection before it gives up. */
const CONNECTION_ATTEMPTS = 3;

function notFound(kind: 'bridge' | 'port', name: string): DovesnapError {
  return new DovesnapError(ErrorCode.Ovsdb, `cannot set external_ids: ${kind} ${name} does not exist`);
}

export interface OpenVSwitchOptions extends ReconnectOptions {
  /** Yields a connected stream; default: the unix socket at `socketPath`. Tests pass in-memory duplexes. */
  readonly connect?: () => Promise<Duplex>;
}

// ---------------------------------------------------------------------------------------------

export class OvsdbVSwitch implements VSwitch {
  constructor(
    private readonly session: ReconnectingOvsdb,
    private readonly replica: OvsdbReplica,
    private readonly logger?: Logger,
  ) {}

  /**
   * The monitor that feeds the replica, for every new connection: its snapshot replaces the
   * replica (rows that vanished while we were away are gone) before the connection is used.
   */
  static async monitorInto(replica: OvsdbReplica, client: OvsdbClient, logger?: Logger): Promise<void> {
    let initial = true;
    await client.monitor(DB, REPLICA_MONITOR, (updates: TableUpdates) => {
      if (initial) {
        initial = false;
        replica.reset(updates);
        return;
      }
      try {
        replica.apply(updates);
      } catch (err) {
        // A change we cannot decode leaves the replica wrong: start over from a snapshot.
        logger?.error({ err: errorMessage(err) }, 'malformed OVSDB update; reconnecting to resynchronise');
        client.close();
      }
    });
  }

  /** From the replica; waits for a lost connection to come back first, never answering from a stale copy. */
  async listBridges(): Promise<BridgeState[]> {
    await this.session.ready();
    return this.replica.bridgeStates();
  }

  async getBridge(name: string): Promise<BridgeState | undefined> {
    await this.session.ready();
    return this.replica.bridgeState(name);
  }

  /**
   * Re-runnable: creation is guarded by a `wait` that the name is still free, and a repair is
   * computed from the current state, so a re-run after a commit whose reply was lost finds
   * the bridge and has nothing left to do.
   */
  ensureBridge(spec: BridgeSpec): Promise<void> {
    const dpid = spec.dpid === undefined ? undefined : formatDatapathId(spec.dpid);
    return this.write(`ensureBridge ${spec.name}`, (client) => {
      const existing = this.replica.bridge(spec.name);
      if (existing === undefined) return this.createBridge(client, spec, dpid);
      return this.repairBridge(client, spec, dpid, existing, this.replica.iface(spec.name));
    });
  }

  /** Re-runnable: a second run finds the bridge gone and does nothing. */
  deleteBridge(name: string): Promise<void> {
    return this.write(`deleteBridge ${name}`, async (client) => {
      const bridge = this.replica.bridge(name);
      if (bridge === undefined) return;
      // Deleting an absent member is a no-op, so a concurrent delete is harmless.
      await client.transact(DB, [
        Op.comment(`dovesnap: delete bridge ${name}`),
        Op.mutate('Open_vSwitch', [], [['bridges', 'delete', setOf([uuid(bridge.uuid)])]]),
      ]);
    });
  }

  /** Re-runnable: like ensureBridge, creation is guarded and repairs are computed from current state. */
  addPort(spec: PortSpec): Promise<void> {
    return this.write(`addPort ${spec.bridge}/${spec.name}`, (client) => {
      const bridge = this.replica.bridge(spec.bridge);
      if (bridge === undefined) {
        throw new DovesnapError(ErrorCode.Ovsdb, `cannot add port ${spec.name}: bridge ${spec.bridge} does not exist`);
      }
      const port = this.replica.port(spec.name);
      if (port === undefined) return this.createPort(client, spec, bridge.uuid);
      if (!bridge.portUuids.includes(port.uuid)) {
        const why = 'the name is used on another bridge';
        throw new DovesnapError(ErrorCode.Ovsdb, `cannot add port ${spec.name} to ${spec.bridge}: ${why}`);
      }
      return this.repairPort(client, spec, port, this.replica.iface(spec.name));
    });
  }

  /** Re-runnable: a second run finds the port gone and does nothing. */
  deletePort(bridge: string, name: string): Promise<void> {
    // The bridge's own port goes only with the bridge (deleteBridge).
    if (name === bridge) return Promise.resolve();
    return this.write(`deletePort ${bridge}/${name}`, async (client) => {
      const bridgeRow = this.replica.bridge(bridge);
      const port = this.replica.port(name);
      if (bridgeRow === undefined || port === undefined || !bridgeRow.portUuids.includes(port.uuid)) return;
      await client.transact(DB, [
        Op.comment(`dovesnap: delete port ${bridge}/${name}`),
        Op.mutate('Bridge', byUuid(bridgeRow.uuid), [['ports', 'delete', setOf([uuid(port.uuid)])]]),
      ]);
    });
  }

  /**
   * Watches the replica: no monitor of its own. The replica is checked first, then on every
   * change, including its replacement after a reconnect, so a connection that drops and comes
   * back within `timeoutMs` costs the waiter nothing. Only close() ends the wait early.
   */
  waitOfport(ifname: string, timeoutMs: number): Promise<number> {
    if (this.session.isClosed) {
      return Promise.reject(
        new DovesnapError(ErrorCode.Disposed, `OVSDB connection to ${this.session.target} was closed`),
      );
    }
    return awaitOfport(ifname, timeoutMs, (observe, fail) => {
      let seen = false;
      const check = (): void => {
        const iface = this.replica.iface(ifname);
        if (iface !== undefined) {
          seen = true;
          observe({ ofport: iface.ofport, error: iface.error });
        } else if (seen) {
          observe('removed');
        }
      };
      const stopChanges = this.replica.onChange(check);
      const stopClose = this.session.onClose(() =>
        fail(new DovesnapError(ErrorCode.Disposed, `OVSDB connection closed while waiting for ${ifname}'s ofport`)),
      );
      // While disconnected the replica may be stale; its replacement will trigger a check.
      if (this.session.health().connected) check();
      return () => {
        stopChanges();
        stopClose();
      };
    });
  }

  /**
   * Re-runnable: the merge (delete the keys, insert the new values) converges to the same
   * map however often it runs. Skipped when the replica already holds the values.
   */
  setBridgeExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void> {
    const mutations = mergeMutations('external_ids', ids);
    if (mutations.length === 0) return Promise.resolve();
    return this.write(`setBridgeExternalIds ${name}`, async (client) => {
      const bridge = this.replica.bridge(name);
      if (bridge !== undefined && !mergeChanges(bridge.externalIds, ids)) return;
      const [, changed] = await client.transact(DB, [
        Op.comment(`dovesnap: set external_ids of bridge ${name}`),
        Op.mutate('Bridge', [eq('name', name)], mutations),
      ]);
      if (changed.count === 0) throw notFound('bridge', name);
    });
  }

  /**
   * Two transactions: the Controller rows go, and once ovs-vswitchd has applied that (its
   * cur_cfg reaches the next_cfg of the first), rows with the same targets come back. OVS
   * matches controllers by target, so one transaction would keep the connection in its backoff;
   * a new row connects at once. Re-runnable: the targets are read once, before either write.
   */
  reconnectControllers(name: string): Promise<void> {
    const bridge = this.replica.bridge(name);
    const targets = [
      ...new Set(
        (bridge?.controllerUuids ?? []).flatMap((id) => {
          const target = this.replica.controllerTarget(id);
          return target === undefined ? [] : [target];
        }),
      ),
    ];
    if (bridge === undefined || targets.length === 0) return Promise.resolve();
    return this.write(`reconnectControllers ${name}`, async (client) => {
      const [, , , selected] = await client.transact(DB, [
        Op.comment(`dovesnap: drop the controller connections of bridge ${name}`),
        Op.update('Bridge', byUuid(bridge.uuid), { controller: setOf([]) }),
        Op.mutate('Open_vSwitch', [], [['next_cfg', '+=', 1]]),
        Op.select('Open_vSwitch', [], ['next_cfg']),
      ]);
      const want = decodeOptionalInteger(selected.rows[0]?.['next_cfg']);
      const deadline = Date.now() + RECONNECT_APPLY_TIMEOUT_MS;
      while (want !== undefined && Date.now() < deadline) {
        const [cur] = await client.transact(DB, [Op.select('Open_vSwitch', [], ['cur_cfg'])]);
        if ((decodeOptionalInteger(cur.rows[0]?.['cur_cfg']) ?? want) >= want) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await client.transact(DB, [
        Op.comment(`dovesnap: connect bridge ${name} to its controllers again`),
        ...targets.map((target, i) => Op.insert('Controller', controllerRow(target), `controller${i}`)),
        Op.update('Bridge', byUuid(bridge.uuid), {
          controller: setOf(targets.map((_, i) => namedUuid(`controller${i}`))),
        }),
      ]);
    });
  }

  /** Re-runnable, as setBridgeExternalIds; writes the Port and the Interface of that name. */
  setPortExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void> {
    const mutations = mergeMutations('external_ids', ids);
    if (mutations.length === 0) return Promise.resolve();
    return this.write(`setPortExternalIds ${name}`, async (client) => {
      const port = this.replica.port(name);
      const iface = this.replica.iface(name);
      if (
        port !== undefined &&
        !mergeChanges(port.externalIds, ids) &&
        (iface === undefined || !mergeChanges(iface.externalIds, ids))
      ) {
        return;
      }
      const [, changed] = await client.transact(DB, [
        Op.comment(`dovesnap: set external_ids of port ${name}`),
        Op.mutate('Port', [eq('name', name)], mutations),
        Op.mutate('Interface', [eq('name', name)], mutations),
      ]);
      if (changed.count === 0) throw notFound('port', name);
    });
  }

  async interfaceStatistics(): Promise<Map<string, Readonly<Record<string, number>>>> {
    const client = await this.session.ready();
    const [selected] = await client.transact(DB, [Op.select('Interface', [], ['name', 'statistics'])]);
    const out = new Map<string, Readonly<Record<string, number>>>();
    for (const row of selected.rows) out.set(decodeString(row['name']), decodeIntegerMap(row['statistics']));
    return out;
  }

  health(): OvsdbHealth {
    return this.session.health();
  }

  onChange(listener: () => void): () => void {
    return this.replica.onChange(listener);
  }

  onHealthChange(listener: HealthListener): () => void {
    return this.session.onHealthChange(listener);
  }

  close(): void {
    this.session.close();
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Runs a write method's body on a live connection. A lost connection re-runs the whole body
   * (re-reading the rebuilt replica), never the same transaction; a failed guard re-runs it too.
   */
  private async write(what: string, body: (client: OvsdbClient) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.session.ready();
      try {
        return await this.withGuardRetry(what, () => body(client));
      } catch (err) {
        if (!this.lostConnection(err, client) || attempt >= CONNECTION_ATTEMPTS) throw err;
        this.logger?.info({ what, attempt }, 'OVSDB connection lost during a write; re-running it once reconnected');
      }
    }
  }

  /** The request died with its connection, and not because we closed it. */
  private lostConnection(err: unknown, client: OvsdbClient): boolean {
    return isDovesnapError(err, ErrorCode.Disposed) && !client.isOpen && !this.session.isClosed;
  }

  private async createBridge(client: OvsdbClient, spec: BridgeSpec, dpid: string | undefined): Promise<void> {
    const rootMissing = (): DovesnapError =>
      new DovesnapError(
        ErrorCode.Ovsdb,
        `cannot create bridge ${spec.name}: the Open_vSwitch table has no row (run "ovs-vsctl init")`,
      );
    if (!this.replica.hasRootRow()) throw rootMissing();
    const targets = [...new Set(spec.controllers)];
    const results = await client.transact(DB, [
      Op.comment(`dovesnap: create bridge ${spec.name}`),
      Op.wait('Bridge', [eq('name', spec.name)], ['name'], '==', []),
      Op.insert('Interface', { name: spec.name, type: 'internal', mtu_request: optional(spec.mtu) }, 'iface'),
      Op.insert('Port', { name: spec.name, interfaces: namedUuid('iface') }, 'port'),
      ...targets.map((target, i) => Op.insert('Controller', controllerRow(target), `controller${i}`)),
      Op.insert(
        'Bridge',
        {
          name: spec.name,
          datapath_type: spec.datapathType,
          fail_mode: optional(spec.failMode),
          protocols: setOf(spec.protocols ?? DEFAULT_PROTOCOLS),
          other_config: mapOf(bridgeOtherConfig(spec, dpid)),
          external_ids: mapOf(nonEmpty(spec.externalIds)),
          ports: setOf([namedUuid('port')]),
          controller: setOf(targets.map((_, i) => namedUuid(`controller${i}`))),
        },
        'bridge',
      ),
      Op.mutate('Open_vSwitch', [], [['bridges', 'insert', setOf([namedUuid('bridge')])]]),
    ]);
    // With no Open_vSwitch row the new bridge is referenced by nothing and OVSDB drops it
    // again at commit: the transaction "succeeds" but nothing exists.
    if (countOf(results.at(-1)) !== 1) throw rootMissing();
    this.logger?.info({ bridge: spec.name, dpid }, 'created OVS bridge');
  }

  private async repairBridge(
    client: OvsdbClient,
    spec: BridgeSpec,
    dpid: string | undefined,
    bridge: BridgeRow,
    iface: InterfaceRow | undefined,
  ): Promise<void> {
    const changes: Record<string, Value> = {};
    const mutations: Mutation[] = [];
    const ops: Operation[] = [];

    if (spec.failMode !== undefined && bridge.failMode !== spec.failMode) changes['fail_mode'] = spec.failMode;
    const protocols = spec.protocols ?? DEFAULT_PROTOCOLS;
    if (!sameMembers(bridge.protocols, protocols)) changes['protocols'] = setOf(protocols);
    const otherConfig = bridgeOtherConfig(spec, dpid);
    if (mergeChanges(bridge.otherConfig, otherConfig)) mutations.push(...mergeMutations('other_config', otherConfig));
    if (mergeChanges(bridge.externalIds, spec.externalIds))
      mutations.push(...mergeMutations('external_ids', spec.externalIds));

    const wanted = [...new Set(spec.controllers)];
    const current = bridge.controllerUuids.map((id) => this.replica.controllerTarget(id) ?? '');
    // The length check also catches duplicate rows for one target.
    if (!sameMembers(current, wanted) || current.length !== wanted.length) {
      // Keep rows whose target stays (vswitchd keeps those connections up); add the rest.
      const refs = new Map<string, Atom>();
      for (const id of bridge.controllerUuids) {
        const target = this.replica.controllerTarget(id);
        if (target !== undefined && wanted.includes(target) && !refs.has(target)) refs.set(target, uuid(id));
      }
      for (const [i, target] of wanted.entries()) {
        if (refs.has(target)) continue;
        ops.push(Op.insert('Controller', controllerRow(target), `controller${i}`));
        refs.set(target, namedUuid(`controller${i}`));
      }
      changes['controller'] = setOf([...refs.values()]);
    }
    // Rows kept from before (a bridge of an older dovesnap) get today's timers.
    const opsBeforeTimers = ops.length;
    for (const id of bridge.controllerUuids) {
      const row = this.replica.controller(id);
      if (row === undefined || !wanted.includes(row.target)) continue;
      if (row.maxBackoff !== CONTROLLER_MAX_BACKOFF_MS || row.inactivityProbe !== CONTROLLER_INACTIVITY_PROBE_MS)
        ops.push(
          Op.update('Controller', byUuid(id), {
            max_backoff: CONTROLLER_MAX_BACKOFF_MS,
            inactivity_probe: CONTROLLER_INACTIVITY_PROBE_MS,
          }),
        );
    }
    const timersRepaired = ops.length > opsBeforeTimers;

    if (spec.datapathType !== bridge.datapathType) {
      // Switching datapath type recreates the datapath and drops every port's traffic:
      // that is a decision for a person, not a silent repair.
      const { datapathType: have } = bridge;
      this.logger?.warn(
        { bridge: spec.name, want: spec.datapathType, have },
        'bridge datapath_type differs; not changing it',
      );
    }
    if (Object.keys(changes).length > 0) ops.push(Op.update('Bridge', byUuid(bridge.uuid), changes));
    if (mutations.length > 0) ops.push(Op.mutate('Bridge', byUuid(bridge.uuid), mutations));
    if (spec.mtu !== undefined && iface !== undefined && iface.mtuRequest !== spec.mtu) {
      ops.push(Op.update('Interface', byUuid(iface.uuid), { mtu_request: spec.mtu }));
    }
    if (ops.length === 0) return;

    const columns = [
      ...Object.keys(changes),
      ...mutations.map(([column]) => column),
      ...(timersRepaired ? ['Controller timers'] : []),
    ];
    this.logger?.info({ bridge: spec.name, columns }, 'repairing OVS bridge');
    await client.transact(DB, [
      Op.comment(`dovesnap: repair bridge ${spec.name}`),
      // The controller set we computed from must still be the one in place.
      Op.wait('Bridge', byUuid(bridge.uuid), ['name', 'controller'], '==', [
        { name: bridge.name, controller: setOf(bridge.controllerUuids.map(uuid)) },
      ]),
      ...ops,
    ]);
  }

  private async createPort(client: OvsdbClient, spec: PortSpec, bridgeUuid: string): Promise<void> {
    const externalIds = mapOf(nonEmpty(spec.externalIds));
    const iface = {
      name: spec.name,
      type: spec.type ?? '',
      ofport_request: optional(spec.ofportRequest),
      mtu_request: optional(spec.mtu),
      options: mapOf(spec.options ?? {}),
      external_ids: externalIds,
    };
    await client.transact(DB, [
      Op.comment(`dovesnap: add port ${spec.bridge}/${spec.name}`),
      Op.wait('Port', [eq('name', spec.name)], ['name'], '==', []),
      Op.wait('Bridge', byUuid(bridgeUuid), ['name'], '==', [{ name: spec.bridge }]),
      Op.insert('Interface', iface, 'iface'),
      Op.insert(
        'Port',
        { name: spec.name, interfaces: namedUuid('iface'), tag: optional(spec.tag), external_ids: externalIds },
        'port',
      ),
      Op.mutate('Bridge', byUuid(bridgeUuid), [['ports', 'insert', setOf([namedUuid('port')])]]),
    ]);
  }

  private async repairPort(
    client: OvsdbClient,
    spec: PortSpec,
    port: PortRow,
    iface: InterfaceRow | undefined,
  ): Promise<void> {
    const ops: Operation[] = [];
    if (spec.tag !== undefined && port.tag !== spec.tag)
      ops.push(Op.update('Port', byUuid(port.uuid), { tag: spec.tag }));
    if (mergeChanges(port.externalIds, spec.externalIds)) {
      ops.push(Op.mutate('Port', byUuid(port.uuid), mergeMutations('external_ids', spec.externalIds)));
    }
    if (iface !== undefined) {
      const changes: Record<string, Value> = {};
      // An unset request in the spec means "no opinion", not "clear it".
      const { ofportRequest, mtu } = spec;
      if (ofportRequest !== undefined && iface.ofportRequest !== ofportRequest)
        changes['ofport_request'] = ofportRequest;
      if (mtu !== undefined && iface.mtuRequest !== mtu) changes['mtu_request'] = mtu;
      if (Object.keys(changes).length > 0) ops.push(Op.update('Interface', byUuid(iface.uuid), changes));
      if (mergeChanges(iface.externalIds, spec.externalIds)) {
        ops.push(Op.mutate('Interface', byUuid(iface.uuid), mergeMutations('external_ids', spec.externalIds)));
      }
    }
    if (ops.length === 0) return;
    await client.transact(DB, [
      Op.comment(`dovesnap: repair port ${spec.bridge}/${spec.name}`),
      // If the port vanished meanwhile, fail the guard so the retry re-creates it.
      Op.wait('Port', byUuid(port.uuid), ['name'], '==', [{ name: port.name }]),
      ...ops,
    ]);
  }

  private async withGuardRetry(what: string, attempt: () => Promise<void>): Promise<void> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (!isGuardFailure(err) || i >= GUARD_ATTEMPTS) throw err;
        this.logger?.debug({ what, attempt: i, err: errorMessage(err) }, 'concurrent OVSDB change; retrying');
      }
    }
  }
}

/**
 * Connects to OVSDB and loads the replica. Resolves once the first connection is up and the
 * replica holds its snapshot; rejects if that first attempt fails (at start-up the caller
 * decides how long to wait for OVSDB). From then on the VSwitch reconnects by itself.
 */
export async function openVSwitch(
  socketPath: string = DEFAULT_OVSDB_SOCKET,
  logger?: Logger,
  options: OpenVSwitchOptions = {},
): Promise<VSwitch> {
  const { connect = () => connectSocket(socketPath), ...reconnect } = options;
  const replica = new OvsdbReplica(logger);
  const session = new ReconnectingOvsdb(
    connect,
    socketPath,
    (client) => OvsdbVSwitch.monitorInto(replica, client, logger),
    logger,
    reconnect,
  );
  await session.start();
  return new OvsdbVSwitch(session, replica, logger);
}
