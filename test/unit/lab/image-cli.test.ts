import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { formatBuildResult, formatImageList, registerLabImageCommands } from '../../../src/cli/lab-image-cmd.js';
import { lockFile } from '../../../src/lab/images/lock.js';
import { isDovesnapError } from '../../../src/util/errors.js';

/** `dovesnap lab …` as main.ts wires it, with commander's exits and output caught. */
function labProgram(): { program: Command; errors: string[] } {
  const errors: string[] = [];
  const program = new Command().name('dovesnap').exitOverride();
  const lab = program.command('lab').exitOverride();
  registerLabImageCommands(lab);
  const quiet = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
    for (const c of cmd.commands) quiet(c);
  };
  quiet(program);
  return { program, errors };
}

async function parseError(args: readonly string[]): Promise<string> {
  const { program, errors } = labProgram();
  await assert.rejects(
    program.parseAsync(['node', 'dovesnap', ...args]),
    (err: unknown) => err instanceof CommanderError,
  );
  return errors.join('');
}

describe('dovesnap lab image: command line', () => {
  it('refuses an unknown recipe, naming it and the choices, before building anything', async () => {
    const msg = await parseError(['lab', 'image', 'build', 'frr', 'quagga']);
    assert.match(msg, /'quagga'/);
    assert.match(msg, /frr, host, capture/);
  });

  it('needs at least one recipe, and knows no other option', async () => {
    assert.match(await parseError(['lab', 'image', 'build']), /missing required argument 'recipe'/);
    assert.match(await parseError(['lab', 'image', 'build', 'frr', '--fast']), /unknown option '--fast'/);
    assert.match(await parseError(['lab', 'image', 'bulid']), /unknown command 'bulid'/);
  });

  it('prints tag, built or cached, seconds and size', () => {
    assert.equal(
      formatBuildResult({
        recipe: 'frr',
        tag: 'dovesnap-lab-frr:0123456789ab',
        built: true,
        seconds: 38.24,
        bytes: 86_812_345,
      }),
      'frr      dovesnap-lab-frr:0123456789ab      built     38.2 s   86.8 MB',
    );
    assert.match(
      formatBuildResult({
        recipe: 'host',
        tag: 'dovesnap-lab-host:0123456789ab',
        built: false,
        seconds: 0.01,
        bytes: 2_000_000,
      }),
      / cached +0\.0 s +2\.0 MB$/,
    );
    assert.match(formatImageList([]), /no lab images/);
    const list = formatImageList([
      {
        tag: 'dovesnap-lab-capture:0123456789ab',
        recipe: 'capture',
        hash: 'x',
        current: false,
        bytes: 60_300_000,
        created: new Date('2026-12-06T23:36:53.123Z'),
      },
    ]);
    assert.match(
      list,
      /^TAG +RECIPE +STATE +SIZE +CREATED\ndovesnap-lab-capture:0123456789ab +capture +old +60\.3 MB +2026-12-06T23:36:53Z$/,
    );
  });
});

describe('lab images: the build lock', () => {
  it('lets one holder at a time have it; the next waits, is told, and gets it once released', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dovesnap-lock-'));
    const file = path.join(dir, 'sub', 'lab-image-frr.lock');
    try {
      const first = await lockFile(file, 1000);
      let told = 0;
      await assert.rejects(
        lockFile(file, 1000, () => told++),
        (err: unknown) => isDovesnapError(err) && /still locked by another build after 1 s/.test(err.message),
      );
      assert.equal(told, 1);
      const waiting = lockFile(file, 10_000, () => told++);
      setTimeout(() => void first.release(), 300);
      const second = await waiting;
      assert.equal(told, 2);
      await second.release();
      await second.release();
      await (await lockFile(file, 1000)).release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
