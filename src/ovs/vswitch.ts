/**
 * The bridge/port operations the daemon needs, and their implementation over OVSDB.
 *
 * Every write is one transaction. Writes that depend on what was read first carry `wait`
 * guards (timeout 0: an assertion, not a blocking wait) so a concurrent writer makes the
 * transaction fail cleanly instead of acting on stale state; such a failure is retried from a
 * fresh read. Port, Interface and Controller rows are not root rows: OVSDB deletes them once
 * nothing refers to them, so removing a thing means removing the reference to it.
 */
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { connectOvsdb, DEFAULT_OVSDB_SOCKET, OvsdbClient, OvsdbTransactionError, type MonitorHandle } from './client.js';
import {
  byUuid,
  decodeOptionalInteger,
  decodeOptionalString,
  decodeString,
  decodeStringMap,
  decodeStringSet,
  decodeUuid,
  decodeUuidSet,
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
  type WireRow,
} from './protocol.js';

export type DatapathType = 'system' | 'netdev';
export type FailMode = 'secure' | 'standalone';

export interface BridgeSpec {
  readonly name: string;
  readonly datapathType: DatapathType;
  /** Written as other_config:datapath-id, 16 lower-case hex digits. */
  readonly dpid: bigint;
  /** Controller rows with these targets, e.g. 'tcp:127.0.0.1:6653'. */
  readonly controllers: readonly string[];
  readonly failMode: FailMode;
  /** Default ['OpenFlow13'] (FAUCET speaks OF1.3). */
  readonly protocols?: readonly string[];
  /** mtu_request on the bridge's internal interface. */
  readonly mtu?: number;
  readonly externalIds: Readonly<Record<string, string>>;
}

export interface PortSpec {
  readonly bridge: string;
  /** Port name == interface name. */
  readonly name: string;
  readonly type?: '' | 'internal' | 'patch';
  readonly ofportRequest?: number;
  readonly mtu?: number;
  /** e.g. the patch peer. */
  readonly options?: Readonly<Record<string, string>>;
  /** Written on the Port row AND the Interface row. */
  readonly externalIds: Readonly<Record<string, string>>;
}

export interface PortState {
  readonly name: string;
  readonly uuid: string;
  /** Undefined while unassigned or -1. */
  readonly ofport: number | undefined;
  readonly ofportRequest: number | undefined;
  readonly type: string;
  readonly error: string | undefined;
  readonly externalIds: Readonly<Record<string, string>>;
}

export interface BridgeState {
  readonly name: string;
  readonly uuid: string;
  readonly datapathType: string;
  /** other_config:datapath-id as we wrote it. */
  readonly dpid: string | undefined;
  /** Sorted. */
  readonly controllers: readonly string[];
  readonly failMode: string | undefined;
  readonly externalIds: Readonly<Record<string, string>>;
  /** Sorted by name; excludes the bridge's own internal port. */
  readonly ports: readonly PortState[];
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
  /** Idempotent: adds the port, or repairs external_ids/ofport_request/mtu of an existing one of that name on that bridge. */
  addPort(spec: PortSpec): Promise<void>;
  /** Removes the port from the bridge. Succeeds if already gone. */
  deletePort(bridge: string, name: string): Promise<void>;
  /**
   * Resolves with the OpenFlow port number once ovs-vswitchd assigns it; rejects with
   * DovesnapError(Ovsdb) including the Interface `error` column if it becomes -1 / errors,
   * or Timeout after timeoutMs.
   */
  waitOfport(ifname: string, timeoutMs: number): Promise<number>;
  /** Merge; a value of '' removes the key. */
  setBridgeExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void>;
  /** Merge on Port and Interface; '' removes. */
  setPortExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void>;
  close(): void;
}

export const DEFAULT_PROTOCOLS: readonly string[] = ['OpenFlow13'];

/**
 * FAUCET refuses a switch whose DP it does not know yet, and OVS then backs off up to 8 s
 * before it tries again; a bridge made a moment before its DP is configured would sit
 * uncontrolled that long. A 1 s ceiling keeps that wait short for a local controller.
 */
