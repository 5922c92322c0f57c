import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LiveFeed, portTraffic, shownInterfaces, type LiveSources } from '../../../src/status/live.js';
import { FaucetLoadTracker } from '../../../src/status/faucet-load.js';
import { buildStatusApp } from '../../../src/status/server.js';
import type { HostStatus, NetworksStatus, NetworkStatus } from '../../../src/status/documents.js';
import { StateStore } from '../../../src/driver/state.js';
import { silentLogger } from '../../../src/util/log.js';
import { parseAllowList } from '../../../src/config/status-allow.js';
import { statusContainer, statusNetwork } from '../../fixtures/status-docs.js';

const HOST: HostStatus = { MirrorBridge: null, Stack: null };

function network(containers: Record<string, { name: string; iface: string }>): NetworkStatus {
  return statusNetwork({
    HostPorts: [{ Interface: 'uplink0', OFPort: 5, Kind: 'added' }],
    Containers: Object.fromEntries(
      Object.entries(containers).map(([id, c]) => [
        id,
        statusContainer({ Name: `/${c.name}`, Id: id, EndpointID: `ep-${id}`, Interface: c.iface }),
      ]),
    ),
  });
}

class Sources implements LiveSources {
  readonly source = 'test';
  networksNow: NetworksStatus = {};
  stats = new Map<string, Readonly<Record<string, number>>>();
  renders = 0;
  networksCalls = 0;
  private listeners = new Set<() => void>();
  readonly faucetLoad = new FaucetLoadTracker();
  async networks(): Promise<NetworksStatus> {
    this.networksCalls += 1;
    return this.networksNow;
  }
  async host(): Promise<HostStatus> {
    return HOST;
  }
  faucet() {
    return this.faucetLoad.status();
  }
  async statistics() {
    return this.stats;
  }
  async renderSvg(dot: string): Promise<string> {
    this.renders += 1;
    return `<svg>${dot.length}</svg>`;
  }
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  get listening(): number {
    return this.listeners.size;
  }
  change(): void {
    for (const l of this.listeners) l();
  }
}

