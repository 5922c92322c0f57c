import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Makes `dir` private to root (0700), creating missing parents with the usual mode (0777 less the
 * umask). mkdir's own `recursive` applies the mode to every directory it creates, so the first
 * state directory made under a fresh /var/lib/dovesnap would shut that whole tree to other
 * users: Prometheus, running as its own user, then could not reach storage kept beside it.
 */
export function makePrivateDir(dir: string): void {
  mkdirSync(path.dirname(dir), { recursive: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** makePrivateDir, without blocking the event loop. */
export async function makePrivateDirAsync(dir: string): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
}
