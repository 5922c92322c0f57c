/**
 * An OVSDB far end for reconnect tests: every connect() gets a fresh in-memory connection,
 * `monitor` requests are answered with the current snapshot, and everything else is queued for
 * the test to answer (or not, before it drops the connection).
 */
import type { Duplex } from 'node:stream';
import { connectedPeer, type Message, type ScriptedPeer } from './wire.js';

export interface Received {
  readonly peer: ScriptedPeer;
  readonly message: Message;
}

export class MiniOvsdbServer {
  /** Rows the next `monitor` request is answered with: table -> uuid -> {new: row}. */
  snapshot: Record<string, Record<string, { new: Record<string, unknown> }>> = {};
  /** While true, connect() fails as a dead server's socket would. */
  refuse = false;
  /** Date.now() of every connect() call, refused or not. */
  readonly attempts: number[] = [];
  readonly peers: ScriptedPeer[] = [];
  /** Monitor ids per connection, by peer. */
  readonly monitors = new Map<ScriptedPeer, string>();
  private readonly inbox: Received[] = [];
  private waiting: ((received: Received) => void) | undefined;

  readonly connect = async (): Promise<Duplex> => {
    this.attempts.push(Date.now());
    if (this.refuse) throw new Error('connect ECONNREFUSED (simulated)');
    const [client, peer] = connectedPeer();
    this.peers.push(peer);
    void this.serve(peer);
    return client;
  };

  get current(): ScriptedPeer | undefined {
    return this.peers.at(-1);
  }

  /** The next request other than `monitor`. */
  next(): Promise<Received> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  get pending(): number {
    return this.inbox.length;
  }

  /** The server dies: the current connection ends with no reply to anything in flight. */
  drop(): void {
    this.current?.stream.destroy();
  }

  /** An update notification on the current connection's monitor. */
  notify(
    updates: Record<string, Record<string, { old?: Record<string, unknown>; new?: Record<string, unknown> }>>,
  ): void {
    const peer = this.current;
    if (peer === undefined) throw new Error('no connection');
    peer.send({ id: null, method: 'update', params: [this.monitors.get(peer), updates] });
  }

  private async serve(peer: ScriptedPeer): Promise<void> {
    for (;;) {
      const message = await peer.next();
      if (message['method'] === 'monitor') {
        const params = message['params'] as unknown[];
        this.monitors.set(peer, String(params[1]));
        peer.reply(message, this.snapshot);
        continue;
      }
      const received = { peer, message };
      const waiter = this.waiting;
      this.waiting = undefined;
      if (waiter) waiter(received);
      else this.inbox.push(received);
    }
  }
}

/** Builds monitor rows the way ovsdb-server sends them (sets of one as bare atoms). */
export const rows = {
  root(bridgeUuids: string[]): Record<string, unknown> {
    return { bridges: ['set', bridgeUuids.map((u) => ['uuid', u])] };
  },
  bridge(name: string, portUuids: string[], externalIds: Record<string, string> = {}): Record<string, unknown> {
    return {
      name,
      datapath_type: 'netdev',
      fail_mode: 'secure',
      protocols: 'OpenFlow13',
      other_config: ['map', [['datapath-id', '0000000000000001']]],
      external_ids: ['map', Object.entries(externalIds)],
      controller: ['set', []],
      ports: ['set', portUuids.map((u) => ['uuid', u])],
    };
  },
  port(name: string, interfaceUuid: string): Record<string, unknown> {
    return { name, interfaces: ['uuid', interfaceUuid], external_ids: ['map', []] };
  },
  iface(name: string, ofport?: number, type = ''): Record<string, unknown> {
    return {
      name,
      type,
      ofport: ofport === undefined ? ['set', []] : ofport,
      ofport_request: ['set', []],
      mtu_request: ['set', []],
      error: ['set', []],
      external_ids: ['map', []],
    };
  },
};

/** A snapshot with the root row, bridge `br0` (with its own port) and the given ports on it. */
export function bridgeSnapshot(ports: { name: string; ofport?: number }[]): MiniOvsdbServer['snapshot'] {
  const portUuids = ports.map((_, i) => `00000000-0000-0000-0000-0000000001${String(i).padStart(2, '0')}`);
  const ifaceUuids = ports.map((_, i) => `00000000-0000-0000-0000-0000000002${String(i).padStart(2, '0')}`);
  const own = { port: '00000000-0000-0000-0000-000000000300', iface: '00000000-0000-0000-0000-000000000301' };
  const bridgeUuid = '00000000-0000-0000-0000-000000000400';
  return {
    Open_vSwitch: { '00000000-0000-0000-0000-000000000500': { new: rows.root([bridgeUuid]) } },
    Bridge: { [bridgeUuid]: { new: rows.bridge('br0', [own.port, ...portUuids]) } },
    Port: {
      [own.port]: { new: rows.port('br0', own.iface) },
      ...Object.fromEntries(ports.map((p, i) => [portUuids[i], { new: rows.port(p.name, ifaceUuids[i] ?? '') }])),
    },
    Interface: {
      [own.iface]: { new: rows.iface('br0', 65534, 'internal') },
      ...Object.fromEntries(ports.map((p, i) => [ifaceUuids[i], { new: rows.iface(p.name, p.ofport) }])),
    },
    Controller: {},
  };
}

/** The uuids bridgeSnapshot gives port `index` and its interface. */
export function snapshotUuids(index: number): { port: string; iface: string } {
  const i = String(index).padStart(2, '0');
  return { port: `00000000-0000-0000-0000-0000000001${i}`, iface: `00000000-0000-0000-0000-0000000002${i}` };
}

export async function eventually(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
