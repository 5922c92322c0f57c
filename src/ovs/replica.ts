/**
 * A local copy of the part of OVSDB that dovesnap reads, kept current by one monitor.
 *
 * Reading Port/Interface/Controller with `select` on every getBridge, and opening a monitor
 * (whose first reply is the whole Interface table) for every waitOfport, made the cost of each
 * container grow with the number of containers. One long-lived monitor costs one snapshot per
 * connection plus the changes, and reads become map lookups.
 *
 * Only the columns the VSwitch methods use are monitored. The Mirror table is not: nothing in
 * dovesnap reads it (mirroring is FAUCET's job, configured through faucet.yaml).
 *
 * Read-your-writes comes for free on the monitor's own connection: ovsdb-server flushes
 * pending monitor updates before it sends any reply (jsonrpc-server.c,
 * ovsdb_jsonrpc_session_send), and JsonRpcConnection dispatches messages in order, so by the
 * time a transact promise resolves the replica already holds every change committed before it.
 */
import { byName } from '../util/compare.js';
import {
  decodeOptionalInteger,
  decodeOptionalString,
  decodeString,
  decodeStringMap,
  decodeStringSet,
  decodeUuidSet,
  type MonitorRequests,
  type TableUpdates,
  type WireRow,
} from './protocol.js';
import type { Logger } from '../util/log.js';
import type { BridgeState, PortState } from './bridge-state.js';

export const REPLICA_COLUMNS = {
  Open_vSwitch: ['bridges'],
  Bridge: ['name', 'datapath_type', 'fail_mode', 'protocols', 'other_config', 'external_ids', 'controller', 'ports'],
  Port: ['name', 'interfaces', 'tag', 'external_ids'],
  Interface: ['name', 'type', 'ofport', 'ofport_request', 'mtu_request', 'error', 'external_ids'],
  Controller: ['target', 'max_backoff', 'inactivity_probe'],
} as const;

export const REPLICA_MONITOR: MonitorRequests = Object.fromEntries(
  Object.entries(REPLICA_COLUMNS).map(([table, columns]) => [table, { columns }]),
);

export interface BridgeRow {
  readonly uuid: string;
  readonly name: string;
  readonly datapathType: string;
  readonly failMode: string | undefined;
  readonly protocols: readonly string[];
  readonly otherConfig: Readonly<Record<string, string>>;
  readonly externalIds: Readonly<Record<string, string>>;
  readonly controllerUuids: readonly string[];
  readonly portUuids: readonly string[];
}
export interface PortRow {
  readonly uuid: string;
  readonly name: string;
  readonly interfaceUuids: readonly string[];
  /** The access VLAN (OVS's own VLANs, on a bridge not run by FAUCET). */
  readonly tag: number | undefined;
  readonly externalIds: Readonly<Record<string, string>>;
}
export interface InterfaceRow {
  readonly uuid: string;
  readonly name: string;
  readonly type: string;
  readonly ofport: number | undefined;
  readonly ofportRequest: number | undefined;
  readonly mtuRequest: number | undefined;
  readonly error: string | undefined;
  readonly externalIds: Readonly<Record<string, string>>;
}
export interface ControllerRow {
  readonly uuid: string;
  readonly target: string;
  readonly maxBackoff: number | undefined;
  readonly inactivityProbe: number | undefined;
}
interface RootRow {
  readonly uuid: string;
  readonly bridgeUuids: readonly string[];
}

