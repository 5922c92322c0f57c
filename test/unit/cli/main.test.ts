import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], nodeArgs: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...nodeArgs, MAIN, ...args],
      { env: { ...process.env, ...env }, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('dovesnap (src/cli/main.ts): which modules a command line loads', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dovesnap-main-'));
    // A module resolution hook that writes down every module the process resolves.
    await writeFile(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(join(dir, 'loaded'))}, r.url + '\\n');
  return r;
}`,
    );
    await writeFile(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${join(dir, 'hooks.mjs')}`)});\n`,
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('dovesnap daemon loads the daemon, and none of the other commands, the lab or zod', async () => {
    // A bad setting stops the daemon right after its modules are loaded and before it touches anything.
    const r = await cli(['daemon'], ['--import', join(dir, 'register.mjs')], { DOVESNAP_SPARE_PORTS: 'many' });
    assert.match(r.stderr, /DOVESNAP_SPARE_PORTS/);
    assert.equal(r.code, 2);
    const loaded = (await readFile(join(dir, 'loaded'), 'utf8')).split('\n');
    assert.ok(
      loaded.some((url) => url.endsWith('/src/daemon.js')),
      'the daemon itself was loaded',
    );
    const unwanted = loaded.filter(
      (url) =>
        /\/src\/cli\/(?!main\.js|daemon-cmd\.js)[^/]+$/.test(url) ||
        url.includes('/src/lab/') ||
        url.includes('/node_modules/zod/'),
    );
    assert.deepEqual(unwanted, []);
  });

  it('dovesnap --help still lists every command, and lab and narwhal their own options', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    for (const verb of ['daemon', 'status', 'graph', 'setup-config', 'narwhal', 'lab', 'attach', 'detach']) {
      assert.match(help.stdout, new RegExp(`^  ${verb} `, 'm'), verb);
    }
    assert.match((await cli(['lab', '--help'])).stdout, /^ {2}image /m);
    assert.match((await cli(['narwhal', '--help'])).stdout, /--paranoid/);
    const typo = await cli(['statu']);
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /unknown command 'statu'[\s\S]*Did you mean status\?/);
  });
});
