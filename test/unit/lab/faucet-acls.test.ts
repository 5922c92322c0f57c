import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';

import { renderFaucetConfig } from '../../../src/faucet/render.js';
import { FaucetConfigStore, sha256Hex } from '../../../src/faucet/store.js';
import {
  AclStillUsedError,
  aclReferences,
  editLabAcls,
  labAclLockPath,
  labAclName,
  labAclsIn,
  parseLabAclName,
  removeLabAcls,
  resolveAclRef,
  resolvePortAclLabel,
  syncLabAcls,
  type LabAclOptions,
  type LabAcls,
} from '../../../src/lab/faucet-acls.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { acquireLockFile } from '../../../src/util/lock-file.js';
import { FakeFaucet, validatorJudge, type FaucetJudge } from '../../fakes/fake-faucet.js';
import { fixture, NET1, NET2, state } from '../faucet/specs.js';

const OPERATOR = fixture('operator.yaml');

const rule = (r: Record<string, unknown>): { rule: Record<string, unknown> } => ({ rule: r });
const WEB: readonly unknown[] = [
  rule({ dl_type: 0x800, ip_proto: 6, tcp_dst: 8080, actions: { allow: 1 } }),
  rule({ dl_type: 0x800, ip_proto: 6, tcp_dst: 8081, actions: { allow: 0 } }),
  rule({ actions: { allow: 1 } }),
];
const ALL: readonly unknown[] = [rule({ actions: { allow: 1 } })];
const NONE: readonly unknown[] = [rule({ actions: { allow: 0 } })];

const acls = (entries: Record<string, readonly unknown[]>): LabAcls => new Map(Object.entries(entries));

const isCode =
  (code: string, pattern?: RegExp) =>
  (err: unknown): boolean =>
    isDovesnapError(err) && err.code === code && (pattern === undefined || pattern.test(err.message));

/** The lines of `text` that are not in `original`, and whether `original`'s lines all survive, in order. */
function keptInOrder(original: string, text: string): boolean {
  const lines = text.split('\n');
  let at = 0;
  for (const line of original.split('\n')) {
    const found = lines.indexOf(line, at);
    if (found < 0) return false;
    at = found + 1;
  }
  return true;
}

describe('lab ACL names', () => {
  it('lab-<lab>.<name>, unambiguous where labs and names hold dashes', () => {
    assert.equal(labAclName('demo', 'web'), 'lab-demo.web');
    assert.notEqual(labAclName('a', 'b-c'), labAclName('a-b', 'c'));
    assert.deepEqual(parseLabAclName('lab-a.b-c'), { lab: 'a', name: 'b-c' });
    assert.deepEqual(parseLabAclName('lab-a-b.c'), { lab: 'a-b', name: 'c' });
    assert.deepEqual(parseLabAclName(labAclName('x1', 'in.v4')), { lab: 'x1', name: 'in.v4' });
    for (const other of ['block-ssh', 'dovesnap-mirror', 'lab-', 'lab-a', 'lab-.x', 'lab--a.x', 'lab-A.x'])
      assert.equal(parseLabAclName(other), undefined, other);
  });

  it('refuses bad lab names, bad ACL names and names too long for dovesnap, naming them', () => {
    assert.throws(() => labAclName('Demo', 'web'), isCode(ErrorCode.BadOption, /lab name "Demo"/));
    assert.throws(() => labAclName('demo', 'a:b'), isCode(ErrorCode.BadOption, /"a:b".*lab demo/));
    assert.throws(() => labAclName('demo', ''), isCode(ErrorCode.BadOption));
    const longest = 'n'.repeat(64 - 'lab-demo.'.length);
    assert.equal(labAclName('demo', longest).length, 64);
    assert.throws(() => labAclName('demo', `${longest}n`), isCode(ErrorCode.BadOption, /65 characters, at most 64/));
  });

  it("resolves a reference to the lab's own ACL, and takes any other verbatim", () => {
    const own = ['web', 'all'];
    assert.equal(resolveAclRef('demo', own, 'web'), 'lab-demo.web');
    assert.equal(resolveAclRef('demo', own, 'block-ssh'), 'block-ssh');
    assert.equal(resolveAclRef('demo', own, 'lab-other.web'), 'lab-other.web');
    assert.equal(resolvePortAclLabel('demo', own, 'web, block-ssh,all'), 'lab-demo.web,block-ssh,lab-demo.all');
    assert.equal(
      resolvePortAclLabel('demo', own, 'demo-lan:web/demo-wan:block-ssh,all'),
      'demo-lan:lab-demo.web/demo-wan:block-ssh,lab-demo.all',
    );
  });
});

