import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { DovesnapError, ErrorCode } from '../../util/errors.js';
import type { DebianRecipe } from './recipes.js';
import { childEnvironment, executablePath, type Environment } from '../../config/environment.js';

/** Where Debian's mmdebstrap package keeps its hook directories. */
export const MMDEBSTRAP_HOOKS = '/usr/share/mmdebstrap/hooks';

/** The first `name` on `pathEnv` that is executable, or undefined. */
export function findExecutable(name: string, pathEnv: string | undefined): string | undefined {
  for (const dir of (pathEnv ?? '').split(':')) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** mmdebstrap's path, or an error that says how to get it. */
export function requireMmdebstrap(env?: Environment): string {
  const found = findExecutable('mmdebstrap', executablePath(env));
  if (found === undefined) {
    throw new DovesnapError(
      ErrorCode.NotFound,
      'mmdebstrap is not installed (the frr and capture lab images are built from Debian packages with it): run `make up`, which installs it, or `apt-get install mmdebstrap`',
    );
  }
  return found;
}

export interface MmdebstrapPlan {
  /** Host files the customize hooks upload, one per recipe file: [host path, content]. */
  readonly uploads: ReadonlyArray<{ readonly hostFile: string; readonly content: string }>;
  readonly args: readonly string[];
}

/** Shell-quotes one word for a hook that mmdebstrap runs under sh. */
function sq(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * mmdebstrap's command line for a recipe: `sourcesFile` is a deb822 `.sources` file, `workDir`
 * holds the files to upload, and the root file system goes to `tarFile`.
 */
export function mmdebstrapArgs(
  spec: DebianRecipe,
  sourcesFile: string,
  workDir: string,
  tarFile: string,
): MmdebstrapPlan {
  const args: string[] = [`--variant=${spec.variant}`, '--format=tar'];
  for (const dir of spec.hookDirs) args.push(`--hook-dir=${path.join(MMDEBSTRAP_HOOKS, dir)}`);
  args.push(`--include=${spec.packages.join(',')}`);
  for (const glob of spec.excludes) args.push(`--dpkgopt=path-exclude=${glob}`);
  const uploads: { hostFile: string; content: string }[] = [];
  spec.files.forEach((f, i) => {
    const hostFile = path.join(workDir, `file-${i}`);
    uploads.push({ hostFile, content: f.content });
    args.push(`--customize-hook=mkdir -p "$1"${sq(path.posix.dirname(f.path))}`);
    args.push(`--customize-hook=upload ${hostFile} ${f.path}`);
    args.push(`--customize-hook=chmod ${f.mode.toString(8)} "$1"${sq(f.path)}`);
  });
  // Logs and caches of the build itself: not part of what the image is.
  args.push(
    '--customize-hook=rm -f "$1"/var/log/dpkg.log "$1"/var/log/alternatives.log "$1"/var/log/apt/* "$1"/var/cache/debconf/*-old "$1"/var/cache/ldconfig/aux-cache',
  );
  args.push(spec.suite, tarFile, sourcesFile);
  return { uploads, args };
}

export interface RunOptions {
  readonly onLine?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** TMPDIR for mmdebstrap's temporary chroot: inside the build's own directory. */
  readonly tmpDir: string;
}

/**
 * Runs mmdebstrap; resolves when it succeeded. Its status lines (`I: …`, `W: …`, `E: …`) go to
 * onLine; on failure the error carries the last of them.
 */
export function runMmdebstrap(file: string, args: readonly string[], opts: RunOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnvironment({ TMPDIR: opts.tmpDir, LC_ALL: 'C.UTF-8' }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal, killSignal: 'SIGTERM' }),
    });
    const tail: string[] = [];
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      for (let nl = buf.search(/[\r\n]/); nl >= 0; nl = buf.search(/[\r\n]/)) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        // Status lines only; dpkg's and apt's chatter (hooks run apt-get) stays in the error's tail.
        if (/^[IWE]: /.test(line)) opts.onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) =>
      reject(new DovesnapError(ErrorCode.HostCommand, `mmdebstrap: ${err.message}`, { cause: err })),
    );
    child.on('close', (code, sig) => {
      if (code === 0) resolve();
      else
        reject(
          new DovesnapError(
            ErrorCode.HostCommand,
            `mmdebstrap failed (${sig ?? `exit ${code}`}):\n  ${tail.join('\n  ')}`,
          ),
        );
    });
  });
}
