import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  checkClientName,
  makeKeys,
  opensslConfig,
  parseDays,
  parseServerName,
  planKeys,
  type KeysRequest,
} from '../../../src/confrpc/keys.js';
import { isDovesnapError } from '../../../src/util/errors.js';

const DIR = '/etc/dovesnap/confrpc';
const WORK = `${DIR}/.keys-w`;
const req = (over: Partial<KeysRequest> = {}): KeysRequest => ({
  dir: DIR,
  server: '10.0.0.1',
  clients: ['faucetconfrpc'],
  days: 3650,
  force: false,
  ...over,
});
const ALL = [
  '10.0.0.1-ca.crt',
  '10.0.0.1-ca.key',
  '10.0.0.1.crt',
  '10.0.0.1.key',
  'faucetconfrpc.crt',
  'faucetconfrpc.key',
];

/** The openssl subcommand and the output file (or the verified file) of each step. */
const outline = (steps: readonly (readonly string[])[]): string[] =>
  steps.map((s) => {
    const out = s.indexOf('-out');
    return `${s[0]} ${out >= 0 ? s[out + 1] : s[s.length - 1]}`;
  });

/** The steps that make and check one pair in the work directory: key, request, signature, check. */
const signed = (name: string): string[] => [
  `genpkey ${WORK}/${name}.key`,
  `req ${WORK}/${name}.csr`,
  `x509 ${WORK}/${name}.crt`,
  `verify ${WORK}/${name}.crt`,
];

describe('dovesnap confrpc keys: the options', () => {
  it('--server: an IP address is named by IP:, a DNS name by DNS:', () => {
    assert.deepEqual(parseServerName('192.0.2.7'), { value: '192.0.2.7', kind: 'IP' });
    assert.deepEqual(parseServerName('fd00::7'), { value: 'fd00::7', kind: 'IP' });
    assert.deepEqual(parseServerName('controller.lab.example'), { value: 'controller.lab.example', kind: 'DNS' });
    assert.deepEqual(parseServerName(' localhost '), { value: 'localhost', kind: 'DNS' });
  });

  it('--server: wildcards, paths, bad names and dotted numbers that are no address are refused, naming the option and value', () => {
    for (const bad of ['0.0.0.0', '::', '', 'a/b', '../etc', '-x.example', 'host_name', '10.0.0.256', 'a..b']) {
      assert.throws(
        () => parseServerName(bad),
        (err: unknown) =>
          isDovesnapError(err) && err.message.includes('--server') && err.message.includes(JSON.stringify(bad)),
        bad,
      );
    }
    assert.throws(() => parseServerName('0.0.0.0'), /wildcard/);
  });

  it("--client: a file-name-safe name, not the server's own", () => {
    const server = parseServerName('10.0.0.1');
    assert.equal(checkClientName('host-2.lab_a', server), 'host-2.lab_a');
    for (const bad of ['', '.hidden', 'a/b', 'a b', 'x'.repeat(65), '10.0.0.1', '10.0.0.1-ca']) {
      assert.throws(
        () => checkClientName(bad, server),
        (err: unknown) =>
          isDovesnapError(err) && err.message.includes(`--client`) && err.message.includes(JSON.stringify(bad)),
        bad,
      );
    }
  });

  it('--days: a whole number from 1 to 36500', () => {
    assert.equal(parseDays('365'), 365);
    for (const bad of ['0', '-1', '1.5', 'ten', '36501', ''])
      assert.throws(
        () => parseDays(bad),
        new RegExp(`invalid value ${JSON.stringify(bad).replace(/\./g, '\\.')} for option --days`),
      );
  });
});

