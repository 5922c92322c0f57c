import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  deleteChainScript,
  ingressChainScript,
  ingressRules,
  linkDockerUserRules,
  linkForwardScript,
  networkDockerUserRules,
  networkForwardScript,
  networkNatScript,
} from '../../../src/narwhal/rules.js';
import { parseNarwhalOptions } from '../../../src/narwhal/options.js';
import { parseTaggedRules } from '../../../src/narwhal/docker-user.js';
import type { RoutedLink } from '../../../src/narwhal/spec.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

const link: RoutedLink = {
  hostIf: 'nw-abc',
  hostMac: '0e:00:00:00:00:01',
  containerMac: '0e:00:00:00:00:02',
  ipv4: '192.0.2.10',
  ipv6: '2001:db8::10',
  hostIpv4: '169.254.0.1',
  hostIpv6: 'fe80::1',
  mtu: undefined,
  forwarding: false,
  paranoid: true,
};
const NET = '905de9a1e9ca6d0975c81bbf38ba60d13dc6d7c8769cb1de6273a51ec2e5d225';

describe('narwhal --paranoid ingress rules', () => {
  it('source MAC first, then ARP, then router messages before any accept, then source addresses; everything else dropped', () => {
    const r = ingressRules(link);
    assert.match(r[0] ?? '', /^ether saddr != 0e:00:00:00:00:02 counter drop/);
    assert.match(r[1] ?? '', /^ether type arp counter drop/);
    assert.match(r[2] ?? '', /^icmpv6 type \{ nd-router-advert, nd-redirect \} counter drop/);
    const firstAccept = r.findIndex((x) => x.includes('accept'));
    assert.ok(
      firstAccept > 2,
      'a router advertisement from a link-local source must not be let in by the link-local accept',
    );
    assert.ok(r.includes('ip saddr != 192.0.2.10 counter drop comment "spoofed source IPv4"'));
    assert.ok(r.includes('ip6 saddr != 2001:db8::10 counter drop comment "spoofed source IPv6"'));
    assert.equal(r.at(-1), 'counter drop comment "other protocol"');
  });

  it('a family without an address is dropped whole', () => {
    const r = ingressRules({ ...link, ipv6: undefined });
    assert.ok(r.some((x) => x.startsWith('ether type ip6 counter drop')));
    assert.ok(!r.some((x) => x.includes('ip6 saddr')));
    const r4 = ingressRules({ ...link, ipv4: undefined });
    assert.ok(r4.some((x) => x.startsWith('ether type ip counter drop')));
  });

  it("is one netdev chain on the host end's ingress, replaced whole; deleting succeeds whether or not it exists", () => {
    const s = ingressChainScript(link);
    assert.match(
      s,
      /^add table netdev narwhal\nadd chain netdev narwhal in_nw_dabc \{ type filter hook ingress device "nw-abc" priority filter; policy accept; \}\nflush chain netdev narwhal in_nw_dabc\n/,
    );
    assert.equal(
      deleteChainScript('netdev', 'in_x'),
      'add table netdev narwhal\nadd chain netdev narwhal in_x\nflush chain netdev narwhal in_x\ndelete chain netdev narwhal in_x\n',
    );
  });
});

