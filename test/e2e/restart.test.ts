import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  containerIp,
  containerPortsOn,
  endpointPort,
  createNetwork,
  docker,
  faucetYaml,
  hostLinks,
  httpGet,
  must,
  processAlive,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
} from './harness.js';

/**
 * State survives the daemon: after SIGKILL and a restart, and after dockerd itself restarts,
 * containers keep (or regain) connectivity, new ones join, and removing one that joined before
 * the restart leaves nothing behind.
 */

const REPO = new URL('../../..', import.meta.url).pathname;
const PIDFILE = '/run/dovesnap/dovesnap.pid';

function daemonPid(): number {
  return Number(readFileSync(PIDFILE, 'utf8').trim());
}

/** `make up` brings back whatever is down, and only that. */
async function makeUp(): Promise<void> {
  await must('bash', [`${REPO}/scripts/up.sh`], 600_000);
}

async function containerPorts(bridge: string): Promise<string[]> {
  return [...(await containerPortsOn(bridge)).keys()];
}

function faucetPortDescriptions(dp: string): string[] {
  const d = (parse(faucetYaml()) as { dps?: Record<string, { interfaces: Record<string, { description?: string }> }> })
    .dps?.[dp];
  return Object.values(d?.interfaces ?? {})
    .map((p) => p.description ?? '')
    .filter((s) => s.startsWith('/'));
}

describe('restarts', () => {
  const net = uniqueName('rst');
  const { subnet } = testSubnet();
  const [c1, c2, c3, c4] = ['c1', 'c2', 'c3', 'c4'].map((s) => `${net}-${s}`) as [string, string, string, string];
  let bridge = '';

  it('starts two containers that talk', async () => {
    bridge = `ovsbr-${(await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', subnet])).slice(0, 5)}`;
    await runContainer(c1, net, ['--restart=always']);
    await runContainer(c2, net, ['--restart=always']);
    await serveHttp(c2);
    await waitPing(c1, await containerIp(c2, net));
  });

  it('keeps forwarding while the daemon is dead, and recovers after SIGKILL + make up', async () => {
    const pid = daemonPid();
    process.kill(pid, 'SIGKILL');
    await waitFor('daemon gone', async () => !processAlive(pid));
    const ip2 = await containerIp(c2, net);
    await waitPing(c1, ip2, 5000);
    assert.equal(await httpGet(c1, `http://${ip2}:8080/`), `hello from ${c2}`);

    await makeUp();
    assert.notEqual(daemonPid(), pid);
    const n = Object.values(await status()).find((x) => x.NetworkName === net);
    assert.ok(n, 'network restored in the status API');
    assert.deepEqual(
      Object.values(n.Containers)
        .map((c) => c.Name)
        .sort(),
      [`/${c1}`, `/${c2}`],
    );
  });

  it('lets new containers join after the restart, and cleans up ones that joined before it', async () => {
    await runContainer(c3, net);
    await waitPing(c3, await containerIp(c1, net));
    const ep1 = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").EndpointID}}`, c1);
    const port1 = await endpointPort(ep1);
    assert.ok(port1 !== undefined, 'c1 has its OVS port');
    await docker('rm', '-f', c1);
    await waitFor('c1 port removed', async () => !(await containerPorts(bridge)).includes(port1));
    assert.ok(!(await hostLinks('ds')).includes(port1), 'c1 veth removed');
    await waitFor('c1 gone from FAUCET', async () => !faucetPortDescriptions(net).some((d) => d.startsWith(`/${c1} `)));
  });

  it('survives a dockerd restart: containers come back connected, stale ports are removed', async () => {
    const pidfile = '/var/run/docker.pid';
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    process.kill(pid, 'SIGTERM');
    await waitFor('dockerd stopped', async () => !processAlive(pid), 60_000, 200);
    await makeUp();
    await waitFor(
      'c2 running again',
      async () => (await docker('inspect', '-f', '{{.State.Running}}', c2)) === 'true',
      60_000,
      500,
    );
    await runContainer(c4, net);
    const ip2 = await containerIp(c2, net);
    await waitPing(c4, ip2);
    await serveHttp(c2);
    assert.equal(await waitFor('TCP c4 -> c2', () => httpGet(c4, `http://${ip2}:8080/`)), `hello from ${c2}`);
    // c3 had no restart policy: it is stopped now, and so must have no port.
    const running = (await docker('ps', '-q', '--filter', `network=${net}`)).split('\n').filter((s) => s !== '');
    await waitFor(
      'one port per running container',
      async () => (await containerPorts(bridge)).length === running.length,
      20_000,
    );
    await waitFor(
      'FAUCET has exactly the running containers',
      async () => faucetPortDescriptions(net).length === running.length,
      20_000,
    );
    const st = Object.values(await status()).find((x) => x.NetworkName === net);
    assert.equal(Object.keys(st?.Containers ?? {}).length, running.length);
  });
});
