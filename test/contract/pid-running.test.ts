import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { withZombie } from '../support/zombie.js';

/**
 * scripts/lib.sh's process checks, which `make up` and `make down` wait on: a zombie (exited, not
 * yet reaped) is gone. A daemon that `make up` started detached is PID 1's child, and where PID 1
 * is no init (a micro-VM's agent here) it is reaped seconds late: `kill -0` said it still ran, and
 * every daemon restart waited for it "to exit".
 */

const LIB = new URL('../../../scripts/lib.sh', import.meta.url).pathname;
const run = promisify(execFile);

/** Exit code of a lib.sh function called with these arguments. */
async function libCall(fn: string, ...args: string[]): Promise<number> {
  try {
    await run('bash', ['-c', `source "${LIB}"; ${fn} "$@"`, fn, ...args], { timeout: 10_000 });
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

function state(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

describe('pid_running, pid_gone, pidfile_pid (scripts/lib.sh)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-pid-running-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('count an unreaped child as gone, and a live process as running', async () => {
    await withZombie(async (pid, live) => {
      assert.equal(state(pid), 'Z', `pid ${pid} is a zombie`);
      assert.equal(await libCall('pid_gone', String(pid)), 0, 'pid_gone: a zombie is gone');
      assert.equal(await libCall('pid_running', String(pid)), 1, 'pid_running: a zombie does not run');
      const pidfile = path.join(dir, 'z.pid');
      writeFileSync(pidfile, `${pid}\n`);
      assert.equal(await libCall('pidfile_pid', pidfile), 1, "pidfile_pid: a zombie's pidfile names no live process");
      assert.equal(await libCall('pidfile_alive', pidfile), 1, 'pidfile_alive: the same');

      assert.equal(await libCall('pid_running', String(live)), 0, 'pid_running: the sleeping parent runs');
      assert.equal(await libCall('pid_gone', String(live)), 1);
      writeFileSync(pidfile, `${live}\n`);
      assert.equal(await libCall('pidfile_pid', pidfile, 'sleep 30'), 0);
      assert.equal(await libCall('pid_running', '999999999'), 1, 'no such process');
    });
  });
});
