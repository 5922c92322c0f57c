import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { hostCheck, hostOfHeader } from '../../../src/status/host-check.js';
import { parseStatusHosts } from '../../../src/config/status-hosts.js';
import { LiveFeed, type LiveSources } from '../../../src/status/live.js';
import { FaucetLoadTracker } from '../../../src/status/faucet-load.js';
import { buildStatusApp } from '../../../src/status/server.js';
import { StateStore } from '../../../src/driver/state.js';
import { silentLogger } from '../../../src/util/log.js';
import type { HttpApp } from '../../../src/util/http.js';

describe('hostOfHeader', () => {
  it('drops the port and the brackets, lowers the case, writes IPv6 short and IPv4-mapped as IPv4', () => {
    assert.equal(hostOfHeader('LocalHost:9401'), 'localhost');
    assert.equal(hostOfHeader('127.0.0.1'), '127.0.0.1');
    assert.equal(hostOfHeader('[::1]:9401'), '::1');
    assert.equal(hostOfHeader('[0:0:0:0:0:0:0:1]'), '::1');
    assert.equal(hostOfHeader('[::ffff:127.0.0.1]:80'), '127.0.0.1');
    assert.equal(hostOfHeader('dovesnap.example.org:8080'), 'dovesnap.example.org');
  });

  it('finds nothing in a malformed header', () => {
    for (const bad of [
      '',
      '::1',
      '[::1',
      '[evil.example]:80',
      'a b',
      'host:port',
      'host:123456',
      'a..b',
      '-a.example',
      'user@host',
    ]) {
      assert.equal(hostOfHeader(bad), undefined, bad);
    }
  });
});

describe('hostCheck', () => {
  it('on 127.0.0.1: localhost, any loopback address, nothing else', () => {
    const c = hostCheck({ listenHost: '127.0.0.1', ownAddresses: () => ['192.0.2.5'] });
    for (const ok of ['localhost', 'localhost:9401', '127.0.0.1:9401', '127.1.2.3', '[::1]:9401'])
      assert.equal(c.allows(ok), true, ok);
    for (const no of [
      undefined,
      '',
      'evil.example',
      'evil.example:9401',
      'localhost.evil.example',
      '192.0.2.5:9401',
      '0.0.0.0:9401',
      '[::]:9401',
    ])
      assert.equal(c.allows(no), false, String(no));
  });

  it("on 0.0.0.0: also the host's own addresses, asked at request time, and the listen address as written", () => {
    let own = ['127.0.0.1', '192.0.2.5', 'fe80::1'];
    const c = hostCheck({ listenHost: '0.0.0.0', ownAddresses: () => own });
    for (const ok of ['192.0.2.5:9401', '[fe80:0::1]:9401', '0.0.0.0:9401', 'localhost'])
      assert.equal(c.allows(ok), true, ok);
    assert.equal(c.allows('192.0.2.6:9401'), false);
    assert.equal(c.allows('evil.example'), false);
    own = ['192.0.2.6'];
    assert.equal(c.allows('192.0.2.6:9401'), true, 'a new address counts at once');
    assert.equal(c.allows('192.0.2.5:9401'), false, 'and a gone one no longer');
  });

  it('on a named or a specific address: that one; and the names of DOVESNAP_STATUS_HOSTS', () => {
    const named = hostCheck({ listenHost: 'Status.Example.org', ownAddresses: () => ['192.0.2.5'] });
    assert.equal(named.allows('status.example.org:9401'), true);
    assert.equal(named.allows('192.0.2.5'), false, 'own addresses only on a wildcard listen address');
    const v6 = hostCheck({
      listenHost: '2001:db8::7',
      names: parseStatusHosts('dovesnap.lab, [2001:db8::8], 198.51.100.1'),
    });
    for (const ok of ['[2001:db8:0::7]:9401', 'DOVESNAP.lab', '[2001:db8::8]', '198.51.100.1:1'])
      assert.equal(v6.allows(ok), true, ok);
    assert.equal(v6.allows('lab'), false);
  });
});

