import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { armFailpoints, failpoint, parseFailpoints, FAILPOINTS } from '../../../src/util/failpoints.js';
import { isDovesnapError, ErrorCode } from '../../../src/util/errors.js';
import { loadSettings } from '../../../src/config/settings.js';

describe('failpoints', () => {
  afterEach(() => armFailpoints(new Map()));

  it('parses NAME=ACTION lists, and an empty value arms nothing', () => {
    assert.equal(parseFailpoints('').size, 0);
    const p = parseFailpoints(' createEndpoint.afterVeth=kill , nat.beforeApply=delay(250),faucet.confirm=error ');
    assert.deepEqual(Object.fromEntries(p), {
      'createEndpoint.afterVeth': { kind: 'kill' },
      'nat.beforeApply': { kind: 'delay', ms: 250 },
      'faucet.confirm': { kind: 'error' },
    });
  });

  it('refuses unknown names and actions, naming the variable and the value (a typo must not silently inject nothing)', () => {
    assert.throws(
      () => parseFailpoints('createEndpoint.aftrVeth=kill'),
      /DOVESNAP_FAILPOINTS.*"createEndpoint\.aftrVeth".*known: createNetwork\.beforeBridge/,
    );
    assert.throws(
      () => parseFailpoints('join.done=explode'),
      /invalid value "explode" for failpoint join\.done in DOVESNAP_FAILPOINTS/,
    );
    assert.throws(() => parseFailpoints('join.done'), /expected join\.done=kill/);
    assert.throws(() => parseFailpoints('join.done=delay(-1)'), /delay\(MS\)/);
    assert.throws(() => loadSettings({ DOVESNAP_FAILPOINTS: 'nope=kill' }), /DOVESNAP_FAILPOINTS/);
    assert.equal(loadSettings({}).failpoints.size, 0);
  });

  it('does nothing unless armed; armed, "error" throws a coded error naming the point and "delay" waits', async () => {
    for (const name of Object.keys(FAILPOINTS) as (keyof typeof FAILPOINTS)[]) await failpoint(name);
    armFailpoints(parseFailpoints('join.done=error,leave.start=delay(30)'));
    await assert.rejects(
      failpoint('join.done'),
      (err: unknown) => isDovesnapError(err, ErrorCode.Internal) && /failpoint join\.done/.test(err.message),
    );
    const t0 = Date.now();
    await failpoint('leave.start');
    assert.ok(Date.now() - t0 >= 25);
    await failpoint('createEndpoint.afterVeth');
  });

  it('"kill" SIGKILLs the process at once, after writing one JSON log line', async () => {
    const mod = fileURLToPath(new URL('../../../src/util/failpoints.js', import.meta.url));
    const script = `import(${JSON.stringify(mod)}).then(async (f) => { f.armFailpoints(f.parseFailpoints('createEndpoint.afterVeth=kill')); await f.failpoint('createEndpoint.afterVeth'); console.log('survived'); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    assert.equal(signal, 'SIGKILL');
    assert.doesNotMatch(out, /survived/);
    const line = JSON.parse(out.trim()) as { failpoint: string; action: string };
    assert.deepEqual([line.failpoint, line.action], ['createEndpoint.afterVeth', 'kill']);
  });
});