describe('editLabAcls', () => {
  it("adds the lab's ACLs into the operator's acls: and takes them out to the original bytes", () => {
    const added = editLabAcls(OPERATOR, 'demo', acls({ web: WEB, all: ALL }));
    assert.deepEqual([added.added, added.changed, added.removed], [['lab-demo.all', 'lab-demo.web'], [], []]);
    assert.ok(
      keptInOrder(OPERATOR, added.text),
      "every line of the operator's file, comments included, is still there in its order",
    );
    assert.match(added.text, /dl_type: 0x800 {6}# IPv4/);
    assert.deepEqual(labAclsIn(added.text, 'demo'), ['lab-demo.all', 'lab-demo.web']);
    // After the operator's last ACL, in the operator's indentation.
    assert.match(added.text, /meter: lossy\n {4}lab-demo\.all:\n {8}- rule:\n/);
    assert.match(added.text, /tcp_dst: 8081\n\s+actions:\n\s+allow: 0\n/);
    const removed = editLabAcls(added.text, 'demo', new Map());
    assert.deepEqual(removed.removed, ['lab-demo.all', 'lab-demo.web']);
    assert.equal(removed.text, OPERATOR);
  });

  it('makes an acls: section when the file has none, and removes it with the last ACL', () => {
    const bare = renderFaucetConfig('# mine\nvlans:\n  office:\n    vid: 100 # keep\n', state([NET1]));
    const added = editLabAcls(bare, 'demo', acls({ all: ALL }));
    assert.match(added.text, /\nacls:\n {2}lab-demo\.all:\n/);
    assert.ok(keptInOrder(bare, added.text));
    assert.equal(editLabAcls(added.text, 'demo', new Map()).text, bare);
  });

  it("adds, updates and removes exact sets, and leaves another lab's ACLs (whose name extends this one's) alone", () => {
    const other = editLabAcls(OPERATOR, 'demo-2', acls({ web: NONE })).text;
    const first = editLabAcls(other, 'demo', acls({ web: WEB, all: ALL }));
    assert.deepEqual([first.added, first.changed, first.removed], [['lab-demo.all', 'lab-demo.web'], [], []]);
    const second = editLabAcls(
      first.text,
      'demo',
      acls({ web: NONE, ssh: [rule({ dl_type: 0x800, ip_proto: 6, tcp_dst: 22, actions: { allow: 0 } })] }),
    );
    assert.deepEqual(
      [second.added, second.changed, second.removed],
      [['lab-demo.ssh'], ['lab-demo.web'], ['lab-demo.all']],
    );
    assert.deepEqual(labAclsIn(second.text, 'demo').sort(), ['lab-demo.ssh', 'lab-demo.web']);
    assert.deepEqual(labAclsIn(second.text, 'demo-2'), ['lab-demo-2.web']);
    const same = editLabAcls(
      second.text,
      'demo',
      acls({ web: NONE, ssh: [rule({ dl_type: 0x800, ip_proto: 6, tcp_dst: 22, actions: { allow: 0 } })] }),
    );
    assert.equal(same.text, second.text, 'unchanged: the same bytes');
    assert.deepEqual([same.added, same.changed, same.removed], [[], [], []]);
    const gone = editLabAcls(second.text, 'demo', new Map());
    assert.equal(gone.text, other, "only lab demo-2's ACL is left");
  });

  it("takes Maps and bigints as the rules' values, and finds a hand-edited entry changed", () => {
    const viaMap = editLabAcls(
      OPERATOR,
      'demo',
      new Map([
        [
          'all',
          [
            new Map([
              [
                'rule',
                new Map<string, unknown>([
                  ['dl_type', 0x806n],
                  ['actions', { allow: 1 }],
                ]),
              ],
            ]),
          ],
        ],
      ]),
    );
    assert.match(viaMap.text, /dl_type: 0x806\n/);
    const edited = viaMap.text
      .replace('allow: 1\n\n', 'allow: 0\n\n')
      .replace(/(lab-demo\.all:\n(?:.*\n)*?\s+)allow: 1/, '$1allow: 0');
    assert.notEqual(edited, viaMap.text);
    const mended = editLabAcls(
      edited,
      'demo',
      new Map([['all', [{ rule: { dl_type: 0x806, actions: { allow: 1 } } }]]]),
    );
    assert.deepEqual(mended.changed, ['lab-demo.all']);
    assert.equal(mended.text, viaMap.text);
  });

  it('refuses a bad definition, naming every problem', () => {
    const bad = acls({
      empty: [],
      norule: [{ rules: {} }],
      extra: [{ rule: {}, x: 1 }],
      ctl: [rule({ description: 'a\nb', actions: { allow: 1 } })],
    });
    assert.throws(
      () => editLabAcls(OPERATOR, 'demo', bad),
      (err: unknown) => {
        assert.ok(isCode(ErrorCode.BadOption)(err));
        const m = (err as Error).message;
        for (const where of ['acls.empty', 'acls.norule[0]', 'acls.extra[0]', 'acls.ctl[0].rule.description'])
          assert.ok(m.includes(where), `${where} in: ${m}`);
        return true;
      },
    );
  });

  it('refuses to remove an ACL a port, VLAN or DP still names, saying where', () => {
    const withAcl = editLabAcls(OPERATOR, 'demo', acls({ web: WEB, all: ALL })).text;
    const used = renderFaucetConfig(
      withAcl,
      state([{ ...NET1, ports: [{ number: 3, description: 'c', nativeVlan: 300, aclsIn: ['lab-demo.web'] }] }]),
    );
    assert.deepEqual(
      [...aclReferences(used, new Set(['lab-demo.web', 'lab-demo.all']))],
      [['lab-demo.web', [`dps.${NET1.name}.interfaces.3.acls_in`]]],
    );
    assert.throws(
      () => editLabAcls(used, 'demo', new Map()),
      (err: unknown) => {
        assert.ok(err instanceof AclStillUsedError && err.code === ErrorCode.Conflict);
        assert.match(
          err.message,
          /lab demo cannot remove its ACL lab-demo\.web \(used by dps\.\S+\.interfaces\.3\.acls_in\)/,
        );
        return true;
      },
    );
    // Still referenced but kept: fine; and the unreferenced one may go.
    assert.deepEqual(editLabAcls(used, 'demo', acls({ web: WEB })).removed, ['lab-demo.all']);
    const byVlan = withAcl.replace('acls_in: [block-ssh, allow-all]', 'acls_in: [block-ssh, lab-demo.all]');
    assert.throws(() => editLabAcls(byVlan, 'demo', acls({ web: WEB })), /used by vlans\.office\.acls_in/);
  });
});

describe('syncLabAcls / removeLabAcls on a file, with a fake FAUCET', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function rig(
    opts: { text?: string; judge?: FaucetJudge } = {},
  ): Promise<{ dir: string; path: string; fake: FakeFaucet; opts: LabAclOptions }> {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-lab-acls-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'faucet.yaml');
    await writeFile(path, opts.text ?? renderFaucetConfig(OPERATOR, state([NET1])));
    await chmod(path, 0o640);
    const fake = await FakeFaucet.start({ configPath: path, ...(opts.judge && { judge: opts.judge }) });
    cleanups.push(() => fake.close());
    return {
      dir,
      path,
      fake,
      opts: {
        configPath: path,
        reload: () => fake.reload(),
        metricsUrl: fake.metricsUrl,
        pollIntervalMs: 2,
        confirmTimeoutMs: 5000,
        check: null,
        referenceWaitMs: 0,
        env: {},
      },
    };
  }

  it('writes, has FAUCET load the new hash, keeps the mode, leaves no temp or lock file; unchanged: no write, no reload', async () => {
    const { dir, path, fake, opts } = await rig();
    const before = await readFile(path, 'utf8');
    const result = await syncLabAcls('demo', acls({ web: WEB, all: ALL }), opts);
    assert.deepEqual(result, { added: ['lab-demo.all', 'lab-demo.web'], changed: [], removed: [] });
    const text = await readFile(path, 'utf8');
    assert.equal(text, editLabAcls(before, 'demo', acls({ web: WEB, all: ALL })).text);
    assert.equal(fake.reloadCalls, 1);
    assert.equal((await stat(path)).mode & 0o7777, 0o640);
    assert.deepEqual(await readdir(dir), ['faucet.yaml']);

    const mtime = (await stat(path)).mtimeMs;
    assert.deepEqual(await syncLabAcls('demo', acls({ all: ALL, web: WEB }), opts), {
      added: [],
      changed: [],
      removed: [],
    });
    assert.equal(fake.reloadCalls, 1, 'no reload');
    assert.equal((await stat(path)).mtimeMs, mtime, 'no write');

    assert.deepEqual(await removeLabAcls('demo', opts), ['lab-demo.all', 'lab-demo.web']);
    assert.equal(await readFile(path, 'utf8'), before);
    assert.equal(fake.reloadCalls, 2);
    assert.deepEqual(await removeLabAcls('demo', opts), []);
    assert.equal(fake.reloadCalls, 2);
  });

  it('FAUCET refusing the file: the previous text is back, FAUCET reloaded it, and the error names the ACL', async () => {
    const judge: FaucetJudge = (text) =>
      text.includes('tcp_dst: 9999')
        ? "DP x: bogus field unknown in lab-demo.bad (known types {'cookie': <class 'int'>})"
        : validatorJudge(text);
    const { path, fake, opts } = await rig({ judge });
    await syncLabAcls('demo', acls({ all: ALL }), opts);
    const good = await readFile(path, 'utf8');
    await assert.rejects(
      syncLabAcls(
        'demo',
        acls({
          all: ALL,
          other: NONE,
          bad: [rule({ dl_type: 0x800, ip_proto: 6, tcp_dst: 9999, actions: { allow: 0 } })],
        }),
        opts,
      ),
      isCode(
        ErrorCode.FaucetRejected,
        /^lab demo: FAUCET refused faucet\.yaml with its ACL lab-demo\.bad: FAUCET rejected \S+: DP x: bogus field unknown in lab-demo\.bad; the previous file was restored$/,
      ),
    );
    assert.equal(await readFile(path, 'utf8'), good);
    await fake.settle();
    assert.equal(fake.reloadCalls, 3, 'the good file, the refused one, the good one again');
    assert.equal(fake.metricsText().includes('faucet_config_load_error 0.0'), true, 'FAUCET runs the restored file');
  });

  it("a refused file is not restored over someone else's later change", async () => {
    const { path, fake, opts } = await rig({
      judge: (text) => (text.includes('tcp_dst: 9999') ? 'refused' : undefined),
    });
    fake.judge = (text) => {
      if (!text.includes('tcp_dst: 9999')) return undefined;
      // The operator saves the file while FAUCET is still looking at ours.
      void writeFile(path, `${text}# operator was here\n`);
      return 'refused';
    };
    await assert.rejects(
      syncLabAcls(
        'demo',
        acls({ bad: [rule({ tcp_dst: 9999, ip_proto: 6, dl_type: 0x800, actions: { allow: 0 } })] }),
        opts,
      ),
      isCode(ErrorCode.FaucetRejected, /left as it is/),
    );
    await fake.settle();
    assert.match(await readFile(path, 'utf8'), /# operator was here\n$/);
  });

  it('a checker refusal names the ACL it is about, and nothing is written or reloaded', async () => {
    const { path, fake, opts } = await rig();
    const before = await readFile(path, 'utf8');
    const checked: string[] = [];
    const check = async (text: string): Promise<string | undefined> => {
      checked.push(text);
      return text.includes('tcp_dst: 7') ? 'DP x: bogus field unknown in lab-demo.bad' : undefined;
    };
    await assert.rejects(
      syncLabAcls(
        'demo',
        acls({ all: ALL, bad: [rule({ dl_type: 0x800, ip_proto: 6, tcp_dst: 7, actions: { allow: 0 } })] }),
        { ...opts, check },
      ),
      isCode(
        ErrorCode.FaucetInvalid,
        /check_faucet_config refuses lab demo's ACL lab-demo\.bad: DP x: bogus field unknown in lab-demo\.bad/,
      ),
    );
    assert.equal(await readFile(path, 'utf8'), before);
    assert.equal(fake.reloadCalls, 0);
    assert.equal(checked.length, 1);
    // A file the checker refuses anyway is not blamed on the lab.
    await assert.rejects(
      syncLabAcls('demo', acls({ all: ALL }), { ...opts, check: async () => 'DP y: broken by someone else' }),
      isCode(ErrorCode.FaucetInvalid, /even without lab demo's changes/),
    );
    // An undefined meter is caught before FAUCET, which would only see it once a port uses the ACL.
    await assert.rejects(
      syncLabAcls('demo', acls({ m: [rule({ actions: { allow: 1, meter: 'nosuch' } })] }), opts),
      isCode(ErrorCode.FaucetInvalid, /lab-demo\.m uses meter "nosuch"/),
    );
    assert.deepEqual(
      (await syncLabAcls('demo', acls({ m: [rule({ actions: { allow: 1, meter: 'lossy' } })] }), opts)).added,
      ['lab-demo.m'],
    );
  });

  it('refuses to remove an ACL still in use, waits for it to go when asked, and fails on a missing file', async () => {
    const { path, opts } = await rig();
    await syncLabAcls('demo', acls({ web: WEB }), opts);
    const withAcl = await readFile(path, 'utf8');
    const used = renderFaucetConfig(
      withAcl,
      state([{ ...NET2, ports: [{ number: 1, description: 'c', nativeVlan: 300, aclsIn: ['lab-demo.web'] }] }]),
    );
    await writeFile(path, used);
    await assert.rejects(
      removeLabAcls('demo', opts),
      (err: unknown) => err instanceof AclStillUsedError && /lab-demo\.web \(used by dps\./.test(err.message),
    );
    assert.equal(await readFile(path, 'utf8'), used);
    // The daemon drops the network's DP a moment later: a removal that may wait succeeds.
    setTimeout(() => void writeFile(path, withAcl), 300);
    assert.deepEqual(await removeLabAcls('demo', { ...opts, referenceWaitMs: 10_000 }), ['lab-demo.web']);
    await assert.rejects(
      syncLabAcls('demo', acls({ web: WEB }), { ...opts, configPath: join(path, '..', 'nosuch.yaml') }),
      isCode(ErrorCode.NotFound, /nosuch\.yaml does not exist/),
    );
  });

  it("two labs at once and the daemon's own writes: nobody's change is lost", async () => {
    const { path, fake, opts } = await rig({ text: renderFaucetConfig(OPERATOR, state([])) });
    const daemon = new FaucetConfigStore({
      configPath: path,
      reload: () => fake.reload(),
      metricsUrl: fake.metricsUrl,
      pollIntervalMs: 2,
      lockRenames: true,
    });
    const labs = ['l1', 'l2', 'l3', 'l4'];
    await Promise.all([
      ...labs.map((lab) => syncLabAcls(lab, acls({ web: WEB, all: ALL }), opts)),
      daemon.apply(state([NET1])),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        await daemon.apply(state([NET1, NET2]));
      })(),
    ]);
    const text = await readFile(path, 'utf8');
    for (const lab of labs) assert.deepEqual(labAclsIn(text, lab), [`lab-${lab}.all`, `lab-${lab}.web`], lab);
    assert.equal(text, renderFaucetConfig(text, state([NET1, NET2])), "the daemon's DPs are all there");
    assert.ok(keptInOrder(OPERATOR, text));
    await Promise.all(labs.map((lab) => removeLabAcls(lab, opts)));
    assert.equal(await readFile(path, 'utf8'), renderFaucetConfig(OPERATOR, state([NET1, NET2])));
  });

  it('the daemon writing the file again before FAUCET loaded ours: FAUCET loading its text, which keeps our ACLs, confirms ours', async () => {
    const { path, fake, opts } = await rig();
    let daemonWrote = false;
    const reload = async (): Promise<void> => {
      if (!daemonWrote) {
        daemonWrote = true;
        const daemon = new FaucetConfigStore({ configPath: path, reload: async () => undefined });
        await daemon.apply(state([NET1, NET2]));
      }
      await fake.reload();
    };
    const result = await syncLabAcls('demo', acls({ all: ALL }), { ...opts, reload, confirmTimeoutMs: 1000 });
    assert.deepEqual(result.added, ['lab-demo.all']);
    const text = await readFile(path, 'utf8');
    assert.deepEqual(labAclsIn(text, 'demo'), ['lab-demo.all']);
    assert.equal(text, renderFaucetConfig(text, state([NET1, NET2])));
  });

  it("an editor's save that drops the lab's ACLs before FAUCET loaded them: the edit is made again from the saved text", async () => {
    const { path, fake, opts } = await rig();
    const before = await readFile(path, 'utf8');
    let saved = false;
    const reload = async (): Promise<void> => {
      if (!saved) {
        saved = true;
        await writeFile(path, `${before}# saved by the operator\n`);
      }
      await fake.reload();
    };
    const result = await syncLabAcls('demo', acls({ all: ALL }), { ...opts, reload, confirmTimeoutMs: 1000 });
    assert.deepEqual(result.added, ['lab-demo.all']);
    const text = await readFile(path, 'utf8');
    assert.deepEqual(labAclsIn(text, 'demo'), ['lab-demo.all']);
    assert.match(text, /# saved by the operator\n/);
    await fake.settle();
    assert.ok(fake.metricsText().includes(sha256Hex(text)), 'FAUCET runs the file with both');
  });

  it('waits for a lab edit that holds the lock, and takes over the lock of a dead process', async () => {
    const { path, opts } = await rig();
    const lock = labAclLockPath(path);
    const release = await acquireLockFile(lock);
    const waiting = syncLabAcls('demo', acls({ web: WEB }), opts);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(labAclsIn(await readFile(path, 'utf8'), 'demo'), [], 'no write while another holds the lock');
    await release();
    assert.deepEqual((await waiting).added, ['lab-demo.web']);
    await writeFile(lock, `${process.pid}\n`); // held by a live process (this one)
    await assert.rejects(
      syncLabAcls('demo', acls({ all: ALL }), { ...opts, lockTimeoutMs: 200 }),
      isCode(ErrorCode.Conflict, /stayed locked by process \d+/),
    );
    await writeFile(lock, '2147483646\n'); // no such process
    assert.deepEqual((await syncLabAcls('demo', acls({ all: ALL }), opts)).added, ['lab-demo.all']);
    await assert.rejects(stat(lock), /ENOENT/);
    await writeFile(lock, ''); // made by a process killed before it wrote its id: stale once old
    await assert.rejects(
      syncLabAcls('demo', new Map(), { ...opts, lockTimeoutMs: 200 }),
      isCode(ErrorCode.Conflict, /has not written its id yet/),
    );
    await utimes(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    assert.deepEqual(await removeLabAcls('demo', opts), ['lab-demo.all']);
  });
});