describe('narwhal forwarding rules', () => {
  it('a command link without --forwarding: nothing routed to or from it; with it, DOCKER-USER accepts both ways', () => {
    const s = linkForwardScript('nw-abc');
    assert.match(s, /iifname "nw-abc" counter drop/);
    assert.match(s, /oifname "nw-abc" counter drop/);
    assert.deepEqual(linkDockerUserRules('nw-abc'), [
      ['-i', 'nw-abc', '-m', 'comment', '--comment', 'narwhal link nw-abc', '-j', 'ACCEPT'],
      ['-o', 'nw-abc', '-m', 'comment', '--comment', 'narwhal link nw-abc', '-j', 'ACCEPT'],
    ]);
  });

  it('a network: its containers reach each other; by default nothing else, nat lets only replies in, forwarding lets all through', () => {
    const base = { id: NET, forwarding: false, nat: false, ipv4Subnet: '10.97.0.0/24' };
    const iso = networkForwardScript(base);
    assert.match(iso, /iifname "nw905de9\*" oifname "nw905de9\*" accept/);
    assert.match(iso, /iifname "nw905de9\*" counter drop/);
    assert.match(iso, /oifname "nw905de9\*" counter drop/);
    const nat = networkForwardScript({ ...base, nat: true });
    assert.doesNotMatch(nat, /iifname "nw905de9\*" counter drop/);
    assert.match(nat, /oifname "nw905de9\*" ct state established,related accept/);
    const fwd = networkForwardScript({ ...base, forwarding: true });
    assert.doesNotMatch(fwd, /drop/);
    assert.equal(networkNatScript(base), undefined);
    assert.match(
      networkNatScript({ ...base, nat: true }) ?? '',
      /type nat hook postrouting priority srcnat; .*\n.*ip saddr 10\.97\.0\.0\/24 oifname != "nw905de9\*" masquerade/s,
    );

    const tag = ['-m', 'comment', '--comment', 'narwhal net 905de9a1e9ca'];
    assert.deepEqual(networkDockerUserRules(base), [['-i', 'nw905de9+', '-o', 'nw905de9+', ...tag, '-j', 'ACCEPT']]);
    assert.deepEqual(networkDockerUserRules({ ...base, nat: true }).slice(1), [
      ['-i', 'nw905de9+', ...tag, '-j', 'ACCEPT'],
      ['-o', 'nw905de9+', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'],
    ]);
    assert.deepEqual(networkDockerUserRules({ ...base, forwarding: true }).slice(1), [
      ['-i', 'nw905de9+', ...tag, '-j', 'ACCEPT'],
      ['-o', 'nw905de9+', ...tag, '-j', 'ACCEPT'],
    ]);
  });

  it("finds its own DOCKER-USER rules in `iptables -S`, comment and all, and nobody else's", () => {
    const out = [
      '-N DOCKER-USER',
      '-A DOCKER-USER -i nw905de9+ -o nw905de9+ -m comment --comment "narwhal net 905de9a1e9ca" -j ACCEPT',
      '-A DOCKER-USER -i ovsbr-1 -m comment --comment "dovesnap 0123456789ab" -j ACCEPT',
      '-A DOCKER-USER -j RETURN',
    ].join('\n');
    assert.deepEqual(parseTaggedRules('iptables', out, 'narwhal '), [
      {
        tool: 'iptables',
        comment: 'narwhal net 905de9a1e9ca',
        spec: [
          '-i',
          'nw905de9+',
          '-o',
          'nw905de9+',
          '-m',
          'comment',
          '--comment',
          'narwhal net 905de9a1e9ca',
          '-j',
          'ACCEPT',
        ],
      },
    ]);
  });
});

describe('narwhal network options', () => {
  it("defaults: isolated, not paranoid, the kernel's MTU, 169.254.0.1 and fe80::1", () => {
    assert.deepEqual(parseNarwhalOptions({}), {
      forwarding: false,
      nat: false,
      paranoid: false,
      mtu: undefined,
      hostIpv4: '169.254.0.1',
      hostIpv6: 'fe80::1',
    });
    assert.deepEqual(
      parseNarwhalOptions({
        'narwhal.forwarding': 'true',
        'narwhal.nat': 'yes',
        'narwhal.paranoid': '1',
        'narwhal.mtu': '1400',
        'narwhal.host_ipv4': '169.254.1.1',
        'narwhal.host_ipv6': 'fe80::2',
      }),
      { forwarding: true, nat: true, paranoid: true, mtu: 1400, hostIpv4: '169.254.1.1', hostIpv6: 'fe80::2' },
    );
    assert.equal(parseNarwhalOptions({ 'com.docker.network.driver.mtu': '9000' }).mtu, 9000);
  });

  it('refuses unknown options and bad values, naming the option and the value', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { 'ovs.bridge.dpid': '0x1' },
        /unknown option ovs\.bridge\.dpid for a narwhal network; known options: .*narwhal\.forwarding/,
      ],
      [
        { 'narwhal.forwarding': 'maybe' },
        /invalid value "maybe" for option narwhal\.forwarding: expected true or false/,
      ],
      [{ 'narwhal.mtu': '20' }, /invalid value "20" for option narwhal\.mtu: expected a whole number from 68 to 65535/],
      [
        { 'narwhal.host_ipv4': 'fe80::1' },
        /invalid value "fe80::1" for option narwhal\.host_ipv4: expected an IPv4 address/,
      ],
      [{ 'narwhal.host_ipv6': '169.254.0.1/16' }, /invalid value "169\.254\.0\.1\/16" for option narwhal\.host_ipv6/],
    ];
    for (const [raw, re] of cases)
      assert.throws(
        () => parseNarwhalOptions(raw),
        (e: unknown) => isDovesnapError(e, ErrorCode.BadOption) && re.test(e.message),
      );
  });
});