describe('dovesnap confrpc keys: the plan', () => {
  it('in an empty directory: a CA, then the server and each client signed by it, each checked', () => {
    const plan = planKeys(req({ clients: ['faucetconfrpc', 'host2'] }), new Set(), WORK);
    assert.deepEqual(outline(plan.steps), [
      `genpkey ${WORK}/10.0.0.1-ca.key`,
      `req ${WORK}/10.0.0.1-ca.crt`,
      ...signed('10.0.0.1'),
      ...signed('faucetconfrpc'),
      ...signed('host2'),
    ]);
    assert.deepEqual(plan.install, [...ALL, 'host2.crt', 'host2.key']);
    assert.deepEqual(plan.kept, []);
    assert.equal(plan.newCa, true);
    // The server's certificate is signed with the server extensions, the clients' with the client ones.
    const x509 = plan.steps.filter((s) => s[0] === 'x509');
    assert.deepEqual(
      x509.map((s) => s[s.indexOf('-extensions') + 1]),
      ['server_ext', 'client_ext', 'client_ext'],
    );
    for (const s of x509) {
      assert.equal(s[s.indexOf('-CA') + 1], `${WORK}/10.0.0.1-ca.crt`);
      assert.equal(s[s.indexOf('-days') + 1], '3650');
    }
    assert.ok(plan.steps.filter((s) => s[0] === 'genpkey').every((s) => s.includes('ec_paramgen_curve:P-256')));
  });

  it("the server's subjectAltName is IP: or DNS: after --server, and only the server's extensions carry it", () => {
    const ip = opensslConfig(parseServerName('192.0.2.7'));
    assert.match(ip, /^\[server_ext\][^[]*^subjectAltName = IP:192\.0\.2\.7$/m);
    assert.match(ip, /^\[server_ext\][^[]*^extendedKeyUsage = serverAuth$/m);
    assert.match(ip, /^\[client_ext\][^[]*^extendedKeyUsage = clientAuth$/m);
    assert.doesNotMatch(ip.slice(ip.indexOf('[client_ext]')), /subjectAltName/);
    assert.match(ip, /^\[ca_ext\][^[]*^basicConstraints = critical, CA:TRUE, pathlen:0$/m);
    assert.match(opensslConfig(parseServerName('ctl.example')), /^subjectAltName = DNS:ctl\.example$/m);
  });

  it('a second run keeps everything there, checks it against the CA, and adds only the missing client with the existing CA', () => {
    const plan = planKeys(req({ clients: ['faucetconfrpc', 'host3'] }), new Set(ALL), WORK);
    assert.deepEqual(outline(plan.steps), [
      `verify ${DIR}/10.0.0.1.crt`,
      `verify ${DIR}/faucetconfrpc.crt`,
      ...signed('host3'),
    ]);
    const sign = plan.steps.find((s) => s[0] === 'x509') ?? [];
    assert.equal(sign[sign.indexOf('-CA') + 1], `${DIR}/10.0.0.1-ca.crt`);
    assert.equal(sign[sign.indexOf('-CAkey') + 1], `${DIR}/10.0.0.1-ca.key`);
    assert.deepEqual(plan.install, ['host3.crt', 'host3.key']);
    assert.deepEqual(plan.kept, ALL);
    assert.equal(plan.newCa, false);
  });

  it('refuses a half pair, naming both files, and certificates whose CA is gone', () => {
    assert.throws(
      () => planKeys(req(), new Set(ALL.filter((f) => f !== 'faucetconfrpc.key')), WORK),
      new RegExp(`${DIR}/faucetconfrpc\\.crt exists but ${DIR}/faucetconfrpc\\.key does not.*--force`),
    );
    assert.throws(
      () => planKeys(req(), new Set(['10.0.0.1.crt', '10.0.0.1.key']), WORK),
      new RegExp(`${DIR}/10\\.0\\.0\\.1-ca\\.crt does not exist, but ${DIR}/10\\.0\\.0\\.1\\.crt do`),
    );
  });

  it("an operator's CA certificate without its key does while nothing needs signing, and is named when something does", () => {
    const noCaKey = new Set(ALL.filter((f) => f !== '10.0.0.1-ca.key'));
    assert.deepEqual(planKeys(req(), noCaKey, WORK).install, []);
    assert.throws(
      () => planKeys(req({ clients: ['host4'] }), noCaKey, WORK),
      /10\.0\.0\.1-ca\.key does not exist: host4\.crt cannot be signed/,
    );
  });

  it('--force makes the server and the named clients anew, signed by the CA there; --new-ca the CA too', () => {
    const force = planKeys(req({ force: true }), new Set(ALL), WORK);
    assert.deepEqual(force.install, ALL.slice(2));
    assert.deepEqual(force.kept, ALL.slice(0, 2));
    assert.equal(force.newCa, false);
    const sign = force.steps.find((s) => s[0] === 'x509') ?? [];
    assert.equal(sign[sign.indexOf('-CAkey') + 1], `${DIR}/10.0.0.1-ca.key`);
    // A client signed by another address's CA is so made anew with this one (make up does that).
    const other = planKeys(req({ force: true }), new Set(['faucetconfrpc.crt', 'faucetconfrpc.key']), WORK);
    assert.deepEqual(other.install, ALL);
    const fresh = planKeys(req({ force: true, newCa: true }), new Set(ALL), WORK);
    assert.deepEqual(fresh.install, ALL);
    assert.deepEqual(fresh.kept, []);
    assert.equal(fresh.newCa, true);
    assert.equal(fresh.steps.filter((s) => s[0] === 'verify' && !(s[3] ?? '').startsWith(WORK)).length, 0);
  });

  it('a client named twice is made once', () => {
    assert.deepEqual(
      planKeys(req({ clients: ['a', 'a'] }), new Set(), WORK).install.filter((f) => f.startsWith('a.')),
      ['a.crt', 'a.key'],
    );
  });
});

describe('dovesnap confrpc keys: a failing openssl leaves nothing behind', () => {
  it('removes its work directory and installs no file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-keys-'));
    try {
      let calls = 0;
      await assert.rejects(
        makeKeys(req({ dir }), async () => {
          calls += 1;
          if (calls === 3) throw new Error('openssl genpkey failed: no entropy');
        }),
        /no entropy/,
      );
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('dovesnap confrpc keys (the command line)', () => {
  const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
  const cli = (args: readonly string[]): Promise<{ code: number; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [MAIN, ...args], { encoding: 'utf8' }, (err, _out, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr }),
      );
    });

  it('names a missing required option, and a bad value with its option', async () => {
    const noServer = await cli(['confrpc', 'keys', '--dir', '/nonexistent/x']);
    assert.equal(noServer.code, 1);
    assert.match(noServer.stderr, /required option '--server <addr>' not specified/);
    const wildcard = await cli(['confrpc', 'keys', '--dir', '/nonexistent/x', '--server', '0.0.0.0']);
    assert.equal(wildcard.code, 2);
    assert.match(wildcard.stderr, /invalid value "0\.0\.0\.0" for option --server/);
    const days = await cli(['confrpc', 'keys', '--dir', '/nonexistent/x', '--server', '10.0.0.1', '--days', '0']);
    assert.equal(days.code, 2);
    assert.match(days.stderr, /invalid value "0" for option --days/);
  });
});

describe('dovesnap confrpc keys: the directory', () => {
  it("a new key directory is root's alone, the directories made above it are not", async () => {
    // /etc/dovesnap/confrpc made with its parent: the parent also holds Prometheus's
    // configuration, which Prometheus (not root) must reach.
    const top = await mkdtemp(join(tmpdir(), 'dovesnap-keys-'));
    try {
      const dir = join(top, 'etc-dovesnap', 'confrpc');
      await makeKeys(req({ dir }), async () => undefined).catch(() => undefined);
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      assert.equal((await stat(join(top, 'etc-dovesnap'))).mode & 0o777, 0o755);
    } finally {
      await rm(top, { recursive: true, force: true });
    }
  });
});
