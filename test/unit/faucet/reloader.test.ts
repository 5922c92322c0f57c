import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidfileReloader } from '../../../src/faucet/store.js';

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
});
