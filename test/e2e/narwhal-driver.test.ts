import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import {
  DOCKER,
  createNetwork,
  docker,
  dockerRaw,
  hostLinks,
  httpGet,
  makeTestHost,
  must,
  onCleanup,
  processAlive,
  run,
  runContainer,
  serveClientAddress,
  serveHttp,
  uniqueName,
  waitFor,
  type TestHost,
} from './harness.js';
import {
  REPO,
  captureIn,
  dockerUserRules,
  hostEndOf,
  hostIface,
  ifaceIn,
  inNetns,
  narwhalChains,
  paranoidCounters,
  pingOk,
  sendRouterMessages,
  waitPingOk,
} from './narwhal-helpers.js';

/**
 * `docker network create -d narwhal`: the same routed link as the command, with the address
 * Docker's IPAM chose, served by the dovesnap daemon on narwhal.sock. Traffic over IPv4 and
 * IPv6 between containers and with the host; no layer 2 between containers; isolation, nat
 * and forwarding to a host outside; bad options refused leaving nothing; --paranoid against
 * a spoofing container; a daemon SIGKILL and restart; nothing left after removal.
 */

const tag = uniqueName('nwd').slice(-6);
const STATE_DIR = process.env['DOVESNAP_NARWHAL_DIR'] ?? '/var/lib/dovesnap/narwhal';
let nextOctet = 100 + (Number.parseInt(tag, 16) % 100);
/** A /24 and a /64 that nothing else here uses. */
function subnets(): { v4: string; v6: string; p4: string; p6: string } {
  nextOctet += 1;
  const p6 = `fd00:235:${nextOctet.toString(16)}::`;
  return { v4: `10.235.${nextOctet}.0/24`, v6: `${p6}/64`, p4: `10.235.${nextOctet}`, p6 };
}

async function ipOf(container: string, network: string, family: 4 | 6 = 4): Promise<string> {
  const field = family === 4 ? 'IPAddress' : 'GlobalIPv6Address';
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").${field}}}`, container);
}

async function bridgesAndSwitches(): Promise<string> {
  const bridges = (JSON.parse(await must('ip', ['-json', 'link', 'show', 'type', 'bridge'])) as { ifname: string }[])
    .map((l) => l.ifname)
    .sort();
  return `${bridges.join(',')} | ${(await must('ovs-vsctl', ['--timeout=10', 'list-br'])).split('\n').sort().join(',')}`;
}

function daemonPid(): number {
  return Number(readFileSync('/run/dovesnap/dovesnap.pid', 'utf8').trim());
}

