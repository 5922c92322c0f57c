import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import {
  createNetwork,
  docker,
  makeTestHost,
  must,
  run,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  type TestHost,
} from './harness.js';

/**
 * Ports published on host addresses NAT cannot serve: another loopback address (127.0.0.2) and
 * an IPv6 address (::1) in front of an IPv4-only container. Both go through the daemon's port
 * proxy; neither reaches the nftables table, and neither disturbs another network's mappings.
 */

async function nftTable(): Promise<string> {
  const r = await run('nft', ['list', 'table', 'ip', 'dovesnap']);
  return r.code === 0 ? r.stdout : '';
}

/** TCP from the host itself (busybox wget crashes with -T: the limit is `timeout`). */
async function fetchFromHost(url: string): Promise<string | undefined> {
  const r = await run('timeout', ['5', 'busybox', 'wget', '-q', '-O', '-', url], 10_000);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

describe('published ports on loopback and IPv6 host addresses', () => {
  const tag = uniqueName('pa').slice(-6);
  const netA = `dst-pa-${tag}`;
  const netB = `dst-pb-${tag}`;
  const web4 = `${netA}-web4`;
  const web6 = `${netA}-web6`;
  const other = `${netB}-other`;
  // Random high ports: other test files may publish fixed ones.
  const base = randomInt(20_000, 29_000);
  const [loopPort, v6Port, otherPort] = [base, base + 1, base + 2];
  let up: TestHost;

  it('publishes every-address on one nat network and -p 127.0.0.2:P:80 on another', async () => {
    up = await makeTestHost(tag);
    await createNetwork(netA, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat' }, [
      '--subnet',
      testSubnet().subnet,
    ]);
    await createNetwork(netB, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat' }, [
      '--subnet',
      testSubnet().subnet,
    ]);
    await runContainer(other, netB, ['-p', `${otherPort}:8080`]);
    await serveHttp(other);
    await runContainer(web4, netA, ['-p', `127.0.0.2:${loopPort}:80`]);
    await serveHttp(web4, 80);
    assert.equal(
      await waitFor('TCP to 127.0.0.2', () => fetchFromHost(`http://127.0.0.2:${loopPort}/`), 45_000),
      `hello from ${web4}`,
    );
  });

  it('publishes -p [::1]:P:81 for an IPv4-only container, and answers TCP from the host on ::1', async () => {
    await runContainer(web6, netA, ['-p', `[::1]:${v6Port}:81`]);
    await serveHttp(web6, 81);
    assert.equal(
      await waitFor('TCP to [::1]', () => fetchFromHost(`http://[::1]:${v6Port}/`), 45_000),
      `hello from ${web6}`,
    );
    const ports = Object.values(await status())
      .flatMap((n) => Object.values(n.Containers))
      .filter((c) => c.Name === `/${web4}` || c.Name === `/${web6}`)
      .flatMap((c) => c.Ports);
    assert.deepEqual(
      ports.map((p) => `${p.HostIP}:${p.HostPort}`).sort(),
      [`127.0.0.2:${loopPort}`, `::1:${v6Port}`].sort(),
    );
  });

  it('writes neither address into the nftables table: no PREROUTING DNAT for 127.0.0.2, no rule for ::1', async () => {
    const table = await nftTable();
    assert.match(table, new RegExp(`tcp dport ${otherPort} dnat to`), "the other network's mapping is there");
    assert.doesNotMatch(table, /127\.0\.0\.2|::1/);
    assert.doesNotMatch(table, new RegExp(`dport (${loopPort}|${v6Port})\\b`));
  });

  it('keeps 127.0.0.2 from a neighbour that routes it to the host (a martian the host drops)', async () => {
    // The test host sends to 127.0.0.2 through the host, as a hostile neighbour could.
    await must('ip', ['netns', 'exec', up.ns, 'sysctl', '-qw', 'net.ipv4.conf.all.route_localnet=1']);
    await must('ip', ['-n', up.ns, 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local']);
    await must('ip', ['-n', up.ns, 'route', 'add', '127.0.0.2/32', 'via', up.hostSideIp]);
    // The same path reaches a mapping NAT serves, so the route itself works.
    const viaHost = await up.exec([
      'timeout',
      '5',
      'busybox',
      'wget',
      '-q',
      '-O',
      '-',
      `http://${up.hostSideIp}:${otherPort}/`,
    ]);
    assert.equal(viaHost.stdout.trim(), `hello from ${other}`, 'the route through the host works');
    const r = await up.exec(['timeout', '5', 'busybox', 'wget', '-q', '-O', '-', `http://127.0.0.2:${loopPort}/`]);
    assert.notEqual(r.code, 0, `the neighbour got: ${r.stdout}`);
  });

  it("the other network's published port works from the host too", async () => {
    assert.equal(await fetchFromHost(`http://127.0.0.1:${otherPort}/`), `hello from ${other}`);
    assert.equal(await fetchFromHost(`http://${up.hostSideIp}:${otherPort}/`), `hello from ${other}`);
  });

  it("closes the proxies with the container, and leaves the other network's rules", async () => {
    await docker('rm', '-f', web4, web6);
    await waitFor('proxy on 127.0.0.2 closed', async () =>
      (
        await run('timeout', ['5', 'busybox', 'wget', '-q', '-O', '-', `http://127.0.0.2:${loopPort}/`])
      ).stderr.includes('refused'),
    );
    assert.ok(
      (await run('timeout', ['5', 'busybox', 'wget', '-q', '-O', '-', `http://[::1]:${v6Port}/`])).stderr.includes(
        'refused',
      ),
      'proxy on ::1 closed',
    );
    assert.match(await nftTable(), new RegExp(`tcp dport ${otherPort} dnat to`));
  });
});
