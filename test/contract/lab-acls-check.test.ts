/**
 * A lab's ACLs against FAUCET's own check_faucet_config (faucet/check.ts): what editLabAcls
 * writes is what FAUCET loads, used by a port or not, and a rule FAUCET refuses is refused
 * before anything is written, with FAUCET's sentence and the ACL's name. Needs the venv with
 * `faucet` ($FAUCET_VENV, default /opt/dovesnap/venv); without it the tests fail.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  checkerMessage,
  faucetChecker,
  findFaucetChecker,
  withoutKnownTypes,
  type FaucetChecker,
} from '../../src/faucet/check.js';
import { renderFaucetConfig } from '../../src/faucet/render.js';
import { editLabAcls, syncLabAcls, type LabAcls } from '../../src/lab/faucet-acls.js';
import { ErrorCode, isDovesnapError } from '../../src/util/errors.js';
import { FakeFaucet } from '../fakes/fake-faucet.js';
import { fixture, NET1, state } from '../unit/faucet/specs.js';

const BASE = renderFaucetConfig(fixture('operator.yaml'), state([NET1]));

const GOOD: LabAcls = new Map<string, readonly unknown[]>([
  [
    'web',
    [
      { rule: { dl_type: 0x806, actions: { allow: 1 } } },
      { rule: { dl_type: 0x800, ip_proto: 1, actions: { allow: 1 } } },
      { rule: { dl_type: 0x800, ip_proto: 6, tcp_dst: 8080, actions: { allow: 1 } } },
      { rule: { dl_type: 0x800, ip_proto: 6, tcp_dst: 8081, actions: { allow: 0 } } },
      { rule: { dl_type: 0x800, ipv4_src: '10.0.0.0/8', actions: { allow: 1, meter: 'lossy' } } },
      { rule: { actions: { allow: 0 } } },
    ],
  ],
  ['out', [{ rule: { eth_dst: '0e:00:00:00:00:01', actions: { output: { ports: [1, 2] } } } }]],
]);

let dir = '';
let check: FaucetChecker;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dovesnap-lab-acls-contract-'));
  const binary = findFaucetChecker();
  if (binary === undefined)
    assert.fail(
      `check_faucet_config not found in ${process.env['FAUCET_VENV'] ?? '/opt/dovesnap/venv'}/bin; set FAUCET_VENV to a virtualenv with the PyPI package faucet`,
    );
  check = faucetChecker(binary);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lab ACLs and check_faucet_config', () => {
  it('FAUCET accepts the ACLs as written, unused and used by a port', async () => {
    const path = join(dir, 'faucet.yaml');
    const text = editLabAcls(BASE, 'demo', GOOD).text;
    assert.equal(await check(text, path), undefined);
    const used = renderFaucetConfig(
      text,
      state([
        {
          ...NET1,
          ports: [
            ...NET1.ports,
            { number: 9, description: 'c', nativeVlan: 300, aclsIn: ['lab-demo.web', 'lab-demo.out'] },
          ],
        },
      ]),
    );
    assert.match(used, /acls_in: \[lab-demo\.web, lab-demo\.out\]/);
    assert.equal(await check(used, path), undefined);
  });

  it('a field FAUCET does not know: its sentence, naming the ACL; nothing written, nothing reloaded', async () => {
    const path = join(dir, 'faucet.yaml');
    const bad = new Map([...GOOD, ['bad', [{ rule: { dl_type: 0x800, tcp_dport: 22, actions: { allow: 0 } } }]]]);
    const verdict = await check(editLabAcls(BASE, 'demo', bad).text, path);
    assert.match(verdict ?? '', /tcp_dport.*lab-demo\.bad/);
    assert.doesNotMatch(verdict ?? '', /known types/);

    await writeFile(path, BASE);
    const fake = await FakeFaucet.start({ configPath: path });
    try {
      const opts = {
        configPath: path,
        reload: () => fake.reload(),
        metricsUrl: fake.metricsUrl,
        pollIntervalMs: 2,
        check,
        env: {},
      };
      await assert.rejects(
        syncLabAcls('demo', bad, opts),
        (err: unknown) =>
          isDovesnapError(err, ErrorCode.FaucetInvalid) &&
          /check_faucet_config refuses lab demo's ACL lab-demo\.bad: .*tcp_dport/.test(err.message),
      );
      assert.equal(await readFile(path, 'utf8'), BASE);
      assert.equal(fake.reloadCalls, 0);
      assert.deepEqual((await syncLabAcls('demo', GOOD, opts)).added, ['lab-demo.out', 'lab-demo.web']);
    } finally {
      await fake.close();
    }
  });

  it("keeps FAUCET's sentence from its output", () => {
    assert.equal(
      checkerMessage(
        `[InvalidConfigError("DP x: bogus field unknown in lab-t.web (known types {'cookie': <class 'int'>})")]\n`,
      ),
      'DP x: bogus field unknown in lab-t.web',
    );
    assert.equal(checkerMessage('Traceback...\nValueError: x\n'), 'Traceback...');
    assert.equal(
      withoutKnownTypes(
        "FAUCET rejected f: DP d: x field unknown in a (known types {'cookie': <class 'int'>, 'in_port': (<class 'str'>, <class 'int'>)}); restored",
      ),
      'FAUCET rejected f: DP d: x field unknown in a; restored',
    );
  });
});
