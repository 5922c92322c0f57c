import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  containerIp,
  createNetwork,
  httpGet,
  ovsVsctl,
  runContainer,
  serveHttp,
  testDpid,
  testSubnet,
  processAlive,
  uniqueName,
  upWithEnv,
  waitFor,
  waitPing,
} from './harness.js';

/**
 * FAUCET handles one event at a time, and a reload of a DP with about a thousand ports kept it
 * from answering for more than 10 s. With OVS's default probe (5 s of silence, then 5 s for the
 * answer) every switch dropped it; FAUCET then cold-started the switch, which held it again, and
 * no new port was ever programmed (seen at 952 containers on one network). Here FAUCET is held
 * (SIGSTOP) for 14 s, longer than the default's 10 s and well inside dovesnap's 30 s + 30 s: the
 * switch must keep its connection all along, and the containers their traffic.
 */

const FAUCET_PIDFILE = '/run/dovesnap/faucet.pid';
const VSWITCHD_LOG = '/var/log/dovesnap/ovs-vswitchd.log';
const HELD_MS = 14_000;

/** `is_connected` of the bridge's controller with this target (ovs-vswitchd updates it every few seconds). */
async function connected(bridge: string, target: string): Promise<boolean> {
  const uuids = (await ovsVsctl('get', 'Bridge', bridge, 'controller')).replace(/[[\]\s]/g, '').split(',');
  for (const u of uuids) {
    if ((await ovsVsctl('get', 'Controller', u, 'target')).trim() !== `"${target}"`) continue;
    return (await ovsVsctl('get', 'Controller', u, 'is_connected')).trim() === 'true';
  }
  throw new Error(`bridge ${bridge} has no controller ${target}`);
}

describe('FAUCET busy for longer than OVS’s default inactivity probe', () => {
  it('the switch keeps its connection to FAUCET while FAUCET does not answer for 14 s, and its containers talk after', async () => {
    const net = uniqueName('busy');
    const netId = await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', testSubnet().subnet]);
    const bridge = `ovsbr-${netId.slice(0, 5)}`;
    const [srv, cli] = [`${net}-srv`, `${net}-cli`];
    await runContainer(srv, net);
    await serveHttp(srv);
    await runContainer(cli, net);
    const ip = await containerIp(srv, net);
    await waitPing(cli, ip);

    const target = 'tcp:127.0.0.1:6653';
    const uuids = (await ovsVsctl('get', 'Bridge', bridge, 'controller')).replace(/[[\]\s]/g, '').split(',');
    const probes = await Promise.all(
      uuids.map(async (u) => (await ovsVsctl('get', 'Controller', u, 'inactivity_probe')).trim()),
    );
    assert.deepEqual(
      probes,
      uuids.map(() => '30000'),
      'every controller of the bridge is probed after 30 s',
    );
    await waitFor('the switch connected to FAUCET', () => connected(bridge, target), 20_000);

    // ovs-vswitchd logs the moment it gives up on a controller ("no response to inactivity
    // probe after 5 seconds, disconnecting"); its is_connected column follows seconds later.
    const logFrom = statSync(VSWITCHD_LOG).size;
    const faucet = Number(readFileSync(FAUCET_PIDFILE, 'utf8').trim());
    process.kill(faucet, 'SIGSTOP');
    try {
      await sleep(HELD_MS);
    } finally {
      process.kill(faucet, 'SIGCONT');
    }
    const logged = readFileSync(VSWITCHD_LOG, 'utf8').slice(logFrom);
    assert.deepEqual(
      logged
        .split('\n')
        .filter((l) => l.includes(`${bridge}<->${target}`) && /inactivity probe|disconnect|dropped/.test(l)),
      [],
      'ovs-vswitchd kept its connection to FAUCET',
    );
    assert.equal(await connected(bridge, target), true);
    await waitPing(cli, ip, 30_000);
    assert.equal(await httpGet(cli, `http://${ip}:8080/`), `hello from ${srv}`);
  });

  // A FAUCET stopped and continued is not the one it was: every timer of its green threads fired
  // 14 s late at once, and the stacked hosts of multihost.test.ts, run after this file, then failed
  // (cross-host TCP and stack mirroring, in CI and in every local run after this one, never on a
  // FAUCET started afresh). So the file leaves a FAUCET started afresh by make up.
  after(async () => {
    const pid = Number(readFileSync(FAUCET_PIDFILE, 'utf8').trim());
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // not running: make up starts it
    }
    await waitFor('FAUCET to exit', async () => !processAlive(pid), 20_000);
    await upWithEnv({ MONITORING: '1' });
  });
});
