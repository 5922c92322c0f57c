/**
 * In-memory VSwitch with the semantics of OVSDB plus ovs-vswitchd that callers rely on:
 * names unique across all ports, external_ids merged, idempotent add/delete, ofports assigned
 * per bridge (ofportRequest if free, else the lowest free number from 1). The contract suite
 * (test/contract/vswitch.test.ts) runs the same tests against this and a real ovsdb-server.
 *
 * It also plays an OVSDB connection that can be lost (simulateDisconnect/simulateReconnect):
 * while down, calls wait for it to come back up to a bound and then fail as the real one does,
 * and waitOfport keeps waiting, so callers' outage handling can be tested without a server.
 */
import { randomUUID } from 'node:crypto';
import { DovesnapError, ErrorCode } from '../../src/util/errors.js';
import {
  awaitOfport,
  DEFAULT_PROTOCOLS,
  formatDatapathId,
  mergeChanges,
  usableOfport,
  type BridgeSpec,
  type BridgeState,
  type PortSpec,
  type PortState,
  type OvsdbHealth,
  type VSwitch,
} from '../../src/ovs/vswitch.js';

/** OFPP_LOCAL: the number vswitchd gives a bridge's own internal port. */
const LOCAL_OFPORT = 65534;

interface FakePort {
  readonly uuid: string;
  readonly name: string;
  readonly type: string;
  ofport: number | undefined;
  ofportRequest: number | undefined;
  mtu: number | undefined;
  tag: number | undefined;
  error: string | undefined;
  readonly options: Record<string, string>;
  readonly externalIds: Record<string, string>;
  readonly interfaceExternalIds: Record<string, string>;
}

interface FakeBridge {
  readonly uuid: string;
  readonly name: string;
  readonly datapathType: string;
  dpid: string | undefined;
  controllers: string[];
  failMode: string | undefined;
  protocols: string[];
  readonly externalIds: Record<string, string>;
  readonly ports: Map<string, FakePort>;
}

export type VSwitchMethod = Exclude<keyof VSwitch, 'close' | 'health' | 'onHealthChange' | 'onChange'>;

export interface FakeVSwitchOptions {
  /**
   * true (default): behave like a host with ovs-vswitchd, assigning ofports on addPort.
   * false: like a bare ovsdb-server; ofports appear only through simulateVswitchd().
   */
  readonly assignOfports?: boolean;
  /** How long a call waits while disconnected before failing, as openVSwitch's option. Default 5 s. */
  readonly unavailableAfterMs?: number;
}

/** What the fake says it is connected to, in messages. */
export const FAKE_OVSDB_TARGET = 'fake-ovsdb.sock';

interface ConnectionWaiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

// `implements` is the compile-time conformance check: a drifting interface breaks the build here.
export class FakeVSwitch implements VSwitch {
  private readonly bridges = new Map<string, FakeBridge>();
  private readonly failures = new Map<VSwitchMethod, Error>();
  private readonly changeListeners = new Set<() => void>();
  private readonly assignOfports: boolean;
  private readonly unavailableAfterMs: number;
  private state: OvsdbHealth = { connected: true, since: Date.now(), lastError: undefined, reconnects: 0 };
  private readonly healthListeners = new Set<(health: OvsdbHealth) => void>();
  private readonly connectionWaiters = new Set<ConnectionWaiter>();
  /** The fail functions of pending waitOfport calls: close() rejects them. */
  private readonly ofportWaiters = new Set<(err: unknown) => void>();
  /** How many calls each method received, failed or not: lets tests assert "no write happened". */
  readonly calls = new Map<VSwitchMethod, number>();
  closed = false;

  constructor(options: FakeVSwitchOptions = {}) {
    this.assignOfports = options.assignOfports ?? true;
    this.unavailableAfterMs = options.unavailableAfterMs ?? 5000;
  }

  /** The OVSDB connection drops: calls wait (then fail), waitOfport keeps waiting. */
  simulateDisconnect(reason = 'connection closed by simulated server'): void {
    if (!this.state.connected) return;
    this.setHealth({ connected: false, since: Date.now(), lastError: reason, reconnects: this.state.reconnects });
  }

  /** The connection is back: waiting calls proceed, waitOfport waiters re-check. */
  simulateReconnect(): void {
    if (this.state.connected || this.closed) return;
    this.setHealth({
      connected: true,
      since: Date.now(),
      lastError: this.state.lastError,
      reconnects: this.state.reconnects + 1,
    });
    for (const waiter of [...this.connectionWaiters]) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.connectionWaiters.clear();
    this.changed();
  }

