import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GAUGE_RELOAD_SPACING_MS, pidfileReloader } from '../../../src/faucet/store.js';
import { PORT_STATS_INTERVAL_S } from '../../../src/faucet/initial-files.js';

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
      const reload = pidfileReloader({
        faucetPidfile: join(dir, 'faucet.pid'),
        gaugePidfile: join(dir, 'gauge.pid'),
        gaugeMinIntervalMs: 150,
      });
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
    // The requests are recorded, not sent: the clock is mocked and nothing real runs in between.
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const sent: number[] = [];
    let faucetTold = 0;
    try {
      const reload = pidfileReloader({
        faucetPidfile: 'faucet.pid',
        gaugePidfile: 'gauge.pid',
        signal: async (pidfile) => {
          if (pidfile === 'gauge.pid') sent.push(Date.now());
          else faucetTold++;
        },
      });
      // A FAUCET write every 5 s for a minute; the clock moves a second at a time.
      for (let t = 0; t <= 60_000 + GAUGE_RELOAD_SPACING_MS; t += 1_000) {
        if (t <= 60_000 && t % 5_000 === 0) await reload();
        mock.timers.tick(1_000);
      }
      assert.equal(faucetTold, 13, 'FAUCET is told every time');
      assert.ok(sent.length >= 2, `Gauge was told at ${sent.join(', ')}`);
      for (let i = 1; i < sent.length; i++) {
        const gap = (sent[i] ?? 0) - (sent[i - 1] ?? 0);
        assert.ok(
          gap > PORT_STATS_INTERVAL_S * 1000,
          `two reloads ${gap} ms apart: closer than the ${PORT_STATS_INTERVAL_S} s poll interval`,
        );
      }
      assert.ok((sent.at(-1) ?? 0) >= 1_000_000 + 60_000, `the last change reached Gauge: ${sent.join(', ')}`);
    } finally {
      mock.timers.reset();
    }
  });
});
