import { spawn } from 'node:child_process';
import { processRunning } from '../../src/util/proc.js';

/**
 * Runs `fn` with the pid of a zombie, a process that has exited and that its parent never reaps,
 * and the pid of that parent (a live `sleep 30`).
 * sh starts a short sleep in the background and becomes a long one (exec), which never waits for
 * it; the short one ends after the exec, so sh itself cannot reap it first.
 */
export async function withZombie<T>(fn: (pid: number, parent: number) => Promise<T>): Promise<T> {
  const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    const deadline = Date.now() + 5000;
    while (processRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return await fn(pid, parent.pid ?? 0);
  } finally {
    parent.kill('SIGKILL');
  }
}
