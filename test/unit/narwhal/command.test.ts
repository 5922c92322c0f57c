import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { commandSpec, runNarwhalCommand, type NarwhalFlags } from '../../../src/narwhal/command.js';
import type { EngineContainer } from '../../../src/engine/client.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { FakeHost } from './fake-host.js';

const ID = 'bf897caf18cf0ade38e3de3571b44ecdc7f0a2b082ff1146644da69b696435ed';

function container(over: Partial<EngineContainer> = {}): EngineContainer {
  return { Id: ID, Name: '/web', State: { Pid: 4242, Running: true }, HostConfig: { NetworkMode: 'none' }, ...over };
}

/** A host whose container namespace has only `lo`, and whose container end answers `ip -json addr` as up with a link-local address. */
function host(): FakeHost {
  const h = new FakeHost();
  h.ipAnswers = (args, netns) => {
    if (netns === undefined) return undefined;
    if (args.join(' ') === '-json link show') return JSON.stringify([{ ifindex: 1, ifname: 'lo', flags: ['UP'] }]);
    if (args[0] === '-json' && args[1] === 'addr')
      return JSON.stringify([
        {
          ifname: 'eth0',
          flags: ['UP'],
          addr_info: [{ family: 'inet6', local: 'fe80::c00:ff:fe00:2', prefixlen: 64, scope: 'link' }],
        },
      ]);
    return undefined;
  };
  return h;
}

async function run(
  flags: NarwhalFlags,
  h = host(),
  c: EngineContainer | null = container(),
): Promise<{ h: FakeHost; warnings: string[]; result: Awaited<ReturnType<typeof runNarwhalCommand>> }> {
  const warnings: string[] = [];
  let n = 0;
  const result = await runNarwhalCommand('web', flags, {
    host: h,
    inspectContainer: async () => c ?? undefined,
    random: (k) => Uint8Array.from({ length: k }, () => ++n),
    warn: (m) => warnings.push(m),
  });
  return { h, warnings, result };
}

describe('dovesnap narwhal: flags', () => {
  it("defaults as narwhal's: eth0, 169.254.0.1, fe80::1, no forwarding, not paranoid", () => {
    assert.deepEqual(commandSpec({ ipv4: '192.0.2.10' }), {
      ipv4: '192.0.2.10',
      ipv6: undefined,
      hostIpv4: '169.254.0.1',
      hostIpv6: 'fe80::1',
      interface: 'eth0',
      hostInterface: undefined,
      mtu: undefined,
      forwarding: false,
      paranoid: false,
    });
  });

  it("refuses, naming the flag: no address, a subnet, a driver-style host interface, an MTU too small for IPv6, the host's own address", () => {
    const bad = (flags: NarwhalFlags, re: RegExp): void =>
      assert.throws(
        () => commandSpec(flags),
        (e: unknown) => isDovesnapError(e, ErrorCode.BadOption) && re.test(e.message),
        String(re),
      );
    bad({}, /give the container an address: -4 IPV4 and\/or -6 IPV6/);
    bad(
      { ipv4: '192.0.2.0/24' },
      /invalid value "192\.0\.2\.0\/24" for -4\/--ipv4: a routed link carries single addresses/,
    );
    bad({ ipv6: '192.0.2.1' }, /for -6\/--ipv6: expected an IPv6 address/);
    bad(
      { ipv4: '192.0.2.1', hostInterface: 'nw905de9f481f81' },
      /for --host-interface: names of the form nw \+ 13 hex digits belong to the narwhal network driver/,
    );
    bad(
      { ipv4: '192.0.2.1', hostInterface: 'this-name-is-too-long' },
      /for --host-interface: expected an interface name/,
    );
    bad(
      { ipv6: '2001:db8::1', mtu: '1200' },
      /invalid value "1200" for --mtu: IPv6 \(-6\) needs an MTU of at least 1280/,
    );
    bad({ ipv4: '169.254.0.1' }, /it is the host address \(--host-ipv4\)/);
  });
});

