/**
 * `dovesnap confrpc keys` against the real things: openssl makes the keys, the PyPI package's own
 * faucetconfrpc_server serves a small FAUCET configuration with them on 127.0.0.1, and its own
 * Python client proves the mutual TLS: with a client certificate of the CA it gets the DP names;
 * with one of another CA, or trusting another CA, or dialling a name the certificate does not
 * carry, it gets nothing. Needs the venv `make up CONFRPC=1` installs ($CONFRPC_VENV, default
 * /opt/dovesnap/confrpc-venv; `make test` runs that make up first). Without it the tests fail:
 * they never skip.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { makeKeys, runOpenssl } from '../../src/confrpc/keys.js';
import { runCommand } from '../../src/net/exec.js';

const VENV = process.env['CONFRPC_VENV'] ?? '/opt/dovesnap/confrpc-venv';
const SERVER_BIN = join(VENV, 'bin', 'faucetconfrpc_server');
const CLIENT_BIN = join(VENV, 'bin', 'faucetconfrpc_client');

const FAUCET_YAML = `vlans:
  office:
    vid: 100
dps:
  confrpc-sw-a:
    dp_id: 0x1
    hardware: Open vSwitch
    interfaces:
      1:
        native_vlan: office
  confrpc-sw-b:
    dp_id: 0x2
    hardware: Open vSwitch
    interfaces:
      1:
        native_vlan: office
`;

const openssl = runOpenssl;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface ClientRun {
  readonly stdout: string;
  readonly stderr: string;
}

/** The package's client; it prints the reply, or "None" when the call failed (and exits 0 either way). */
function client(args: readonly string[]): Promise<ClientRun> {
  return new Promise((resolve) => {
    execFile(
      CLIENT_BIN,
      args as string[],
      { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } },
      (_err, stdout, stderr) => resolve({ stdout: stdout.trim(), stderr }),
    );
  });
}