describe('parseStatusHosts', () => {
  it('reads names and addresses, and refuses anything else naming the entry', () => {
    assert.deepEqual(parseStatusHosts(''), []);
    assert.deepEqual(parseStatusHosts(' a.example ,B.example,[::1],10.0.0.1'), [
      'a.example',
      'b.example',
      '::1',
      '10.0.0.1',
    ]);
    for (const bad of ['a.example:80', '*.example', 'http://a.example', 'a_b']) {
      assert.throws(
        () => parseStatusHosts(`ok.example,${bad}`),
        new RegExp(`'${bad.replace(/[.*]/g, '\\$&')}' is not a host name or an address`),
        bad,
      );
    }
  });
});

/** A live feed with nothing to show. */
function emptyLive(): LiveFeed {
  const load = new FaucetLoadTracker();
  const src: LiveSources = {
    source: 'test',
    networks: async () => ({}),
    host: async () => ({ MirrorBridge: null, Stack: null }),
    faucet: () => load.status(),
    statistics: async () => new Map(),
    renderSvg: async () => '<svg/>',
    onChange: () => () => undefined,
  };
  return new LiveFeed(src);
}

/** Every route of a status app with a live feed and metrics, on 127.0.0.1. */
function fullApp(): HttpApp {
  return buildStatusApp({
    state: new StateStore(),
    logger: silentLogger(),
    health: () => ({ status: 'ok' }),
    metrics: new Registry(),
    live: emptyLive(),
  });
}

const PATHS = [
  '/',
  '/networks',
  '/host',
  '/healthz',
  '/metrics',
  '/live/snapshot',
  '/live/traffic',
  '/live/events',
  '/favicon.ico',
  '/no-such-route',
];

/** A GET over a real connection with this Host header (or none, in HTTP/1.0): the status and the start of the body. */
async function getWithHost(
  port: number,
  path: string,
  host: string | undefined,
): Promise<{ status: number; body: string }> {
  if (host === undefined) {
    const socket = net.connect(port, '127.0.0.1');
    socket.write(`GET ${path} HTTP/1.0\r\n\r\n`);
    let text = '';
    for await (const chunk of socket) text += String(chunk);
    return {
      status: Number(/^HTTP\/1\.\d (\d+)/.exec(text)?.[1] ?? 0),
      body: text.slice(text.indexOf('\r\n\r\n') + 4),
    };
  }
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += String(c);
        // An event stream never ends: its first bytes are enough.
        if (path === '/live/events') req.destroy();
      });
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('status API Host check (DNS rebinding)', () => {
  it('refuses a foreign Host on every path, before routing, with 421 and a short reason; in process as over a connection', async () => {
    const app = fullApp();
    try {
      for (const path of PATHS) {
        const res = await app.inject({ method: 'GET', url: path, headers: { host: 'rebound.evil.example:9401' } });
        assert.equal(res.statusCode, 421, path);
        assert.match(
          res.body,
          /^421 Misdirected Request: Host "rebound\.evil\.example:9401" is not a name of this dovesnap status API.*DOVESNAP_STATUS_HOSTS/,
          path,
        );
      }
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.address() as AddressInfo;
      for (const path of PATHS) {
        assert.equal((await getWithHost(port, path, 'rebound.evil.example')).status, 421, `${path} over a connection`);
        assert.equal((await getWithHost(port, path, undefined)).status, 421, `${path} without a Host header`);
      }
      const events = await getWithHost(port, '/live/events', `127.0.0.1:${port}`);
      assert.equal(events.status, 200);
      assert.match(events.body, /^retry: /);
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost']) {
        assert.equal((await getWithHost(port, '/networks', host)).status, 200, host);
        assert.equal((await getWithHost(port, '/metrics', host)).status, 200, host);
      }
    } finally {
      await app.close();
    }
  });

  it('answers the names it is given', async () => {
    const app = buildStatusApp({
      state: new StateStore(),
      logger: silentLogger(),
      health: () => ({ status: 'ok' }),
      hosts: hostCheck({ listenHost: '0.0.0.0', names: ['dovesnap.lab'], ownAddresses: () => ['192.0.2.5'] }),
    });
    try {
      for (const host of ['dovesnap.lab:9401', '192.0.2.5:9401', 'localhost', '0.0.0.0:9401']) {
        assert.equal((await app.inject({ method: 'GET', url: '/networks', headers: { host } })).statusCode, 200, host);
      }
      assert.equal(
        (await app.inject({ method: 'GET', url: '/networks', headers: { host: 'other.lab' } })).statusCode,
        421,
      );
    } finally {
      await app.close();
    }
  });
});
