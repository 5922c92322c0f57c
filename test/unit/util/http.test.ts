import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpApp } from '../../../src/util/http.js';
import { silentLogger } from '../../../src/util/log.js';

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, path: string, body?: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function listening(app: HttpApp): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.address() as AddressInfo).port;
}

describe('HttpApp over a real socket', () => {
  it('routes by method and exact path (query ignored), answers JSON, HEAD without a body, 404 and 405', async () => {
    const app = new HttpApp(silentLogger());
    app.get('/a', () => ({ body: { hello: 'world' } }));
    app.post('/echo', (req) => ({ body: req.body }));
    const port = await listening(app);
    try {
      const a = await request(port, 'GET', '/a?x=1');
      assert.equal(a.status, 200);
      assert.match(String(a.headers['content-type']), /application\/json/);
      assert.deepEqual(JSON.parse(a.body), { hello: 'world' });
      const head = await request(port, 'HEAD', '/a');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal((await request(port, 'POST', '/echo', 'some text')).body, 'some text');
      const missing = await request(port, 'GET', '/nope');
      assert.equal(missing.status, 404);
      assert.match((JSON.parse(missing.body) as { message: string }).message, /nope/);
      assert.equal((await request(port, 'POST', '/a')).status, 405);
    } finally {
      await app.close();
    }
  });

  it('a handler that throws answers 500 with its message, and the server goes on', async () => {
    const app = new HttpApp(silentLogger());
    app.get('/boom', () => {
      throw new Error('it broke');
    });
    app.get('/ok', () => ({ body: 'fine' }));
    const port = await listening(app);
    try {
      const r = await request(port, 'GET', '/boom');
      assert.equal(r.status, 500);
      assert.equal((JSON.parse(r.body) as { message: string }).message, 'it broke');
      assert.equal((await request(port, 'GET', '/ok')).body, 'fine');
    } finally {
      await app.close();
    }
  });

  it('refuses a body over 1 MB', async () => {
    const app = new HttpApp(silentLogger());
    app.post('/p', () => ({ body: {} }));
    const port = await listening(app);
    try {
      const r = await request(port, 'POST', '/p', 'x'.repeat((1 << 20) + 10)).catch(() => ({
        status: 413,
        headers: {},
        body: '',
      }));
      assert.equal(r.status, 413);
    } finally {
      await app.close();
    }
  });

  it('the guard applies to every route, streams included; close() ends open streams', async () => {
    const app = new HttpApp(silentLogger());
    let allowed = true;
    app.guard(() => (allowed ? undefined : { status: 403, body: { message: 'no' } }));
    app.get('/x', () => ({ body: 'x' }));
    const ended: string[] = [];
    const open = new Set<http.ServerResponse>();
    app.stream('/events', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: hello\n\n');
      open.add(res);
    });
    app.onClose(() => {
      for (const res of open) res.end();
      ended.push('streams');
    });
    const port = await listening(app);
    const first = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/events', agent: false }, (res) => {
          res.setEncoding('utf8');
          res.once('data', (c: string) => resolve(c));
        })
        .on('error', reject);
    });
    assert.equal(first, 'event: hello\n\n');
    allowed = false;
    assert.equal((await request(port, 'GET', '/events')).status, 403);
    assert.equal((await request(port, 'GET', '/x')).status, 403);
    await app.close();
    assert.deepEqual(ended, ['streams']);
  });

  it('inject answers in process as a connection would, from 127.0.0.1 unless told otherwise', async () => {
    const app = new HttpApp(silentLogger());
    app.guard((req) => (req.remoteAddress === '127.0.0.1' ? undefined : { status: 403 }));
    app.get('/j', () => ({ status: 201, body: [1, 2] }));
    const r = await app.inject({ method: 'GET', url: '/j' });
    assert.equal(r.statusCode, 201);
    assert.deepEqual(r.json(), [1, 2]);
    assert.equal((await app.inject({ method: 'GET', url: '/j', remoteAddress: '192.0.2.1' })).statusCode, 403);
  });

  it('closes idle keep-alive connections after idleTimeoutMs, and never with 0', async () => {
    /** One keep-alive connection: sends a request, then reports whether the server has closed it. */
    async function idleConnection(
      idleTimeoutMs: number,
    ): Promise<{ app: HttpApp; socket: net.Socket; closed: () => boolean; answers: () => number }> {
      const app = new HttpApp(silentLogger());
      app.get('/x', () => ({ body: 'x' }));
      await app.listen({ host: '127.0.0.1', port: 0 }, { idleTimeoutMs });
      const socket = net.connect((app.address() as AddressInfo).port, '127.0.0.1');
      let closed = false;
      let received = '';
      socket.on('close', () => (closed = true));
      socket.on('data', (d: Buffer) => (received += d.toString('utf8')));
      socket.write('GET /x HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n');
      return { app, socket, closed: () => closed, answers: () => received.split('HTTP/1.1 200').length - 1 };
    }
    const short = await idleConnection(150);
    const never = await idleConnection(0);
    try {
      await sleep(1200);
      assert.equal(short.answers(), 1);
      assert.equal(short.closed(), true, 'idle past 150 ms: closed by the server');
      assert.equal(never.closed(), false, 'idleTimeoutMs 0: still open');
      never.socket.write('GET /x HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n');
      await sleep(200);
      assert.equal(never.answers(), 2, 'and it still serves');
    } finally {
      short.socket.destroy();
      never.socket.destroy();
      await Promise.all([short.app.close(), never.app.close()]);
    }
  });
});
