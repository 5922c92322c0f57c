import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, lstat, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';

import { readFaucetConfigState } from '../../../src/faucet/metrics.js';
import { renderFaucetConfig } from '../../../src/faucet/render.js';
import {
  FaucetConfigStore,
  sha256Hex,
  signalFromPidfile,
  writeLockPath,
  type Clock,
  type FaucetConfigStoreOptions,
} from '../../../src/faucet/store.js';
import type { FaucetDpSpec, ManagedFaucetState } from '../../../src/faucet/types.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { FakeFaucet, type FaucetJudge } from '../../fakes/fake-faucet.js';
import { acquireLockFile } from '../../../src/util/lock-file.js';
import { fixture, NET1, NET2, state } from './specs.js';

const OPERATOR = fixture('operator.yaml');

/** Virtual time: sleeping advances the clock at once, so long timeouts cost nothing. */
class FakeClock implements Clock {
  private t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

interface Rig {
  readonly dir: string;
  readonly path: string;
  readonly fake: FakeFaucet;
  readonly store: FaucetConfigStore;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(
  opts: {
    initial?: string | null;
    mode?: number;
    judge?: FaucetJudge;
    reloadDelayMs?: number;
    store?: Partial<FaucetConfigStoreOptions>;
  } = {},
): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'dovesnap-store-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'faucet.yaml');
  const initial = opts.initial === undefined ? OPERATOR : opts.initial;
  if (initial !== null) {
    await writeFile(path, initial);
    await chmod(path, opts.mode ?? 0o640);
  }
  const fake = await FakeFaucet.start({
    configPath: path,
    ...(opts.judge && { judge: opts.judge }),
    ...(opts.reloadDelayMs !== undefined && { reloadDelayMs: opts.reloadDelayMs }),
  });
  cleanups.push(() => fake.close());
  const store = new FaucetConfigStore({
    configPath: path,
    reload: () => fake.reload(),
    metricsUrl: fake.metricsUrl,
    pollIntervalMs: 2,
    confirmTimeoutMs: 5000,
    ...opts.store,
  });
  return { dir, path, fake, store };
}

/** NET1 with `n` extra container ports: a family of distinct desired states. */
function withPorts(n: number): ManagedFaucetState {
  const ports = Array.from({ length: n }, (_, i) => ({ number: 100 + i, description: `c${i}`, nativeVlan: 300 }));
  const dp: FaucetDpSpec = { ...NET1, ports: [...NET1.ports, ...ports] };
  return state([dp]);
}

const isCode =
  (code: string, pattern?: RegExp) =>
  (err: unknown): boolean =>
    isDovesnapError(err) && err.code === code && (pattern === undefined || pattern.test(err.message));

describe('FaucetConfigStore.apply', () => {
  it('writes atomically, keeps the mode, leaves no temp file, and is confirmed by FAUCET', async () => {
    const { dir, path, fake, store } = await rig({ mode: 0o640 });
    const result = await store.apply(state([NET1, NET2]));
    const text = await readFile(path, 'utf8');
    assert.equal(text, renderFaucetConfig(OPERATOR, state([NET1, NET2])));
    assert.deepEqual(result, { written: true, confirmed: true, sha256: sha256Hex(text), callers: 1 });
    assert.equal((await stat(path)).mode & 0o7777, 0o640);
    assert.deepEqual(await readdir(dir), ['faucet.yaml']);
    assert.equal(fake.reloadCalls, 1);
    assert.equal(await store.read(), text);
  });

  it('never lets a reader see a partial file', async () => {
    const { path, store } = await rig();
    const complete = new Set([
      OPERATOR,
      ...Array.from({ length: 30 }, (_, i) => renderFaucetConfig(OPERATOR, withPorts(i * 10))),
    ]);
    let stop = false;
    let reads = 0;
    const reader = (async () => {
      while (!stop) {
        const seen = await readFile(path, 'utf8');
        reads += 1;
        assert.ok(complete.has(seen), `a reader saw a partial or unexpected file (${seen.length} bytes)`);
      }
    })();
    for (let i = 0; i < 30; i += 1) await store.apply(withPorts(i * 10));
    stop = true;
    await reader;
    assert.ok(reads > 30, `reader only managed ${reads} reads`);
  });

  it('does nothing when the rendered text is unchanged', async () => {
    const { path, fake, store } = await rig();
    await store.apply(state([NET1]));
    const before = await stat(path);
    const again = await store.apply(state([NET1]));
    assert.equal(again.written, false);
    assert.equal(again.confirmed, true);
    assert.equal(fake.reloadCalls, 1);
    assert.equal((await stat(path)).mtimeMs, before.mtimeMs);
  });

  it('coalesces a burst into one write of the newest state, and every caller resolves', async () => {
    const { path, fake, store } = await rig({ reloadDelayMs: 20 });
    const first = store.apply(withPorts(1));
    await new Promise((resolve) => setTimeout(resolve, 5)); // the first write is now in flight
    const burst = Array.from({ length: 10 }, (_, i) => store.apply(withPorts(i + 2)));
    const results = await Promise.all([first, ...burst]);
    assert.equal(fake.reloadCalls, 2, 'one write for the first call, one for the whole burst');
    assert.equal(results[0]?.callers, 1);
    assert.ok(results.slice(1).every((r) => r.callers === 10 && r.sha256 === results[10]?.sha256));
    assert.equal(await readFile(path, 'utf8'), renderFaucetConfig(OPERATOR, withPorts(11)));
  });

  it('shares one write among calls made in the same tick; functions are evaluated at write time', async () => {
    const { fake, store } = await rig();
    let current = withPorts(3);
    const calls = [store.apply(withPorts(1)), store.apply(() => current), store.apply(() => current)];
    current = withPorts(5);
    const results = await Promise.all(calls);
    assert.equal(fake.reloadCalls, 1);
    assert.ok(results.every((r) => r.callers === 3));
    assert.equal(results[0]?.sha256, sha256Hex(renderFaucetConfig(OPERATOR, withPorts(5))));
  });

  it('re-reads the file each time, so operator edits between applies survive', async () => {
    const { path, store } = await rig();
    await store.apply(state([NET1]));
    const denyAll = '    deny-all:\n        - rule:\n            actions: {allow: 0}\n    allow-all:';
    await writeFile(path, (await readFile(path, 'utf8')).replace('    allow-all:', denyAll));
    await store.apply(state([NET1, NET2]));
    const text = await readFile(path, 'utf8');
    assert.match(text, /dovesnet2:/);
    assert.equal(renderFaucetConfig(text, state([])), OPERATOR.replace('    allow-all:', denyAll));
  });

  /** A store whose first reading of FAUCET's metrics (before its write) runs `edit` on the file first. */
  async function rigEditingInWindow(edit: (path: string) => Promise<void>, times = 1): Promise<Rig> {
    let left = times;
    const late: { path?: string; url?: string } = {};
    const r = await rig({
      store: {
        readState: async () => {
          if (left > 0 && late.path !== undefined) {
            left -= 1;
            await edit(late.path);
          }
          return readFaucetConfigState(late.url ?? '');
        },
      },
    });
    late.path = r.path;
    late.url = r.fake.metricsUrl;
    return r;
  }

  it("keeps an operator edit saved while it waits on FAUCET's metrics, rendering again from the edited file", async () => {
    const denyAll = '    deny-all:\n        - rule:\n            actions: {allow: 0}\n    allow-all:';
    const { path, store } = await rigEditingInWindow(async (p) =>
      writeFile(p, (await readFile(p, 'utf8')).replace('    allow-all:', denyAll)),
    );
    const result = await store.apply(state([NET1]));
    const text = await readFile(path, 'utf8');
    assert.equal(
      text,
      renderFaucetConfig(OPERATOR.replace('    allow-all:', denyAll), state([NET1])),
      "the edit and dovesnap's entries, both",
    );
    assert.deepEqual([result.written, result.confirmed, result.sha256], [true, true, sha256Hex(text)]);
  });

  it('renders again when the file was replaced by another with the same bytes (a new inode), not only on a content change', async () => {
    let renders = 0;
    const { path, store } = await rigEditingInWindow(async (p) => {
      await writeFile(`${p}.new`, await readFile(p));
      await rename(`${p}.new`, p);
    });
    await store.apply(() => {
      renders += 1;
      return state([NET1]);
    });
    assert.equal(renders, 2);
    assert.equal(await readFile(path, 'utf8'), renderFaucetConfig(OPERATOR, state([NET1])));
  });

  it("gives up without writing when the file keeps changing under it, leaving the other writer's text", async () => {
    let n = 0;
    const { path, fake, store } = await rigEditingInWindow(
      async (p) => writeFile(p, `${OPERATOR}# edit ${++n}\n`),
      100,
    );
    await assert.rejects(
      store.apply(state([NET1])),
      isCode(ErrorCode.FaucetTimeout, /changed under dovesnap 5 times in a row .* nothing was written/),
    );
    assert.equal(await readFile(path, 'utf8'), `${OPERATOR}# edit 5\n`);
    assert.equal(fake.reloadCalls, 0);
  });

  it('is confirmed by FAUCET loading a later text that keeps its change (a lab wrote its ACLs right after), instead of timing out', async () => {
    const lab = '    lab-demo.all:\n        - rule:\n            actions: {allow: 1}\n    allow-all:';
    let path = '';
    let fake: FakeFaucet | undefined;
    const r = await rig({
      store: {
        confirmTimeoutMs: 1000,
        // Before FAUCET gets to our file, another writer adds an ACL to it.
        reload: async () => {
          await writeFile(`${path}.lab`, (await readFile(path, 'utf8')).replace('    allow-all:', lab));
          await rename(`${path}.lab`, path);
          await fake?.reload();
        },
      },
    });
    ({ path, fake } = r);
    const result = await r.store.apply(state([NET1]));
    assert.equal(result.confirmed, true);
    const text = await readFile(path, 'utf8');
    assert.equal(text, renderFaucetConfig(OPERATOR.replace('    allow-all:', lab), state([NET1])));
  });

  it('writes again when a later text without its change replaced its file before FAUCET loaded it', async () => {
    let path = '';
    let fake: FakeFaucet | undefined;
    let saves = 0;
    const r = await rig({
      store: {
        confirmTimeoutMs: 1000,
        // An editor saves the text it had open, from before our write.
        reload: async () => {
          if (++saves === 1) await writeFile(path, `${OPERATOR}# saved\n`);
          await fake?.reload();
        },
      },
    });
    ({ path, fake } = r);
    const result = await r.store.apply(state([NET1]));
    assert.equal(result.confirmed, true);
    assert.equal(await readFile(path, 'utf8'), renderFaucetConfig(`${OPERATOR}# saved\n`, state([NET1])));
    assert.equal(saves, 2, 'a second write');
  });

  it('lockRenames: no rename while another writer holds the write lock', async () => {
    const { path, store } = await rig({ store: { lockRenames: true } });
    const release = await acquireLockFile(writeLockPath(path));
    const applying = store.apply(state([NET1]));
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(await readFile(path, 'utf8'), OPERATOR, 'not written while the lock is held');
    await release();
    assert.equal((await applying).written, true);
    assert.match(await readFile(path, 'utf8'), /dovesnet1/);
    await assert.rejects(stat(writeLockPath(path)), /ENOENT/);
  });

  it('refuses an invalid configuration without writing or reloading', async () => {
    const { path, fake, store } = await rig();
    const bad = { ...NET1, ports: [{ number: 1, description: 'c', nativeVlan: 300, aclsIn: ['no-such-acl'] }] };
    await assert.rejects(store.apply(state([bad])), isCode(ErrorCode.FaucetInvalid, /ACL 'no-such-acl'/));
    assert.equal(await readFile(path, 'utf8'), OPERATOR);
    assert.equal(fake.reloadCalls, 0);
  });

  it("restores the previous bytes and throws FaucetRejected with FAUCET's message", async () => {
    const judge: FaucetJudge = (text) =>
      text.includes('dovesnet2') ? 'DP dovesnet2: hardware offload not available' : undefined;
    const { path, fake, store } = await rig({ judge, store: { validate: () => [] } });
    await store.apply(state([NET1]));
    const good = await readFile(path);
    const goodMode = (await stat(path)).mode;
    await assert.rejects(
      store.apply(state([NET1, NET2])),
      isCode(
        ErrorCode.FaucetRejected,
        /FAUCET rejected .*: DP dovesnet2: hardware offload not available; the previous file was restored/,
      ),
    );
    assert.deepEqual(await readFile(path), good);
    assert.equal((await stat(path)).mode, goodMode);
    assert.equal(fake.reloadCalls, 3, 'first write, rejected write, restore');
    await fake.settle();
    // FAUCET is back on the good file, and the store can carry on.
    const again = await store.apply(state([NET1]));
    assert.equal(again.written, false);
    assert.equal(again.confirmed, true);
  });

  it('removes a file it created if FAUCET rejects it', async () => {
    const { path, store } = await rig({ initial: null, judge: () => 'nope', store: { validate: () => [] } });
    await assert.rejects(store.apply(state([NET1])), isCode(ErrorCode.FaucetRejected, /nope/));
    await assert.rejects(stat(path), /ENOENT/);
  });

  it('is not fooled by a load error that predates its write', async () => {
    const { path, fake, store } = await rig({ reloadDelayMs: 30 });
    await writeFile(path, 'dps: {broken: 1}\n'); // an operator's bad edit, which FAUCET reported
    await fake.processReload();
    await writeFile(path, OPERATOR);
    const result = await store.apply(state([NET1]));
    assert.equal(result.confirmed, true);
  });

  it('times out without restoring when FAUCET does not answer', async () => {
    const { path, fake, store } = await rig({
      store: { clock: new FakeClock(), confirmTimeoutMs: 30_000, pollIntervalMs: 250 },
    });
    fake.hung = true;
    await assert.rejects(
      store.apply(state([NET1])),
      isCode(
        ErrorCode.FaucetTimeout,
        /did not confirm .* within 30000 ms; the new file stays in place \(FAUCET may be down/,
      ),
    );
    const written = renderFaucetConfig(OPERATOR, state([NET1]));
    assert.equal(await readFile(path, 'utf8'), written);
    // Once FAUCET answers again, the same state is confirmed without another write.
    fake.hung = false;
    const again = await store.apply(state([NET1]));
    assert.deepEqual([again.written, again.confirmed, fake.reloadCalls], [false, true, 2]);
  });

  it('gives FAUCET three times its last load to confirm, when that is longer than the timeout', async () => {
    // FAUCET's reload of a DP grows with its ports (15-50 s at 1,000): a write reported as failed
    // while FAUCET still loads it let the next write land on a busy FAUCET.
    const clock = new FakeClock();
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-store-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'faucet.yaml');
    await writeFile(path, OPERATOR);
    let loadMs = 900;
    let reloadAt = 0;
    let loaded = { file: '', sha: '' };
    let reloads = 0;
    const store = new FaucetConfigStore({
      configPath: path,
      clock,
      confirmTimeoutMs: 1000,
      pollIntervalMs: 100,
      reload: async () => {
        reloadAt = clock.now();
        reloads += 1;
      },
      readState: async () => {
        if (reloads > 0 && clock.now() - reloadAt >= loadMs) {
          loaded = { file: path, sha: sha256Hex(await readFile(path, 'utf8')) };
        }
        return { files: [loaded.file], hashes: [loaded.sha], error: '', loadError: false, reloadRequests: undefined };
      },
    });
    assert.equal(store.confirmWindowMs, 1000);
    assert.equal((await store.apply(state([NET1]))).confirmed, true);
    assert.equal(store.confirmWindowMs, 2700);
    loadMs = 2500;
    assert.equal((await store.apply(state([NET1, NET2]))).confirmed, true);
    assert.equal(store.confirmWindowMs, 7500);
    loadMs = Number.POSITIVE_INFINITY;
    await assert.rejects(store.apply(state([NET2])), isCode(ErrorCode.FaucetTimeout, /within 7500 ms/));
  });

  it('times out when the metrics cannot be read at all', async () => {
    const { fake, store } = await rig({ store: { clock: new FakeClock(), metricsUrl: 'http://127.0.0.1:1/metrics' } });
    await assert.rejects(
      store.apply(state([NET1])),
      isCode(ErrorCode.FaucetTimeout, /last seen: cannot read FAUCET metrics from http:\/\/127\.0\.0\.1:1\/metrics/),
    );
    assert.equal(fake.reloadCalls, 1);
  });

  it('reports a reload that cannot be requested as FaucetTimeout, keeping the file', async () => {
    const { path, store } = await rig({
      store: { reload: () => Promise.reject(new Error('pidfile /run/faucet.pid missing')) },
    });
    await assert.rejects(
      store.apply(state([NET1])),
      isCode(ErrorCode.FaucetTimeout, /could not be asked to reload it \(pidfile \/run\/faucet.pid missing\)/),
    );
    assert.match(await readFile(path, 'utf8'), /dovesnet1/);
  });

  it('skips confirmation when no metrics URL is configured', async () => {
    const { fake, store } = await rig({ store: { metricsUrl: undefined } });
    assert.equal(store.confirms, false);
    const result = await store.apply(state([NET1]));
    assert.deepEqual([result.written, result.confirmed, fake.reloadCalls], [true, false, 1]);
    const again = await store.apply(state([NET1]));
    assert.deepEqual([again.written, again.confirmed, fake.reloadCalls], [false, false, 1]);
  });

  it('creates a missing file with the placeholder only', async () => {
    const { path, store } = await rig({ initial: null });
    assert.equal(await store.read(), '');
    await store.apply(state([]));
    assert.match(await readFile(path, 'utf8'), /dovesnap-placeholder:/);
    assert.equal((await stat(path)).mode & 0o777, 0o644);
  });

  it('writes through a symlinked faucet.yaml, keeping the link', async () => {
    const { dir, path, store } = await rig();
    const link = join(dir, 'link.yaml');
    await symlink(path, link);
    const viaLink = new FaucetConfigStore({ configPath: link, reload: async () => undefined });
    await viaLink.apply(state([NET1]));
    assert.ok((await lstat(link)).isSymbolicLink());
    assert.match(await readFile(path, 'utf8'), /dovesnet1/);
    assert.equal(await store.read(), await viaLink.read());
  });
});

describe('signalFromPidfile', () => {
  it('signals the process a pidfile names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-pid-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    const pidfile = join(dir, 'child.pid');
    await writeFile(pidfile, `${child.pid ?? ''}\n`);
    assert.equal(await signalFromPidfile(pidfile, 'SIGTERM'), child.pid);
    const [, signal] = await exited;
    assert.equal(signal, 'SIGTERM');
  });

  it('sends SIGHUP only once the process handles it: a FAUCET still starting would be killed by it (found by the restart-under-load test)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-pid-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // Installs its handler 400 ms after start, as a starting Python process does late.
    const late = spawn(
      process.execPath,
      [
        '-e',
        "setTimeout(() => process.on('SIGHUP', () => { console.log('reloaded'); process.exit(0); }), 400); setTimeout(() => {}, 30000)",
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    late.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const lateExit = once(late, 'exit');
    const pidfile = join(dir, 'late.pid');
    await writeFile(pidfile, `${late.pid ?? ''}\n`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await signalFromPidfile(pidfile), late.pid);
    const [code, signal] = await lateExit;
    assert.deepEqual([code, signal, out.trim()], [0, null, 'reloaded'], 'handled, not killed');

    // One that never handles SIGHUP is left alone, with an error saying why.
    const never = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    cleanups.push(async () => void never.kill('SIGKILL'));
    const neverFile = join(dir, 'never.pid');
    await writeFile(neverFile, `${never.pid ?? ''}\n`);
    await assert.rejects(
      signalFromPidfile(neverFile, 'SIGHUP', { handlerWaitMs: 300 }),
      isCode(ErrorCode.HostCommand, /has not installed a SIGHUP handler/),
    );
    assert.equal(never.exitCode, null);
    assert.equal(never.signalCode, null);
  });

  it('refuses missing pidfiles and ids that would signal process groups', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-pid-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await assert.rejects(
      signalFromPidfile(join(dir, 'none.pid')),
      isCode(ErrorCode.HostCommand, /cannot read pidfile/),
    );
    for (const content of ['0', '1', '-1', 'abc', '', '12 34']) {
      const pidfile = join(dir, 'bad.pid');
      await writeFile(pidfile, content);
      await assert.rejects(
        signalFromPidfile(pidfile),
        isCode(ErrorCode.HostCommand, /does not hold a usable process id/),
        content,
      );
    }
  });
});
