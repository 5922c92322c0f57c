import { spawn } from 'node:child_process';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DovesnapError, ErrorCode } from '../../util/errors.js';

/**
 * An exclusive flock(2) on a file, held by this process. Node has no flock; util-linux's
 * flock(1), given our open descriptor as its fd 3, locks the open file description that we
 * share with it, and the lock outlives that short-lived child: it is ours until we close the
 * file (or die, when the kernel drops it, so a crashed build never leaves a stale lock).
 */
export interface HeldLock {
  release(): Promise<void>;
}

/** flock(1)'s exit code when the lock is held elsewhere: apart from its own error codes. */
const CONFLICT = 42;

function flockFd(handle: FileHandle, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', [...args, '3'], { stdio: ['ignore', 'ignore', 'pipe', handle.fd] });
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) =>
      reject(
        new DovesnapError(ErrorCode.HostCommand, `flock: ${e.message} (util-linux's flock is needed)`, { cause: e }),
      ),
    );
    child.on('close', (code) =>
      code === 0 || code === CONFLICT
        ? resolve(code)
        : reject(
            new DovesnapError(ErrorCode.HostCommand, `flock ${args.join(' ')} failed (exit ${code}): ${err.trim()}`),
          ),
    );
  });
}

/**
 * Takes the lock on `file` (created if missing), waiting at most `timeoutMs`; `onWait` is told
 * once when another holder makes us wait.
 */
export async function lockFile(file: string, timeoutMs: number, onWait?: () => void): Promise<HeldLock> {
  await mkdir(path.dirname(file), { recursive: true });
  const handle = await open(file, 'a');
  try {
    if ((await flockFd(handle, ['--exclusive', '--nonblock', '--conflict-exit-code', String(CONFLICT)])) !== 0) {
      onWait?.();
      const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
      if (
        (await flockFd(handle, [
          '--exclusive',
          '--wait',
          String(seconds),
          '--conflict-exit-code',
          String(CONFLICT),
        ])) !== 0
      ) {
        throw new DovesnapError(ErrorCode.Timeout, `${file} is still locked by another build after ${seconds} s`);
      }
    }
  } catch (err) {
    await handle.close();
    throw err;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await handle.close();
    },
  };
}
