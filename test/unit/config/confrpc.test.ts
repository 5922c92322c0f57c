import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { environmentWithFlags } from '../../../src/cli/daemon-cmd.js';
import { confrpcProtoPath, confrpcSettings } from '../../../src/config/confrpc.js';
import { daemonEnvironment } from '../../../src/config/daemon-env.js';
import { loadSettings } from '../../../src/config/settings.js';
import { confrpcKeyFiles, serverMessage } from '../../../src/confrpc/api.js';
import { ConfrpcClient } from '../../../src/confrpc/client.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

describe('FAUCETCONFRPC_* settings', () => {
  it('unset FAUCETCONFRPC_ADDR (or empty, as make up and the unit set it): the local file', () => {
    assert.equal(confrpcSettings({}), undefined);
    assert.equal(
      loadSettings(Object.fromEntries(daemonEnvironment({}).map((l) => l.split(/=(.*)/s)))).confrpc,
      undefined,
    );
  });

  it('the defaults of the original dovesnap, and the key files they name', () => {
    const s = confrpcSettings({ FAUCETCONFRPC_ADDR: 'faucet.lab' });
    assert.deepEqual(s, {
      addr: 'faucet.lab',
      port: 59999,
      keyDir: '/etc/dovesnap/confrpc',
      client: 'faucetconfrpc',
      connRetries: 5,
    });
    assert.deepEqual(confrpcKeyFiles(s ?? { addr: '', keyDir: '', client: '' }), {
      cert: '/etc/dovesnap/confrpc/faucetconfrpc.crt',
      key: '/etc/dovesnap/confrpc/faucetconfrpc.key',
      ca: '/etc/dovesnap/confrpc/faucet.lab-ca.crt',
    });
  });

  it('the --faucetconfrpc_* flags override the variables', () => {
    const env = environmentWithFlags(
      { FAUCETCONFRPC_ADDR: '192.0.2.1', FAUCETCONFRPC_PORT: '1' },
      {
        faucetconfrpc_addr: '192.0.2.7',
        faucetconfrpc_port: '6000',
        faucetconfrpc_keydir: '/k',
        faucetconfrpc_client: 'host2',
        faucetconfrpc_connretries: '9',
      },
    );
    assert.deepEqual(loadSettings(env).confrpc && { ...loadSettings(env).confrpc, proto: undefined }, {
      addr: '192.0.2.7',
      port: 6000,
      keyDir: '/k',
      client: 'host2',
      connRetries: 9,
      proto: undefined,
    });
  });

  for (const [env, name] of [
    [{ FAUCETCONFRPC_ADDR: '192.0.2.1:59999' }, 'FAUCETCONFRPC_ADDR'],
    [{ FAUCETCONFRPC_ADDR: 'a b' }, 'FAUCETCONFRPC_ADDR'],
    [{ FAUCETCONFRPC_PORT: '70000' }, 'FAUCETCONFRPC_PORT'],
    [{ FAUCETCONFRPC_PORT: 'x' }, 'FAUCETCONFRPC_PORT'],
    [{ FAUCETCONFRPC_CONNRETRIES: '0' }, 'FAUCETCONFRPC_CONNRETRIES'],
    [{ FAUCETCONFRPC_KEYDIR: 'keys' }, 'FAUCETCONFRPC_KEYDIR'],
    [{ FAUCETCONFRPC_CLIENT: '../etc/x' }, 'FAUCETCONFRPC_CLIENT'],
  ] as const) {
    it(`refuses ${JSON.stringify(env)}, naming ${name} and the value`, () => {
      const value = Object.values(env)[0] ?? '';
      assert.throws(
        () => confrpcSettings({ ...{ FAUCETCONFRPC_ADDR: 'faucet.lab' }, ...env }),
        (err: unknown) =>
          err instanceof Error && err.message.includes(name) && err.message.includes(JSON.stringify(value)),
      );
    });
  }

  it('are passed to the daemon and listed by `dovesnap settings --env`', () => {
    const lines = daemonEnvironment({ FAUCETCONFRPC_ADDR: 'faucet.lab' });
    for (const line of [
      'FAUCETCONFRPC_ADDR=faucet.lab',
      'FAUCETCONFRPC_PORT=59999',
      'FAUCETCONFRPC_KEYDIR=/etc/dovesnap/confrpc',
      'FAUCETCONFRPC_CLIENT=faucetconfrpc',
      'FAUCETCONFRPC_CONNRETRIES=5',
    ])
      assert.ok(lines.includes(line), line);
  });

  it('finds faucetconfrpc.proto in the installed package; DOVESNAP_CONFRPC_PROTO wins', () => {
    const venv = mkdtempSync(join(tmpdir(), 'dovesnap-venv-'));
    try {
      assert.equal(confrpcProtoPath({}, venv), undefined);
      const dir = join(venv, 'lib/python3.11/site-packages/faucetconfrpc/protos/faucetconfrpc');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'faucetconfrpc.proto'), '');
      assert.equal(confrpcProtoPath({}, venv), join(dir, 'faucetconfrpc.proto'));
      assert.equal(confrpcProtoPath({ DOVESNAP_CONFRPC_PROTO: '/x.proto' }, venv), '/x.proto');
    } finally {
      rmSync(venv, { recursive: true, force: true });
    }
  });

  it("keeps only the server's message out of its error details", () => {
    assert.equal(
      serverMessage(
        'peer_ip:127_0_0_1 peer_id:host1 request:dp_config { dp_name: "x" config_yaml: "..." } error Cannot set FAUCET config: Invalid config: ACL x not found',
      ),
      'Cannot set FAUCET config: Invalid config: ACL x not found',
    );
    assert.equal(serverMessage('Exception calling application: KeyError'), 'Exception calling application: KeyError');
  });
});

