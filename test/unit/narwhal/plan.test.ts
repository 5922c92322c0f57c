import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerCommands,
  containerSysctls,
  hostCommands,
  hostLinkLocalRoute,
  hostSysctls,
  linkLocals,
  parseObservedInterface,
} from '../../../src/narwhal/plan.js';
import type { RoutedLink } from '../../../src/narwhal/spec.js';

const link: RoutedLink = {
  hostIf: 'nw-abc',
  hostMac: '0e:00:00:00:00:01',
  containerMac: '0e:00:00:00:00:02',
  ipv4: '192.0.2.10',
  ipv6: '2001:db8::10',
  hostIpv4: '169.254.0.1',
  hostIpv6: 'fe80::1',
  mtu: 1400,
  forwarding: false,
  paranoid: false,
};
const v4only: RoutedLink = { ...link, ipv6: undefined, mtu: undefined, forwarding: true };

const line = (a: readonly string[]): string => a.join(' ');

describe('narwhal plan: the host end', () => {
  it('forwarding follows the flag; without IPv6 the end has IPv6 disabled, with it no RA, no autoconf, no address of its own', () => {
    assert.deepEqual(hostSysctls(v4only), [
      { key: 'ipv4/conf/nw-abc/forwarding', value: '1' },
      { key: 'ipv6/conf/nw-abc/disable_ipv6', value: '1' },
    ]);
    assert.deepEqual(
      hostSysctls(link).map((s) => `${s.key}=${s.value}${s.optional === true ? '?' : ''}`),
      [
        'ipv4/conf/nw-abc/forwarding=0',
        'ipv6/conf/nw-abc/accept_ra=0',
        'ipv6/conf/nw-abc/autoconf=0',
        'ipv6/conf/nw-abc/addr_gen_mode=1',
        'ipv6/conf/nw-abc/disable_ipv6=0',
        'ipv6/conf/nw-abc/force_forwarding=0?',
      ],
    );
  });

  it("ARP off, the host addresses with the container's as peer, the /128 route, up, and permanent neighbours", () => {
    assert.deepEqual(hostCommands(link).map(line), [
      'link set dev nw-abc arp off mtu 1400',
      '-4 addr replace 169.254.0.1 peer 192.0.2.10/32 dev nw-abc',
      '-6 addr replace fe80::1 peer 2001:db8::10/128 dev nw-abc nodad',
      'link set dev nw-abc up',
      '-6 route replace 2001:db8::10/128 dev nw-abc',
      '-4 neigh replace 192.0.2.10 lladdr 0e:00:00:00:00:02 dev nw-abc nud permanent',
      '-6 neigh replace 2001:db8::10 lladdr 0e:00:00:00:00:02 dev nw-abc nud permanent',
    ]);
    assert.deepEqual(hostCommands(v4only).map(line), [
      'link set dev nw-abc arp off',
      '-4 addr replace 169.254.0.1 peer 192.0.2.10/32 dev nw-abc',
      'link set dev nw-abc up',
      '-4 neigh replace 192.0.2.10 lladdr 0e:00:00:00:00:02 dev nw-abc nud permanent',
    ]);
    assert.equal(
      line(hostLinkLocalRoute('nw-abc')),
      '-6 route append fe80::/64 dev nw-abc',
      'appended: replace would take the route of another link',
    );
  });
});

describe('narwhal plan: the container end', () => {
  it('IPv6 off without an address; with one, no RA and no autoconf', () => {
    assert.deepEqual(containerSysctls(v4only, 'eth0'), [{ key: 'ipv6/conf/eth0/disable_ipv6', value: '1' }]);
    assert.deepEqual(
      containerSysctls(link, 'eth1').map((s) => s.key),
      ['ipv6/conf/eth1/accept_ra', 'ipv6/conf/eth1/autoconf', 'ipv6/conf/eth1/disable_ipv6'],
    );
  });

  it('the command: a fresh interface gets its single addresses, comes up, and routes default via the host addresses', () => {
    assert.deepEqual(
      containerCommands(
        link,
        'eth0',
        { up: false, addresses: [] },
        { defaultRoutes: true, subnets: { ipv4: undefined, ipv6: undefined } },
      ).map(line),
      [
        'link set dev eth0 arp off',
        '-4 addr replace 192.0.2.10/32 dev eth0',
        '-6 addr replace 2001:db8::10/128 dev eth0 nodad',
        'link set dev eth0 up',
        '-4 neigh replace 169.254.0.1 lladdr 0e:00:00:00:00:01 dev eth0 nud permanent',
        '-6 neigh replace fe80::1 lladdr 0e:00:00:00:00:01 dev eth0 nud permanent',
        '-4 route replace 169.254.0.1/32 dev eth0 scope link',
        '-4 route add default via 169.254.0.1 dev eth0',
        '-6 route add default via fe80::1 dev eth0',
      ],
    );
  });

  it("the driver: Docker's /24 and /64 become /32 and /128 (IPv4 added before removed, IPv6 removed first), the subnet goes via the host", () => {
    const observed = parseObservedInterface(
      JSON.stringify([
        {
          ifname: 'eth0',
          flags: ['BROADCAST', 'MULTICAST', 'NOARP', 'UP', 'LOWER_UP'],
          addr_info: [
            { family: 'inet', local: '192.0.2.10', prefixlen: 24, scope: 'global' },
            { family: 'inet6', local: '2001:db8::10', prefixlen: 64, scope: 'global' },
            { family: 'inet6', local: 'fe80::c00:ff:fe00:2', prefixlen: 64, scope: 'link' },
          ],
        },
      ]),
    );
    assert.ok(observed);
    assert.deepEqual(linkLocals(observed), ['fe80::c00:ff:fe00:2']);
    const cmds = containerCommands(link, 'eth0', observed, {
      defaultRoutes: false,
      subnets: { ipv4: '192.0.2.0/24', ipv6: '2001:db8::/64' },
    }).map(line);
    assert.deepEqual(cmds, [
      'link set dev eth0 arp off',
      '-4 addr replace 192.0.2.10/32 dev eth0',
      '-4 addr del 192.0.2.10/24 dev eth0',
      '-6 addr del 2001:db8::10/64 dev eth0',
      '-6 addr replace 2001:db8::10/128 dev eth0 nodad',
      '-4 neigh replace 169.254.0.1 lladdr 0e:00:00:00:00:01 dev eth0 nud permanent',
      '-6 neigh replace fe80::1 lladdr 0e:00:00:00:00:01 dev eth0 nud permanent',
      '-4 route replace 169.254.0.1/32 dev eth0 scope link',
      '-4 route replace 192.0.2.0/24 via 169.254.0.1 dev eth0 onlink',
      '-6 route replace 2001:db8::/64 via fe80::1 dev eth0',
    ]);
    // Run again on what it left: nothing to remove, every step a replace.
    const again = containerCommands(
      link,
      'eth0',
      {
        up: true,
        addresses: [
          { family: 4, local: '192.0.2.10', prefixLength: 32, scope: 'global' },
          { family: 6, local: '2001:db8::10', prefixLength: 128, scope: 'global' },
        ],
      },
      { defaultRoutes: false, subnets: { ipv4: '192.0.2.0/24', ipv6: '2001:db8::/64' } },
    ).map(line);
    assert.ok(!again.some((c) => c.includes(' del ') || c.includes(' add ')), again.join('\n'));
  });

  it('reads `ip -json addr` of a missing interface as nothing', () => {
    assert.equal(parseObservedInterface(''), undefined);
    assert.equal(parseObservedInterface('[]'), undefined);
  });
});