export const CONTROLLER_MAX_BACKOFF_MS = 1000;

function controllerRow(target: string): { target: string; max_backoff: number } {
  return { target, max_backoff: CONTROLLER_MAX_BACKOFF_MS };
}

/**
 * ovs-vswitchd accepts other_config:datapath-id only as exactly 16 hex digits and ignores
 * zero (it then derives a dpid from a MAC address), so both are checked here.
 */
export function formatDatapathId(dpid: bigint): string {
  if (dpid <= 0n || dpid >= 1n << 64n) {
    throw new DovesnapError(ErrorCode.Internal, `datapath id ${dpid} is outside 1..2^64-1`);
  }
  return dpid.toString(16).padStart(16, '0');
}

/** An OpenFlow port number, or undefined for "not assigned" (empty) and "failed" (-1). */
export function usableOfport(ofport: number | undefined): number | undefined {
  return ofport !== undefined && ofport > 0 ? ofport : undefined;
}

/** What a waitOfport watcher reports each time the Interface row changes. */
export type InterfaceObservation = { readonly ofport: number | undefined; readonly error: string | undefined } | 'removed';

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
      () => fail(new DovesnapError(ErrorCode.Timeout, `interface ${ifname} got no OpenFlow port within ${timeoutMs} ms`)),
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
export function mergeChanges(current: Readonly<Record<string, string>>, ids: Readonly<Record<string, string>>): boolean {
  return Object.entries(ids).some(([key, value]) => (value === '' ? Object.hasOwn(current, key) : current[key] !== value));
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
// Rows as we read them

const DB = 'Open_vSwitch';
const BRIDGE_COLUMNS = [
  '_uuid', 'name', 'datapath_type', 'fail_mode', 'protocols', 'other_config', 'external_ids', 'controller', 'ports',
];
const PORT_COLUMNS = ['_uuid', 'name', 'interfaces', 'external_ids'];
const INTERFACE_COLUMNS = ['_uuid', 'name', 'type', 'ofport', 'ofport_request', 'mtu_request', 'error', 'external_ids'];
const CONTROLLER_COLUMNS = ['_uuid', 'target'];
const INTERFACE_MONITOR = {
  Interface: { columns: ['name', 'ofport', 'error'], select: { initial: true, insert: true, modify: true, delete: true } },
};

interface BridgeRow {
  readonly uuid: string;
  readonly name: string;
  readonly datapathType: string;
  readonly failMode: string | undefined;
  readonly protocols: string[];
  readonly otherConfig: Record<string, string>;
  readonly externalIds: Record<string, string>;
  readonly controllerUuids: string[];
  readonly portUuids: string[];
}
interface PortRow {
  readonly uuid: string;
  readonly name: string;
  readonly interfaceUuids: string[];
  readonly externalIds: Record<string, string>;
}
interface InterfaceRow {
  readonly uuid: string;
  readonly name: string;
  readonly type: string;
  readonly ofport: number | undefined;
  readonly ofportRequest: number | undefined;
  readonly mtuRequest: number | undefined;
  readonly error: string | undefined;
  readonly externalIds: Record<string, string>;
}

function bridgeRow(row: WireRow): BridgeRow {
  return {
    uuid: decodeUuid(row['_uuid']),
    name: decodeString(row['name']),
    datapathType: decodeString(row['datapath_type']),
    failMode: decodeOptionalString(row['fail_mode']),
    protocols: decodeStringSet(row['protocols']),
    otherConfig: decodeStringMap(row['other_config']),
    externalIds: decodeStringMap(row['external_ids']),
    controllerUuids: decodeUuidSet(row['controller']),
    portUuids: decodeUuidSet(row['ports']),
  };
}
function portRow(row: WireRow): PortRow {
  return {
    uuid: decodeUuid(row['_uuid']),
    name: decodeString(row['name']),
    interfaceUuids: decodeUuidSet(row['interfaces']),
    externalIds: decodeStringMap(row['external_ids']),
  };
}
function interfaceRow(row: WireRow): InterfaceRow {
  return {
    uuid: decodeUuid(row['_uuid']),
    name: decodeString(row['name']),
    type: decodeString(row['type']),
    ofport: decodeOptionalInteger(row['ofport']),
    ofportRequest: decodeOptionalInteger(row['ofport_request']),
    mtuRequest: decodeOptionalInteger(row['mtu_request']),
    error: decodeOptionalString(row['error']),
    externalIds: decodeStringMap(row['external_ids']),
  };
}

function byUuidMap<T extends { readonly uuid: string }>(rows: readonly T[]): Map<string, T> {
  return new Map(rows.map((row) => [row.uuid, row]));
}

function countOf(result: OperationResult | undefined): number {
  return result !== undefined && 'count' in result ? result.count : 0;
}

/** A guard `wait` failed: someone else changed what we read. Re-reading and retrying is safe. */
function isGuardFailure(err: unknown): boolean {
  return err instanceof OvsdbTransactionError && err.operation?.op === 'wait';
}

const GUARD_ATTEMPTS = 3;

function notFound(kind: 'bridge' | 'port', name: string): DovesnapError {
  return new DovesnapError(ErrorCode.Ovsdb, `cannot set external_ids: ${kind} ${name} does not exist`);
}

// ---------------------------------------------------------------------------------------------

export class OvsdbVSwitch implements VSwitch {
  constructor(
    private readonly client: OvsdbClient,
    private readonly logger?: Logger,
  ) {}

  async listBridges(): Promise<BridgeState[]> {
    return this.readBridges(undefined);
  }

  async getBridge(name: string): Promise<BridgeState | undefined> {
    const [state] = await this.readBridges(name);
    return state;
  }

  ensureBridge(spec: BridgeSpec): Promise<void> {
    const dpid = formatDatapathId(spec.dpid);
    return this.withGuardRetry(`ensureBridge ${spec.name}`, async () => {
      const [bridges, controllers, ifaces] = await this.client.transact(DB, [
        Op.select('Bridge', [eq('name', spec.name)], BRIDGE_COLUMNS),
        Op.select('Controller', [], CONTROLLER_COLUMNS),
        Op.select('Interface', [eq('name', spec.name)], INTERFACE_COLUMNS),
      ]);
      const existing = bridges.rows[0];
      if (existing === undefined) return this.createBridge(spec, dpid);
      const targets = new Map(controllers.rows.map((row) => [decodeUuid(row['_uuid']), decodeString(row['target'])]));
      const iface = ifaces.rows[0];
      return this.repairBridge(spec, dpid, bridgeRow(existing), targets, iface && interfaceRow(iface));
    });
  }

  async deleteBridge(name: string): Promise<void> {
    const [found] = await this.client.transact(DB, [Op.select('Bridge', [eq('name', name)], ['_uuid'])]);
    const row = found.rows[0];
    if (row === undefined) return;
    // Deleting an absent member is a no-op, so a concurrent delete is harmless.
    await this.client.transact(DB, [
      Op.comment(`dovesnap: delete bridge ${name}`),
      Op.mutate('Open_vSwitch', [], [['bridges', 'delete', setOf([uuid(decodeUuid(row['_uuid']))])]]),
    ]);
  }

  addPort(spec: PortSpec): Promise<void> {
    return this.withGuardRetry(`addPort ${spec.bridge}/${spec.name}`, async () => {
      const [bridges, ports, ifaces] = await this.client.transact(DB, [
        Op.select('Bridge', [eq('name', spec.bridge)], ['_uuid', 'ports']),
        Op.select('Port', [eq('name', spec.name)], PORT_COLUMNS),
        Op.select('Interface', [eq('name', spec.name)], INTERFACE_COLUMNS),
      ]);
      const bridge = bridges.rows[0];
      if (bridge === undefined) {
        throw new DovesnapError(ErrorCode.Ovsdb, `cannot add port ${spec.name}: bridge ${spec.bridge} does not exist`);
      }
      const bridgeUuid = decodeUuid(bridge['_uuid']);
      const port = ports.rows[0] && portRow(ports.rows[0]);
      if (port === undefined) return this.createPort(spec, bridgeUuid);
      if (!decodeUuidSet(bridge['ports']).includes(port.uuid)) {
        const why = 'the name is used on another bridge';
        throw new DovesnapError(ErrorCode.Ovsdb, `cannot add port ${spec.name} to ${spec.bridge}: ${why}`);
      }
      const iface = ifaces.rows[0];
      return this.repairPort(spec, port, iface && interfaceRow(iface));
    });
  }

  async deletePort(bridge: string, name: string): Promise<void> {
    // The bridge's own port goes only with the bridge (deleteBridge).
    if (name === bridge) return;
    const [bridges, ports] = await this.client.transact(DB, [
      Op.select('Bridge', [eq('name', bridge)], ['_uuid', 'ports']),
      Op.select('Port', [eq('name', name)], ['_uuid']),
    ]);
    const [bridgeFound, portFound] = [bridges.rows[0], ports.rows[0]];
    if (bridgeFound === undefined || portFound === undefined) return;
    const portUuid = decodeUuid(portFound['_uuid']);
    if (!decodeUuidSet(bridgeFound['ports']).includes(portUuid)) return;
    await this.client.transact(DB, [
      Op.comment(`dovesnap: delete port ${bridge}/${name}`),
      Op.mutate('Bridge', byUuid(decodeUuid(bridgeFound['_uuid'])), [['ports', 'delete', setOf([uuid(portUuid)])]]),
    ]);
  }

  waitOfport(ifname: string, timeoutMs: number): Promise<number> {
    return awaitOfport(ifname, timeoutMs, (observe, fail) => {
      let monitor: MonitorHandle | undefined;
      let stopped = false;
      const stopWatchingClose = this.client.onClose((cause) =>
        fail(new DovesnapError(ErrorCode.Disposed, `OVSDB connection closed while waiting for ${ifname}'s ofport`, { cause })),
      );
      const inspect = (updates: TableUpdates): void => {
        for (const change of Object.values(updates['Interface'] ?? {})) {
          if (change.new === undefined) {
            if (change.old?.['name'] === ifname) observe('removed');
          } else if (change.new['name'] === ifname) {
            observe({ ofport: decodeOptionalInteger(change.new['ofport']), error: decodeOptionalString(change.new['error']) });
          }
        }
      };
      // A monitor, not polling: its initial snapshot and the changes after it leave no gap.
      this.client.monitor(DB, INTERFACE_MONITOR, inspect).then((handle) => {
        if (stopped) void handle.cancel();
        else monitor = handle;
      }, fail);
      return () => {
        stopped = true;
        stopWatchingClose();
        void monitor?.cancel();
      };
    });
  }

  async setBridgeExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void> {
    const mutations = mergeMutations('external_ids', ids);
    if (mutations.length === 0) return;
    const [, bridge] = await this.client.transact(DB, [
      Op.comment(`dovesnap: set external_ids of bridge ${name}`),
      Op.mutate('Bridge', [eq('name', name)], mutations),
    ]);
    if (bridge.count === 0) throw notFound('bridge', name);
  }

  async setPortExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void> {
    const mutations = mergeMutations('external_ids', ids);
    if (mutations.length === 0) return;
    const [, port] = await this.client.transact(DB, [
      Op.comment(`dovesnap: set external_ids of port ${name}`),
      Op.mutate('Port', [eq('name', name)], mutations),
      Op.mutate('Interface', [eq('name', name)], mutations),
    ]);
    if (port.count === 0) throw notFound('port', name);
  }

  close(): void {
    this.client.close();
  }

  // -------------------------------------------------------------------------------------------

  private async readBridges(name: string | undefined): Promise<BridgeState[]> {
    const [bridges, ports, ifaces, controllers] = await this.client.transact(DB, [
      Op.select('Bridge', name === undefined ? [] : [eq('name', name)], BRIDGE_COLUMNS),
      Op.select('Port', [], PORT_COLUMNS),
      Op.select('Interface', [], INTERFACE_COLUMNS),
      Op.select('Controller', [], CONTROLLER_COLUMNS),
    ]);
    const portsByUuid = byUuidMap(ports.rows.map(portRow));
    const ifacesByUuid = byUuidMap(ifaces.rows.map(interfaceRow));
    const targets = new Map(controllers.rows.map((row) => [decodeUuid(row['_uuid']), decodeString(row['target'])]));
    return bridges.rows
      .map(bridgeRow)
      .map((bridge) => toBridgeState(bridge, portsByUuid, ifacesByUuid, targets))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private async createBridge(spec: BridgeSpec, dpid: string): Promise<void> {
    const targets = [...new Set(spec.controllers)];
    const results = await this.client.transact(DB, [
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
          fail_mode: spec.failMode,
          protocols: setOf(spec.protocols ?? DEFAULT_PROTOCOLS),
          other_config: mapOf({ 'datapath-id': dpid }),
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
    if (countOf(results.at(-1)) !== 1) {
      const why = 'the Open_vSwitch table has no row (run "ovs-vsctl init")';
      throw new DovesnapError(ErrorCode.Ovsdb, `cannot create bridge ${spec.name}: ${why}`);
    }
    this.logger?.info({ bridge: spec.name, dpid }, 'created OVS bridge');
  }

  private async repairBridge(
    spec: BridgeSpec,
    dpid: string,
    bridge: BridgeRow,
    controllerTargets: ReadonlyMap<string, string>,
    iface: InterfaceRow | undefined,
  ): Promise<void> {
    const changes: Record<string, Value> = {};
    const mutations: Mutation[] = [];
    const ops: Operation[] = [];

    if (bridge.failMode !== spec.failMode) changes['fail_mode'] = spec.failMode;
    const protocols = spec.protocols ?? DEFAULT_PROTOCOLS;
    if (!sameMembers(bridge.protocols, protocols)) changes['protocols'] = setOf(protocols);
    if (bridge.otherConfig['datapath-id'] !== dpid) mutations.push(...mergeMutations('other_config', { 'datapath-id': dpid }));
    if (mergeChanges(bridge.externalIds, spec.externalIds)) mutations.push(...mergeMutations('external_ids', spec.externalIds));

    const wanted = [...new Set(spec.controllers)];
    const current = bridge.controllerUuids.map((id) => controllerTargets.get(id) ?? '');
    // The length check also catches duplicate rows for one target.
    if (!sameMembers(current, wanted) || current.length !== wanted.length) {
      // Keep rows whose target stays (vswitchd keeps those connections up); add the rest.
      const refs = new Map<string, Atom>();
      for (const id of bridge.controllerUuids) {
        const target = controllerTargets.get(id);
        if (target !== undefined && wanted.includes(target) && !refs.has(target)) refs.set(target, uuid(id));
      }
      for (const [i, target] of wanted.entries()) {
        if (refs.has(target)) continue;
        ops.push(Op.insert('Controller', controllerRow(target), `controller${i}`));
        refs.set(target, namedUuid(`controller${i}`));
      }
      changes['controller'] = setOf([...refs.values()]);
    }

    if (spec.datapathType !== bridge.datapathType) {
      // Switching datapath type recreates the datapath and drops every port's traffic:
      // that is a decision for a person, not a silent repair.
      const { datapathType: have } = bridge;
      this.logger?.warn({ bridge: spec.name, want: spec.datapathType, have }, 'bridge datapath_type differs; not changing it');
    }
    if (Object.keys(changes).length > 0) ops.push(Op.update('Bridge', byUuid(bridge.uuid), changes));
    if (mutations.length > 0) ops.push(Op.mutate('Bridge', byUuid(bridge.uuid), mutations));
    if (spec.mtu !== undefined && iface !== undefined && iface.mtuRequest !== spec.mtu) {
      ops.push(Op.update('Interface', byUuid(iface.uuid), { mtu_request: spec.mtu }));
    }
    if (ops.length === 0) return;

    const columns = [...Object.keys(changes), ...mutations.map(([column]) => column)];
    this.logger?.info({ bridge: spec.name, columns }, 'repairing OVS bridge');
    await this.client.transact(DB, [
      Op.comment(`dovesnap: repair bridge ${spec.name}`),
      // The controller set we computed from must still be the one in place.
      Op.wait('Bridge', byUuid(bridge.uuid), ['name', 'controller'], '==', [
        { name: bridge.name, controller: setOf(bridge.controllerUuids.map(uuid)) },
      ]),
      ...ops,
    ]);
  }

  private async createPort(spec: PortSpec, bridgeUuid: string): Promise<void> {
    const externalIds = mapOf(nonEmpty(spec.externalIds));
    const iface = {
      name: spec.name,
      type: spec.type ?? '',
      ofport_request: optional(spec.ofportRequest),
      mtu_request: optional(spec.mtu),
      options: mapOf(spec.options ?? {}),
      external_ids: externalIds,
    };
    await this.client.transact(DB, [
      Op.comment(`dovesnap: add port ${spec.bridge}/${spec.name}`),
      Op.wait('Port', [eq('name', spec.name)], ['name'], '==', []),
      Op.wait('Bridge', byUuid(bridgeUuid), ['name'], '==', [{ name: spec.bridge }]),
      Op.insert('Interface', iface, 'iface'),
      Op.insert('Port', { name: spec.name, interfaces: namedUuid('iface'), external_ids: externalIds }, 'port'),
      Op.mutate('Bridge', byUuid(bridgeUuid), [['ports', 'insert', setOf([namedUuid('port')])]]),
    ]);
  }

  private async repairPort(spec: PortSpec, port: PortRow, iface: InterfaceRow | undefined): Promise<void> {
    const ops: Operation[] = [];
    if (mergeChanges(port.externalIds, spec.externalIds)) {
      ops.push(Op.mutate('Port', byUuid(port.uuid), mergeMutations('external_ids', spec.externalIds)));
    }
    if (iface !== undefined) {
      const changes: Record<string, Value> = {};
      // An unset request in the spec means "no opinion", not "clear it".
      const { ofportRequest, mtu } = spec;
      if (ofportRequest !== undefined && iface.ofportRequest !== ofportRequest) changes['ofport_request'] = ofportRequest;
      if (mtu !== undefined && iface.mtuRequest !== mtu) changes['mtu_request'] = mtu;
      if (Object.keys(changes).length > 0) ops.push(Op.update('Interface', byUuid(iface.uuid), changes));
      if (mergeChanges(iface.externalIds, spec.externalIds)) {
        ops.push(Op.mutate('Interface', byUuid(iface.uuid), mergeMutations('external_ids', spec.externalIds)));
      }
    }
    if (ops.length === 0) return;
    await this.client.transact(DB, [
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

function toBridgeState(
  bridge: BridgeRow,
  ports: ReadonlyMap<string, PortRow>,
  ifaces: ReadonlyMap<string, InterfaceRow>,
  controllerTargets: ReadonlyMap<string, string>,
): BridgeState {
  const portStates: PortState[] = [];
  for (const portUuid of bridge.portUuids) {
    const port = ports.get(portUuid);
    if (port === undefined || port.name === bridge.name) continue;
    const members = port.interfaceUuids.map((id) => ifaces.get(id)).filter((i): i is InterfaceRow => i !== undefined);
    const iface = members.find((i) => i.name === port.name) ?? members[0];
    portStates.push({
      name: port.name,
      uuid: port.uuid,
      ofport: usableOfport(iface?.ofport),
      ofportRequest: iface?.ofportRequest,
      type: iface?.type ?? '',
      error: iface?.error,
      externalIds: port.externalIds,
    });
  }
  return {
    name: bridge.name,
    uuid: bridge.uuid,
    datapathType: bridge.datapathType,
    dpid: bridge.otherConfig['datapath-id'],
    controllers: bridge.controllerUuids.map((id) => controllerTargets.get(id)).filter((t): t is string => t !== undefined).sort(),
    failMode: bridge.failMode,
    externalIds: bridge.externalIds,
    ports: portStates.sort((a, b) => a.name.localeCompare(b.name)),
  };
}

export async function openVSwitch(socketPath: string = DEFAULT_OVSDB_SOCKET, logger?: Logger): Promise<VSwitch> {
  return new OvsdbVSwitch(await connectOvsdb(socketPath, logger), logger);
}
