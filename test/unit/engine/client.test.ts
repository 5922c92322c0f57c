import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerEngine, type EngineEvent } from '../../../src/engine/client.js';

/** A dockerd stand-in on a unix socket: /events streams the given lines, then ends. */
async function fakeDockerd(lines: string[]): Promise<{ socket: string; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'dovesnap-engine-'));
  const socket = join(dir, 'docker.sock');
  const deleted: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (const l of lines) res.write(`${l}\n`);
      res.end();
      return;
    }
    if (req.method === 'DELETE' && req.url?.startsWith('/networks/')) {
      deleted.push(req.url);
      res.writeHead(req.url.endsWith('/gone') ? 404 : 204);
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return {
    socket,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('DockerEngine.streamEvents', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });

  it('reports an unreadable line and a handler that throws, and keeps delivering (defect 8)', async () => {
    const ev = (id: string): string =>
      JSON.stringify({
        Type: 'network',
        Action: 'create',
        Actor: { ID: id, Attributes: { name: id, type: 'dovesnap' } },
      });
    const d = await fakeDockerd([ev('n1'), '{not json', ev('n2'), ev('n3')]);
    closers.push(d.close);
    const seen: string[] = [];
    const errors: { err: string; line: string }[] = [];
    await new DockerEngine(d.socket).streamEvents(
      {},
      (e: EngineEvent) => {
        seen.push(e.Actor.ID);
        if (e.Actor.ID === 'n2') throw new Error('handler bug');
      },
      new AbortController().signal,
      (err, line) => errors.push({ err: err instanceof Error ? err.message : String(err), line }),
    );
    assert.deepEqual(seen, ['n1', 'n2', 'n3']);
    assert.equal(errors.length, 2);
    assert.equal(errors[0]?.line, '{not json');
    assert.equal(errors[1]?.err, 'handler bug');
    assert.match(errors[1]?.line ?? '', /n2/);
  });

  it('removeNetwork succeeds for a network Docker no longer has', async () => {
    const d = await fakeDockerd([]);
    closers.push(d.close);
    const engine = new DockerEngine(d.socket);
    await engine.removeNetwork('abc');
    await engine.removeNetwork('gone');
  });
});
