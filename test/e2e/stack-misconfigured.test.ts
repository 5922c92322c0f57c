import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  containerIp,
  createNetwork,
  faucetYaml,
  must,
  onCleanup,
  run,
  runContainer,
  STATUS_URL,
  testDpid,
  testSubnet,
  uniqueName,
  upWithEnv,
  waitPing,
} from './harness.js';

/**
 * Stacking set up wrong (its root is a switch FAUCET's configuration does not have) must not
 * take the networks down with it: FAUCET refuses a file whose stack has no known root, so
 * dovesnap leaves stacking out of the file, says why, and the networks keep working.
 */
describe('stacking with a root FAUCET does not know', () => {
  const tag = uniqueName('sm').slice(-6);
  const stackIf = `dsk${tag}`;
  const net = uniqueName('sm');
  const { subnet } = testSubnet();

  it('leaves stacking out of faucet.yaml, says why in GET /host, and the network works', async () => {
    onCleanup(() => run('ip', ['link', 'del', stackIf]));
    const original = Object.fromEntries(
      ['STACKING_INTERFACES', 'STACK_PRIORITY1', 'STACK_MIRROR_INTERFACE'].map((k) => [k, process.env[k]]),
    );
    onCleanup(() => upWithEnv(original));
    await must('ip', ['link', 'add', stackIf, 'type', 'veth', 'peer', 'name', `${stackIf}p`]);
    await must('ip', ['link', 'set', stackIf, 'up']);
    await upWithEnv({
      STACKING_INTERFACES: `ghost${tag}:3:${stackIf}`,
      STACK_PRIORITY1: `ghost${tag}`,
      STACK_MIRROR_INTERFACE: undefined,
    });
    const host = (await (await fetch(`${STATUS_URL}/host`)).json()) as { Stack: { Problem: string | null } | null };
    assert.match(host.Stack?.Problem ?? '', new RegExp(`stack root ghost${tag} \\(STACK_PRIORITY1\\) is not a DP`));
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', subnet]);
    await runContainer(`${net}-a`, net);
    await runContainer(`${net}-b`, net);
    await waitPing(`${net}-a`, await containerIp(`${net}-b`, net));
    const doc = parse(faucetYaml()) as {
      dps: Record<string, { description?: string; interfaces: Record<string, { stack?: unknown }> }>;
    };
    assert.ok(
      Object.values(doc.dps).every((dp) => !(dp.description ?? '').startsWith('dovesnap stack switch')),
      'no stack switch DP',
    );
    assert.ok(
      Object.values(doc.dps[net]?.interfaces ?? {}).every((p) => p.stack === undefined),
      'no stack port on the network',
    );
  });
});
