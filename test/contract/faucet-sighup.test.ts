/**
 * FAUCET's SIGHUP deadlock, reproduced with the real os-ken and FAUCET classes of the venv
 * (test/python/sighup_deadlock.py), and its removal by deploy/faucet/dovesnap_faucet_sighup.py,
 * the module `make up` and the systemd units load into FAUCET and Gauge. Needs the venv `make up`
 * creates ($FAUCET_VENV, default /opt/dovesnap/venv): without it the test fails, never skips.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('../../../', import.meta.url).pathname;
const VENV = process.env['FAUCET_VENV'] ?? '/opt/dovesnap/venv';

function reproduce(mode: 'patched' | 'unpatched'): Promise<{ code: number; stdout: string; stderr: string }> {
  const python = join(VENV, 'bin', 'python3');
  assert.ok(
    existsSync(python),
    `${python} is missing: run \`make up\` (it creates the FAUCET venv), or set FAUCET_VENV`,
  );
  return new Promise((resolve) => {
    execFile(
      python,
      [join(ROOT, 'test/python/sighup_deadlock.py'), mode],
      // Only the repository's copy of the module: the test is of deploy/faucet, not of what is installed.
      {
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          PYTHONPATH: join(ROOT, 'deploy/faucet'),
          PYTHONWARNINGS: 'ignore',
          PYTHONDONTWRITEBYTECODE: '1',
        },
        timeout: 30_000,
        encoding: 'utf8',
      },
      (err, stdout, stderr) =>
        resolve({
          code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1,
          stdout: stdout.trim(),
          stderr,
        }),
    );
  });
}

describe('FAUCET SIGHUP handler (dovesnap_faucet_sighup)', () => {
  it('without the module, a SIGHUP that lands in the event loop while its queue is full hangs it (the bug is real in the installed FAUCET)', async () => {
    const r = await reproduce('unpatched');
    assert.deepEqual(
      [r.code, r.stdout],
      [1, 'deadlock'],
      `expected the deadlock; got exit ${r.code}: ${r.stdout} ${r.stderr.slice(-2000)}`,
    );
  });

  it('with the module, the same SIGHUP is a reload request that arrives once the loop makes room', async () => {
    const r = await reproduce('patched');
    assert.deepEqual([r.code, r.stdout], [0, 'ok'], `exit ${r.code}: ${r.stdout} ${r.stderr.slice(-2000)}`);
  });
});
