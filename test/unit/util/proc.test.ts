import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { processRunning } from '../../../src/util/proc.js';

describe('processRunning', () => {
  it('is true for a live process and false for one that does not exist', () => {
    assert.equal(processRunning(process.pid), true);
    assert.equal(processRunning(2 ** 22 + 1), false, 'above pid_max');
  });

  it('is false for a zombie: exited, not yet reaped (kill(pid, 0) still succeeds on one)', async () => {
    // sh starts a short sleep in the background and becomes a long one, which never reaps it
    // (the short one ends after the exec, so sh itself cannot reap it first).
    const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      const deadline = Date.now() + 5000;
      while (processRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.doesNotThrow(() => process.kill(pid, 0), 'the zombie is still there for kill(pid, 0)');
      assert.equal(processRunning(pid), false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
