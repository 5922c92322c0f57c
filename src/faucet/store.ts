/**
 * faucet.yaml on disk: render against the file as it is now, validate, write atomically, ask
 * FAUCET to reload, and report success only once FAUCET's metrics show the new file's hash.
 *
 * Writes are serialised and bursts coalesced, the newest desired state winning (LatestWins).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { readFaucetConfigState, type FaucetConfigState } from './metrics.js';
import { PORT_STATS_INTERVAL_S } from './initial-files.js';
import { renderFaucetConfig } from './render.js';
import type { ManagedFaucetState } from './types.js';
import { FaucetConfigInvalidError, validateFaucetConfig, type ConfigProblem } from './validate.js';
import { withLockFile } from '../util/lock-file.js';
import { failpoint } from '../util/failpoints.js';
import { LatestWins } from './latest-wins.js';
import { type PollStep, pollUntil } from './poll.js';
import { constants as osConstants } from 'node:os';

export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A snapshot, or a function evaluated just before rendering (to pick up the freshest state). */
export type DesiredFaucetState<D extends object = ManagedFaucetState> = D | (() => D);

/**
 * `D` is what `render` turns into the file's next text: dovesnap's DPs by default
 * (renderFaucetConfig); a lab's own ACLs (lab/faucet-acls.ts) are another kind of edit that
 * needs the same read, re-check, write, reload, confirm and restore.
 */
export interface FaucetConfigStoreOptions<D extends object = ManagedFaucetState> {
  readonly configPath: string;
  /** Ask FAUCET (and Gauge) to reload; see `pidfileReloader`. */
  readonly reload: () => Promise<void>;
  /** FAUCET's Prometheus endpoint, e.g. http://127.0.0.1:9302/metrics. */
  readonly metricsUrl?: string;
  /** Overrides how the state is read (tests); defaults to readFaucetConfigState(metricsUrl).
   * With neither this nor metricsUrl, writes are not confirmed. */
  readonly readState?: () => Promise<FaucetConfigState>;
  /**
   * How long FAUCET has at least to confirm a write (default 30 s: a cold start of a big DP is
   * slow). The window grows to CONFIRM_WINDOW_FACTOR times the last confirmed load's duration
   * when that is longer (up to MAX_CONFIRM_WINDOW_MS): FAUCET's reload of a DP grows with its
   * ports, and a write reported as failed while FAUCET is still loading it lets the next one land
   * on a busy FAUCET (whose port events it then reads late).
   */
  readonly confirmTimeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly clock?: Clock;
  /** Checks the rendered text before it is written (default validateFaucetConfig); may be async. */
  readonly validate?: (text: string) => readonly ConfigProblem[] | Promise<readonly ConfigProblem[]>;
  /**
   * Makes the file's next text from its current text (read just before, and again whenever the
   * file changed under a write). Pure, and must return `currentText` itself when nothing changes.
   * Default: renderFaucetConfig (only for D = ManagedFaucetState).
   */
  readonly render?: (currentText: string, desired: D) => string;
  /**
   * Whether a later text of the file still carries this write's change. Someone may write the
   * file again before FAUCET has loaded ours (FAUCET then loads theirs); with this, FAUCET
   * loading such a text confirms our write too, instead of waiting for a hash that never comes.
   * A later text without it (seen twice in a row) makes the store edit that text again.
   * undefined: cannot tell (e.g. not valid YAML). Default: rendering `desired` onto the later
   * text changes nothing (a `dovesnap lab` writing its ACLs right after the daemon's write keeps
   * the daemon's DPs: FAUCET loading the lab's text confirms the daemon's write).
   */
  readonly carries?: (laterText: string, desired: D) => boolean | undefined;
  /**
   * Hold the lock file writeLockPath(file) from the last re-check to the rename, as every writer
   * that sets this does (the daemon and `dovesnap lab`): between them, no write lands between
   * another's re-check and its rename, so none is lost. A stale lock (its process gone) is taken over.
   */
  readonly lockRenames?: boolean;
  /** Mode of the file when dovesnap creates it (an existing file keeps its own). */
  readonly newFileMode?: number;
  readonly logger?: Logger;
}

