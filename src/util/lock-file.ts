/**
 * A lock between processes that waits: a file created with O_EXCL holding the owner's PID.
 * Node has no flock(2); this is the portable form, and it survives a killed owner: a lock whose
 * PID is gone is taken over.
 *
 * Used where two `dovesnap lab` processes edit one shared file (lab/faucet-acls.ts): the second
 * waits for the first instead of failing. Not re-entrant: a process that takes a lock it already
 * holds waits for itself until the timeout.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';

import { DovesnapError, ErrorCode, errorMessage } from './errors.js';
import { processRunning } from './proc.js';

export interface LockFileOptions {
  /** How long to wait for another holder (default 120 s). */
  readonly timeoutMs?: number;
  /** Between attempts (default 50 ms, with jitter so that waiters do not march in step). */
  readonly pollMs?: number;
  /** For the error: what the lock protects, e.g. "faucet.yaml's lab ACLs". */
  readonly what?: string;
  /** A lock file still empty after this long was left by a writer killed between create and write (default 10 s). */
  readonly emptyStaleMs?: number;
}

/** Releases the lock; a no-op when it is no longer ours (taken over as stale). */
export type ReleaseLock = () => Promise<void>;

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

interface Holder {
  readonly pid: number | undefined;
  readonly ino: number;
  readonly ageMs: number;
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const trimmed = text.trim();
    const pid = /^\d+$/.test(trimmed) ? Number(trimmed) : undefined;
    return { pid, ino: st.ino, ageMs: Date.now() - st.mtimeMs };
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/**
 * Moves a stale lock away, atomically (rename), and checks that what moved is the file judged
 * stale: if another waiter broke it first and a live process made a new lock meanwhile, that
 * new lock is put back (link fails rather than overwrite a third one).
 */
async function breakStale(path: string, stale: Holder): Promise<void> {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    throw err;
  }
  try {
    // The inode alone could be a new file's (file systems reuse inode numbers at once): the PID too.
    const moved = await readHolder(aside);
    if (moved !== undefined && (moved.ino !== stale.ino || moved.pid !== stale.pid))
      await link(aside, path).catch(() => undefined);
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

/** Takes the lock at `path`, waiting for its holder; throws Conflict after `timeoutMs`. */
export async function acquireLockFile(path: string, opts: LockFileOptions = {}): Promise<ReleaseLock> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const pollMs = opts.pollMs ?? 50;
  const emptyStaleMs = opts.emptyStaleMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let created = false;
    try {
      const handle = await open(path, 'wx', 0o600);
      created = true;
      try {
        await handle.writeFile(`${process.pid}\n`);
        const ino = (await handle.stat()).ino;
        return async () => {
          // Only our own file: after a takeover (we were judged dead) it is someone else's.
          const now = await readHolder(path).catch(() => undefined);
          if (now?.ino === ino && now.pid === process.pid) await unlink(path).catch(() => undefined);
        };
      } finally {
        await handle.close();
      }
    } catch (err) {
      if (created || !isCode(err, 'EEXIST')) {
        if (created) await unlink(path).catch(() => undefined);
        throw new DovesnapError(ErrorCode.HostCommand, `cannot create lock file ${path}: ${errorMessage(err)}`, {
          cause: err,
        });
      }
    }
    const holder = await readHolder(path);
    if (holder === undefined) continue;
    const stale =
      holder.pid === undefined
        ? holder.ageMs > emptyStaleMs
        : holder.pid !== process.pid && !processRunning(holder.pid);
    if (stale) {
      await breakStale(path, holder);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder.pid === undefined ? 'a process that has not written its id yet' : `process ${holder.pid}`;
      throw new DovesnapError(
        ErrorCode.Conflict,
        `${opts.what ?? path} stayed locked by ${who} for ${Math.round(timeoutMs / 1000)} s (lock file ${path}); wait for it, or remove the file if that process is not dovesnap`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs / 2 + Math.random() * pollMs));
  }
}

/** Runs `fn` holding the lock at `path`. */
export async function withLockFile<T>(path: string, opts: LockFileOptions, fn: () => Promise<T>): Promise<T> {
  const release = await acquireLockFile(path, opts);
  try {
    return await fn();
  } finally {
    await release();
  }
}
