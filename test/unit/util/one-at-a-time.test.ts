import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { oneAtATime } from '../../../src/util/one-at-a-time.js';

describe('oneAtATime', () => {
  it('never overlaps passes, and runs one more pass (latest reason) for every burst of calls meanwhile', async () => {
    const seen: string[] = [];
    let active = 0;
    let release: (() => void) | undefined;
    const run = oneAtATime(async (reason) => {
      active += 1;
      assert.equal(active, 1, 'no overlap');
      seen.push(reason);
      if (reason === 'first') await new Promise<void>((r) => (release = r));
      active -= 1;
    });
    const first = run('first');
    const second = run('second');
    const third = run('third');
    await new Promise((r) => setImmediate(r));
    release?.();
    await Promise.all([first, second, third]);
    assert.deepEqual(seen, ['first', 'third']);
    await run('later');
    assert.deepEqual(seen, ['first', 'third', 'later']);
  });
});
