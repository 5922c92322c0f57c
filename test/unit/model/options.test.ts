import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseNetworkOptions,
  parseDpid,
  parseControllers,
  defaultBridgeName,
  formatDpid,
} from '../../../src/model/options.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

function rejects(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isDovesnapError(err, ErrorCode.BadOption), `expected BadOption, got ${String(err)}`);
    for (const f of fragments)
      assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

describe('network options', () => {
  it('defaults everything but the DPID', () => {
    const o = parseNetworkOptions({ 'ovs.bridge.dpid': '0x1' });
    assert.equal(o.dpid, 1n);
    assert.equal(o.mode, 'flat');
    assert.equal(o.vlan, 100);
    assert.equal(o.mirrorTunnelVid, 356);
    assert.equal(o.controllers, undefined);
    assert.equal(o.userspace, undefined);
    assert.deepEqual(o.addPorts, []);
    assert.equal(o.dhcp, false);
    assert.ok(Object.isFrozen(o));
  });

  it('accepts every option of the original README', () => {
    const o = parseNetworkOptions({
      'ovs.bridge.dpid': '42',
      'ovs.bridge.controller': 'tcp:127.0.0.1:6653,tcp:127.0.0.1:6654',
      'ovs.bridge.mode': 'nat',
      'ovs.bridge.vlan': '200',
      'ovs.bridge.name': 'br-test',
      'ovs.bridge.mtu': '1400',
      'ovs.bridge.userspace': 'true',
      'ovs.bridge.nat_acl': 'allowall',
      'ovs.bridge.default_acl': 'denyall',
      'ovs.bridge.vlan_out_acl': 'out-1',
      'ovs.bridge.preallocate_ports': '10',
      'ovs.bridge.ovs_local_mac': '0E:01:00:00:00:03',
      'ovs.bridge.add_ports': 'eno1/8/allowall,eno2',
      'ovs.bridge.add_copro_ports': 'eno3/9',
      'ovs.bridge.mirror_tunnel_vid': '300',
    });
    assert.equal(o.dpid, 42n);
    assert.deepEqual(o.controllers, ['tcp:127.0.0.1:6653', 'tcp:127.0.0.1:6654']);
    assert.equal(o.mode, 'nat');
    assert.equal(o.vlan, 200);
    assert.equal(o.bridgeName, 'br-test');
    assert.equal(o.mtu, 1400);
    assert.equal(o.userspace, true);
    assert.equal(o.ovsLocalMac, '0e:01:00:00:00:03');
    assert.deepEqual(o.addPorts, [
      { interface: 'eno1', ofport: 8, acl: 'allowall', vlans: undefined },
      { interface: 'eno2', ofport: undefined, acl: undefined, vlans: undefined },
    ]);
    assert.deepEqual(o.addCoproPorts, [{ interface: 'eno3', ofport: 9, acl: undefined, vlans: undefined }]);
    assert.equal(o.lbport, 99);
    assert.equal(o.mirrorTunnelVid, 300);
    assert.equal(o.preallocatePorts, 10);
  });

  it('requires a DPID', () => {
    rejects(() => parseNetworkOptions({}), 'ovs.bridge.dpid is required');
  });

  it('rejects unknown keys, naming them', () => {
    rejects(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.vlna': '3' }),
      'unknown option ovs.bridge.vlna',
    );
    rejects(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', foo: 'bar' }),
      'unknown option foo',
      'start with ovs.bridge.',
    );
  });

  const badValues: [string, string, string][] = [
    ['ovs.bridge.dpid', '0xZZ', 'hex'],
    ['ovs.bridge.dpid', '0', 'between 1'],
    ['ovs.bridge.dpid', '0x10000000000000000', 'hex'],
    ['ovs.bridge.mode', 'bridge', 'flat, nat, routed'],
    ['ovs.bridge.vlan', '4095', '1 to 4094'],
    ['ovs.bridge.vlan', 'ten', '1 to 4094'],
    ['ovs.bridge.mtu', '9', '68 to 65535'],
    ['ovs.bridge.userspace', 'maybe', 'true or false'],
    ['ovs.bridge.controller', 'tcp:localhost:6653', 'tcp:IP:PORT'],
    ['ovs.bridge.controller', 'tcp:127.0.0.1:99999', 'tcp:IP:PORT'],
    ['ovs.bridge.controller', 'udp:127.0.0.1:6653', 'tcp:IP:PORT'],
    ['ovs.bridge.name', 'this-name-is-far-too-long', 'interface name'],
    ['ovs.bridge.ovs_local_mac', '01:00:00:00:00:01', 'multicast'],
    ['ovs.bridge.add_ports', 'eno1/0', 'whole number'],
    ['ovs.bridge.add_ports', 'eno1/8/a/b', 'VIDs 1-4094'],
    ['ovs.bridge.add_ports', 'eno1/8/a/20/x', 'INTERFACE[/OFPORT[/ACL[/VLAN]]]'],
    ['ovs.bridge.add_ports', 'eno1///4095', 'VIDs 1-4094'],
    ['ovs.bridge.add_ports', 'eno1///0', 'VIDs 1-4094'],
    ['ovs.bridge.add_ports', 'eno1///20+30', 'two untagged VLANs'],
    ['ovs.bridge.add_ports', 'eno1///t20+t20', 'named twice'],
    ['ovs.bridge.add_ports', 'eno1/99', 'ovs.bridge.lbport'],
    ['ovs.bridge.add_copro_ports', 'eno1/8/a/20', 'INTERFACE[/OFPORT[/ACL]]'],
    ['ovs.bridge.lbport', '0', 'whole number'],
    ['ovs.bridge.lbport', '65280', 'whole number'],
    ['ovs.bridge.default_acl', 'has space', 'ACL name'],
    ['ovs.bridge.preallocate_ports', '-1', 'whole number'],
  ];
  for (const [key, value, hint] of badValues) {
    it(`rejects ${key}=${value}`, () => {
      rejects(() => parseNetworkOptions({ 'ovs.bridge.dpid': '1', [key]: value }), key, JSON.stringify(value), hint);
    });
  }

  it('rejects DHCP on a routed network and a mirror VLAN equal to the network VLAN', () => {
    rejects(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.dhcp': 'true', 'ovs.bridge.mode': 'nat' }),
      'ovs.bridge.dhcp',
    );
    rejects(
      () =>
        parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.vlan': '5', 'ovs.bridge.mirror_tunnel_vid': '5' }),
      'ovs.bridge.mirror_tunnel_vid',
    );
  });

  it('takes the DHCP servers and subnet of a DHCP network, and refuses them elsewhere or malformed, naming option and value', () => {
    const dhcp = { 'ovs.bridge.dpid': '1', 'ovs.bridge.dhcp': 'true' };
    const o = parseNetworkOptions({
      ...dhcp,
      'ovs.bridge.dhcp_server': '192.168.50.1, 192.168.50.2',
      'ovs.bridge.dhcp_subnet': '192.168.50.0/24',
    });
    assert.deepEqual([o.dhcpServers, o.dhcpSubnet], [['192.168.50.1', '192.168.50.2'], '192.168.50.0/24']);
    assert.deepEqual([parseNetworkOptions(dhcp).dhcpServers, parseNetworkOptions(dhcp).dhcpSubnet], [[], undefined]);
    rejects(
      () => parseNetworkOptions({ ...dhcp, 'ovs.bridge.dhcp_server': '192.168.50.300' }),
      'ovs.bridge.dhcp_server',
      '"192.168.50.300"',
      'not an IPv4 address',
    );
    rejects(
      () => parseNetworkOptions({ ...dhcp, 'ovs.bridge.dhcp_server': ',' }),
      'ovs.bridge.dhcp_server',
      'IPv4 addresses',
    );
    rejects(
      () => parseNetworkOptions({ ...dhcp, 'ovs.bridge.dhcp_subnet': '192.168.50.0' }),
      'ovs.bridge.dhcp_subnet',
      '"192.168.50.0"',
      'IPv4 subnet',
    );
    rejects(
      () => parseNetworkOptions({ ...dhcp, 'ovs.bridge.dhcp_subnet': '192.168.50.0/33' }),
      'ovs.bridge.dhcp_subnet',
      'IPv4 subnet',
    );
    rejects(
      () => parseNetworkOptions({ ...dhcp, 'ovs.bridge.dhcp_subnet': '192.168.50.7/24' }),
      'ovs.bridge.dhcp_subnet',
      '"192.168.50.7/24"',
      'the network is 192.168.50.0/24',
    );
    rejects(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.dhcp_server': '192.168.50.1' }),
      'ovs.bridge.dhcp_server',
      '"192.168.50.1"',
      'ovs.bridge.dhcp=true',
    );
    rejects(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.dhcp_subnet': '10.0.0.0/8' }),
      'ovs.bridge.dhcp_subnet',
      'ovs.bridge.dhcp=true',
    );
  });

  it("parses add_ports' fourth field: an untagged VLAN, tagged ones, or both; empty fields keep their defaults", () => {
    const o = parseNetworkOptions({
      'ovs.bridge.dpid': '1',
      'ovs.bridge.add_ports': 'a///20,b/7//t20+t30,c//allowall/100+t40',
    });
    assert.deepEqual(o.addPorts, [
      { interface: 'a', ofport: undefined, acl: undefined, vlans: { native: 20, tagged: [] } },
      { interface: 'b', ofport: 7, acl: undefined, vlans: { native: undefined, tagged: [20, 30] } },
      { interface: 'c', ofport: undefined, acl: 'allowall', vlans: { native: 100, tagged: [40] } },
    ]);
  });

  it('refuses two options asking for one OpenFlow port, the lbport included', () => {
    rejects(
      () =>
        parseNetworkOptions({
          'ovs.bridge.dpid': '1',
          'ovs.bridge.add_ports': 'a/5',
          'ovs.bridge.add_copro_ports': 'b/5',
        }),
      'ovs.bridge.add_copro_ports',
      'b/5',
      'already taken',
    );
    rejects(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.lbport': '7', 'ovs.bridge.add_ports': 'a/7' }),
      'ovs.bridge.add_ports',
      'a/7',
      'ovs.bridge.lbport',
    );
    assert.equal(
      parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.lbport': '7', 'ovs.bridge.add_ports': 'a/99' }).lbport,
      7,
    );
  });

  it("refuses a port VLAN equal to the network's mirror tunnel VLAN", () => {
    rejects(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.add_ports': 'a///t356' }),
      'ovs.bridge.add_ports',
      'mirror tunnel',
    );
  });

  it('rejects the same interface as normal and coprocessor port', () => {
    rejects(
      () =>
        parseNetworkOptions({
          'ovs.bridge.dpid': '1',
          'ovs.bridge.add_ports': 'eno1',
          'ovs.bridge.add_copro_ports': 'eno1',
        }),
      'eno1',
    );
  });

  it('formats and parses DPIDs both ways', () => {
    assert.equal(parseDpid('0xABc'), 0xabcn);
    assert.equal(parseDpid('18446744073709551615'), 0xffffffffffffffffn);
    assert.equal(formatDpid(255n), '0xff');
    assert.deepEqual(parseControllers('ssl:[::1]:6653'), ['ssl:[::1]:6653']);
    assert.equal(defaultBridgeName('0123456789abcdef'), 'ovsbr-01234');
  });
});

describe('mirror tunnel VLAN default (issue 6, defect 4)', () => {
  it('every network VLAN has a valid default, including 3839-4094', () => {
    for (const vlan of [1, 100, 3838, 3839, 4000, 4094]) {
      const o = parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.vlan': String(vlan) });
      assert.ok(
        o.mirrorTunnelVid >= 1 && o.mirrorTunnelVid <= 4094 && o.mirrorTunnelVid !== vlan,
        `vlan ${vlan} -> ${o.mirrorTunnelVid}`,
      );
    }
    assert.equal(parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.vlan': '4000' }).mirrorTunnelVid, 3744);
  });
});
