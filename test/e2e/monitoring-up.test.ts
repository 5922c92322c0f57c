import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { must, run, upWithEnv, waitFor } from './harness.js';

/**
 * Issue 21, defect 1: `make up` then `make up MONITORING=1` on a fresh machine. The daemon's
 * state root /var/lib/dovesnap may be 0700 (an older release's daemon made it so with its first
 * state directory); Prometheus, running as its own user, must still reach its storage and start.
 * Then a plain `make up` leaves the running Prometheus as it is.
 */

const PROMETHEUS = process.env['DOVESNAP_PROMETHEUS_URL'] ?? 'http://127.0.0.1:9090';
const STATE_ROOT = '/var/lib/dovesnap';
const SCRIPTS = new URL('../../../scripts', import.meta.url).pathname;

async function ready(): Promise<boolean> {
  try {
    return (await fetch(`${PROMETHEUS}/-/ready`)).status === 200;
  } catch {
    return false;
  }
}

describe('make up MONITORING=1 after a plain make up', () => {
  const existed = existsSync(STATE_ROOT);
  if (!existed) mkdirSync(STATE_ROOT, { recursive: true });
  const mode = statSync(STATE_ROOT).mode & 0o7777;
  after(async () => {
    chmodSync(STATE_ROOT, mode);
    // Whatever happened, the stack ends with Prometheus up, as make test expects.
    if (!(await ready())) await upWithEnv({ MONITORING: '1' });
  });

  it('starts Prometheus when the daemon state root is private, and a plain make up keeps it running', async () => {
    await must(
      'bash',
      ['-c', `source ${SCRIPTS}/lib.sh && source ${SCRIPTS}/monitoring.sh && stop_prometheus`],
      120_000,
    );
    assert.equal(await ready(), false, 'Prometheus stopped for the test');
    chmodSync(STATE_ROOT, 0o700);

    await upWithEnv({ MONITORING: '1' });
    assert.equal(await ready(), true, 'Prometheus ready after make up MONITORING=1');
    const flags = (await (await fetch(`${PROMETHEUS}/api/v1/status/flags`)).json()) as { data: Record<string, string> };
    const storage = flags.data['storage.tsdb.path'] ?? '';
    assert.ok(storage.length > 0, 'Prometheus reports its storage path');
    const asPrometheus = await run('setpriv', [
      '--reuid=prometheus',
      '--regid=prometheus',
      '--clear-groups',
      'test',
      '-w',
      storage,
    ]);
    assert.equal(asPrometheus.code, 0, `the prometheus user can write ${storage}`);

    await upWithEnv({ MONITORING: undefined });
    await waitFor('Prometheus still ready after a plain make up', async () => (await ready()) || undefined, 10_000);
  });
});