describe('-d narwhal (the driver)', () => {
  const net = `dst-nwd-${tag}`;
  const s = subnets();
  const [a, b] = [`${net}-a`, `${net}-b`];
  let netId = '';

  it("creates a network with no bridge, and containers get narwhal's link with the addresses Docker chose", async () => {
    const before = await bridgesAndSwitches();
    netId = await createNetwork(net, {}, ['--subnet', s.v4, '--ipv6', '--subnet', s.v6], 'narwhal');
    assert.equal(await bridgesAndSwitches(), before, 'no Linux bridge, no Open vSwitch bridge');
    assert.ok((await narwhalChains()).includes(`inet net_${netId.slice(0, 12)}`));
    assert.ok(existsSync(`${STATE_DIR}/networks/${netId}.json`), 'kept for restarts');

    await runContainer(a, net);
    await serveHttp(a);
    // b pings a the moment it starts: the link carries traffic as Docker leaves it.
    await runContainer(b, net, [], ['sh', '-c', `ping -c 1 -W 3 ${s.p4}.2 > /tmp/first 2>&1; exec sleep 3600`]);
    assert.equal(await ipOf(a, net), `${s.p4}.2`);

    const inside = await ifaceIn(a, 'eth0');
    assert.ok(inside.flags.includes('NOARP'));
    await waitFor('the container end finished (/32 and /128)', async () => {
      const now = await ifaceIn(a, 'eth0');
      const g = now.addr_info
        .filter((x) => x.scope === 'global')
        .map((x) => `${x.local}/${x.prefixlen}`)
        .sort();
      return g.join(' ') === [`${s.p4}.2/32`, `${s.p6}2/128`].sort().join(' ');
    });
    const routes = (await inNetns(a, ['ip', 'route'])).stdout;
    assert.match(routes, /^default via 169\.254\.0\.1 dev eth0/m);
    assert.match(routes, new RegExp(`^${s.v4.replace(/[./]/g, '\\$&')} via 169\\.254\\.0\\.1 dev eth0`, 'm'));
    assert.match((await inNetns(a, ['ip', '-6', 'route'])).stdout, /^default via fe80::1 dev eth0/m);
    assert.match((await inNetns(a, ['ip', 'neigh'])).stdout, /^169\.254\.0\.1 dev eth0 lladdr \S+ PERMANENT/m);

    const end = await hostEndOf(a);
    assert.match(end, new RegExp(`^nw${netId.slice(0, 6)}[0-9a-f]{7}$`));
    const host = await hostIface(end);
    assert.ok(host.flags.includes('NOARP'));
    assert.equal(host.master, undefined);
    assert.ok(host.addr_info.some((x) => x.local === '169.254.0.1' && x.address === `${s.p4}.2`));
    assert.ok(host.addr_info.some((x) => x.local === 'fe80::1' && x.address === `${s.p6}2`));
    assert.match(await must('ip', ['neigh', 'show', 'dev', end]), /PERMANENT/);
  });

  it('IPv4 and IPv6 between the containers (ICMP and TCP), routed by the host, from the first packet', async () => {
    assert.match(await docker('exec', b, 'cat', '/tmp/first'), /1 packets received/);
    await waitPingOk(b, `${s.p4}.2`);
    await waitPingOk(b, `${s.p6}2`, 6);
    assert.match(await docker('exec', b, 'ping', '-c', '1', `${s.p4}.2`), /ttl=63/, 'one routed hop');
    assert.equal(await httpGet(b, `http://${s.p4}.2:8080/`), `hello from ${a}`);
    assert.equal(await httpGet(b, `http://[${s.p6}2]:8080/`), `hello from ${a}`);
  });

  it('IPv4 and IPv6 with the host (ICMP and TCP, both ways)', async () => {
    assert.ok(await pingOk(b, '169.254.0.1'));
    assert.ok(await pingOk(b, 'fe80::1%eth0', 6));
    assert.equal(
      (await run('busybox', ['wget', '-q', '-O', '-', `http://${s.p4}.2:8080/`], 10_000)).stdout.trim(),
      `hello from ${a}`,
    );
    assert.equal(
      (await run('busybox', ['wget', '-q', '-O', '-', `http://[${s.p6}2]:8080/`], 10_000)).stdout.trim(),
      `hello from ${a}`,
    );
  });

  it('no shared layer 2: a forged ARP from one container reaches no other', async () => {
    const atk = `${net}-x`;
    await runContainer(atk, net, ['--cap-add', 'NET_ADMIN']);
    const bIp = await ipOf(b, net);
    const seen = await captureIn(b);
    await docker(
      'exec',
      atk,
      'sh',
      '-c',
      `ip link set eth0 arp on && ip addr add ${bIp}/32 dev eth0 && arping -U -c 3 -I eth0 -s ${bIp} 169.254.0.1`,
    );
    await docker('exec', a, 'ping', '-c', '1', bIp);
    await waitFor("b receives a's ping", async () =>
      seen.lines.some((l) => l.includes(`${s.p4}.2 > ${bIp}: ICMP echo request`)),
    );
    assert.deepEqual(
      seen.lines.filter((l) => /ARP/.test(l)),
      [],
    );
  });

  it("an isolated network reaches no host outside; nat reaches it masqueraded; forwarding with the containers' own addresses", async () => {
    const up: TestHost = await makeTestHost(tag);
    await serveClientAddress(up, 8000);
    const url = `http://${up.ip}:8000/cgi-bin/whoami`;
    assert.equal(await httpGet(a, url), undefined, 'isolated');

    const natNet = `${net}-nat`;
    const sn = subnets();
    await createNetwork(natNet, { 'narwhal.nat': 'true' }, ['--subnet', sn.v4], 'narwhal');
    await runContainer(`${natNet}-c`, natNet);
    // A network without --ipv6: IPv6 is off at both ends of its links.
    await waitFor(
      'IPv6 off in the container',
      async () =>
        (await inNetns(`${natNet}-c`, ['cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).stdout.trim() === '1',
    );
    assert.equal(
      (await must('cat', [`/proc/sys/net/ipv6/conf/${await hostEndOf(`${natNet}-c`)}/disable_ipv6`])).trim(),
      '1',
    );
    assert.equal(await waitFor('nat to the outside', () => httpGet(`${natNet}-c`, url)), up.hostSideIp);
    assert.equal(await pingOk(`${natNet}-c`, `${s.p4}.2`), false, 'nor into another narwhal network');

    const fwdNet = `${net}-fwd`;
    const sf = subnets();
    await createNetwork(fwdNet, { 'narwhal.forwarding': 'true' }, ['--subnet', sf.v4], 'narwhal');
    await runContainer(`${fwdNet}-c`, fwdNet);
    await must('ip', ['netns', 'exec', up.ns, 'ip', 'route', 'add', sf.v4, 'via', up.hostSideIp]);
    assert.equal(await waitFor('routed to the outside', () => httpGet(`${fwdNet}-c`, url)), `${sf.p4}.2`);
    // And from the outside in, to the container's own address.
    await serveHttp(`${fwdNet}-c`);
    const r = await up.exec(['busybox', 'wget', '-q', '-O', '-', `http://${sf.p4}.2:8080/`], 10_000);
    assert.equal(r.stdout.trim(), `hello from ${fwdNet}-c`);
  });

  it('refuses bad options naming the option and value, leaving nothing', async () => {
    const chains = await narwhalChains();
    const files = await must('ls', [`${STATE_DIR}/networks`]);
    const cases: [string[], RegExp][] = [
      [['-o', 'narwhal.mtu=abc'], /invalid value "abc" for option narwhal\.mtu/],
      [['-o', 'narwhal.forwarding=perhaps'], /invalid value "perhaps" for option narwhal\.forwarding/],
      [
        ['-o', 'narwhal.host_ipv4=10.235.1.1', '--subnet', '10.235.1.0/24'],
        /invalid value "10\.235\.1\.1" for option narwhal\.host_ipv4: the host address must lie outside/,
      ],
      [['-o', 'narwhal.nat=true', '--internal'], /invalid value "true" for option narwhal\.nat: an --internal network/],
      [['-o', 'ovs.bridge.dpid=0x1'], /unknown option ovs\.bridge\.dpid for a narwhal network/],
    ];
    for (const [args, re] of cases) {
      const name = `${net}-bad`;
      onCleanup(() => run(DOCKER, ['network', 'rm', name]));
      const r = await dockerRaw('network', 'create', '-d', 'narwhal', ...args, name);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, re);
      assert.equal((await dockerRaw('network', 'inspect', name)).code, 1, 'Docker has no such network');
    }
    assert.deepEqual(await narwhalChains(), chains);
    assert.equal(await must('ls', [`${STATE_DIR}/networks`]), files);
  });

  it("--paranoid drops a container's spoofed source IP and MAC, ARP, router advertisements and redirects; its peer receives none of it", async () => {
    const pNet = `${net}-p`;
    const sp = subnets();
    await createNetwork(
      pNet,
      { 'narwhal.paranoid': 'true', 'narwhal.mtu': '1400' },
      ['--subnet', sp.v4, '--ipv6', '--subnet', sp.v6],
      'narwhal',
    );
    const [spy, peer] = [`${pNet}-spy`, `${pNet}-peer`];
    await runContainer(peer, pNet);
    await runContainer(spy, pNet, ['--cap-add', 'NET_ADMIN']);
    assert.equal((await ifaceIn(spy, 'eth0')).mtu, 1400);
    const peerIp = await ipOf(peer, pNet);
    await waitPingOk(spy, peerIp);
    await waitPingOk(spy, `${sp.p6}2`, 6);
    const end = await hostEndOf(spy);
    const hostMac = (await hostIface(end)).address;
    const seen = await captureIn(peer);
    const before = await paranoidCounters(end);

    await docker(
      'exec',
      spy,
      'sh',
      '-c',
      `ip addr add ${sp.p4}.99/32 dev eth0 && ip -6 addr add ${sp.p6}99/128 dev eth0`,
    );
    assert.equal((await dockerRaw('exec', spy, 'ping', '-c', '2', '-W', '1', '-I', `${sp.p4}.99`, peerIp)).code, 1);
    assert.equal(
      (await dockerRaw('exec', spy, 'ping6', '-c', '2', '-W', '1', '-I', `${sp.p6}99`, `${sp.p6}2`)).code,
      1,
    );
    await sendRouterMessages(spy, `${sp.p6}2`);
    await dockerRaw('exec', spy, 'sh', '-c', 'ip link set eth0 arp on && arping -c 2 -w 2 -I eth0 169.254.0.1');
    await docker('exec', spy, 'sh', '-c', 'ip link set eth0 arp off && ip link set eth0 address 0e:66:66:66:66:66');
    assert.equal(
      (
        await inNetns(spy, [
          'ip',
          'neigh',
          'replace',
          '169.254.0.1',
          'lladdr',
          hostMac,
          'dev',
          'eth0',
          'nud',
          'permanent',
        ])
      ).code,
      0,
    );
    assert.equal((await dockerRaw('exec', spy, 'ping', '-c', '2', '-W', '1', peerIp)).code, 1);

    const after = await paranoidCounters(end);
    const grew = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    for (const [k, n] of [
      ['spoofed source IPv4', 2],
      ['spoofed source IPv6', 2],
      ['router advertisement or redirect', 2],
      ['ARP', 1],
      ['spoofed source MAC', 2],
    ] as const) {
      assert.ok(grew(k) >= n, `${k}: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    }
    await new Promise((res) => setTimeout(res, 500));
    assert.deepEqual(
      seen.lines.filter(
        (l) =>
          l.includes(`${sp.p4}.99`) ||
          l.includes(`${sp.p6}99`) ||
          l.includes('0e:66:66:66:66:66') ||
          /router advertisement|redirect|ARP/i.test(l),
      ),
      [],
    );
  });

  it('survives a SIGKILLed daemon: the network comes back, new containers join, and leftovers of the crash are collected', async () => {
    const pid = daemonPid();
    process.kill(pid, 'SIGKILL');
    await waitFor('daemon gone', async () => !processAlive(pid));
    // What a daemon killed between `ip link add` and writing the record leaves, and rules of a
    // network and a link that no longer exist.
    const stray = `nw${netId.slice(0, 6)}dead0e2`;
    onCleanup(() => run('ip', ['link', 'del', stray]));
    await must('ip', ['link', 'add', stray, 'type', 'veth', 'peer', 'name', `nx${netId.slice(0, 6)}dead0e2`]);
    await must('nft', [
      'add table netdev narwhal; add chain netdev narwhal in_nwgone0e2 { type filter hook ingress device "nwgone0e2" priority filter; policy accept; }',
    ]);
    onCleanup(() => run('nft', ['delete', 'chain', 'netdev', 'narwhal', 'in_nwgone0e2']));
    await must('iptables', [
      '-w',
      '-I',
      'DOCKER-USER',
      '-i',
      'nwdead0e+',
      '-m',
      'comment',
      '--comment',
      'narwhal net dead0e2dead0',
      '-j',
      'ACCEPT',
    ]);
    onCleanup(() =>
      run('iptables', [
        '-w',
        '-D',
        'DOCKER-USER',
        '-i',
        'nwdead0e+',
        '-m',
        'comment',
        '--comment',
        'narwhal net dead0e2dead0',
        '-j',
        'ACCEPT',
      ]),
    );
    // Traffic goes on while the daemon is down.
    assert.ok(await pingOk(b, `${s.p4}.2`));

    await must('bash', [`${REPO}/scripts/up.sh`], 600_000);
    await waitFor(
      'leftovers collected',
      async () =>
        !(await hostLinks('nw')).includes(stray) &&
        !(await narwhalChains()).includes('netdev in_nwgone0e2') &&
        (await dockerUserRules('dead0e2')).length === 0,
      20_000,
    );
    const c = `${net}-c`;
    await runContainer(c, net);
    await waitPingOk(c, `${s.p4}.2`);
    await waitPingOk(c, `${s.p6}2`, 6);
    assert.equal(await httpGet(c, `http://${s.p4}.2:8080/`), `hello from ${a}`);
    assert.ok(await pingOk(b, `${s.p4}.2`), 'the containers from before still talk');
  });

  it('removing containers and the network leaves nothing: no links, chains, rules or state', async () => {
    const ends = [await hostEndOf(a), await hostEndOf(b)];
    const ids = [netId];
    for (const n of [net, `${net}-nat`, `${net}-fwd`, `${net}-p`]) {
      const id = (await dockerRaw('network', 'inspect', '-f', '{{.Id}}', n)).stdout.trim();
      if (id !== '' && !ids.includes(id)) ids.push(id);
      const containers = (await docker('ps', '-aq', '--filter', `network=${n}`)).split('\n').filter((x) => x !== '');
      if (containers.length > 0) await docker('rm', '-f', ...containers);
      await docker('network', 'rm', n);
    }
    const links = await hostLinks('nw');
    for (const e of ends) assert.ok(!links.includes(e), e);
    for (const id of ids) {
      assert.ok(!links.some((l) => l.startsWith(`nw${id.slice(0, 6)}`)), `no link of ${id}`);
      assert.deepEqual(
        (await narwhalChains()).filter((c) => c.includes(id.slice(0, 12)) || c.includes(`nw${id.slice(0, 6)}`)),
        [],
      );
      assert.deepEqual(await dockerUserRules(id.slice(0, 12)), []);
      assert.equal(existsSync(`${STATE_DIR}/networks/${id}.json`), false);
    }
    assert.deepEqual(
      (await must('ls', [`${STATE_DIR}/endpoints`])).split('\n').filter((f) => f !== ''),
      [],
    );
  });
});
