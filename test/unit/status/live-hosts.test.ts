import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { mergeHosts, type LiveHosts } from '../../../src/status/live-hosts.js';
import { askPeer, httpPeerFetch, PeerPoller, type PeerFetch, type PeerView } from '../../../src/status/peers.js';
import { LiveFeed, type LiveSources } from '../../../src/status/live.js';
import { FaucetLoadTracker } from '../../../src/status/faucet-load.js';
import { buildStatusApp } from '../../../src/status/server.js';
import type { HostStatus, NetworksStatus, NetworkStatus } from '../../../src/status/documents.js';
import { StateStore } from '../../../src/driver/state.js';
import { silentLogger } from '../../../src/util/log.js';
import { statusContainer, statusNetwork } from '../../fixtures/status-docs.js';

/** The live view of several hosts (DOVESNAP_STATUS_PEERS): merging, polling, the feed. */

function network(id: string, name: string, containers: readonly string[] = []): NetworkStatus {
  return statusNetwork({
    NetworkID: id,
    NetworkName: name,
    BridgeName: `ovsbr-${id}`,
    Containers: Object.fromEntries(
      containers.map((c) => [
        c,
        statusContainer({ Name: `/${c}`, Id: c, EndpointID: `ep-${c}`, Interface: `dsp${c}` }),
      ]),
    ),
  });
}

const hostDoc = (name?: string): HostStatus => ({
  ...(name === undefined ? {} : { HostName: name }),
  MirrorBridge: null,
  Stack: null,
});
const nets = (...ns: NetworkStatus[]): NetworksStatus => Object.fromEntries(ns.map((n) => [n.NetworkID, n]));
const ok = (source: string, networks: NetworksStatus, name?: string): PeerView => ({
  Source: source,
  State: 'ok',
  Error: null,
  Networks: networks,
  Host: hostDoc(name),
});
const down = (source: string, error: string): PeerView => ({
  Source: source,
  State: 'unreachable',
  Error: error,
  Networks: {},
  Host: null,
});

/** What the page draws, in short: per network, `host/container` for every port row. */
function rows(m: LiveHosts): Record<string, string[]> {
  return Object.fromEntries(
    m.Merged.map((n) => [
      n.Name,
      n.Parts.flatMap((p) => Object.values(p.Network.Containers).map((c) => `${p.Host}/${c.Name.slice(1)}`)),
    ]),
  );
}

describe('mergeHosts', () => {
  const LOCAL = {
    source: 'http://10.239.0.11:9401',
    networks: nets(network('a1', 'lab', ['w1'])),
    host: hostDoc('h1'),
  };
  const cases: readonly {
    name: string;
    peers: readonly PeerView[];
    hosts: readonly [string, PeerView['State']][];
    rows: Record<string, string[]>;
  }[] = [
    { name: 'no peers: this host only', peers: [], hosts: [['h1', 'ok']], rows: { lab: ['h1/w1'] } },
    {
      name: 'a network of the same name on each host is one, its ports from every host, hosts in order',
      peers: [
        ok('http://10.239.0.12:9401', nets(network('b1', 'lab', ['w2', 'x2']), network('b2', 'solo', ['s2'])), 'h2'),
        ok('http://10.239.0.13:9401', nets(network('c1', 'lab', ['w3'])), 'h3'),
      ],
      hosts: [
        ['h1', 'ok'],
        ['h2', 'ok'],
        ['h3', 'ok'],
      ],
      rows: { lab: ['h1/w1', 'h2/w2', 'h2/x2', 'h3/w3'], solo: ['h2/s2'] },
    },
    {
      name: 'a peer that does not answer: listed as unreachable by its address, nothing of it drawn',
      peers: [
        down('http://10.239.0.12:9401', 'no answer within 2500 ms'),
        ok('http://10.239.0.13:9401', nets(network('c1', 'lab', ['w3'])), 'h3'),
      ],
      hosts: [
        ['h1', 'ok'],
        ['10.239.0.12:9401', 'unreachable'],
        ['h3', 'ok'],
      ],
      rows: { lab: ['h1/w1', 'h3/w3'] },
    },
    {
      name: 'an older peer without HostName goes by its address; two hosts of one name are told apart',
      peers: [
        ok('http://10.239.0.12:9401', nets(network('b1', 'lab', ['w2']))),
        ok('http://10.239.0.13:9401', nets(network('c1', 'lab', ['w3'])), 'h1'),
      ],
      hosts: [
        ['h1 (10.239.0.11:9401)', 'ok'],
        ['10.239.0.12:9401', 'ok'],
        ['h1 (10.239.0.13:9401)', 'ok'],
      ],
      rows: { lab: ['h1 (10.239.0.11:9401)/w1', '10.239.0.12:9401/w2', 'h1 (10.239.0.13:9401)/w3'] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const m = mergeHosts(LOCAL, c.peers);
      assert.deepEqual(
        m.Hosts.map((h) => [h.Name, h.State]),
        c.hosts,
      );
      assert.deepEqual(
        m.Hosts.map((h) => h.Local),
        c.hosts.map((_, i) => i === 0),
      );
      assert.deepEqual(rows(m), c.rows);
      for (const n of m.Merged) for (const p of n.Parts) assert.equal(p.Local, p.Host === m.Hosts[0]?.Name);
    });
  }
});

