/**
 * `dovesnap faucet health` and `dovesnap faucet reload` as scripts/up.sh and scripts/status.sh run
 * them: the built CLI, its output's first word and its exit status, against a stand-in FAUCET (a
 * metrics page served here, and a shell that catches SIGHUP and can count it as a reload).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

function cli(args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', env: {} }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

describe('dovesnap faucet health and reload (the built CLI)', () => {
  let dir = '';
  let server: Server;
  let metrics = '';
  let loadError = 0;
  const shells: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dovesnap-faucet-cli-'));
    // The reload counter moves once the stand-in has caught a SIGHUP (it touches the file `hup`).
    server = createServer((_req, res) => {
      const reloads = existsSync(join(dir, 'hup')) ? 4 : 3;
      res.end(
        `faucet_config_load_error ${loadError}.0\nfaucet_config_hash_info{config_files="/etc/faucet/faucet.yaml",error="",hashes="ab"} 1.0\nfaucet_config_reload_requests_total ${reloads}.0\n`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    metrics = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  });

  after(async () => {
    for (const shell of shells) shell.kill('SIGKILL');
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  /** A process that catches SIGHUP, running `onHup` for it; its pidfile once the handler is set. */
  async function standIn(name: string, onHup: string): Promise<string> {
    const pidfile = join(dir, `${name}.pid`);
    const shell = spawn(
      'bash',
      ['-c', `trap '${onHup}' HUP; echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; while :; do sleep 0.1; done`, name, pidfile],
      {
        cwd: dir,
        stdio: 'ignore',
      },
    );
    shells.push(shell);
    for (let i = 0; i < 100 && !existsSync(pidfile); i += 1) await new Promise((r) => setTimeout(r, 20));
    return pidfile;
  }

  it('health: ok (0), load-error (4), unreachable (3), the state first', async () => {
    const ok = await cli(['faucet', 'health', '--metrics', metrics]);
    assert.deepEqual([ok.code, ok.out.split(':')[0]], [0, 'ok'], ok.out);
    loadError = 1;
    const bad = await cli(['faucet', 'health', '--metrics', metrics]);
    loadError = 0;
    assert.deepEqual([bad.code, bad.out.split(':')[0]], [4, 'load-error'], bad.out);
    const gone = await cli(['faucet', 'health', '--metrics', 'http://127.0.0.1:1/metrics']);
    assert.deepEqual([gone.code, gone.out.split(':')[0]], [3, 'unreachable'], gone.out);
  });

  it('reload: a FAUCET that handles the SIGHUP is reloaded (0); one that ignores it while idle is hung (3)', async () => {
    const hung = await cli([
      'faucet',
      'reload',
      '--metrics',
      metrics,
      '--pidfile',
      await standIn('hung', ':'),
      '--timeout',
      '2',
    ]);
    assert.equal(hung.code, 3, hung.out);
    assert.match(hung.out, /^hung: pid \d+ answers metrics but handles no events \(reload requests 3 -> 3, idle\)/);

    const pidfile = await standIn('live', 'touch hup');
    const live = await cli(['faucet', 'reload', '--metrics', metrics, '--pidfile', pidfile, '--timeout', '10']);
    assert.equal(live.code, 0, live.out);
    assert.match(live.out, /^reloaded: pid \d+ handled the reload request \(reload requests 3 -> 4\)/);
  });

  it('reload: a pidfile that names no process is an error naming the pidfile (2), not a verdict', async () => {
    const pidfile = join(dir, 'stale.pid');
    await writeFile(pidfile, '999999999\n');
    const stale = await cli(['faucet', 'reload', '--metrics', metrics, '--pidfile', pidfile, '--timeout', '2']);
    assert.equal(stale.code, 2, stale.out);
    assert.match(stale.out, /stale\.pid/);
  });
});
