import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  containerIp,
  createNetwork,
  docker,
  DOCKER,
  faucetYaml,
  httpGet,
  makeTestHost,
  must,
  run,
  runContainer,
  serveClientAddress,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  udpAsk,
  udpEchoInContainer,
  uniqueName,
  waitFor,
  waitPing,
  type TestHost,
} from './harness.js';

/**
 * nat and routed networks: a gateway on the bridge, NAT in dovesnap's own nftables table,
 * Docker's FORWARD policy left at DROP, and port mappings, proven with an upstream host the test
 * makes in a network namespace.
 */

async function forwardPolicy(): Promise<string> {
  const out = await must('iptables', ['-w', '-S', 'FORWARD']);
  return /^-P FORWARD (\w+)/m.exec(out)?.[1] ?? '';
}

async function nftTable(): Promise<string> {
  const r = await run('nft', ['list', 'table', 'ip', 'dovesnap']);
  return r.code === 0 ? r.stdout : '';
}

interface Dp {
  interfaces: Record<string, { description?: string; native_vlan?: number; opstatus_reconf?: boolean }>;
}

describe('nat and routed networks', () => {
  const tag = uniqueName('gw').slice(-6);
  let up: TestHost;
  const natNet = `dst-nat-${tag}`;
  const natNet2 = `dst-nat2-${tag}`;
  const routedNet = `dst-rtd-${tag}`;
  const nat = testSubnet();
  const nat2 = testSubnet();
  const routed = testSubnet();
  let natId = '';

  it('sets up an upstream host with a service that reports who called', async () => {
    up = await makeTestHost(tag);
    await serveClientAddress(up, 8000);
    const r = await up.exec(['busybox', 'wget', '-q', '-O', '-', `http://${up.ip}:8000/cgi-bin/whoami`]);
    assert.equal(r.stdout.trim(), up.ip);
  });

  it('nat: the gateway is on the bridge and in FAUCET, and the FORWARD policy is untouched', async () => {
    const policy = await forwardPolicy();
    natId = await createNetwork(natNet, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat' }, [
      '--subnet',
      nat.subnet,
    ]);
    const bridge = `ovsbr-${natId.slice(0, 5)}`;
    const addr = await must('ip', ['-json', 'addr', 'show', 'dev', bridge]);
    assert.ok(
      (JSON.parse(addr) as { addr_info: { local: string }[] }[])[0]?.addr_info.some(
        (a) => a.local === `${nat.prefix}.1`,
      ),
      'gateway address on the bridge',
    );
    const dp = await waitFor(
      'gateway port in FAUCET',
      async () => (parse(faucetYaml()) as { dps?: Record<string, Dp> }).dps?.[natNet],
    );
    const gw = dp.interfaces['4294967294'];
    assert.equal(Number(gw?.native_vlan), 100);
    assert.equal(gw?.opstatus_reconf, false);
    assert.match(
      await nftTable(),
      new RegExp(`ip saddr ${nat.subnet.replace(/[./]/g, '\\$&')} oifname != "${bridge}" masquerade`),
    );
    assert.equal(await forwardPolicy(), policy);
  });

  it('nat: a container reaches the upstream service, which sees the host address', async () => {
    const c = `${natNet}-c1`;
    await runContainer(c, natNet);
    assert.match(
      await docker('exec', c, 'ip', 'route'),
      new RegExp(`default via ${nat.prefix.replace(/\./g, '\\.')}\\.1`),
    );
    await waitPing(c, `${nat.prefix}.1`);
    const seen = await waitFor('upstream reached', () => httpGet(c, `http://${up.ip}:8000/cgi-bin/whoami`));
    assert.equal(seen, up.hostSideIp);
  });

  it('publishes tcp and udp ports, reachable from the host and from the upstream host', async () => {
    const web = `${natNet}-web`;
    const dns = `${natNet}-udp`;
    await runContainer(web, natNet, ['-p', '18080:8080']);
    await serveHttp(web);
    await runContainer(dns, natNet, ['-p', `${up.hostSideIp}:15353:5353/udp`]);
    // TCP from the host itself, to one of its addresses, and from the upstream host.
    const fromHost = await waitFor('TCP from the host', async () => {
      const r = await run('busybox', ['wget', '-q', '-O', '-', `http://${up.hostSideIp}:18080/`], 10_000);
      return r.code === 0 ? r.stdout.trim() : undefined;
    });
    assert.equal(fromHost, `hello from ${web}`);
    const fromLoopback = await run('busybox', ['wget', '-q', '-O', '-', 'http://127.0.0.1:18080/'], 10_000);
    assert.equal(fromLoopback.stdout.trim(), `hello from ${web}`, 'published on 127.0.0.1 too');
    const fromUp = await up.exec([
      'timeout',
      '5',
      'busybox',
      'wget',
      '-q',
      '-O',
      '-',
      `http://${up.hostSideIp}:18080/`,
    ]);
    assert.equal(fromUp.stdout.trim(), `hello from ${web}`);
    // UDP both ways (an echo), from the upstream host and from the host.
    await udpEchoInContainer(dns, 5353);
    assert.equal(
      await waitFor('UDP from upstream', () =>
        udpAsk(['ip', 'netns', 'exec', up.ns], up.hostSideIp, 15353, 'from-upstream'),
      ),
      'from-upstream',
    );
    assert.equal(await waitFor('UDP from the host', () => udpAsk([], up.hostSideIp, 15353, 'from-host')), 'from-host');
    const st = Object.values(await status()).find((n) => n.NetworkName === natNet);
    const ports = Object.values(st?.Containers ?? {}).flatMap((c) => c.Ports);
    assert.ok(ports.some((p) => p.Protocol === 'tcp' && p.HostPort === 18080 && p.ContainerPort === 8080));
    assert.ok(
      ports.some(
        (p) => p.Protocol === 'udp' && p.HostPort === 15353 && p.ContainerPort === 5353 && p.HostIP === up.hostSideIp,
      ),
    );
  });

  it('publishes port ranges and picks a free host port for -p CONTAINERPORT', async () => {
    const multi = `${natNet}-multi`;
    await runContainer(multi, natNet, ['-p', '18090-18091:8080-8081', '-p', '8082']);
    await docker(
      'exec',
      multi,
      'sh',
      '-c',
      'mkdir -p /tmp/www && for p in 8080 8081 8082; do echo "port $p" > /tmp/www/p$p; httpd -p $p -h /tmp/www; done',
    );
    const st = Object.values(await status()).find((n) => n.NetworkName === natNet);
    const ports = Object.values(st?.Containers ?? {}).find((c) => c.Name === `/${multi}`)?.Ports ?? [];
    const auto = ports.find((p) => p.ContainerPort === 8082)?.HostPort ?? 0;
    assert.ok(auto >= 49153, `a free port from the ephemeral range for -p 8082, got ${auto}`);
    for (const [hostPort, containerPort] of [
      [18090, 8080],
      [18091, 8081],
      [auto, 8082],
    ] as const) {
      const r = await up.exec([
        'timeout',
        '5',
        'busybox',
        'wget',
        '-q',
        '-O',
        '-',
        `http://${up.hostSideIp}:${hostPort}/p${containerPort}`,
      ]);
      assert.equal(r.stdout.trim(), `port ${containerPort}`, `host port ${hostPort}`);
    }
  });

  it('removes a mapping when its container stops', async () => {
    const web = `${natNet}-web`;
    await docker('stop', '-t', '0', web);
    await waitFor('rule gone', async () => !(await nftTable()).includes('dport 18080'));
    const r = await up.exec(['timeout', '3', 'busybox', 'wget', '-q', '-O', '-', `http://${up.hostSideIp}:18080/`]);
    assert.notEqual(r.code, 0);
  });

  it("routed: the upstream host sees the container's own address", async () => {
    await createNetwork(routedNet, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'routed' }, [
      '--subnet',
      routed.subnet,
    ]);
    await must('ip', ['-n', up.ns, 'route', 'add', routed.subnet, 'via', up.hostSideIp]);
    const c = `${routedNet}-c1`;
    await runContainer(c, routedNet);
    const ip = await containerIp(c, routedNet);
    const seen = await waitFor('upstream reached', () => httpGet(c, `http://${up.ip}:8000/cgi-bin/whoami`));
    assert.equal(seen, ip);
    assert.doesNotMatch(
      await nftTable(),
      new RegExp(`ip saddr ${routed.subnet.replace(/[./]/g, '\\$&')} oifname != .* masquerade`),
    );
    // and the upstream host can reach the container directly
    await serveHttp(c);
    const r = await up.exec(['timeout', '5', 'busybox', 'wget', '-q', '-O', '-', `http://${ip}:8080/`]);
    assert.equal(r.stdout.trim(), `hello from ${c}`);
  });

  it('two nat networks side by side, and a container on both', async () => {
    await createNetwork(natNet2, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat' }, [
      '--subnet',
      nat2.subnet,
    ]);
    const both = `${natNet2}-both`;
    const other = `${natNet2}-other`;
    await runContainer(other, natNet2);
    await runContainer(both, natNet);
    await docker('network', 'connect', natNet2, both);
    await waitPing(both, await containerIp(`${natNet}-c1`, natNet));
    await waitPing(both, await containerIp(other, natNet2));
    assert.equal(
      await waitFor('upstream from the second network', () => httpGet(other, `http://${up.ip}:8000/cgi-bin/whoami`)),
      up.hostSideIp,
    );
    assert.equal(
      await waitFor('upstream from the container on both', () => httpGet(both, `http://${up.ip}:8000/cgi-bin/whoami`)),
      up.hostSideIp,
    );
  });

  it('removes the gateway, NAT and forwarding rules with the networks', async () => {
    for (const c of [
      `${natNet}-c1`,
      `${natNet}-web`,
      `${natNet}-udp`,
      `${natNet}-multi`,
      `${natNet2}-both`,
      `${natNet2}-other`,
      `${routedNet}-c1`,
    ])
      await run(DOCKER, ['rm', '-f', c]);
    for (const n of [natNet, natNet2, routedNet]) await docker('network', 'rm', n);
    const table = await nftTable();
    for (const s of [nat.subnet, nat2.subnet, routed.subnet]) assert.ok(!table.includes(s), `no rule for ${s}`);
    const user = await must('iptables', ['-w', '-S', 'DOCKER-USER']);
    assert.ok(!user.includes(natId.slice(0, 12)), 'DOCKER-USER rules removed');
  });
});