describe('PeerPoller', () => {
  it('marks a peer that fails or answers too slowly unreachable, within the timeout, and says why', async () => {
    const fetchJson: PeerFetch = async (base, path) => {
      if (base === 'http://slow:1') return new Promise(() => undefined); // never answers
      if (base === 'http://refused:1') throw new Error('connect ECONNREFUSED');
      if (base === 'http://old:1' && path === '/host') return undefined; // an older daemon: no /host
      if (base === 'http://odd:1') return path === '/networks' ? [] : {};
      return path === '/networks' ? nets(network('b1', 'lab')) : hostDoc('h2');
    };
    const poller = new PeerPoller(
      ['http://good:1', 'http://slow:1', 'http://refused:1', 'http://old:1', 'http://odd:1'],
      {
        timeoutMs: 50,
        fetchJson,
      },
    );
    assert.deepEqual(
      poller.current().map((v) => v.State),
      ['waiting', 'waiting', 'waiting', 'waiting', 'waiting'],
    );
    const started = Date.now();
    await poller.poll();
    assert.ok(Date.now() - started < 1000, 'a peer that never answers holds a round up to the timeout only');
    assert.deepEqual(
      poller.current().map((v) => [v.State, v.Error]),
      [
        ['ok', null],
        ['unreachable', 'no answer within 50 ms'],
        ['unreachable', 'connect ECONNREFUSED'],
        ['ok', null],
        ['unreachable', '/networks is not a status document'],
      ],
    );
    assert.equal(poller.current()[0]?.Host?.HostName, 'h2');
    assert.equal(poller.current()[3]?.Host, null);
    assert.deepEqual(Object.keys(poller.current()[0]?.Networks ?? {}), ['b1']);
  });

  it('polls only while watched, and tells its watchers of changes only', async () => {
    let answer = nets(network('b1', 'lab'));
    let asked = 0;
    const poller = new PeerPoller(['http://p:1'], {
      intervalMs: 10,
      fetchJson: async (_base, path) => {
        asked += 1;
        return path === '/networks' ? answer : hostDoc('h2');
      },
    });
    await sleep(40);
    assert.equal(asked, 0, 'not watched: never asked');
    let told = 0;
    const stop = poller.watch(() => {
      told += 1;
    });
    await sleep(80);
    assert.equal(told, 1, 'the first answer; the same answers after it are no change');
    answer = nets(network('b1', 'lab', ['w2']));
    await sleep(80);
    assert.equal(told, 2);
    stop();
    const after = asked;
    await sleep(50);
    assert.ok(asked <= after + 2, 'no rounds once unwatched (one may be under way)');
  });

  it('asks a real status API over HTTP, and finds a closed port unreachable', async () => {
    const state = new StateStore();
    const app = buildStatusApp({
      state,
      logger: silentLogger(),
      health: () => ({ status: 'ok' }),
      host: () => hostDoc('peer-host'),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.address() as AddressInfo).port;
    try {
      const view = await askPeer(`http://127.0.0.1:${port}`, httpPeerFetch, 2000);
      assert.equal(view.State, 'ok', view.Error ?? '');
      assert.equal(view.Host?.HostName, 'peer-host');
      assert.deepEqual(view.Networks, {});
    } finally {
      await app.close();
    }
    const gone = await askPeer(`http://127.0.0.1:${port}`, httpPeerFetch, 2000);
    assert.equal(gone.State, 'unreachable');
    assert.match(gone.Error ?? '', /fetch failed|ECONNREFUSED/);
  });
});

describe('LiveFeed with peers', () => {
  class Sources implements LiveSources {
    readonly source = 'http://10.239.0.11:9401';
    dots: string[] = [];
    readonly faucetLoad = new FaucetLoadTracker();
    constructor(readonly peers: PeerPoller) {}
    async networks(): Promise<NetworksStatus> {
      return nets(network('a1', 'lab', ['w1']));
    }
    async host(): Promise<HostStatus> {
      return hostDoc('h1');
    }
    faucet() {
      return this.faucetLoad.status();
    }
    async statistics() {
      return new Map<string, Readonly<Record<string, number>>>();
    }
    async renderSvg(dot: string): Promise<string> {
      this.dots.push(dot);
      return '<svg/>';
    }
    onChange(): () => void {
      return () => undefined;
    }
  }

  it('holds every host’s networks and draws them in one diagram; a peer’s change is a new snapshot', async () => {
    let peerNets = nets(network('b1', 'lab', ['w2']));
    const peers = new PeerPoller(['http://10.239.0.12:9401', 'http://10.239.0.13:9401'], {
      intervalMs: 10,
      timeoutMs: 30,
      fetchJson: async (base, path) => {
        if (base.endsWith('13:9401')) throw new Error('connect EHOSTUNREACH');
        return path === '/networks' ? peerNets : hostDoc('h2');
      },
    });
    const src = new Sources(peers);
    const feed = new LiveFeed(src, { checkMs: 10_000, trafficMs: 10_000, settleMs: 1 });
    const snaps: { Hosts: { Name: string; State: string }[]; Merged: { Name: string; Parts: unknown[] }[] }[] = [];
    const stop = feed.add((event, data) => {
      if (event === 'snapshot') snaps.push(JSON.parse(data));
    });
    const deadline = Date.now() + 2000;
    while (!snaps.some((s) => s.Hosts[1]?.State === 'ok') && Date.now() < deadline) await sleep(5);
    const last = snaps.at(-1);
    assert.deepEqual(
      last?.Hosts.map((h) => [h.Name, h.State]),
      [
        ['h1', 'ok'],
        ['h2', 'ok'],
        ['10.239.0.13:9401', 'unreachable'],
      ],
    );
    assert.equal(last?.Merged[0]?.Parts.length, 2);
    const dot = src.dots.at(-1) ?? '';
    assert.ok(dot.includes('host h1\\ndovesnap at http://10.239.0.11:9401'), dot);
    assert.ok(dot.includes('host h2\\ndovesnap at http://10.239.0.12:9401'), dot);
    assert.ok(!dot.includes('10.239.0.13'), 'nothing drawn of the unreachable peer');
    const count = snaps.length;
    peerNets = nets(network('b1', 'lab', ['w2', 'x2']));
    while (snaps.length === count && Date.now() < deadline + 2000) await sleep(5);
    assert.equal(snaps.length, count + 1, 'the peer’s new container: one snapshot');
    stop();
    feed.close();
  });

  it('GET /live/snapshot with no page open asks the peers first', async () => {
    const peers = new PeerPoller(['http://10.239.0.12:9401'], {
      fetchJson: async (_base, path) => (path === '/networks' ? nets(network('b1', 'lab', ['w2'])) : hostDoc('h2')),
    });
    const snap = await new LiveFeed(new Sources(peers)).snapshot();
    assert.deepEqual(
      snap.Hosts.map((h) => [h.Name, h.State]),
      [
        ['h1', 'ok'],
        ['h2', 'ok'],
      ],
    );
  });
});
