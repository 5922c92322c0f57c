import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { GC_MS, leftoverCollector, MIRROR_CHECK_MS, Periodic, RESYNC_MS } from '../../../src/daemon/loops.js';
import { silentLogger } from '../../../src/util/log.js';
import { daemonHealth } from '../../../src/status/daemon-status.js';

describe('daemon loops (Periodic)', () => {
  it('runs each interval at its period and stops everything in the order it was registered', () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      const loops = new Periodic();
      const ran: string[] = [];
      const stopped: string[] = [];
      loops.every(100, () => ran.push('a'));
      loops.own(() => stopped.push('watcher'));
      loops.every(250, () => ran.push('b'));
      loops.own(() => stopped.push('subscription'));
      mock.timers.tick(500);
      assert.deepEqual(ran.filter((r) => r === 'a').length, 5);
      assert.deepEqual(ran.filter((r) => r === 'b').length, 2);
      loops.stop();
      assert.deepEqual(stopped, ['watcher', 'subscription']);
      mock.timers.tick(1000);
      assert.equal(ran.length, 7, 'no interval runs after stop');
      loops.stop();
      assert.deepEqual(stopped, ['watcher', 'subscription'], 'a second stop ends nothing twice');
    } finally {
      mock.timers.reset();
    }
  });

  it('keeps the periods the daemon has always had', () => {
    assert.deepEqual([RESYNC_MS, MIRROR_CHECK_MS, GC_MS], [30_000, 10_000, 60_000]);
  });
});

describe('daemonHealth', () => {
  const up = { connected: true, since: 0, lastError: undefined, reconnects: 0 };
  it('is starting until ready, degraded without OVSDB or with FAUCET in trouble, else ok', () => {
    assert.deepEqual(daemonHealth(false, up, undefined), { status: 'starting' });
    assert.deepEqual(daemonHealth(true, up, undefined), { status: 'ok' });
    assert.deepEqual(daemonHealth(true, up, 'FAUCET hung'), { status: 'degraded', reason: 'FAUCET hung' });
    assert.deepEqual(
      daemonHealth(true, { connected: false, since: 0, lastError: 'ECONNREFUSED', reconnects: 1 }, undefined),
      {
        status: 'degraded',
        reason: 'OVSDB unreachable since 1970-01-01T00:00:00.000Z: ECONNREFUSED',
      },
    );
  });
});

describe('leftoverCollector', () => {
  it("counts narwhal's and the OVS driver's leftovers, and still collects the driver's when narwhal's collection fails", async () => {
    const counted: [string, number | undefined][] = [];
    const metrics = { repaired: (kind: string, count?: number) => void counted.push([kind, count]) };
    const driver = { collectGarbage: async () => ({ links: ['dsp1'], ports: ['p1', 'p2'], forwardingTags: [] }) };
    const ok = leftoverCollector({
      narwhal: { collectGarbage: async () => ({ links: ['nw1'], rules: ['r1', 'r2'] }) },
      driver,
      metrics,
      logger: silentLogger(),
    } as unknown as Parameters<typeof leftoverCollector>[0]);
    await ok();
    assert.deepEqual(counted, [
      ['leftover_link', 1],
      ['forwarding_rule', 2],
      ['leftover_link', 1],
      ['leftover_port', 2],
      ['forwarding_rule', 0],
    ]);
    counted.length = 0;
    const failing = leftoverCollector({
      narwhal: { collectGarbage: async () => Promise.reject(new Error('nft gone')) },
      driver,
      metrics,
      logger: silentLogger(),
    } as unknown as Parameters<typeof leftoverCollector>[0]);
    await failing();
    assert.deepEqual(counted.slice(2), [
      ['leftover_link', 1],
      ['leftover_port', 2],
      ['forwarding_rule', 0],
    ]);
  });
});