  private readonly statistics = new Map<string, Readonly<Record<string, number>>>();

  /** Writes an interface's counters as ovs-vswitchd would. */
  simulateStatistics(ifname: string, stats: Readonly<Record<string, number>>): void {
    this.statistics.set(ifname, stats);
  }

  /** Like OVSDB: every interface (bridges' own included), with an empty map until counters are written. */
  async interfaceStatistics(): Promise<Map<string, Readonly<Record<string, number>>>> {
    const out = new Map<string, Readonly<Record<string, number>>>();
    for (const bridge of this.bridges.values()) {
      for (const name of [bridge.name, ...bridge.ports.keys()]) out.set(name, this.statistics.get(name) ?? {});
    }
    return out;
  }

  health(): OvsdbHealth {
    return this.state;
  }

  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onHealthChange(listener: (health: OvsdbHealth) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  /** The next call of `method` rejects with `error` and changes nothing. */
  failNext(
    method: VSwitchMethod,
    error: Error = new DovesnapError(ErrorCode.Ovsdb, `injected failure in ${method}`),
  ): void {
    this.failures.set(method, error);
  }

  /** Writes what ovs-vswitchd would: an ofport (-1 for failure) and the error column. */
  simulateVswitchd(ifname: string, ofport: number, error?: string): void {
    const port = this.findPort(ifname);
    if (port === undefined) throw new Error(`fake: no interface ${ifname}`);
    port.ofport = ofport;
    port.error = error;
    this.changed();
  }

  async listBridges(): Promise<BridgeState[]> {
    const gate = this.enter('listBridges');
    if (gate !== undefined) await gate;
    return [...this.bridges.values()].map(snapshotBridge).sort((a, b) => a.name.localeCompare(b.name));
  }

  async getBridge(name: string): Promise<BridgeState | undefined> {
    const gate = this.enter('getBridge');
    if (gate !== undefined) await gate;
    const bridge = this.bridges.get(name);
    return bridge && snapshotBridge(bridge);
  }

  async ensureBridge(spec: BridgeSpec): Promise<void> {
    const gate = this.enter('ensureBridge');
    if (gate !== undefined) await gate;
    const dpid = spec.dpid === undefined ? undefined : formatDatapathId(spec.dpid);
    const protocols = [...(spec.protocols ?? DEFAULT_PROTOCOLS)];
    const existing = this.bridges.get(spec.name);
    if (existing !== undefined) {
      // Unset means "no opinion", as for the real one.
      if (dpid !== undefined) existing.dpid = dpid;
      existing.controllers = [...new Set(spec.controllers)];
      if (spec.failMode !== undefined) existing.failMode = spec.failMode;
      existing.protocols = protocols;
      mergeInto(existing.externalIds, spec.externalIds);
      const local = existing.ports.get(spec.name);
      if (local !== undefined && spec.mtu !== undefined) local.mtu = spec.mtu;
      return;
    }
    this.assertNameFree(spec.name);
    const bridge: FakeBridge = {
      uuid: randomUUID(),
      name: spec.name,
      datapathType: spec.datapathType,
      dpid,
      controllers: [...new Set(spec.controllers)],
      failMode: spec.failMode,
      protocols,
      externalIds: mergeInto({}, spec.externalIds),
      ports: new Map(),
    };
    bridge.ports.set(spec.name, {
      uuid: randomUUID(),
      name: spec.name,
      type: 'internal',
      ofport: this.assignOfports ? LOCAL_OFPORT : undefined,
      ofportRequest: undefined,
      mtu: spec.mtu,
      tag: undefined,
      error: undefined,
      options: {},
      externalIds: {},
      interfaceExternalIds: {},
    });
    this.bridges.set(spec.name, bridge);
    this.changed();
  }

  async deleteBridge(name: string): Promise<void> {
    const gate = this.enter('deleteBridge');
    if (gate !== undefined) await gate;
    if (this.bridges.delete(name)) this.changed();
  }

  async addPort(spec: PortSpec): Promise<void> {
    const gate = this.enter('addPort');
    if (gate !== undefined) await gate;
    const bridge = this.bridges.get(spec.bridge);
    if (bridge === undefined) {
      throw new DovesnapError(ErrorCode.Ovsdb, `cannot add port ${spec.name}: bridge ${spec.bridge} does not exist`);
    }
    const existing = bridge.ports.get(spec.name);
    if (existing !== undefined) {
      mergeInto(existing.externalIds, spec.externalIds);
      mergeInto(existing.interfaceExternalIds, spec.externalIds);
      if (spec.mtu !== undefined) existing.mtu = spec.mtu;
      if (spec.tag !== undefined) existing.tag = spec.tag;
      if (spec.ofportRequest !== undefined && spec.ofportRequest !== existing.ofportRequest) {
        existing.ofportRequest = spec.ofportRequest;
        // vswitchd renumbers a port whose request changed, if the number is free.
        if (this.assignOfports) existing.ofport = pickOfport(bridge, spec.ofportRequest, existing);
      }
      this.changed();
      return;
    }
    if (this.findPort(spec.name) !== undefined) {
      throw new DovesnapError(
        ErrorCode.Ovsdb,
        `cannot add port ${spec.name} to ${spec.bridge}: it is on another bridge`,
      );
    }
    const port: FakePort = {
      uuid: randomUUID(),
      name: spec.name,
      type: spec.type ?? '',
      ofport: undefined,
      ofportRequest: spec.ofportRequest,
      mtu: spec.mtu,
      tag: spec.tag,
      error: undefined,
      options: { ...spec.options },
      externalIds: mergeInto({}, spec.externalIds),
      interfaceExternalIds: mergeInto({}, spec.externalIds),
    };
    if (this.assignOfports) port.ofport = pickOfport(bridge, spec.ofportRequest, port);
    bridge.ports.set(spec.name, port);
    this.changed();
  }

  async deletePort(bridge: string, name: string): Promise<void> {
    const gate = this.enter('deletePort');
    if (gate !== undefined) await gate;
    if (name !== bridge && this.bridges.get(bridge)?.ports.delete(name)) this.changed();
  }

  waitOfport(ifname: string, timeoutMs: number): Promise<number> {
    try {
      this.enter('waitOfport');
    } catch (err) {
      return Promise.reject(err);
    }
    let existed = false;
    return awaitOfport(ifname, timeoutMs, (observe, fail) => {
      const check = (): void => {
        // While disconnected nothing is known; simulateReconnect re-checks.
        if (!this.state.connected) return;
        const port = this.findPort(ifname);
        if (port !== undefined) {
          existed = true;
          observe({ ofport: port.ofport, error: port.error });
        } else if (existed) {
          observe('removed');
        }
      };
      this.changeListeners.add(check);
      this.ofportWaiters.add(fail);
      check();
      return () => {
        this.changeListeners.delete(check);
        this.ofportWaiters.delete(fail);
      };
    });
  }

  async setBridgeExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void> {
    const gate = this.enter('setBridgeExternalIds');
    if (gate !== undefined) await gate;
    if (Object.keys(ids).length === 0) return;
    const bridge = this.bridges.get(name);
    if (bridge === undefined)
      throw new DovesnapError(ErrorCode.Ovsdb, `cannot set external_ids: bridge ${name} does not exist`);
    mergeInto(bridge.externalIds, ids);
  }

  /** Bridges whose controller connections were dropped and opened again, in order. */
  readonly reconnected: string[] = [];
  /** Called on each reconnectControllers (a test's fake FAUCET sees the switch connect). */
  onReconnect: (bridge: string) => void = () => undefined;

  async reconnectControllers(name: string): Promise<void> {
    const gate = this.enter('reconnectControllers');
    if (gate !== undefined) await gate;
    if (!this.bridges.has(name)) return;
    this.reconnected.push(name);
    this.onReconnect(name);
  }

  async setPortExternalIds(name: string, ids: Readonly<Record<string, string>>): Promise<void> {
    const gate = this.enter('setPortExternalIds');
    if (gate !== undefined) await gate;
    if (Object.keys(ids).length === 0) return;
    const port = this.findPort(name);
    if (port === undefined)
      throw new DovesnapError(ErrorCode.Ovsdb, `cannot set external_ids: port ${name} does not exist`);
    mergeInto(port.externalIds, ids);
    mergeInto(port.interfaceExternalIds, ids);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const disposed = (): DovesnapError => new DovesnapError(ErrorCode.Disposed, `fake vswitch closed`);
    for (const waiter of [...this.connectionWaiters]) {
      clearTimeout(waiter.timer);
      waiter.reject(disposed());
    }
    this.connectionWaiters.clear();
    for (const fail of [...this.ofportWaiters]) fail(disposed());
    if (this.state.connected) this.setHealth({ ...this.state, connected: false, since: Date.now() });
  }

  /** Port and Interface external_ids, MTU and tag (where set) of any port, bridges' own included: for assertions. */
  inspectPort(
    name: string,
  ): (Pick<FakePort, 'externalIds' | 'interfaceExternalIds' | 'mtu'> & { readonly tag?: number }) | undefined {
    const port = this.findPort(name);
    return (
      port && {
        externalIds: { ...port.externalIds },
        interfaceExternalIds: { ...port.interfaceExternalIds },
        mtu: port.mtu,
        ...(port.tag === undefined ? {} : { tag: port.tag }),
      }
    );
  }

  /**
   * Counts the call and throws what it should fail with. Returns undefined when it may go on at
   * once (so a connected fake keeps its old timing), else the wait for the connection.
   */
  private enter(method: VSwitchMethod): Promise<void> | undefined {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    if (this.closed) throw new DovesnapError(ErrorCode.Disposed, `fake vswitch closed before ${method}`);
    if (!this.state.connected && method !== 'waitOfport')
      return this.connection().then(() => this.injectedFailure(method));
    this.injectedFailure(method);
    return undefined;
  }

  private injectedFailure(method: VSwitchMethod): void {
    const failure = this.failures.get(method);
    if (failure !== undefined) {
      this.failures.delete(method);
      throw failure;
    }
  }

  private connection(): Promise<void> {
    const waitMs = this.unavailableAfterMs;
    return new Promise((resolve, reject) => {
      const waiter: ConnectionWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.connectionWaiters.delete(waiter);
          const last = this.state.lastError === undefined ? '' : ` (last error: ${this.state.lastError})`;
          reject(
            new DovesnapError(
              ErrorCode.Ovsdb,
              `OVSDB is unavailable at ${FAKE_OVSDB_TARGET}: not connected within ${waitMs} ms${last}`,
            ),
          );
        }, waitMs),
      };
      this.connectionWaiters.add(waiter);
    });
  }

  private setHealth(next: OvsdbHealth): void {
    this.state = next;
    for (const listener of [...this.healthListeners]) listener(next);
  }

  private findPort(name: string): FakePort | undefined {
    for (const bridge of this.bridges.values()) {
      const port = bridge.ports.get(name);
      if (port !== undefined) return port;
    }
    return undefined;
  }

  /** OVSDB indexes Bridge, Port and Interface names: one name, one row, host-wide. */
  private assertNameFree(name: string): void {
    if (this.findPort(name) !== undefined) {
      throw new DovesnapError(ErrorCode.Ovsdb, `name ${name} is already used by a port`);
    }
  }

  private changed(): void {
    for (const listener of [...this.changeListeners]) listener();
  }
}