describe('faucetconfrpc with keys from dovesnap confrpc keys (mutual TLS)', () => {
  let tmp = '';
  let keys = '';
  let rogue = '';
  let conf = '';
  let port = 0;
  let server: ChildProcess | undefined;
  let serverLog = '';
  const creds = (dir: string, ca: string, name = 'faucetconfrpc'): string[] => [
    `--key=${join(dir, `${name}.key`)}`,
    `--cert=${join(dir, `${name}.crt`)}`,
    `--cacert=${join(ca, '127.0.0.1-ca.crt')}`,
  ];
  const dpNames = (dir: string, ca: string, host = '127.0.0.1'): Promise<ClientRun> =>
    client([...creds(dir, ca), `--host=${host}`, `--port=${port}`, 'get_dp_names']);

  before(async () => {
    if (!existsSync(SERVER_BIN) || !existsSync(CLIENT_BIN)) {
      assert.fail(`${SERVER_BIN} or faucetconfrpc_client not found: run make up CONFRPC=1 (or set CONFRPC_VENV)`);
    }
    tmp = await mkdtemp(join(tmpdir(), 'dovesnap-confrpc-'));
    keys = join(tmp, 'keys');
    rogue = join(tmp, 'rogue');
    conf = join(tmp, 'faucet');
    await makeKeys({ dir: keys, server: '127.0.0.1', clients: ['faucetconfrpc'], days: 30, force: false }, openssl);
    await makeKeys({ dir: rogue, server: '127.0.0.1', clients: ['faucetconfrpc'], days: 30, force: false }, openssl);
    await mkdir(conf);
    await writeFile(join(conf, 'faucet.yaml'), FAUCET_YAML);
    port = await freePort();
    const prom = await freePort();
    server = spawn(
      SERVER_BIN,
      [
        `--config_dir=${conf}`,
        '--default_config=faucet.yaml',
        `--key=${join(keys, '127.0.0.1.key')}`,
        `--cert=${join(keys, '127.0.0.1.crt')}`,
        `--cacert=${join(keys, '127.0.0.1-ca.crt')}`,
        '--host=127.0.0.1',
        `--port=${port}`,
        `--prom_port=${prom}`,
      ],
      { cwd: conf, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin', PYTHONUNBUFFERED: '1' } },
    );
    const collect = (chunk: Buffer): void => {
      serverLog += chunk.toString('utf8');
    };
    server.stdout?.on('data', collect);
    server.stderr?.on('data', collect);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (server.exitCode !== null) assert.fail(`faucetconfrpc_server exited ${server.exitCode}:\n${serverLog}`);
      if ((await dpNames(keys, keys)).stdout.includes('dp_name')) break;
      if (Date.now() > deadline) assert.fail(`faucetconfrpc_server did not answer within 60 s:\n${serverLog}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  after(async () => {
    const s = server;
    if (s !== undefined && s.exitCode === null && s.signalCode === null) {
      const exited = new Promise((r) => s.once('exit', r));
      s.kill('SIGTERM');
      const timer = setTimeout(() => s.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  });

  it('made private keys (0600) and a server certificate whose subjectAltName is the IP address', async () => {
    for (const f of ['127.0.0.1-ca.key', '127.0.0.1.key', 'faucetconfrpc.key'])
      assert.equal((await stat(join(keys, f))).mode & 0o777, 0o600, f);
    assert.equal((await stat(join(keys, '127.0.0.1.crt'))).mode & 0o777, 0o644);
    const san = await runCommand('openssl', [
      'x509',
      '-noout',
      '-ext',
      'subjectAltName',
      '-in',
      join(keys, '127.0.0.1.crt'),
    ]);
    assert.match(san.stdout, /IP Address:127\.0\.0\.1/);
    // The other CA's client certificate is not this CA's.
    await assert.rejects(
      runCommand('openssl', ['verify', '-CAfile', join(keys, '127.0.0.1-ca.crt'), join(rogue, 'faucetconfrpc.crt')]),
    );
  });

  it('a client certificate of the CA gets the DP names', async () => {
    const r = await dpNames(keys, keys);
    assert.match(r.stdout, /dp_name: "confrpc-sw-a"/, r.stderr);
    assert.match(r.stdout, /dp_name: "confrpc-sw-b"/);
  });

  it('a client certificate of another CA is refused', async () => {
    // It trusts the right CA for the server; the server refuses its certificate.
    const r = await client([...creds(rogue, keys), '--host=127.0.0.1', `--port=${port}`, 'get_dp_names']);
    assert.equal(r.stdout, 'None');
    assert.match(r.stderr, /StatusCode\.UNAVAILABLE|handshake|Connection reset|Socket closed/i, r.stderr);
  });

  it('a client that trusts another CA refuses the server, and so does one dialling a name the certificate does not carry', async () => {
    const otherCa = await client([...creds(keys, rogue), '--host=127.0.0.1', `--port=${port}`, 'get_dp_names']);
    assert.equal(otherCa.stdout, 'None');
    const byName = await dpNames(keys, keys, 'localhost');
    assert.equal(byName.stdout, 'None');
  });

  it('a second run adds a client with the same CA, which the server then accepts', async () => {
    const caBefore = await readFile(join(keys, '127.0.0.1-ca.crt'), 'utf8');
    const r = await makeKeys(
      { dir: keys, server: '127.0.0.1', clients: ['faucetconfrpc', 'host2'], days: 30, force: false },
      openssl,
    );
    assert.deepEqual([...r.made].sort(), [join(keys, 'host2.crt'), join(keys, 'host2.key')]);
    assert.equal(await readFile(join(keys, '127.0.0.1-ca.crt'), 'utf8'), caBefore);
    const asHost2 = await client([...creds(keys, keys, 'host2'), '--host=127.0.0.1', `--port=${port}`, 'get_dp_names']);
    assert.match(asHost2.stdout, /dp_name: "confrpc-sw-a"/, asHost2.stderr);
  });
});
