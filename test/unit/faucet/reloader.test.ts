import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { GAUGE_RELOAD_SPACING_MS, pidfileReloader } from '../../../src/faucet/store.js';
import { PORT_STATS_INTERVAL_S } from '../../../src/faucet/render.js';

describe('pidfileReloader', () => {
  it('signals FAUCET every time, and Gauge at most once per interval with the last change always delivered', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-hup-'));
    // Both "daemons" are this test process: count the SIGHUPs it receives.
    let hups = 0;
    const onHup = (): void => {
      hups++;
    };
    process.on('SIGHUP', onHup);
    try {
      await writeFile(join(dir, 'faucet.pid'), `${process.pid}\n`);
      await writeFile(join(dir, 'gauge.pid'), `${process.pid}\n`);
      const reload = pidfileReloader({ faucetPidfile: join(dir, 'faucet.pid'), gaugePidfile: join(dir, 'gauge.pid'), gaugeMinIntervalMs: 150 });
      for (let i = 0; i < 5; i++) await reload();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(hups, 5 + 1, 'five for FAUCET, one for Gauge so far');
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(hups, 5 + 2, 'the trailing Gauge reload came');
    } finally {
      process.off('SIGHUP', onHup);
      await rm(dir, { recursive: true, force: true });
    }
  });
  it("by default spaces Gauge's reloads wider than its port-stats interval, so that its pollers, restarted by each reload, still poll", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-hup-'));
    // "FAUCET" is a child that catches SIGHUP; "Gauge" is this process, counting what it receives.
    const faucet = spawn('sh', ['-c', 'trap ":" HUP; while :; do sleep 1; done'], { stdio: 'ignore' });
    // Its trap is set before the clock is mocked: the reloader waits for the handler with timers.
    await new Promise((r) => setTimeout(r, 300));
    let hups = 0;
    const onHup = (): void => {
      hups++;
    };
    process.on('SIGHUP', onHup);
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    // The signals go out after a pidfile read: real I/O, which mocked timers do not hold up.
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    };
    const sent: number[] = [];
    let seen = 0;
    const note = (): void => {
      if (hups > seen) sent.push(Date.now());
      seen = hups;
    };
    try {
      await writeFile(join(dir, 'faucet.pid'), `${faucet.pid}\n`);
      await writeFile(join(dir, 'gauge.pid'), `${process.pid}\n`);
      const reload = pidfileReloader({ faucetPidfile: join(dir, 'faucet.pid'), gaugePidfile: join(dir, 'gauge.pid') });
      // A container every 5 s for a minute: FAUCET is told each time, Gauge once per spacing;
      // the clock moves a second at a time.
      for (let t = 0; t <= 60_000 + GAUGE_RELOAD_SPACING_MS; t += 1_000) {
        if (t <= 60_000 && t % 5_000 === 0) await reload();
        await settle();
        note();
        mock.timers.tick(1_000);
      }
      await settle();
      note();
      assert.ok(sent.length >= 2, `Gauge was told at ${sent.join(', ')}`);
      for (let i = 1; i < sent.length; i++) {
        const gap = (sent[i] ?? 0) - (sent[i - 1] ?? 0);
        assert.ok(gap > PORT_STATS_INTERVAL_S * 1000, `two reloads ${gap} ms apart: closer than the ${PORT_STATS_INTERVAL_S} s poll interval`);
      }
      assert.ok((sent.at(-1) ?? 0) >= 1_000_000 + 60_000, 'the last change reached Gauge');
    } finally {
      mock.timers.reset();
      // A signal still on its way (after its pidfile read) must not find the handler gone.
      await new Promise((r) => setTimeout(r, 200));
      process.off('SIGHUP', onHup);
      faucet.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
