/**
 * An in-memory Docker Engine for unit tests: networks and containers as plain objects, an event
 * stream the test drives (push events, end the stream as if dockerd went away, fail it), slow
 * inspects on demand, and call counters. `implements Engine` is the compile-time conformance
 * check: a drifting interface breaks the build here.
 */
import type {
  Engine,
  EngineContainer,
  EngineContainerSummary,
  EngineEvent,
  EngineNetwork,
} from '../../src/engine/client.js';
import { DovesnapError, ErrorCode } from '../../src/util/errors.js';

export type EngineMethod = keyof Engine;

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One `streamEvents` call, as the test sees it. */
export interface EventSubscription {
  readonly filters: Readonly<Record<string, readonly string[]>>;
  readonly signal: AbortSignal;
  /** Still delivering: not ended, failed or aborted. */
  readonly open: boolean;
}

interface Subscription extends EventSubscription {
  open: boolean;
  readonly onEvent: (e: EngineEvent) => void;
  readonly onError: (err: unknown, line: string) => void;
  readonly settle: Deferred<void>;
}

/** A network event as dockerd sends it for a plugin driver. */
export function networkEvent(
  action: string,
  networkId: string,
  attributes: Readonly<Record<string, string>>,
): EngineEvent {
  return { Type: 'network', Action: action, Actor: { ID: networkId, Attributes: attributes }, time: 1, timeNano: 1 };
}

export class FakeEngine implements Engine {
  /** By ID. Tests add, change and delete entries directly. */
  readonly networks = new Map<string, EngineNetwork>();
  /** By ID. */
  readonly containers = new Map<string, EngineContainer>();
  /** How many calls each method received, failed or not. */
  readonly calls: Record<EngineMethod, number> = {
    ping: 0,
    listNetworks: 0,
    inspectNetwork: 0,
    inspectContainer: 0,
    listContainersWithLabel: 0,
    removeNetwork: 0,
    streamEvents: 0,
  };
  /** Every subscription ever made, oldest first. */
  readonly subscriptions: Subscription[] = [];
  private readonly failures = new Map<EngineMethod, { error: Error; times: number }>();
  private readonly inspectGates = new Map<string, Deferred<void>[]>();
  private readonly subscriptionWaiters: { count: number; resolve: () => void }[] = [];

  /** The next `times` calls of `method` reject with `error` (streamEvents: at once). */
  fail(
    method: EngineMethod,
    times = 1,
    error: Error = new DovesnapError(ErrorCode.Engine, `injected failure in ${method}`),
  ): void {
    this.failures.set(method, { error, times });
  }

  /**
   * The next inspectContainer(id) takes its answer when called (as dockerd does when the
   * request arrives) but delivers it only once the returned deferred is resolved.
   */
  gateInspect(containerId: string): Deferred<void> {
    const gate = deferred();
    const gates = this.inspectGates.get(containerId) ?? [];
    gates.push(gate);
    this.inspectGates.set(containerId, gates);
    return gate;
  }

  /** Resolves once streamEvents has been called `count` times in all. */
  subscribed(count = 1): Promise<void> {
    if (this.calls.streamEvents >= count) return Promise.resolve();
    return new Promise((resolve) => this.subscriptionWaiters.push({ count, resolve }));
  }

  /** Subscriptions that still deliver events. */
  openSubscriptions(): EventSubscription[] {
    return this.subscriptions.filter((s) => s.open);
  }

  /**
   * Delivers `e` to every open subscription whose `type` filter admits it, as dockerd filters
   * server-side; returns how many received it.
   */
  emit(e: EngineEvent): number {
    let delivered = 0;
    for (const s of this.subscriptions) {
      if (!s.open) continue;
      const types = s.filters['type'];
      if (types !== undefined && !types.includes(e.Type)) continue;
      // As the real client: a handler that throws reports to onError, and the stream goes on.
      try {
        s.onEvent(e);
      } catch (err) {
        s.onError(err, JSON.stringify(e));
      }
      delivered += 1;
    }
    return delivered;
  }

  /** dockerd closes the stream (restart, shutdown): every open streamEvents call resolves. */
  endStreams(): void {
    for (const s of this.subscriptions) this.close(s, undefined);
  }

  /** The connection breaks mid-stream: every open streamEvents call rejects. */
  failStreams(error: Error = new DovesnapError(ErrorCode.Engine, 'docker events: socket hang up')): void {
    for (const s of this.subscriptions) this.close(s, error);
  }

  async ping(): Promise<void> {
    this.enter('ping');
  }

  async listNetworks(): Promise<EngineNetwork[]> {
    this.enter('listNetworks');
    return [...this.networks.values()].map((n) => structuredClone(n));
  }

  async inspectNetwork(id: string): Promise<EngineNetwork | undefined> {
    this.enter('inspectNetwork');
    const n = this.networks.get(id);
    return n && structuredClone(n);
  }

  async inspectContainer(id: string): Promise<EngineContainer | undefined> {
    this.enter('inspectContainer');
    const c = this.containers.get(id);
    const answer = c && structuredClone(c);
    const gate = this.inspectGates.get(id)?.shift();
    if (gate !== undefined) await gate.promise;
    return answer;
  }

  async listContainersWithLabel(key: string): Promise<EngineContainerSummary[]> {
    this.enter('listContainersWithLabel');
    return [...this.containers.values()]
      .filter((c) => c.Config?.Labels?.[key] !== undefined)
      .map((c) => ({ Id: c.Id, Names: [c.Name], Labels: structuredClone(c.Config?.Labels ?? {}) }));
  }

  async removeNetwork(id: string): Promise<void> {
    this.enter('removeNetwork');
    this.networks.delete(id);
  }

  streamEvents(
    filters: Readonly<Record<string, readonly string[]>>,
    onEvent: (e: EngineEvent) => void,
    signal: AbortSignal,
    onError: (err: unknown, line: string) => void = () => undefined,
  ): Promise<void> {
    try {
      this.enter('streamEvents');
    } catch (err) {
      this.notifySubscribed();
      return Promise.reject(err);
    }
    const s: Subscription = { filters, signal, onEvent, onError, open: true, settle: deferred() };
    this.subscriptions.push(s);
    if (signal.aborted) this.close(s, undefined);
    else signal.addEventListener('abort', () => this.close(s, undefined), { once: true });
    this.notifySubscribed();
    return s.settle.promise;
  }

  private close(s: Subscription, error: Error | undefined): void {
    if (!s.open) return;
    s.open = false;
    if (error === undefined) s.settle.resolve();
    else s.settle.reject(error);
  }

  private notifySubscribed(): void {
    for (const w of [...this.subscriptionWaiters]) {
      if (this.calls.streamEvents >= w.count) {
        this.subscriptionWaiters.splice(this.subscriptionWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  private enter(method: EngineMethod): void {
    this.calls[method] += 1;
    const failure = this.failures.get(method);
    if (failure === undefined) return;
    failure.times -= 1;
    if (failure.times <= 0) this.failures.delete(method);
    throw failure.error;
  }
}
