import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { macFromString, parseAddress, parseAttachArgs, type AttachSpec } from '../../../src/attach/spec.js';
import { pipeworkNames } from '../../../src/attach/apply.js';
import { attachmentKey } from '../../../src/attach/record.js';

function spec(...argv: string[]): AttachSpec {
  const c = parseAttachArgs(argv);
  assert.equal(c.kind, 'attach');
  return (c as { spec: AttachSpec }).spec;
}

describe('dovesnap attach command line (pipework compatible)', () => {
  it("parses the seed lab's commands", () => {
    const s = spec('br1', '-i', 'eth1', 'R1', '192.168.101.2/24@192.168.101.1');
    assert.deepEqual(s.hostIf, { name: 'br1' });
    assert.equal(s.containerIf, 'eth1');
    assert.equal(s.guest, 'R1');
    assert.deepEqual(s.address, {
      kind: 'static',
      family: 4,
      address: '192.168.101.2',
      prefixLength: 24,
      gateway: '192.168.101.1',
    });
    assert.equal(spec('br2', '-i', 'eth2', 'R1', '192.168.102.1/24').address.kind, 'static');
  });

  it('defaults the container interface to eth1 and accepts -i, -l, -a in any order', () => {
    assert.equal(spec('br1', 'web', '10.0.0.2/24').containerIf, 'eth1');
    const s = spec('ovsbr', '-a', '6', '-l', 'vhost0', '-i', 'eth3', 'web', '2001:db8::2/64@2001:db8::1');
    assert.equal(s.localIf, 'vhost0');
    assert.equal(s.containerIf, 'eth3');
    assert.deepEqual(s.address, {
      kind: 'static',
      family: 6,
      address: '2001:db8::2',
      prefixLength: 64,
      gateway: '2001:db8::1',
    });
  });

  it('takes MAC, U:STRING and @VLAN', () => {
    assert.equal(spec('br1', 'web', '10.0.0.2/24', '02:42:AC:11:00:99').mac, '02:42:ac:11:00:99');
    const v = spec('ovs0', 'web', '10.0.0.2/24', '02:42:ac:11:00:99@30');
    assert.equal(v.vlan, 30);
    assert.equal(spec('ovs0', 'web', '10.0.0.2/24', '@7').mac, undefined);
    assert.equal(spec('ovs0', 'web', '10.0.0.2/24', '@7').vlan, 7);
    assert.equal(spec('ovs0', 'web', '10.0.0.2/24', 'U:web@7').mac, macFromString('web'));
  });

  it("makes U:STRING MACs as pipework did (02: and the MD5 of 'echo STRING')", () => {
    // md5("att2\n") = 885e6f8b7e8b…: the value `echo att2 | md5sum` gives.
    assert.equal(macFromString('att2'), '02:88:5e:6f:8b:7e');
  });

  it('knows the DHCP methods, their -f forms and options', () => {
    assert.deepEqual(parseAddress('dhcp', undefined), {
      kind: 'dhcp',
      client: 'udhcpc',
      method: 'dhcp',
      foreground: false,
      options: [],
    });
    assert.deepEqual(parseAddress('dhcp:-O 42 -O 43', undefined), {
      kind: 'dhcp',
      client: 'udhcpc',
      method: 'dhcp',
      foreground: false,
      options: ['-O', '42', '-O', '43'],
    });
    assert.deepEqual(parseAddress('udhcpc-f', undefined), {
      kind: 'dhcp',
      client: 'udhcpc',
      method: 'udhcpc-f',
      foreground: true,
      options: [],
    });
    assert.equal((parseAddress('dhclient', undefined) as { client: string }).client, 'dhclient');
    assert.deepEqual(parseAddress('0/0', undefined), { kind: 'none' });
  });

  it('refuses bad input, naming what is wrong and the value', () => {
    assert.throws(
      () => parseAttachArgs(['br1', 'web', '10.0.0.2']),
      /invalid value "10\.0\.0\.2" for the address: .*did you mean 10\.0\.0\.2\/24/,
    );
    assert.throws(
      () => parseAttachArgs(['br1', 'web', '10.0.0.2/33']),
      /for the address: expected a prefix length from 0 to 32/,
    );
    assert.throws(() => parseAttachArgs(['br1', 'web', '10.0.0.2/24@2001:db8::1']), /for the gateway/);
    assert.throws(
      () => parseAttachArgs(['br1', '-a', '6', 'web', '10.0.0.2/24']),
      /invalid value "6" for -a: the address 10\.0\.0\.2 is IPv4/,
    );
    assert.throws(() => parseAttachArgs(['br1', '-a', '5', 'web', '10.0.0.2/24']), /invalid value "5" for -a/);
    assert.throws(() => parseAttachArgs(['br1', 'web', '10.0.0.2/24', '01:00:5e:00:00:01']), /multicast/);
    assert.throws(() => parseAttachArgs(['br1', 'web', '10.0.0.2/24', 'zz']), /invalid value "zz" for the MAC/);
    assert.throws(() => parseAttachArgs(['ovs0', 'web', '10.0.0.2/24', '@4095']), /invalid value "4095" for the VLAN/);
    assert.throws(() => parseAttachArgs(['br1', '-i', 'a-name-far-too-long', 'web', '10.0.0.2/24']), /for -i/);
    assert.throws(() => parseAttachArgs(['br1', 'web']), /expected HOSTIF/);
    assert.throws(
      () => parseAttachArgs(['br1', 'web', '10.0.0.2/24', 'aa:bb:cc:dd:ee:f0', 'extra']),
      /unexpected arguments/,
    );
    assert.throws(() => parseAttachArgs(['mac:zz', 'web', 'dhcp']), /for the host interface \(mac:HOSTMAC\)/);
    assert.throws(() => parseAttachArgs(['--bogus']), /unknown option/);
    assert.deepEqual(spec('br1', 'web', 'dhcpcd-f:--noarp').address, {
      kind: 'dhcp',
      client: 'dhcpcd',
      method: 'dhcpcd-f',
      foreground: true,
      options: ['--noarp'],
    });
    assert.equal((spec('br1', 'web', 'dhcpcd').address as { foreground: boolean }).foreground, false);
    assert.equal(spec('br1', 'web', 'dhclient-f:-v').address.kind, 'dhcp');
  });

  it('parses --wait, route/rule/tc, --direct-phys, --persist and help', () => {
    assert.deepEqual(parseAttachArgs(['--wait']), { kind: 'wait', containerIf: 'eth1' });
    assert.deepEqual(parseAttachArgs(['--wait', '-i', 'eth2']), { kind: 'wait', containerIf: 'eth2' });
    assert.deepEqual(parseAttachArgs(['route', 'R1', 'add', '10.3.0.0/24', 'via', '10.2.0.2']), {
      kind: 'netns-tool',
      tool: 'route',
      guest: 'R1',
      args: ['add', '10.3.0.0/24', 'via', '10.2.0.2'],
    });
    assert.equal(parseAttachArgs(['tc', 'R1', 'qdisc', 'show']).kind, 'netns-tool');
    const s = spec('--direct-phys', 'eno2', 'web', '10.0.0.2/24', '--persist');
    assert.equal(s.directPhys, true);
    assert.equal(s.persist, true);
    assert.deepEqual(spec('mac:02:00:00:00:00:01', 'web', 'dhcp').hostIf, { mac: '02:00:00:00:00:01' });
    assert.deepEqual(parseAttachArgs([]), { kind: 'help' });
    assert.deepEqual(parseAttachArgs(['--help']), { kind: 'help' });
  });

  it("names links as pipework did, within Linux's 15 characters", () => {
    assert.deepEqual(pipeworkNames('eth1', 1234, undefined), {
      local: 'veth1pl1234',
      guest: 'veth1pg1234',
      other: 'ph1234eth1',
    });
    assert.equal(pipeworkNames('eth1', 4194304, 'mine').local, 'mine');
    assert.ok(pipeworkNames('longname12', 4194304, undefined).local.length <= 15);
    assert.equal(attachmentKey({ containerId: '0123456789abcdef', pid: 5 }, 'eth1'), '0123456789ab_eth1');
    assert.equal(attachmentKey({ containerId: undefined, pid: 5 }, 'eth1'), 'pid-5_eth1');
  });
});
