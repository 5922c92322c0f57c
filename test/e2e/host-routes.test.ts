import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  bridgeExists,
  createNetwork,
  docker,
  dockerRaw,
  makeTestHost,
  must,
  processAlive,
  run,
  runContainer,
  serveClientAddress,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  DOCKER,
  type TestHost,
} from './harness.js';

/**
 * `ovs.bridge.host_routes` end to end: a nat network whose container is a router for a prefix
 * of its own (an address on its loopback), as a lab's uplink network is. The host reaches the
 * prefix (ping and TCP to a server bound to that address only), traffic from the prefix to a
 * test host in a namespace is masqueraded to the host's address, the route comes back after a
 * daemon restart, and goes with the network. A bad value fails the create and makes nothing.
 */

const REPO = new URL('../../..', import.meta.url).pathname;
const PIDFILE = '/run/dovesnap/dovesnap.pid';

interface Route {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** The host's main-table routes to exactly `prefix`. */
async function routesTo(prefix: string): Promise<Route[]> {
  const out = await must('ip', ['-json', '-4', 'route', 'show', 'table', 'main', 'exact', prefix]);
  return out === '' ? [] : (JSON.parse(out) as Route[]);
}

async function nftTable(): Promise<string> {
  const r = await run('nft', ['list', 'table', 'ip', 'dovesnap']);
  return r.code === 0 ? r.stdout : '';
}

async function hostGet(url: string): Promise<string | undefined> {
  const r = await run('timeout', ['5', 'busybox', 'wget', '-q', '-O', '-', url], 10_000);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

describe('host routes to prefixes behind a container (ovs.bridge.host_routes)', () => {
  const tag = uniqueName('hr').slice(-6);
  const net = `dst-hr-${tag}`;
  const lan = testSubnet();
  // The prefix behind the router: a /24 of the tests' range that no network here is given.
  const behind = testSubnet();
  const router = `${net}-router`;
  const routerIp = `${lan.prefix}.2`;
  const target = `${behind.prefix}.1`;
  let bridge = '';
  let up: TestHost;

  it('refuses a next hop outside the subnet, and a flat network, leaving no network or bridge', async () => {
    for (const [mode, value, message] of [
      ['nat', `${behind.subnet}@10.99.0.2`, /not in the network's subnet/],
      ['flat', `${behind.subnet}@${routerIp}`, /ovs\.bridge\.mode=nat or routed/],
    ] as const) {
      const name = `${net}-bad`;
      const bad = `dsb${tag}`;
      const r = await dockerRaw(
        'network',
        'create',
        '-d',
        'dovesnap',
        '--subnet',
        lan.subnet,
        '-o',
        `ovs.bridge.dpid=${testDpid()}`,
        '-o',
        `ovs.bridge.mode=${mode}`,
        '-o',
        `ovs.bridge.name=${bad}`,
        '-o',
        `ovs.bridge.host_routes=${value}`,
        name,
      );
      if (r.code === 0) await run(DOCKER, ['network', 'rm', name]);
      assert.notEqual(r.code, 0, 'docker network create must fail');
      assert.ok(r.stderr.includes(`invalid value "${value}" for option ovs.bridge.host_routes`), r.stderr);
      assert.match(r.stderr, message);
      assert.notEqual((await run(DOCKER, ['network', 'inspect', name])).code, 0, 'Docker has no such network');
      assert.equal(await bridgeExists(bad), false, 'no bridge');
      assert.deepEqual(await routesTo(behind.subnet), [], 'no route');
    }
  });

  it('routes the prefix via the router on the bridge, and masquerades it', async () => {
    const id = await createNetwork(
      net,
      {
        'ovs.bridge.dpid': testDpid(),
        'ovs.bridge.mode': 'nat',
        'ovs.bridge.host_routes': `${behind.subnet}@${routerIp}`,
      },
      ['--subnet', lan.subnet],
    );
    bridge = `ovsbr-${id.slice(0, 5)}`;
    assert.deepEqual(
      (await routesTo(behind.subnet)).map((r) => [r.gateway, r.dev]),
      [[routerIp, bridge]],
    );
    assert.ok((await nftTable()).includes(`ip saddr ${behind.subnet} oifname != "${bridge}" masquerade`));
    const st = Object.values(await status()).find((n) => n.NetworkName === net) as { HostRoutes?: unknown } | undefined;
    assert.deepEqual(st?.HostRoutes, [{ Prefix: behind.subnet, Via: routerIp }]);
  });

  it('reaches an address behind the router from the host: ping, and TCP to a server bound to that address only', async () => {
    await runContainer(router, net, ['--ip', routerIp, '--cap-add', 'NET_ADMIN', '--sysctl', 'net.ipv4.ip_forward=1']);
    await docker(
      'exec',
      router,
      'sh',
      '-c',
      `ip addr add ${target}/32 dev lo && mkdir -p /tmp/www && echo "behind ${router}" > /tmp/www/index.html && httpd -p ${target}:8080 -h /tmp/www`,
    );
    await waitFor(
      `the host to ping ${target}`,
      async () => (await run('busybox', ['ping', '-c', '1', '-W', '1', target])).code === 0,
      45_000,
      100,
    );
    assert.equal(await waitFor('TCP from the host', () => hostGet(`http://${target}:8080/`)), `behind ${router}`);
  });

  it("masquerades traffic from the prefix to the host's address on its way out", async () => {
    up = await makeTestHost(tag);
    await serveClientAddress(up, 8000);
    // Only traffic to the test host leaves the router from the prefix's address.
    await docker('exec', router, 'ip', 'route', 'add', `${up.prefix}.0/24`, 'via', `${lan.prefix}.1`, 'src', target);
    const seen = await waitFor(
      'the test host reached from the prefix',
      async () => {
        const r = await dockerRaw(
          'exec',
          router,
          'timeout',
          '5',
          'wget',
          '-q',
          '-O',
          '-',
          `http://${up.ip}:8000/cgi-bin/whoami`,
        );
        return r.code === 0 ? r.stdout.trim() : undefined;
      },
      15_000,
    );
    assert.equal(seen, up.hostSideIp);
  });

  it('puts the route back when the daemon restarts', async () => {
    const pid = Number(readFileSync(PIDFILE, 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await waitFor('daemon gone', async () => !processAlive(pid));
    // What a reboot (or an `ip route flush`) does while the daemon is away.
    await must('ip', ['route', 'del', behind.subnet, 'via', routerIp, 'dev', bridge]);
    await must('bash', [`${REPO}/scripts/up.sh`], 600_000);
    assert.deepEqual(
      (await routesTo(behind.subnet)).map((r) => [r.gateway, r.dev]),
      [[routerIp, bridge]],
    );
    assert.equal(
      await waitFor('TCP from the host after the restart', () => hostGet(`http://${target}:8080/`)),
      `behind ${router}`,
    );
  });

  it('removes the route and its NAT rules with the network', async () => {
    await docker('rm', '-f', router);
    await docker('network', 'rm', net);
    assert.deepEqual(await routesTo(behind.subnet), []);
    assert.ok(!(await nftTable()).includes(behind.subnet), 'no NAT rule for the prefix');
    assert.equal(await bridgeExists(bridge), false);
  });
});