// Monitor rows carry no _uuid column: the uuid is the key they arrive under.
function bridgeRow(uuid: string, row: WireRow): BridgeRow {
  return {
    uuid,
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
function portRow(uuid: string, row: WireRow): PortRow {
  return {
    uuid,
    name: decodeString(row['name']),
    interfaceUuids: decodeUuidSet(row['interfaces']),
    tag: decodeOptionalInteger(row['tag']),
    externalIds: decodeStringMap(row['external_ids']),
  };
}
function interfaceRow(uuid: string, row: WireRow): InterfaceRow {
  return {
    uuid,
    name: decodeString(row['name']),
    type: decodeString(row['type']),
    ofport: decodeOptionalInteger(row['ofport']),
    ofportRequest: decodeOptionalInteger(row['ofport_request']),
    mtuRequest: decodeOptionalInteger(row['mtu_request']),
    error: decodeOptionalString(row['error']),
    externalIds: decodeStringMap(row['external_ids']),
  };
}
function controllerRow(uuid: string, row: WireRow): ControllerRow {
  return {
    uuid,
    target: decodeString(row['target']),
    maxBackoff: decodeOptionalInteger(row['max_backoff']),
    inactivityProbe: decodeOptionalInteger(row['inactivity_probe']),
  };
}
function rootRow(uuid: string, row: WireRow): RootRow {
  return { uuid, bridgeUuids: decodeUuidSet(row['bridges']) };
}

/** Rows by uuid, plus an index by name for the tables OVSDB indexes by name. */
class Table<T extends { readonly uuid: string }> {
  readonly rows = new Map<string, T>();
  private readonly names = new Map<string, string>();

  constructor(private readonly nameOf?: (row: T) => string) {}

  get(uuid: string): T | undefined {
    return this.rows.get(uuid);
  }

  named(name: string): T | undefined {
    const uuid = this.names.get(name);
    return uuid === undefined ? undefined : this.rows.get(uuid);
  }

  put(row: T): void {
    const before = this.rows.get(row.uuid);
    if (before !== undefined) this.unindex(before);
    this.rows.set(row.uuid, row);
    if (this.nameOf !== undefined) this.names.set(this.nameOf(row), row.uuid);
  }

  delete(uuid: string): void {
    const before = this.rows.get(uuid);
    if (before === undefined) return;
    this.rows.delete(uuid);
    this.unindex(before);
  }

  // One transaction may delete a row and insert another of the same name, in either order
  // within the update: only drop the index entry if it still points at this row.
  private unindex(row: T): void {
    if (this.nameOf === undefined) return;
    const name = this.nameOf(row);
    if (this.names.get(name) === row.uuid) this.names.delete(name);
  }
}

interface Tables {
  readonly roots: Table<RootRow>;
  readonly bridges: Table<BridgeRow>;
  readonly ports: Table<PortRow>;
  readonly interfaces: Table<InterfaceRow>;
  readonly controllers: Table<ControllerRow>;
}

function emptyTables(): Tables {
  return {
    roots: new Table<RootRow>(),
    bridges: new Table<BridgeRow>((row) => row.name),
    ports: new Table<PortRow>((row) => row.name),
    interfaces: new Table<InterfaceRow>((row) => row.name),
    controllers: new Table<ControllerRow>(),
  };
}

type Change = (tables: Tables) => void;

/** Decodes every row first, so a malformed update changes nothing rather than half the replica. */
function decodeChanges(updates: TableUpdates): Change[] {
  const changes: Change[] = [];
  const each = <T extends { readonly uuid: string }>(
    table: keyof typeof REPLICA_COLUMNS,
    pick: (tables: Tables) => Table<T>,
    decode: (uuid: string, row: WireRow) => T,
  ): void => {
    for (const [uuid, change] of Object.entries(updates[table] ?? {})) {
      if (change.new === undefined) {
        changes.push((tables) => pick(tables).delete(uuid));
      } else {
        // For a modify, `new` holds every monitored column (RFC 7047 §4.1.6).
        const row = decode(uuid, change.new);
        changes.push((tables) => pick(tables).put(row));
      }
    }
  };
  each('Open_vSwitch', (t) => t.roots, rootRow);
  each('Bridge', (t) => t.bridges, bridgeRow);
  each('Port', (t) => t.ports, portRow);
  each('Interface', (t) => t.interfaces, interfaceRow);
  each('Controller', (t) => t.controllers, controllerRow);
  return changes;
}

/** An OpenFlow port number, or undefined for "not assigned" (empty) and "failed" (-1). */
export function usableOfport(ofport: number | undefined): number | undefined {
  return ofport !== undefined && ofport > 0 ? ofport : undefined;
}

export class OvsdbReplica {
  private tables = emptyTables();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly logger?: Logger) {}

  /** Replaces everything with a monitor's initial snapshot: rows it does not list are gone. */
  reset(initial: TableUpdates): void {
    const changes = decodeChanges(initial);
    const fresh = emptyTables();
    for (const change of changes) change(fresh);
    this.tables = fresh;
    this.notify();
  }

  /** Applies one update notification. Throws (changing nothing) if it is malformed. */
  apply(updates: TableUpdates): void {
    const changes = decodeChanges(updates);
    for (const change of changes) change(this.tables);
    this.notify();
  }

  /** Called after every reset and update. Returns the function that unsubscribes. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  hasRootRow(): boolean {
    return this.tables.roots.rows.size > 0;
  }

  bridge(name: string): BridgeRow | undefined {
    return this.tables.bridges.named(name);
  }

  port(name: string): PortRow | undefined {
    return this.tables.ports.named(name);
  }

  iface(name: string): InterfaceRow | undefined {
    return this.tables.interfaces.named(name);
  }

  controllerTarget(uuid: string): string | undefined {
    return this.tables.controllers.get(uuid)?.target;
  }

  controller(uuid: string): ControllerRow | undefined {
    return this.tables.controllers.get(uuid);
  }

  bridgeStates(): BridgeState[] {
    return [...this.tables.bridges.rows.values()].map((row) => this.toBridgeState(row)).sort((a, b) => byName(a, b));
  }

  bridgeState(name: string): BridgeState | undefined {
    const row = this.bridge(name);
    return row && this.toBridgeState(row);
  }

  private toBridgeState(bridge: BridgeRow): BridgeState {
    const { ports, interfaces } = this.tables;
    const portStates: PortState[] = [];
    for (const portUuid of bridge.portUuids) {
      const port = ports.get(portUuid);
      if (port === undefined || port.name === bridge.name) continue;
      const members = port.interfaceUuids
        .map((id) => interfaces.get(id))
        .filter((i): i is InterfaceRow => i !== undefined);
      const iface = members.find((i) => i.name === port.name) ?? members[0];
      portStates.push({
        name: port.name,
        uuid: port.uuid,
        ofport: usableOfport(iface?.ofport),
        ofportRequest: iface?.ofportRequest,
        type: iface?.type ?? '',
        error: iface?.error,
        externalIds: { ...port.externalIds },
      });
    }
    return {
      name: bridge.name,
      uuid: bridge.uuid,
      datapathType: bridge.datapathType,
      dpid: bridge.otherConfig['datapath-id'],
      controllers: bridge.controllerUuids
        .map((id) => this.controllerTarget(id))
        .filter((t): t is string => t !== undefined)
        .sort(),
      failMode: bridge.failMode,
      externalIds: { ...bridge.externalIds },
      ports: portStates.sort((a, b) => byName(a, b)),
    };
  }

  private notify(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (err) {
        // A faulty subscriber must not make a good update look malformed.
        this.logger?.error({ err }, 'OVSDB replica listener threw');
      }
    }
  }
}