interface Received {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

function client(): { got: Received[]; send: (event: 'snapshot' | 'traffic', data: string) => void } {
  const got: Received[] = [];
  return { got, send: (event, data) => got.push({ event, data: JSON.parse(data) as Record<string, unknown> }) };
}

async function until(what: string, cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('LiveFeed', () => {
  it('sends a snapshot and the traffic of shown ports at once, then a snapshot on each change only', async () => {
    const src = new Sources();
    src.networksNow = { n1: network({ c1: { name: 'web', iface: 'dspaaaa' } }) };
    src.stats = new Map<string, Readonly<Record<string, number>>>([
      ['dspaaaa', { rx_bytes: 100, rx_packets: 2, tx_bytes: 50, tx_packets: 1, rx_dropped: 0, tx_dropped: 3 }],
      ['uplink0', { rx_bytes: 7 }],
      ['eth0', { rx_bytes: 999 }],
    ]);
    const feed = new LiveFeed(src, { checkMs: 20, trafficMs: 10_000, settleMs: 5 });
    const c = client();
    const stop = feed.add(c.send);
    await until('the first snapshot and traffic', () => c.got.length >= 2);
    assert.deepEqual(
      c.got.map((g) => g.event),
      ['snapshot', 'traffic'],
    );
    const ports = (c.got[1]?.data['Ports'] ?? {}) as Record<string, unknown>;
    assert.deepEqual(Object.keys(ports).sort(), ['dspaaaa', 'uplink0'], 'only ports the view shows');
    assert.deepEqual(ports['dspaaaa'], {
      RxBytes: 100,
      TxBytes: 50,
      RxPackets: 2,
      TxPackets: 1,
      RxDropped: 0,
      TxDropped: 3,
      RxErrors: 0,
      TxErrors: 0,
    });
    assert.match(String(c.got[0]?.data['Svg']), /^<svg>/);

    // Periodic checks with nothing changed send nothing and do not redraw.
    await sleep(100);
    assert.equal(c.got.length, 2);
    assert.equal(src.renders, 1);

    // A new container: one snapshot, pushed by the change notice before the next check.
    src.networksNow = { n1: network({ c1: { name: 'web', iface: 'dspaaaa' }, c2: { name: 'db', iface: 'dspbbbb' } }) };
    src.change();
    await until('the new snapshot', () => c.got.length === 3);
    const containers = (c.got[2]?.data['Networks'] as NetworksStatus | undefined)?.['n1']?.Containers ?? {};
    assert.deepEqual(Object.keys(containers).sort(), ['c1', 'c2']);
    assert.equal(src.renders, 2);

    // FAUCET's refusal is part of the snapshot.
    src.faucetLoad.record('rejected', 'bad ACL', new Date('2026-01-02T03:04:05Z'));
    src.change();
    await until('the refusal', () => c.got.length === 4);
    assert.deepEqual(c.got[3]?.data['Faucet'], {
      Outcome: 'rejected',
      At: '2026-01-02T03:04:05.000Z',
      Message: 'bad ACL',
      LastRefusal: { At: '2026-01-02T03:04:05.000Z', Message: 'bad ACL' },
    });
    stop();
    feed.close();
  });

  it('does no work while no page is open, and a second page gets the current snapshot at once', async () => {
    const src = new Sources();
    const feed = new LiveFeed(src, { checkMs: 10, trafficMs: 10, settleMs: 1 });
    await sleep(50);
    assert.equal(src.networksCalls, 0);
    assert.equal(src.listening, 0);
    const a = client();
    const stopA = feed.add(a.send);
    assert.equal(src.listening, 1);
    await until('traffic to the first page', () => a.got.some((g) => g.event === 'traffic'));
    const b = client();
    const stopB = feed.add(b.send);
    assert.equal(b.got[0]?.event, 'snapshot', 'sent synchronously from the last snapshot');
    assert.equal(b.got[1]?.event, 'traffic');
    stopA();
    stopB();
    assert.equal(src.listening, 0, 'the last page gone: unsubscribed');
    const calls = src.networksCalls;
    await sleep(50);
    assert.equal(src.networksCalls, calls, 'no checks after the last page left');
    feed.close();
  });

  it('shows the diagram error instead of failing when dot cannot render', async () => {
    const src = new Sources();
    src.renderSvg = async () => {
      throw new Error("cannot run Graphviz's dot");
    };
    const snap = await new LiveFeed(src).snapshot();
    assert.equal(snap.Svg, null);
    assert.match(snap.SvgError ?? '', /Graphviz/);
  });
});

describe('live view helpers', () => {
  it('portTraffic fills counters OVS does not report with 0', () => {
    assert.deepEqual(portTraffic({ rx_bytes: 5 }), {
      RxBytes: 5,
      TxBytes: 0,
      RxPackets: 0,
      TxPackets: 0,
      RxDropped: 0,
      TxDropped: 0,
      RxErrors: 0,
      TxErrors: 0,
    });
  });

  it('shownInterfaces lists containers, host ports, the mirror bridge and stack interfaces', () => {
    const host: HostStatus = {
      MirrorBridge: { Bridge: 'mirrorbr', Out: 'mout', In: 'min', Links: {}, Problem: null },
      Stack: {
        DpName: 's',
        DpId: '0x2',
        Root: 'r',
        Interfaces: [{ Interface: 'stk0', OFPort: 1, RemoteDp: 'r', RemotePort: 2 }],
        MirrorInterface: null,
        Problem: null,
      },
    };
    assert.deepEqual([...shownInterfaces({ n1: network({ c: { name: 'a', iface: 'dspx' } }) }, host)].sort(), [
      'dspx',
      'min',
      'mout',
      'stk0',
      'uplink0',
    ]);
  });

  it('FaucetLoadTracker keeps the last refusal after a later confirmed load', () => {
    const t = new FaucetLoadTracker();
    assert.equal(t.status().Outcome, 'none');
    let told = 0;
    t.onChange(() => (told += 1));
    t.record('rejected', 'unknown ACL x', new Date('2026-01-01T00:00:00Z'));
    t.record('confirmed', undefined, new Date('2026-01-01T00:01:00Z'));
    assert.deepEqual(t.status(), {
      Outcome: 'confirmed',
      At: '2026-01-01T00:01:00.000Z',
      Message: null,
      LastRefusal: { At: '2026-01-01T00:00:00.000Z', Message: 'unknown ACL x' },
    });
    assert.equal(told, 2);
  });
});

describe('live view routes', () => {
  it('serve the self-contained page at /, an empty favicon, and the snapshot as JSON; a refused peer gets 403 there too', async () => {
    const src = new Sources();
    src.networksNow = { n1: network({ c1: { name: 'web', iface: 'dspaaaa' } }) };
    const app = buildStatusApp({
      state: new StateStore(),
      logger: silentLogger(),
      health: () => ({ status: 'ok' }),
      live: new LiveFeed(src),
    });
    try {
      const page = await app.inject({ method: 'GET', url: '/' });
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(page.body, /new EventSource\('live\/events'\)/);
      // Nothing fetched from elsewhere at run time.
      assert.doesNotMatch(page.body, /(src|href)=["']?(https?:)?\/\//);
      assert.equal((await app.inject({ method: 'GET', url: '/favicon.ico' })).statusCode, 204);
      const snap = await app.inject({ method: 'GET', url: '/live/snapshot' });
      assert.equal(snap.statusCode, 200);
      assert.deepEqual(Object.keys((snap.json() as { Networks: object }).Networks), ['n1']);
    } finally {
      await app.close();
    }
    const closed = buildStatusApp({
      state: new StateStore(),
      logger: silentLogger(),
      health: () => ({ status: 'ok' }),
      live: new LiveFeed(src),
      allow: parseAllowList('198.51.100.0/24'),
    });
    try {
      const refused = await closed.inject({ method: 'GET', url: '/', remoteAddress: '203.0.113.9' });
      assert.equal(refused.statusCode, 403);
    } finally {
      await closed.close();
    }
  });
});
