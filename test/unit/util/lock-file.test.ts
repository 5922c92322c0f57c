import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { acquireLockFile, withLockFile } from '../../../src/util/lock-file.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { withZombie } from '../../support/zombie.js';

const run = promisify(execFile);
const LOCK_MODULE = fileURLToPath(new URL('../../../src/util/lock-file.js', import.meta.url));

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dovesnap-lock-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('acquireLockFile', () => {
  it('excludes other processes: four of them incrementing one file under the lock lose no increment', async () => {
    const counter = join(dir, 'counter');
    const lock = join(dir, 'counter.lock');
    await writeFile(counter, '0');
    // A read-modify-write with a pause in the middle: without the lock, increments get lost.
    const script = `
      const { withLockFile } = await import(${JSON.stringify(LOCK_MODULE)});
      const fs = await import('node:fs/promises');
      for (let i = 0; i < 15; i++) {
        await withLockFile(${JSON.stringify(lock)}, { pollMs: 5 }, async () => {
          const n = Number(await fs.readFile(${JSON.stringify(counter)}, 'utf8'));
          await new Promise((r) => setTimeout(r, 2));
          await fs.writeFile(${JSON.stringify(counter)}, String(n + 1));
        });
      }`;
    await Promise.all([1, 2, 3, 4].map(() => run(process.execPath, ['--input-type=module', '-e', script])));
    assert.equal(await readFile(counter, 'utf8'), '60');
    await assert.rejects(stat(lock), /ENOENT/);
  });

  it("times out with Conflict naming the holder; a dead holder's lock is taken over; release leaves another's lock alone", async () => {
    const lock = join(dir, 'x.lock');
    const release = await acquireLockFile(lock);
    await assert.rejects(
      acquireLockFile(lock, { timeoutMs: 100, what: 'the thing' }),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.Conflict) &&
        err.message.startsWith(`the thing stayed locked by process ${process.pid}`),
    );
    await release();
    const { stdout } = await run(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    await writeFile(lock, `${stdout}\n`); // its owner has exited
    const mine = await acquireLockFile(lock, { timeoutMs: 1000 });
    assert.equal((await readFile(lock, 'utf8')).trim(), String(process.pid));
    // Someone judged us dead and took the lock: our release must not remove theirs.
    await rm(lock);
    await writeFile(lock, '1\n');
    await mine();
    assert.equal(await readFile(lock, 'utf8'), '1\n');
    await rm(lock);
    assert.equal(await withLockFile(lock, {}, async () => 42), 42);
  });

  it('takes over the lock of a holder that exited and was not reaped yet (a zombie)', async () => {
    await withZombie(async (pid) => {
      assert.doesNotThrow(() => process.kill(pid, 0), 'the holder is a zombie, there for kill(pid, 0)');
      const lock = join(dir, 'zombie.lock');
      await writeFile(lock, `${pid}\n`);
      const release = await acquireLockFile(lock, { timeoutMs: 1000 });
      assert.equal((await readFile(lock, 'utf8')).trim(), String(process.pid));
      await release();
    });
  });
});
