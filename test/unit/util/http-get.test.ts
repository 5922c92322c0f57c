import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { httpGetText } from '../../../src/util/http-get.js';

const run = promisify(execFile);

describe('httpGetText (how the daemon reads FAUCET metrics)', () => {
  let server: http.Server;
  let base = '';
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/hang') return; // never answers: the caller's signal must end it
      if (req.url === '/missing') {
        res.writeHead(404).end('no such page');
        return;
      }
      // The body in pieces, a multi-byte character split across two of them.
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      const bytes = Buffer.from(`dp_status{dp_id="0x1"} 1.0\n# é ${req.url}\n`);
      res.write(bytes.subarray(0, bytes.length - 10));
      setTimeout(() => res.end(bytes.subarray(bytes.length - 10)), 5);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('returns the status and the whole body, with the query string sent as given', async () => {
    const res = await httpGetText(`${base}/metrics?name%5B%5D=dp_status`);
    assert.deepEqual([res.ok, res.status], [true, 200]);
    assert.equal(await res.text(), 'dp_status{dp_id="0x1"} 1.0\n# é /metrics?name%5B%5D=dp_status\n');
  });

  it('reports an HTTP error as a response that is not ok', async () => {
    const res = await httpGetText(`${base}/missing`);
    assert.deepEqual([res.ok, res.status, await res.text()], [false, 404, 'no such page']);
  });

  it('rejects when nothing listens, naming the address', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await assert.rejects(httpGetText(`http://127.0.0.1:${port}/metrics`), new RegExp(`ECONNREFUSED 127.0.0.1:${port}`));
  });

  it('gives up when its signal fires', async () => {
    const started = Date.now();
    await assert.rejects(httpGetText(`${base}/hang`, { signal: AbortSignal.timeout(100) }), { name: 'AbortError' });
    assert.ok(Date.now() - started < 2000);
  });

  it('does not load fetch()’s implementation (undici), which a daemon would carry for good', async () => {
    const metrics = new URL('../../../src/faucet/metrics.js', import.meta.url).href;
    const script = `
      const m = await import(${JSON.stringify(metrics)});
      await m.readRunningDps(${JSON.stringify(`${base}/metrics`)});
      await m.readFaucetConfigState(${JSON.stringify(`${base}/missing`)}).catch(() => {});
      process.stdout.write(String(process.moduleLoadList.some((name) => name.includes('undici'))));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(stdout, 'false');
  });
});
