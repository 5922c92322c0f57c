import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  DOCKER,
  IMAGE,
  docker,
  dockerRaw,
  hostLinks,
  httpGet,
  must,
  onCleanup,
  run,
  serveHttp,
  uniqueName,
  waitFor,
} from './harness.js';
import {
  captureIn,
  dockerUserRules,
  dovesnap,
  hostEndOf,
  hostIface,
  ifaceIn,
  inNetns,
  narwhalChains,
  paranoidCounters,
  pingOk,
  removeLinkRules,
  sendRouterMessages,
  waitPingOk,
} from './narwhal-helpers.js';

/**
 * `dovesnap narwhal`, narwhal's command, against real --net=none containers: the link it
 * builds (both ends), traffic over IPv4 and IPv6 between two containers and with the host
 * (ICMP and TCP), what happens without --forwarding, a second run, a failure half-way, and
 * --paranoid against a container that tries to spoof.
 */

const tag = uniqueName('nwc').slice(-6);
const octet = 20 + ((randomBytes(1)[0] ?? 0) % 200);
const v4 = (n: number): string => `10.234.${octet}.${n}`;
const v6 = (n: number): string => `fd00:234:${octet.toString(16)}::${n}`;

async function startNone(name: string, extra: string[] = []): Promise<string> {
  onCleanup(async () => {
    const end = await hostEndOf(name).catch(() => undefined);
    await run(DOCKER, ['rm', '-f', name]);
    if (end !== undefined) await removeLinkRules(end);
  });
  const id = await docker('run', '-d', '--name', name, '--net', 'none', ...extra, IMAGE, 'sleep', '3600');
  onCleanup(() => removeLinkRules(`nw-${id.slice(0, 12)}`));
  return id;
}