describe('the faucetconfrpc client at start-up', () => {
  const settings = { addr: 'faucet.lab', port: 59999, keyDir: '/nonexistent/keys', client: 'host2', connRetries: 1 };

  it('without the service definition: an error naming DOVESNAP_CONFRPC_PROTO', () => {
    assert.throws(
      () => new ConfrpcClient({ settings, proto: undefined }),
      (err: unknown) => isDovesnapError(err, ErrorCode.BadOption) && /DOVESNAP_CONFRPC_PROTO/.test(err.message),
    );
  });

  it('without its key files: an error naming the file and FAUCETCONFRPC_KEYDIR', () => {
    // A stand-in for the package's definition: the keys are read after it is loaded.
    const dir = mkdtempSync(join(tmpdir(), 'dovesnap-proto-'));
    try {
      const proto = join(dir, 'faucetconfrpc.proto');
      writeFileSync(proto, 'syntax = "proto3";\npackage faucetconfserver;\nservice FaucetConfServer {}\n');
      assert.throws(
        () => new ConfrpcClient({ settings, proto }),
        (err: unknown) =>
          isDovesnapError(err, ErrorCode.BadOption) &&
          err.message.includes('/nonexistent/keys/host2.crt') &&
          err.message.includes('FAUCETCONFRPC_KEYDIR'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('which networks go to the faucetconfrpc server', () => {
  it("by default those of the default controllers (the remote FAUCET's); DOVESNAP_LOCAL_FAUCET wins", () => {
    const remote = { FAUCETCONFRPC_ADDR: '192.0.2.1', STACK_OFCONTROLLERS: 'tcp:192.0.2.1:6653' };
    assert.deepEqual(loadSettings(remote).localFaucetControllers, ['tcp:192.0.2.1:6653']);
    assert.deepEqual(loadSettings({ ...remote, DOVESNAP_LOCAL_FAUCET: 'tcp:192.0.2.9:6653' }).localFaucetControllers, [
      'tcp:192.0.2.9:6653',
    ]);
    assert.deepEqual(loadSettings({ STACK_OFCONTROLLERS: 'tcp:192.0.2.1:6653' }).localFaucetControllers, [
      'tcp:127.0.0.1:6653',
    ]);
  });
});
