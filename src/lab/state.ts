import { open, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePrivateDirAsync } from '../util/private-dir.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { labStateDir } from '../config/environment.js';
import { processRunning } from '../util/proc.js';

/**
 * What a lab has made, kept beside Docker's labels: the state file is written after every
 * object `up` makes, so that a `down` after a crash finds even an object whose labels it could
 * not read, and `status` can say which file a lab came from.
 */

export interface LabObjectState {
  readonly id: string;
  readonly dockerName: string;
  readonly hash: string;
}

export interface LabState {
  readonly version: 1;
  readonly name: string;
  /** The file of the last `up`. */
  readonly file: string;
  readonly updated: string;
  readonly networks: Readonly<Record<string, LabObjectState>>;
  readonly nodes: Readonly<Record<string, LabObjectState>>;
}

function statePath(name: string): string {
  return join(labStateDir(), `${name}.json`);
}

export function emptyLabState(name: string, file: string): LabState {
  return { version: 1, name, file, updated: new Date().toISOString(), networks: {}, nodes: {} };
}

export async function readLabState(name: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath(name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const s = JSON.parse(text) as LabState;
    if (s.version !== 1 || s.name !== name) throw new Error('not a version 1 state of this lab');
    return s;
  } catch (err) {
    throw new DovesnapError(
      ErrorCode.Internal,
      `${statePath(name)} is damaged (${(err as Error).message}); remove it, then \`dovesnap lab down ${name}\` finds the lab's objects by their labels`,
    );
  }
}

export async function writeLabState(state: LabState): Promise<void> {
  await makePrivateDirAsync(labStateDir());
  const path = statePath(state.name);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ ...state, updated: new Date().toISOString() }, null, 2)}\n`);
  await rename(tmp, path);
}

export async function removeLabState(name: string): Promise<void> {
  await unlink(statePath(name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

export async function labNamesWithState(): Promise<string[]> {
  try {
    return (await readdir(labStateDir())).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * One `up` or `down` of a lab at a time: a lock file holding the owner's PID. A lock whose
 * owner is gone (a killed `up`) is taken over.
 */
export async function lockLab(name: string): Promise<() => Promise<void>> {
  await makePrivateDirAsync(labStateDir());
  const path = join(labStateDir(), `${name}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && processRunning(owner)) {
        throw new DovesnapError(
          ErrorCode.Conflict,
          `lab ${name} is being changed by another dovesnap lab (pid ${owner}); wait for it, or remove ${path} if that process is not dovesnap`,
        );
      }
      await unlink(path).catch(() => undefined);
    }
  }
  throw new DovesnapError(ErrorCode.Conflict, `could not lock lab ${name}`);
}