function pickOfport(bridge: FakeBridge, requested: number | undefined, self: FakePort): number {
  const taken = new Set<number>();
  for (const port of bridge.ports.values()) {
    if (port !== self && port.ofport !== undefined) taken.add(port.ofport);
  }
  if (requested !== undefined && !taken.has(requested)) return requested;
  let candidate = 1;
  while (taken.has(candidate)) candidate++;
  return candidate;
}

function mergeInto(target: Record<string, string>, ids: Readonly<Record<string, string>>): Record<string, string> {
  if (!mergeChanges(target, ids)) return target;
  for (const [key, value] of Object.entries(ids)) {
    if (value === '') delete target[key];
    else target[key] = value;
  }
  return target;
}

function snapshotBridge(bridge: FakeBridge): BridgeState {
  const ports: PortState[] = [...bridge.ports.values()]
    .filter((port) => port.name !== bridge.name)
    .map((port) => ({
      name: port.name,
      uuid: port.uuid,
      ofport: usableOfport(port.ofport),
      ofportRequest: port.ofportRequest,
      type: port.type,
      error: port.error,
      externalIds: { ...port.externalIds },
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return {
    name: bridge.name,
    uuid: bridge.uuid,
    datapathType: bridge.datapathType,
    dpid: bridge.dpid,
    controllers: [...bridge.controllers].sort(),
    failMode: bridge.failMode,
    externalIds: { ...bridge.externalIds },
    ports,
  };
}
