import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  containerIp,
  createNetwork,
  docker,
  dockerRaw,
  hostLinks,
  httpGet,
  killOvsDaemon,
  must,
  run,
  runContainer,
  serveHttp,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  STATUS_URL,
} from './harness.js';

/**
 * The daemon outlives its OVSDB connection (issue 6, defect 2), and collects what a crash left
 * (defect 17): proven from outside, as an operator would see it.
 */

const REPO = new URL('../../..', import.meta.url).pathname;
const DAEMON_PIDFILE = '/run/dovesnap/dovesnap.pid';

async function healthz(): Promise<{ code: number; body: string }> {
  const res = await fetch(`${STATUS_URL}/healthz`);
  return { code: res.status, body: await res.text() };
}

function pidOf(pidfile: string): number {
  return Number(readFileSync(pidfile, 'utf8').trim());
}

async function makeUp(): Promise<void> {
  await must('bash', [`${REPO}/scripts/up.sh`], 600_000);
}

describe('OVSDB restarts and leftovers', () => {
  const net = uniqueName('odb');
  const { subnet } = testSubnet();
  const [a, b, c] = ['a', 'b', 'c'].map((s) => `${net}-${s}`) as [string, string, string];

  it('after ovsdb-server is killed, health says degraded; once it is back, containers start, stop and talk again', async () => {
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', subnet]);
    await runContainer(a, net);
    await serveHttp(a);

    await killOvsDaemon('ovsdb-server');
    await waitFor(
      'healthz degraded',
      async () => {
        const h = await healthz();
        return h.code === 503 && /degraded/.test(h.body) && /OVSDB/.test(h.body);
      },
      15_000,
      100,
    );

    await makeUp(); // starts ovsdb-server again (and nothing else that is running)
    await waitFor('healthz ok again', async () => (await healthz()).code === 200, 20_000, 100);

    await runContainer(b, net);
    await waitPing(b, await containerIp(a, net), 20_000);
    assert.equal(await httpGet(b, `http://${await containerIp(a, net)}:8080/`), `hello from ${a}`);
    await docker('rm', '-f', b);
    await runContainer(c, net);
    await waitPing(c, await containerIp(a, net), 20_000);
  });

  it('a veth pair left by a crash is removed at the next start (defect 17)', async () => {
    // What a daemon SIGKILLed between `ip link add` and recording the endpoint leaves.
    const host = 'dspdeadbeef0e2e';
    const peer = 'dscdeadbeef0e2e';
    await run('ip', ['link', 'del', host]);
    await must('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
    try {
      process.kill(pidOf(DAEMON_PIDFILE), 'SIGKILL');
      await makeUp();
      await waitFor('the stray pair removed', async () => !(await hostLinks('dsp')).includes(host), 15_000);
      assert.ok(!(await hostLinks('dsc')).includes(peer));
      // Everything known survived the collection.
      await waitPing(c, await containerIp(a, net), 20_000);
    } finally {
      await run('ip', ['link', 'del', host]);
    }
  });

  it('the network can be deleted after all this, leaving no bridge', async () => {
    await docker('rm', '-f', a, c);
    const r = await dockerRaw('network', 'rm', net);
    assert.equal(r.code, 0, r.stderr);
  });
});
