import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { writeLockPath } from '../../src/faucet/store.js';
import { withLockFile } from '../../src/util/lock-file.js';
import { processRunning } from '../../src/util/proc.js';
import {
  FAUCET_CONFIG,
  faucetState,
  hupFaucet,
  run,
  sha256,
  upWithEnv,
  waitFaucetSettled,
  waitFor,
} from './harness.js';

/**
 * Issue 24: `make up CONFRPC=1` runs the faucetconfrpc server beside FAUCET, and what another
 * host's dovesnap writes through it reaches FAUCET. The write is the package's own Python client's
 * (what the original dovesnap's hosts sent), with the client certificate make up made. The server
 * rewrites faucet.yaml with its own YAML dump, so the test puts the operator's bytes back and waits
 * until FAUCET runs them again.
 */

const VENV = '/opt/dovesnap/confrpc-venv';
const KEYDIR = process.env['FAUCETCONFRPC_KEYDIR'] ?? '/etc/dovesnap/confrpc';
const STATE = '/run/dovesnap/faucetconfrpc.state';
const PIDFILE = '/run/dovesnap/faucetconfrpc.pid';

/** The address make up started the server on (its state file; an IPv6 one in brackets, as gRPC wants it). */
function serverHost(): { name: string; dial: string } {
  const dial = /^--host=(.*)$/m.exec(readFileSync(STATE, 'utf8'))?.[1];
  assert.ok(dial !== undefined && dial !== '', `${STATE} names the server's --host`);
  return { name: dial.replace(/^\[(.*)\]$/, '$1'), dial };
}

async function client(...args: string[]): Promise<string> {
  const { name, dial } = serverHost();
  const r = await run(
    `${VENV}/bin/faucetconfrpc_client`,
    [
      `--key=${KEYDIR}/faucetconfrpc.key`,
      `--cert=${KEYDIR}/faucetconfrpc.crt`,
      `--cacert=${KEYDIR}/${name}-ca.crt`,
      `--host=${dial}`,
      '--port=59999',
      ...args,
    ],
    30_000,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual(r.stdout.trim(), 'None', `faucetconfrpc_client ${args[0]} failed: ${r.stderr}`);
  return r.stdout;
}

/** Writes `text` to faucet.yaml as one rename, with the file's mode `mode`. */
function replaceFaucetYaml(text: string, mode: number): void {
  const tmp = `${FAUCET_CONFIG}.e2e-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, FAUCET_CONFIG);
}

describe('make up CONFRPC=1: the faucetconfrpc server beside FAUCET', () => {
  // make test runs it (make up CONFRPC=1); on a stack without it, the test stops what it started.
  const wasRunning = existsSync(STATE);
  after(async () => {
    if (!wasRunning) await upWithEnv({ CONFRPC: '0' });
  });

  it('leaves the server running, serving FAUCET’s configuration directory over mutual TLS', async () => {
    await upWithEnv({ CONFRPC: '1' });
    const pid = Number(readFileSync(PIDFILE, 'utf8').trim());
    assert.ok(processRunning(pid), `faucetconfrpc_server pid ${pid} runs`);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.ok(
      cmdline.some((a) => a.endsWith('/bin/faucetconfrpc_server')),
      cmdline.join(' '),
    );
    assert.ok(cmdline.includes(`--config_dir=${FAUCET_CONFIG.replace(/\/faucet\.yaml$/, '')}`), cmdline.join(' '));
    assert.ok(cmdline.includes('--port=59999') && cmdline.includes('--prom_port=59998'), cmdline.join(' '));
    const dps = Object.keys((parse(readFileSync(FAUCET_CONFIG, 'utf8')) as { dps?: object }).dps ?? {});
    assert.ok(dps.length > 0, 'faucet.yaml has DPs');
    const names = await client('get_dp_names');
    for (const dp of dps) assert.ok(names.includes(`dp_name: "${dp}"`), `${dp} in ${names}`);
    const status = await run('bash', [new URL('../../../scripts/status.sh', import.meta.url).pathname]);
    assert.match(status.stdout, new RegExp(`faucetconfrpc +running +${pid} .*ok \\(mutual TLS\\)`), status.stdout);
  });

  describe('a write through it', () => {
    // Not named dovesnap-…: those ACLs are the daemon's, which it takes out of the file again.
    const acl = `e2e-confrpc-${randomBytes(3).toString('hex')}`;
    let original: string | undefined;
    let mode = 0o644;
    let hashBefore = '';

    // The operator's bytes back (the server's dump loses comments and layout), under the lock
    // dovesnap's own writers hold around a rename; then FAUCET runs them again.
    after(async () => {
      if (original === undefined) return;
      const text = original;
      await withLockFile(
        writeLockPath(FAUCET_CONFIG),
        { timeoutMs: 10_000, what: 'faucet.yaml (e2e restore)' },
        async () => {
          if (readFileSync(FAUCET_CONFIG, 'utf8').includes(acl)) replaceFaucetYaml(text, mode);
        },
      );
      hupFaucet();
      await waitFor(
        'FAUCET runs the operator’s faucet.yaml again',
        async () => (await faucetState()).hash === hashBefore,
        30_000,
        250,
      );
    });

    it('reaches FAUCET: its configuration hash changes to the rewritten file’s, with no reload asked for', async () => {
      await waitFaucetSettled();
      original = readFileSync(FAUCET_CONFIG, 'utf8');
      mode = statSync(FAUCET_CONFIG).mode & 0o777;
      hashBefore = (await faucetState()).hash;
      assert.ok(hashBefore.includes(sha256(original)), 'FAUCET runs the file on disk before the write');

      // An ACL nothing uses: FAUCET accepts it, and it touches no DP of the daemon's.
      await client('set_config_file', `config_yaml={acls: {${acl}: [{rule: {actions: {allow: 1}}}]}}`);
      assert.ok(readFileSync(FAUCET_CONFIG, 'utf8').includes(acl), 'the server wrote the ACL into faucet.yaml');
      // FAUCET_CONFIG_STAT_RELOAD: FAUCET notices the new file by itself (it looks every 3-5 s). The
      // daemon, seeing the file change, may render its DPs onto it again: the ACL stays either way.
      const state = await waitFor(
        'FAUCET to load a faucet.yaml with the ACL written through faucetconfrpc',
        async () => {
          const text = readFileSync(FAUCET_CONFIG, 'utf8');
          const s = await faucetState();
          return text.includes(acl) && s.hash.includes(sha256(text)) ? s : undefined;
        },
        30_000,
        250,
      );
      assert.notEqual(state.hash, hashBefore);
      assert.equal(state.loadError, false);
    });
  });
});