export interface ApplyResult {
  /** False if the file already held exactly the rendered text. */
  readonly written: boolean;
  /** True if FAUCET's metrics show it loaded this text; false when confirmation is off. */
  readonly confirmed: boolean;
  readonly sha256: string;
  /** How many `apply` calls this one write served (coalescing). */
  readonly callers: number;
}

/**
 * What the rest of dovesnap needs from FAUCET's configuration: FaucetConfigStore (the local
 * file) and RemoteFaucetStore (faucetconfrpc, remote-store.ts) are the real ones.
 */
export interface FaucetStore<D extends object = ManagedFaucetState> {
  read(): Promise<string>;
  apply(desired: DesiredFaucetState<D>): Promise<ApplyResult>;
}

interface CurrentFile {
  /** Where to write: the real path, so that a symlinked faucet.yaml stays a symlink. */
  readonly target: string;
  readonly text: string;
  readonly stats: Stats | undefined;
}

/** How many times one apply renders when the file keeps changing under it, before it gives up. */
const MAX_RENDERS = 5;

/** The confirmation window is at least this many times the last confirmed load's duration... */
export const CONFIRM_WINDOW_FACTOR = 3;
/** ...but never longer than this: a FAUCET that is down is still reported within ten minutes. */
export const MAX_CONFIRM_WINDOW_MS = 600_000;

/** How long FAUCET has to confirm a write: at least `minMs`, more after a slow load (see `confirmTimeoutMs`). */
export function confirmWindow(minMs: number, lastLoadMs: number | undefined): number {
  const scaled = CONFIRM_WINDOW_FACTOR * (lastLoadMs ?? 0);
  return Math.max(minMs, Math.min(MAX_CONFIRM_WINDOW_MS, Math.round(scaled)));
}

type Confirmation =
  | { readonly kind: 'loaded' }
  | { readonly kind: 'rejected'; readonly error: string }
  | { readonly kind: 'timeout'; readonly last: string }
  /** The file was replaced by a text without our change (see `carries`) before FAUCET loaded it. */
  | { readonly kind: 'lost' };

