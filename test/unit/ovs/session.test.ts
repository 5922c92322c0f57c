import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OvsdbClient } from '../../../src/ovs/client.js';
import { nextBackoff, ReconnectingOvsdb, type OvsdbHealth, type ReconnectOptions } from '../../../src/ovs/session.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { eventually, MiniOvsdbServer } from './mini-server.js';

const TARGET = 'mem.sock';

/** A session whose hook opens one monitor, as the VSwitch's does; counts the hooks run. */
function session(
  server: MiniOvsdbServer,
  options: ReconnectOptions = {},
): { s: ReconnectingOvsdb; hooks: OvsdbClient[] } {
  const hooks: OvsdbClient[] = [];
  const s = new ReconnectingOvsdb(
    server.connect,
    TARGET,
    async (client) => {
      hooks.push(client);
      await client.monitor('Open_vSwitch', { Bridge: { columns: ['name'] } }, () => {});
    },
    undefined,
    { initialBackoffMs: 10, maxBackoffMs: 40, unavailableAfterMs: 2000, ...options },
  );
  return { s, hooks };
}

describe('ReconnectingOvsdb', () => {
  it('doubles the backoff up to its ceiling', () => {
    assert.deepEqual(
      [100, 200, 400, 800, 1600, 3200, 5000].map((d) => nextBackoff(d, { maxBackoffMs: 5000 })),
      [200, 400, 800, 1600, 3200, 5000, 5000],
    );
  });

  it('reconnects with exponential backoff after the stream closes, and re-creates its monitors', async () => {
    const server = new MiniOvsdbServer();
    const { s, hooks } = session(server);
    await s.start();
    assert.equal(hooks.length, 1);
    assert.equal(server.monitors.size, 1);

    server.refuse = true;
    server.drop();
    await eventually(() => server.attempts.length >= 6, 'five refused reconnect attempts');
    const [, ...retries] = server.attempts;
    const gaps = retries.slice(1).map((t, i) => t - (retries[i] ?? t));
    // 10 → 20 → 40 → 40 (the ceiling); a timer never fires early, only late.
    for (const [i, want] of [20, 40, 40, 40].entries())
      assert.ok((gaps[i] ?? 0) >= want - 1, `gap ${i} was ${gaps[i]} ms, want ≥ ${want}`);

    server.refuse = false;
    await eventually(() => s.health().connected, 'the reconnect');
    assert.equal(hooks.length, 2);
    // The new connection has its own monitor: the hook ran on it before it was published.
    assert.equal(server.monitors.size, 2);
    assert.equal(await s.ready(), hooks[1]);
    s.close();
  });

  it('reports health transitions, counts reconnects and keeps the last error', async () => {
    const server = new MiniOvsdbServer();
    const { s } = session(server);
    await s.start();
    const start = s.health();
    assert.deepEqual({ ...start, since: 0 }, { connected: true, since: 0, lastError: undefined, reconnects: 0 });
    const seen: OvsdbHealth[] = [];
    s.onHealthChange((h) => seen.push(h));

    server.refuse = true;
    server.drop();
    await eventually(() => server.attempts.length >= 3, 'a refused attempt');
    assert.equal(s.health().connected, false);
    assert.match(s.health().lastError ?? '', /ECONNREFUSED/);
    server.refuse = false;
    await eventually(() => s.health().connected, 'the reconnect');
    server.drop();
    await eventually(() => s.health().reconnects === 2, 'the second reconnect');

    // Listeners hear transitions only, not every failed attempt in between.
    assert.deepEqual(
      seen.map((h) => [h.connected, h.reconnects]),
      [
        [false, 0],
        [true, 1],
        [false, 1],
        [true, 2],
      ],
    );
    assert.ok(seen.every((h, i) => h.since >= (seen[i - 1]?.since ?? start.since)));
    assert.match(s.health().lastError ?? '', /closed/);
    s.close();
    assert.equal(s.health().connected, false);
  });

  it('lets a call made during the outage wait, and gives it the new connection', async () => {
    const server = new MiniOvsdbServer();
    const { s, hooks } = session(server);
    await s.start();
    server.refuse = true;
    server.drop();
    await eventually(() => !s.health().connected, 'the loss to be noticed');
    const waiting = s.ready();
    await new Promise((resolve) => setTimeout(resolve, 30));
    server.refuse = false;
    const client = await waiting;
    assert.equal(client, hooks[1]);
    assert.equal(client.isOpen, true);
    s.close();
  });

  it('fails a call with Ovsdb, naming the target, when the outage outlasts the bound', async () => {
    const server = new MiniOvsdbServer();
    const { s } = session(server, { unavailableAfterMs: 60 });
    await s.start();
    server.refuse = true;
    server.drop();
    await eventually(() => !s.health().connected, 'the loss to be noticed');
    const started = Date.now();
    await assert.rejects(
      s.ready(),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.Ovsdb) &&
        /^OVSDB is unavailable at mem\.sock: not connected within 60 ms \(last error: .*\)$/.test(err.message),
    );
    assert.ok(Date.now() - started >= 59);
    s.close();
  });

  it('close() during an outage stops reconnecting and rejects waiting calls with Disposed', async () => {
    const server = new MiniOvsdbServer();
    const { s } = session(server);
    await s.start();
    let closeHeard = false;
    s.onClose(() => (closeHeard = true));
    server.refuse = true;
    server.drop();
    await eventually(() => server.attempts.length >= 3, 'a refused attempt');
    const waiting = s.ready();
    s.close();
    await assert.rejects(waiting, (err: unknown) => isDovesnapError(err, ErrorCode.Disposed));
    await assert.rejects(s.ready(), (err: unknown) => isDovesnapError(err, ErrorCode.Disposed));
    assert.equal(closeHeard, true);
    const attempts = server.attempts.length;
    server.refuse = false;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(server.attempts.length, attempts);
    assert.equal(s.health().connected, false);
  });

  it('retries a connection whose monitors could not be set up', async () => {
    const server = new MiniOvsdbServer();
    let failNext = false;
    const s = new ReconnectingOvsdb(
      server.connect,
      TARGET,
      async (client) => {
        if (failNext) {
          failNext = false;
          throw new Error('monitor refused');
        }
        await client.monitor('Open_vSwitch', { Bridge: {} }, () => {});
      },
      undefined,
      { initialBackoffMs: 5, maxBackoffMs: 5 },
    );
    await s.start();
    failNext = true;
    server.drop();
    await eventually(() => s.health().connected && s.health().reconnects === 1, 'the reconnect');
    assert.equal(server.attempts.length, 3);
    // The half-set-up connection was closed, not leaked.
    assert.equal(server.peers[1]?.stream.destroyed || server.peers[1]?.stream.readableEnded, true);
    s.close();
  });

  it('gives up at once if the first connection fails: start-up decides how long to wait', async () => {
    const server = new MiniOvsdbServer();
    server.refuse = true;
    const { s } = session(server);
    await assert.rejects(s.start(), /ECONNREFUSED/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.attempts.length, 1);
    assert.equal(s.isClosed, true);
  });
});