describe('dovesnap narwhal (the command)', () => {
  const a = `dst-nwc-a-${tag}`;
  const b = `dst-nwc-b-${tag}`;
  const lone = `dst-nwc-c-${tag}`;
  const spy = `dst-nwc-p-${tag}`;
  let aId = '';
  let aIf = '';

  it('--help documents every flag', async () => {
    const r = await dovesnap('narwhal', '--help');
    assert.equal(r.code, 0, r.stderr);
    for (const flag of [
      '-4, --ipv4',
      '-6, --ipv6',
      '--forwarding',
      '--host-ipv4',
      '--host-ipv6',
      '--interface',
      '--host-interface',
      '--mtu',
      '--paranoid',
      '--trace',
    ]) {
      assert.ok(r.stdout.includes(flag), `help names ${flag}`);
    }
  });

  it("builds narwhal's link: ARP off on both ends, peer-addressed host end, /32 and /128, permanent neighbours, default routes, no RA", async () => {
    aId = await startNone(a);
    const r = await dovesnap('narwhal', '-4', v4(1), '-6', v6(1), '--forwarding', '--mtu', '1400', a);
    assert.equal(r.code, 0, r.stderr);
    aIf = `nw-${aId.slice(0, 12)}`;
    assert.match(r.stdout, new RegExp(`^${aIf} \\(host\\) <-> eth0 in container ${a}`));

    const inside = await ifaceIn(a, 'eth0');
    assert.ok(inside.flags.includes('NOARP') && inside.flags.includes('UP'));
    assert.equal(inside.mtu, 1400);
    const global = inside.addr_info.filter((x) => x.scope === 'global').map((x) => `${x.local}/${x.prefixlen}`);
    assert.deepEqual(global.sort(), [`${v4(1)}/32`, `${v6(1)}/128`].sort());
    const routes = (await inNetns(a, ['ip', 'route'])).stdout;
    assert.match(routes, /^default via 169\.254\.0\.1 dev eth0/m);
    assert.match((await inNetns(a, ['ip', '-6', 'route'])).stdout, /^default via fe80::1 dev eth0/m);
    const neigh = (await inNetns(a, ['ip', 'neigh'])).stdout;
    const host = await hostIface(aIf);
    assert.match(neigh, new RegExp(`^169\\.254\\.0\\.1 dev eth0 lladdr ${host.address} PERMANENT`, 'm'));
    assert.match(neigh, new RegExp(`^fe80::1 dev eth0 lladdr ${host.address} PERMANENT`, 'm'));
    for (const [k, v] of [
      ['accept_ra', '0'],
      ['autoconf', '0'],
    ]) {
      assert.equal((await inNetns(a, ['cat', `/proc/sys/net/ipv6/conf/eth0/${k}`])).stdout.trim(), v);
    }

    assert.ok(host.flags.includes('NOARP'));
    assert.equal(host.mtu, 1400);
    assert.equal(host.master, undefined, 'no bridge');
    assert.ok(
      host.addr_info.some((x) => x.local === '169.254.0.1' && x.address === v4(1) && x.prefixlen === 32),
      JSON.stringify(host.addr_info),
    );
    assert.ok(host.addr_info.some((x) => x.local === 'fe80::1' && x.address === v6(1) && x.prefixlen === 128));
    assert.match(
      await must('ip', ['route', 'show', v4(1)]),
      new RegExp(`^${v4(1).replace(/\./g, '\\.')} dev ${aIf} proto kernel scope link src 169\\.254\\.0\\.1`),
    );
    assert.match(await must('ip', ['-6', 'route', 'show', `${v6(1)}/128`]), new RegExp(`dev ${aIf}`));
    assert.match(
      await must('ip', ['neigh', 'show', 'dev', aIf]),
      new RegExp(`^${v4(1).replace(/\./g, '\\.')} lladdr ${inside.address} PERMANENT`, 'm'),
    );
    assert.equal((await must('cat', [`/proc/sys/net/ipv6/conf/${aIf}/accept_ra`])).trim(), '0');
  });

  it('IPv4 and IPv6 between two containers (ICMP and TCP), routed by the host', async () => {
    await startNone(b);
    const r = await dovesnap('narwhal', '-4', v4(2), '-6', v6(2), '--forwarding', '--mtu', '1400', b);
    assert.equal(r.code, 0, r.stderr);
    await serveHttp(b);
    await waitPingOk(a, v4(2));
    await waitPingOk(a, v6(2), 6);
    // Routed, not bridged: one hop (TTL 64 - 1).
    assert.match(await docker('exec', a, 'ping', '-c', '1', v4(2)), /ttl=63/);
    assert.equal(await httpGet(a, `http://${v4(2)}:8080/`), `hello from ${b}`);
    assert.equal(await httpGet(a, `http://[${v6(2)}]:8080/`), `hello from ${b}`);
  });

  it('IPv4 and IPv6 with the host, both ways (ICMP and TCP)', async () => {
    assert.ok(await pingOk(a, '169.254.0.1'));
    assert.ok(await pingOk(a, 'fe80::1%eth0', 6));
    assert.equal((await run('busybox', ['ping', '-c', '1', '-W', '2', v4(2)])).code, 0);
    assert.equal((await run('busybox', ['ping6', '-c', '1', '-W', '2', v6(2)])).code, 0);
    const fromHost4 = await run('busybox', ['wget', '-q', '-O', '-', `http://${v4(2)}:8080/`], 10_000);
    assert.equal(fromHost4.stdout.trim(), `hello from ${b}`);
    const fromHost6 = await run('busybox', ['wget', '-q', '-O', '-', `http://[${v6(2)}]:8080/`], 10_000);
    assert.equal(fromHost6.stdout.trim(), `hello from ${b}`);
    // A service on the host, reached from the container at the host address.
    const server = createServer((_req, res) => res.end('hello from the host'));
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    onCleanup(async () => server.close());
    const port = (server.address() as AddressInfo).port;
    assert.equal(await httpGet(a, `http://169.254.0.1:${port}/`), 'hello from the host');
  });

  it('without --forwarding the container reaches the host, and nothing is routed to or from it', async () => {
    await startNone(lone);
    const r = await dovesnap('narwhal', '-4', v4(3), '-6', v6(3), lone);
    assert.equal(r.code, 0, r.stderr);
    await waitPingOk(lone, '169.254.0.1');
    assert.ok(await pingOk(lone, 'fe80::1%eth0', 6));
    assert.equal(await pingOk(lone, v4(1)), false, 'not to another container');
    assert.equal(await pingOk(lone, v6(1), 6), false);
    assert.equal(await pingOk(a, v4(3)), false, 'nor from one');
    assert.equal(await pingOk(a, v6(3), 6), false);
  });

  it('run again, it fails cleanly because the interface exists, and changes nothing', async () => {
    const before = await ifaceIn(a, 'eth0');
    const links = await hostLinks('nw');
    const r = await dovesnap('narwhal', '-4', v4(9), a);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`interface ${aIf} already exists`));
    const r2 = await dovesnap('narwhal', '-4', v4(9), '--host-interface', `nwq${tag}`, a);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /already has an interface eth0/);
    assert.deepEqual(await ifaceIn(a, 'eth0'), before);
    assert.deepEqual(await hostLinks('nw'), links);
    assert.ok(await pingOk(a, v4(2)), 'still working');
  });

  it('a step failing half-way undoes everything: no link, no rules, no interface in the container', async () => {
    const c = `dst-nwc-f-${tag}`;
    const id = await startNone(c);
    // The container already has a default route (through lo): narwhal's own cannot be added.
    assert.equal((await inNetns(c, ['ip', 'route', 'add', 'default', 'dev', 'lo'])).code, 0);
    const r = await dovesnap('narwhal', '-4', v4(4), '--paranoid', c);
    assert.equal(r.code, 2, r.stdout);
    assert.match(
      r.stderr,
      /route add default via 169\.254\.0\.1.*everything narwhal had made for .* was removed again/s,
    );
    const ifname = `nw-${id.slice(0, 12)}`;
    assert.ok(!(await hostLinks('nw-')).includes(ifname));
    assert.ok(!(await narwhalChains()).some((ch) => ch.includes(ifname.replace(/-/g, '_d'))));
    assert.deepEqual(
      (JSON.parse((await inNetns(c, ['ip', '-json', 'link', 'show'])).stdout) as { ifname: string }[]).map(
        (l) => l.ifname,
      ),
      ['lo'],
    );
  });

  it('no shared layer 2: a forged ARP from one container reaches no other', async () => {
    const atk = `dst-nwc-x-${tag}`;
    await startNone(atk, ['--cap-add', 'NET_ADMIN']);
    assert.equal((await dovesnap('narwhal', '-4', v4(5), '--forwarding', atk)).code, 0);
    // No -6: IPv6 is off at both ends.
    assert.equal((await inNetns(atk, ['cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).stdout.trim(), '1');
    assert.equal((await must('cat', [`/proc/sys/net/ipv6/conf/${await hostEndOf(atk)}/disable_ipv6`])).trim(), '1');
    const seen = await captureIn(b);
    // The attacker claims b's address: ARP on again, b's address added, gratuitous ARP sent.
    await docker(
      'exec',
      atk,
      'sh',
      '-c',
      `ip link set eth0 arp on && ip addr add ${v4(2)}/32 dev eth0 && arping -U -c 3 -I eth0 -s ${v4(2)} 169.254.0.1`,
    );
    // The routed ping from a to b arrives (the capture works); no ARP ever does.
    await docker('exec', a, 'ping', '-c', '1', v4(2));
    await waitFor("b receives a's ping", async () =>
      seen.lines.some((l) => l.includes(`${v4(1)} > ${v4(2)}: ICMP echo request`)),
    );
    assert.deepEqual(
      seen.lines.filter((l) => /ARP/.test(l)),
      [],
    );
    assert.match(await must('ip', ['neigh', 'show', v4(2)]), /PERMANENT/, 'the host still knows b by its own MAC');
  });

  it('--paranoid drops spoofed source MAC and IP, ARP, router advertisements and redirects (counters), and none of it reaches a peer', async () => {
    const pId = await startNone(spy, ['--cap-add', 'NET_ADMIN']);
    const r = await dovesnap('narwhal', '-4', v4(6), '-6', v6(6), '--forwarding', '--paranoid', spy);
    assert.equal(r.code, 0, r.stderr);
    const pIf = `nw-${pId.slice(0, 12)}`;
    const hostMac = (await hostIface(pIf)).address;
    await waitPingOk(spy, v4(2));
    await waitPingOk(spy, v6(2), 6);
    const seen = await captureIn(b);
    const before = await paranoidCounters(pIf);

    // Another container's source address.
    await docker('exec', spy, 'sh', '-c', `ip addr add ${v4(1)}/32 dev eth0 && ip -6 addr add ${v6(1)}/128 dev eth0`);
    assert.equal((await dockerRaw('exec', spy, 'ping', '-c', '2', '-W', '1', '-I', v4(1), v4(2))).code, 1);
    assert.equal((await dockerRaw('exec', spy, 'ping6', '-c', '2', '-W', '1', '-I', v6(1), v6(2))).code, 1);
    // Router advertisement and redirect.
    await sendRouterMessages(spy, v6(2));
    // ARP.
    await dockerRaw('exec', spy, 'sh', '-c', 'ip link set eth0 arp on && arping -c 2 -w 2 -I eth0 169.254.0.1');
    // Another MAC. The change takes the permanent neighbour entries with it; the attacker puts
    // the host's back (busybox's ip cannot, so the host's ip does it in the container's namespace).
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
    assert.equal((await dockerRaw('exec', spy, 'ping', '-c', '2', '-W', '1', v4(2))).code, 1);

    const after = await paranoidCounters(pIf);
    const grew = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    assert.ok(grew('spoofed source IPv4') >= 2, JSON.stringify(after));
    assert.ok(grew('spoofed source IPv6') >= 2, JSON.stringify(after));
    assert.ok(grew('router advertisement or redirect') >= 2, JSON.stringify(after));
    assert.ok(grew('ARP') >= 1, JSON.stringify(after));
    assert.ok(grew('spoofed source MAC') >= 2, JSON.stringify(after));
    // Give anything that got through time to arrive; nothing from the attacker did.
    await new Promise((res) => setTimeout(res, 500));
    assert.deepEqual(
      seen.lines.filter(
        (l) =>
          l.includes(v4(1)) ||
          l.includes(v6(1)) ||
          l.includes('0e:66:66:66:66:66') ||
          /router advertisement|redirect|ARP/i.test(l),
      ),
      [],
    );
  });

  it('rules of containers that are gone are collected by the next run', async () => {
    const gone = `dst-nwc-g-${tag}`;
    const id = await startNone(gone);
    assert.equal((await dovesnap('narwhal', '-4', v4(7), '--paranoid', gone)).code, 0);
    const ifname = `nw-${id.slice(0, 12)}`;
    const part = ifname.replace(/-/g, '_d');
    assert.ok((await narwhalChains()).includes(`netdev in_${part}`));
    await docker('rm', '-f', gone);
    // A netdev chain outlives its interface (Linux 6.11+); the next run removes it.
    const next = `dst-nwc-h-${tag}`;
    await startNone(next);
    assert.equal((await dovesnap('narwhal', '-4', v4(8), next)).code, 0);
    assert.ok(!(await narwhalChains()).some((c) => c.endsWith(`_${part}`)));
    assert.deepEqual(await dockerUserRules(ifname), []);
  });
});