/** The lock file `lockRenames` holds around a rename of `target`. */
export function writeLockPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.write.lock`);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** True if FAUCET reports `sha` for `target`, or (FAUCET elsewhere, e.g. in a container with
 * other mount paths) for any file it loaded. */
export function isLoaded(state: FaucetConfigState, target: string, sha: string): boolean {
  const index = state.files.indexOf(target);
  return index >= 0 ? state.hashes[index] === sha : state.hashes.includes(sha);
}

/**
 * Does `state` describe a reload requested after `baseline`? FAUCET bumps its reload counter
 * after updating the hash metrics, so a higher count proves it. Without the counter, an error
 * counts only if it differs from the one already showing before.
 */
export function isFresh(state: FaucetConfigState, baseline: FaucetConfigState | undefined): boolean {
  if (baseline?.reloadRequests !== undefined && state.reloadRequests !== undefined) {
    return state.reloadRequests > baseline.reloadRequests;
  }
  return baseline === undefined || !baseline.loadError || baseline.error !== state.error;
}

export function describeState(state: FaucetConfigState): string {
  if (state.loadError) return `load error '${state.error}'`;
  const loaded = state.files.map((file, i) => `${file} (sha256 ${(state.hashes[i] ?? '').slice(0, 12)})`);
  return loaded.length > 0 ? `loaded ${loaded.join(', ')}` : 'no configuration loaded yet';
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replace `target` so that readers see either the old or the new content, never a mix, even
 * across a crash: write a temp file in the same directory (same filesystem, so rename is
 * atomic), fsync it, rename it over, fsync the directory. Keeps the old file's mode and owner.
 *
 * `stillCurrent` runs after the fsync, as late as possible before the rename: if it answers
 * false (someone else wrote `target` meanwhile), nothing is replaced and the result is false.
 * `critical` wraps that check and the rename, e.g. in a lock other writers take too (see
 * `lockRenames`), which closes the gap between the two.
 */
export async function writeFileAtomic(
  target: string,
  text: string,
  like: Stats | undefined,
  newFileMode = 0o644,
  stillCurrent: () => Promise<boolean> = async () => true,
  critical: (section: () => Promise<boolean>) => Promise<boolean> = (section) => section(),
): Promise<boolean> {
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  let renamed = false;
  try {
    try {
      await handle.writeFile(text, 'utf8');
      await handle.chmod(like === undefined ? newFileMode : like.mode & 0o7777);
      if (like !== undefined && (like.uid !== process.getuid?.() || like.gid !== process.getgid?.())) {
        // Only root may give the file back to its owner (e.g. a faucet user); others keep theirs.
        await handle.chown(like.uid, like.gid).catch(() => undefined);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    renamed = await critical(async () => {
      if (!(await stillCurrent())) return false;
      await rename(temp, target);
      return true;
    });
    if (!renamed) return false;
  } finally {
    if (!renamed) await unlink(temp).catch(() => undefined);
  }
  await syncDirectory(dir);
  return true;
}

export class FaucetConfigStore<D extends object = ManagedFaucetState> implements FaucetStore<D> {
  private readonly readState: (() => Promise<FaucetConfigState>) | undefined;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly pollMs: number;
  private readonly validate: (text: string) => readonly ConfigProblem[] | Promise<readonly ConfigProblem[]>;
  private readonly render: (currentText: string, desired: D) => string;
  private readonly writes = new LatestWins<DesiredFaucetState<D>, ApplyResult>((desired, callers) =>
    this.applyOnce(desired, callers),
  );
  /** sha256 FAUCET was last seen to load, so that unchanged applies need no round trip. */
  private confirmedSha: string | undefined;
  private writtenSha: string | undefined;
  /** How long FAUCET took, from the reload request, to show the last text it confirmed. */
  private lastLoadMs: number | undefined;

  /** sha256 of the text this store last wrote: a change of the file to it is our own. */
  get lastWrittenSha(): string | undefined {
    return this.writtenSha;
  }

  constructor(private readonly opts: FaucetConfigStoreOptions<D>) {
    const { metricsUrl } = opts;
    this.readState = opts.readState ?? (metricsUrl === undefined ? undefined : () => readFaucetConfigState(metricsUrl));
    this.clock = opts.clock ?? systemClock;
    this.timeoutMs = opts.confirmTimeoutMs ?? 30_000;
    this.pollMs = opts.pollIntervalMs ?? 250;
    this.validate = opts.validate ?? validateFaucetConfig;
    // Without `render`, D is ManagedFaucetState (the default type argument): the daemon's DPs.
    this.render = opts.render ?? (renderFaucetConfig as unknown as (currentText: string, desired: D) => string);
  }

  /** Whether writes wait for FAUCET's confirmation. */
  get confirms(): boolean {
    return this.readState !== undefined;
  }

  /** How long the next write waits for FAUCET's confirmation (see `confirmTimeoutMs`). */
  get confirmWindowMs(): number {
    return confirmWindow(this.timeoutMs, this.lastLoadMs);
  }

  /** The file's current text; '' if it does not exist. */
  async read(): Promise<string> {
    return (await this.current()).text;
  }

  /**
   * Make faucet.yaml hold `desired` (see DesiredFaucetState) and FAUCET run it. Resolves once
   * FAUCET confirmed (or at once if nothing changed and FAUCET already runs this text).
   * Rejects with FaucetInvalid (nothing written), FaucetRejected (FAUCET refused it; the
   * previous file was restored) or FaucetTimeout (no confirmation; the new file stays).
   */
  apply(desired: DesiredFaucetState<D>): Promise<ApplyResult> {
    return this.writes.submit(desired);
  }

  private async current(): Promise<CurrentFile> {
    const path = this.opts.configPath;
    let target: string;
    try {
      target = await realpath(path);
    } catch (err) {
      if (isEnoent(err)) return { target: path, text: '', stats: undefined };
      throw err;
    }
    const [bytes, stats] = await Promise.all([readFile(target), stat(target)]);
    try {
      // FAUCET hashes the text it decoded as UTF-8; a lossy decode here would rewrite bytes.
      return { target, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), stats };
    } catch {
      throw new DovesnapError(ErrorCode.FaucetInvalid, `${target} is not valid UTF-8; dovesnap will not rewrite it`);
    }
  }

  private async applyOnce(desired: DesiredFaucetState<D>, callers: number): Promise<ApplyResult> {
    const log = this.opts.logger;
    for (let render = 1; ; render += 1) {
      const before = await this.current();
      const managed = typeof desired === 'function' ? desired() : desired;
      const next = this.render(before.text, managed);
      const sha = sha256Hex(next);

      if (next === before.text) {
        if (this.readState === undefined) return { written: false, confirmed: false, sha256: sha, callers };
        if (this.confirmedSha !== sha && !(await this.alreadyLoaded(before.target, sha))) {
          // Unchanged, but FAUCET was never seen running it (an earlier apply timed out, or the
          // operator edited the file without a reload): reload now. Nothing to restore to.
          log?.info(
            { path: before.target, sha256: sha },
            'faucet.yaml unchanged but not confirmed loaded; reloading FAUCET',
          );
          if ((await this.reloadAndConfirm(before.target, next, sha, managed, undefined)) === 'lost') {
            if (render >= MAX_RENDERS) throw this.lostError(before.target, render);
            continue;
          }
        }
        this.confirmedSha = sha;
        return { written: false, confirmed: true, sha256: sha, callers };
      }

      const errors = (await this.validate(next)).filter((problem) => problem.severity === 'error');
      if (errors.length > 0) throw new FaucetConfigInvalidError(errors, `refusing to write ${before.target}`);

      // Reading FAUCET's metrics can take seconds: an operator may save the file meanwhile.
      const baseline = this.readState === undefined ? undefined : await this.readState().catch(() => undefined);
      await failpoint('faucet.beforeWrite');
      this.writtenSha = sha;
      if (
        !(await writeFileAtomic(
          before.target,
          next,
          before.stats,
          this.opts.newFileMode,
          () => this.unchangedSince(before),
          this.critical(before.target),
        ))
      ) {
        if (render >= MAX_RENDERS) {
          throw new DovesnapError(
            ErrorCode.FaucetTimeout,
            `${before.target} changed under dovesnap ${render} times in a row while it rendered its entries; nothing was written, so that the other writer's changes stay (dovesnap tries again at its next change)`,
          );
        }
        log?.warn(
          { path: before.target, render },
          'faucet.yaml changed since dovesnap read it; rendering again from the new text instead of overwriting it',
        );
        continue;
      }
      log?.info({ path: before.target, sha256: sha, callers }, 'wrote faucet.yaml');
      await failpoint('faucet.afterWrite');
      if (this.readState === undefined) {
        await this.requestReload(before.target);
        return { written: true, confirmed: false, sha256: sha, callers };
      }
      if ((await this.reloadAndConfirm(before.target, next, sha, managed, { before, baseline })) === 'lost') {
        if (render >= MAX_RENDERS) throw this.lostError(before.target, render);
        log?.warn(
          { path: before.target, render },
          'faucet.yaml was replaced without our change before FAUCET loaded it; rendering again from the new text',
        );
        continue;
      }
      this.confirmedSha = sha;
      return { written: true, confirmed: true, sha256: sha, callers };
    }
  }

  private lostError(target: string, times: number): DovesnapError {
    return new DovesnapError(
      ErrorCode.FaucetTimeout,
      `${target} was replaced by another writer without this change ${times} times in a row before FAUCET loaded it; giving up`,
    );
  }

  /** The lock around the re-check and the rename, when `lockRenames` asks for one. */
  private critical(target: string): ((section: () => Promise<boolean>) => Promise<boolean>) | undefined {
    if (this.opts.lockRenames !== true) return undefined;
    // Held for milliseconds by anyone else: a long wait means a stuck writer, and is an error.
    return (section) =>
      withLockFile(
        writeLockPath(target),
        { timeoutMs: 10_000, pollMs: 5, what: `${target} (the rename of another writer)` },
        section,
      );
  }

  /** Whether the file is still the one `before` read: same content, and the same file (inode), so a rewrite with equal bytes counts too. */
  private async unchangedSince(before: CurrentFile): Promise<boolean> {
    const now = await this.current();
    return (
      now.target === before.target &&
      now.text === before.text &&
      now.stats?.dev === before.stats?.dev &&
      now.stats?.ino === before.stats?.ino
    );
  }

  private async alreadyLoaded(target: string, sha: string): Promise<boolean> {
    const state = await this.readState?.().catch(() => undefined);
    return state !== undefined && isLoaded(state, target, sha);
  }

  private async requestReload(target: string): Promise<void> {
    try {
      await this.opts.reload();
    } catch (err) {
      throw new DovesnapError(
        ErrorCode.FaucetTimeout,
        `${target} is written but FAUCET could not be asked to reload it (${errorMessage(err)}); FAUCET may be down, and will load the file when it starts`,
        { cause: err },
      );
    }
  }

  /** `restore` is what to put back if FAUCET rejects the text; undefined: nothing to restore. */
  private async reloadAndConfirm(
    target: string,
    text: string,
    sha: string,
    desired: D,
    restore: { before: CurrentFile; baseline: FaucetConfigState | undefined } | undefined,
  ): Promise<'loaded' | 'lost'> {
    const baseline = restore === undefined ? await this.readState?.().catch(() => undefined) : restore.baseline;
    const window = this.confirmWindowMs;
    const requested = this.clock.now();
    await this.requestReload(target);
    await failpoint('faucet.confirm');
    const outcome = await this.waitForLoad(target, text, sha, desired, baseline, requested + window);
    if (outcome.kind === 'loaded') {
      this.lastLoadMs = this.clock.now() - requested;
      this.opts.logger?.info({ path: target, sha256: sha, ms: this.lastLoadMs }, 'FAUCET confirmed the configuration');
      return 'loaded';
    }
    if (outcome.kind === 'lost') return 'lost';
    if (outcome.kind === 'timeout') {
      throw new DovesnapError(
        ErrorCode.FaucetTimeout,
        `FAUCET did not confirm loading ${target} (sha256 ${sha.slice(0, 12)}) within ${window} ms; the new file stays in place (FAUCET may be down or slow, and loads it when it starts); last seen: ${outcome.last}`,
      );
    }
    const restored =
      restore === undefined
        ? 'there was no previous version to restore'
        : await this.restore(target, text, restore.before);
    throw new DovesnapError(ErrorCode.FaucetRejected, `FAUCET rejected ${target}: ${outcome.error}; ${restored}`);
  }

  private async waitForLoad(
    target: string,
    text: string,
    sha: string,
    desired: D,
    baseline: FaucetConfigState | undefined,
    deadline: number,
  ): Promise<Confirmation> {
    const readState = this.readState;
    if (readState === undefined) return { kind: 'loaded' };
    /** A text without our change, seen once: it counts as lost only when seen again at the next poll (not a torn read of a save in progress). */
    let without: string | undefined;
    const r = await pollUntil(this.clock, this.pollMs, deadline, async (): Promise<PollStep<Confirmation>> => {
      try {
        const state = await readState();
        if (isLoaded(state, target, sha)) return { done: { kind: 'loaded' } };
        const successor = await this.successor(state, target, text, desired);
        if (successor?.kind === 'loaded') return { done: { kind: 'loaded' } };
        if (successor?.kind === 'without' && successor.text === without) return { done: { kind: 'lost' } };
        without = successor?.kind === 'without' ? successor.text : undefined;
        if (state.loadError && state.error !== '' && isFresh(state, baseline))
          return { done: { kind: 'rejected', error: state.error } };
        return { last: describeState(state) };
      } catch (err) {
        return { last: errorMessage(err) };
      }
    });
    return 'done' in r ? r.done : { kind: 'timeout', last: r.timedOut };
  }

  /**
   * The file was written again since our write: 'loaded' if the new text
   * still carries our change and FAUCET runs it, 'without' (and the text) if it no longer
   * carries it; undefined while it cannot tell.
   */
  private async successor(
    state: FaucetConfigState,
    target: string,
    ours: string,
    desired: D,
  ): Promise<{ kind: 'loaded' } | { kind: 'without'; text: string } | undefined> {
    const carries =
      this.opts.carries ??
      ((later: string, d: D): boolean | undefined => {
        try {
          return this.render(later, d) === later;
        } catch {
          return undefined;
        }
      });
    const now = await this.current().catch(() => undefined);
    if (now === undefined || now.text === ours) return undefined;
    const verdict = carries(now.text, desired);
    if (verdict === false) return { kind: 'without', text: now.text };
    return verdict === true && isLoaded(state, target, sha256Hex(now.text)) ? { kind: 'loaded' } : undefined;
  }

  /** Puts the previous file back (unless someone changed the file since) and reloads. */
  private async restore(target: string, ours: string, before: CurrentFile): Promise<string> {
    const log = this.opts.logger;
    try {
      const now = await this.current();
      const changed = (): string => {
        log?.warn({ path: target }, 'faucet.yaml changed after our write; not restoring');
        return 'the file changed after dovesnap wrote it, so it was left as it is';
      };
      if (now.text !== ours) return changed();
      if (before.stats === undefined) await unlink(target);
      else if (
        !(await writeFileAtomic(
          target,
          before.text,
          before.stats,
          undefined,
          () => this.unchangedSince(now),
          this.critical(target),
        ))
      )
        return changed();
    } catch (err) {
      log?.error({ path: target, err }, 'restoring faucet.yaml failed');
      return `restoring the previous file failed: ${errorMessage(err)}`;
    }
    try {
      await this.opts.reload();
    } catch (err) {
      log?.warn({ path: target, err }, 'reloading FAUCET after restoring faucet.yaml failed');
      return `the previous file was restored, but FAUCET could not be asked to reload it (${errorMessage(err)})`;
    }
    return 'the previous file was restored';
  }
}

