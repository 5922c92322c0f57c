import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * scripts/lib.sh's start_detached, which `make up` starts FAUCET, Gauge, Prometheus and the
 * daemon with: the daemon keeps none of its caller's descriptors beyond 0-2. A Prometheus
 * started under `flock LOCK make up` kept the lock for its whole life, and every later make up
 * under the same lock waited forever (issue 21, found while fixing defect 1).
 */

const LIB = new URL('../../../scripts/lib.sh', import.meta.url).pathname;
const run = promisify(execFile);

describe('start_detached (scripts/lib.sh)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-start-detached-'));
  const pidfile = path.join(dir, 'sleeper.pid');
  let pid = 0;
  after(() => {
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("leaves the caller's lock and other descriptors behind", async () => {
    const lock = path.join(dir, 'stack.lock');
    // fd 3 as flock(1) passes it on; fd 7 any other open file of the caller.
    const script = `source "${LIB}"; exec 7>"${dir}/other"; start_detached "${pidfile}" "${dir}/sleeper.log" sleep 60`;
    await run('flock', [lock, 'bash', '-c', script], { timeout: 20_000 });
    pid = Number(readFileSync(pidfile, 'utf8').trim());
    assert.ok(pid > 0, 'the pidfile names the daemon');
    const held = readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return `${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`;
      } catch {
        return `${fd} -> ?`;
      }
    });
    assert.deepEqual(
      held.filter((l) => l.includes(dir) && !l.endsWith('sleeper.log')),
      [],
      `descriptors the daemon inherited: ${held.join(', ')}`,
    );
    assert.deepEqual(
      held.map((l) => Number(l.split(' ')[0])).filter((n) => n > 2),
      [],
      `only 0-2 are open: ${held.join(', ')}`,
    );
    // And so the lock is free the moment its holder is done, daemon or no daemon.
    await run('flock', ['-n', lock, 'true'], { timeout: 5_000 });
  });
});