describe('dovesnap narwhal: building the link', () => {
  it('makes the container end straight inside the container, filters before anything is up, and routes default via the host', async () => {
    const { h, result } = await run({ ipv4: '192.0.2.10', ipv6: '2001:db8::10', paranoid: true });
    assert.equal(result.link.hostIf, 'nw-bf897caf18cf');
    const add = h.calls.find((c) => c.startsWith('ip link add'));
    assert.match(
      add ?? '',
      /^ip link add nw-bf897caf18cf address 0e:\S+ type veth peer name eth0 address 0e:\S+ netns 4242$/,
    );
    const filter = h.calls.findIndex((c) => c.includes('in_nw_dbf897caf18cf {'));
    const up = h.calls.findIndex((c) => c.endsWith('link set dev nw-bf897caf18cf up'));
    assert.ok(filter > 0 && filter < up);
    assert.ok(h.calls.includes('[/proc/4242/ns/net] ip -4 route add default via 169.254.0.1 dev eth0'));
    assert.ok(h.calls.includes('[/proc/4242/ns/net] ip -6 route add default via fe80::1 dev eth0'));
    assert.ok(
      h.calls.some(
        (c) =>
          c.startsWith('ip -6 neigh replace fe80::c00:ff:fe00:2 lladdr') &&
          c.endsWith('dev nw-bf897caf18cf nud permanent'),
      ),
      "the host answers the container's link-local address",
    );
    assert.ok(h.chains.has('fwd_nw_dbf897caf18cf'), 'no --forwarding: nothing routed to or from it');
  });

  it('--forwarding: DOCKER-USER accepts instead of the drop chain', async () => {
    const { h } = await run({ ipv4: '192.0.2.10', forwarding: true });
    assert.ok(!h.chains.has('fwd_nw_dbf897caf18cf'));
    assert.deepEqual(
      h.rules.map((r) => r.comment),
      ['narwhal link nw-bf897caf18cf', 'narwhal link nw-bf897caf18cf'],
    );
  });

  it('run again: fails before changing anything, because the interface exists (on the host, or in the container)', async () => {
    const h = host();
    h.links.add('nw-bf897caf18cf');
    await assert.rejects(
      run({ ipv4: '192.0.2.10' }, h),
      (e: unknown) =>
        isDovesnapError(e, ErrorCode.Conflict) && /interface nw-bf897caf18cf already exists/.test(e.message),
    );
    const h2 = host();
    const answers = h2.ipAnswers;
    h2.ipAnswers = (args, netns) =>
      netns !== undefined && args.join(' ') === '-json link show'
        ? JSON.stringify([{ ifname: 'lo' }, { ifname: 'eth0' }])
        : answers(args, netns);
    await assert.rejects(run({ ipv4: '192.0.2.10' }, h2), /already has an interface eth0/);
    for (const x of [h, h2]) assert.ok(!x.calls.some((c) => c.startsWith('ip link add')), 'nothing made');
  });

  it('a failing step undoes everything made before it', async () => {
    const h = host();
    h.failOn = '-6 route add default';
    const warnings: string[] = [];
    await assert.rejects(
      runNarwhalCommand(
        'web',
        { ipv4: '192.0.2.10', ipv6: '2001:db8::10', paranoid: true },
        { host: h, inspectContainer: async () => container(), warn: (m) => warnings.push(m) },
      ),
      /everything narwhal had made for web was removed again/,
    );
    assert.equal(h.links.size, 0, 'the link is gone');
    assert.equal(h.chains.size, 0, 'its filters are gone');
    assert.deepEqual(warnings, []);
  });

  it('--forwarding with -6 on a kernel without per-interface IPv6 forwarding says what the operator must set', async () => {
    const h = host();
    h.settings.delete('ipv6/conf/all/force_forwarding');
    h.settings.set('ipv6/conf/all/forwarding', '0');
    const { warnings } = await run({ ipv4: '192.0.2.10', ipv6: '2001:db8::10', forwarding: true }, h);
    assert.match(
      warnings.join('\n'),
      /--forwarding: this kernel has no per-interface IPv6 forwarding .* net\.ipv6\.conf\.all\.forwarding is 0/,
    );
    h.settings.set('ipv6/conf/all/forwarding', '1');
    const again = await run(
      { ipv4: '192.0.2.11', ipv6: '2001:db8::11', forwarding: true, hostInterface: 'nw-other' },
      h,
    );
    assert.deepEqual(again.warnings, []);
    const { warnings: modern } = await run({ ipv4: '192.0.2.12', ipv6: '2001:db8::12', forwarding: true }, host());
    assert.deepEqual(modern, []);
  });

  it("refuses a stopped container and one on the host's network; warns for other modes", async () => {
    await assert.rejects(
      run({ ipv4: '192.0.2.10' }, host(), container({ State: { Running: false, Pid: 0 } })),
      /is not running/,
    );
    await assert.rejects(
      run({ ipv4: '192.0.2.10' }, host(), container({ HostConfig: { NetworkMode: 'host' } })),
      /--net=host/,
    );
    await assert.rejects(run({ ipv4: '192.0.2.10' }, host(), null), /no such container: web/);
    const { warnings } = await run(
      { ipv4: '192.0.2.10' },
      host(),
      container({ HostConfig: { NetworkMode: 'bridge' } }),
    );
    assert.match(warnings[0] ?? '', /network mode "bridge"; narwhal is meant for --net=none/);
  });
});