/**
 * Sends `signal` to the process whose id `pidfile` holds. Refuses ids 0 and 1 and anything that
 * is not a plain number: kill(0) and kill(-1) would signal whole process groups.
 */
export async function signalFromPidfile(
  pidfile: string,
  signal: NodeJS.Signals = 'SIGHUP',
  opts: { handlerWaitMs?: number } = {},
): Promise<number> {
  let content: string;
  try {
    content = await readFile(pidfile, 'utf8');
  } catch (err) {
    throw new DovesnapError(ErrorCode.HostCommand, `cannot read pidfile ${pidfile}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const text = content.trim();
  const pid = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(pid) || pid <= 1) {
    throw new DovesnapError(
      ErrorCode.HostCommand,
      `pidfile ${pidfile} does not hold a usable process id: '${text.slice(0, 40)}'`,
    );
  }
  // A reload request only: a FAUCET or Gauge that has just started has not installed its SIGHUP
  // handler yet, and the default action of SIGHUP is to terminate: signalled then, it would die (seen when `make up`
  // restarted Gauge during a burst of container starts).
  if (signal === 'SIGHUP' && !(await waitHandled(pid, signal, opts.handlerWaitMs ?? 10_000))) {
    throw new DovesnapError(
      ErrorCode.HostCommand,
      `process ${pid} from ${pidfile} has not installed a ${signal} handler (still starting?); not signalled, since ${signal} would end it`,
    );
  }
  try {
    process.kill(pid, signal);
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'ESRCH'
        ? 'is not running (stale pidfile?)'
        : `cannot be signalled: ${errorMessage(err)}`;
    throw new DovesnapError(ErrorCode.HostCommand, `process ${pid} from ${pidfile} ${why}`, { cause: err });
  }
  return pid;
}

/** Whether the process catches `signal` (SigCgt in /proc/PID/status), waiting up to `ms` for it to. Unknown (no /proc entry): true, and kill reports. */
async function waitHandled(pid: number, signal: NodeJS.Signals, ms: number): Promise<boolean> {
  const bit = BigInt(osConstants.signals[signal]) - 1n;
  const deadline = Date.now() + ms;
  for (;;) {
    let status: string;
    try {
      status = await readFile(`/proc/${pid}/status`, 'utf8');
    } catch {
      return true;
    }
    const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (caught === undefined || ((BigInt(`0x${caught}`) >> bit) & 1n) === 1n) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * How far apart Gauge's SIGHUPs are. Every reload stops Gauge's pollers and starts new ones,
 * which wait a random 1 s to one interval before their first request: reloaded more often than
 * its port-stats interval, Gauge never polls a counter (seen: no port counters for minutes while
 * containers came and went). Spaced wider than that interval, every poller polls between reloads.
 */
export const GAUGE_RELOAD_SPACING_MS = (PORT_STATS_INTERVAL_S + 5) * 1000;

/**
 * The `reload` the daemon hands to FaucetConfigStore: SIGHUP FAUCET (a failure is the store's
 * error) and, if given, Gauge, whose failure is only logged since monitoring is not forwarding.
 * Gauge's signals are spaced at least `gaugeMinIntervalMs` apart (default
 * GAUGE_RELOAD_SPACING_MS), and the last change always reaches it: during a burst of containers
 * it reloads once per spacing, not once per container, and its pollers keep polling.
 */
export function pidfileReloader(opts: {
  readonly faucetPidfile: string;
  readonly gaugePidfile?: string;
  readonly gaugeMinIntervalMs?: number;
  readonly logger?: Logger;
  /** Sends the reload request to the process in the pidfile (default: SIGHUP, see signalFromPidfile). */
  readonly signal?: (pidfile: string) => Promise<unknown>;
}): () => Promise<void> {
  const gaugePidfile = opts.gaugePidfile;
  const minInterval = opts.gaugeMinIntervalMs ?? GAUGE_RELOAD_SPACING_MS;
  const signal = opts.signal ?? (async (pidfile: string) => signalFromPidfile(pidfile, 'SIGHUP'));
  let lastGauge = 0;
  let pending: NodeJS.Timeout | undefined;
  const hupGauge = async (): Promise<void> => {
    if (gaugePidfile === undefined) return;
    lastGauge = Date.now();
    try {
      await signal(gaugePidfile);
    } catch (err) {
      opts.logger?.warn({ err }, 'could not ask Gauge to reload');
    }
  };
  return async () => {
    await signal(opts.faucetPidfile);
    if (gaugePidfile === undefined || pending !== undefined) return;
    const wait = lastGauge + minInterval - Date.now();
    if (wait <= 0) {
      await hupGauge();
      return;
    }
    pending = setTimeout(() => {
      pending = undefined;
      void hupGauge();
    }, wait);
    pending.unref();
  };
}
