import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { processRunning } from '../../../src/util/proc.js';
import { withZombie } from '../../support/zombie.js';

describe('processRunning', () => {
  it('is true for a live process and false for one that does not exist', () => {
    assert.equal(processRunning(process.pid), true);
    assert.equal(processRunning(2 ** 22 + 1), false, 'above pid_max');
  });

  it('is false for a zombie: exited, not yet reaped (kill(pid, 0) still succeeds on one)', async () => {
    await withZombie(async (pid) => {
      assert.doesNotThrow(() => process.kill(pid, 0), 'the zombie is still there for kill(pid, 0)');
      assert.equal(processRunning(pid), false);
    });
  });
});
