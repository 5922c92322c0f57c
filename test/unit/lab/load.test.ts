import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabFileInvalid, loadLabFile, parseLab } from '../../../src/lab/load.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { BASE, FILE, errorsOf, expectError, parse, posOf } from './helpers.js';

describe('lab file errors: line, column, path, message', () => {
  it('prints each error as FILE:LINE:COL: PATH: MESSAGE, an unknown key with a suggestion at the key', () => {
    const text = `name: t
networks:
  uplink: { mode: nat, subnet: 192.168.101.0/24 }
nodes:
  r1:
    interfaces:
      eth1:
        network: uplink
        adress: 192.168.101.2/24
`;
    assert.throws(
      () => parseLab(text, FILE),
      (err: unknown) => {
        assert.ok(err instanceof LabFileInvalid);
        assert.ok(err instanceof Error);
        assert.ok(isDovesnapError(err, ErrorCode.LabInvalid), "the CLI treats it as the user's error");
        assert.equal(
          err.message,
          'lab.yaml:9:9: nodes.r1.interfaces.eth1.adress: unknown key "adress" (did you mean "address"?)',
        );
        assert.deepEqual(err.errors, [
          {
            file: FILE,
            line: 9,
            col: 9,
            path: 'nodes.r1.interfaces.eth1.adress',
            message: 'unknown key "adress" (did you mean "address"?)',
          },
        ]);
        return true;
      },
    );
  });

  it('reports every error, sorted by position, one per line of the message', () => {
    const text = `name: t
nodes:
  r1:
    knd: router
    interfaces: { eth1: { network: nowhere } }
  r2:
    image: 7
extra: 1
`;
    const errs = errorsOf(text);
    assert.deepEqual(
      errs.map((e) => [e.line, e.col, e.path]),
      [
        [4, 5, 'nodes.r1.knd'],
        [7, 12, 'nodes.r2.image'],
        [8, 1, 'extra'],
      ],
    );
    assert.match(errs[0]!.message, /did you mean "kind"/);
    assert.equal(errs[2]!.message, 'unknown key "extra"', 'no suggestion when nothing is close');
    try {
      parseLab(text, FILE);
    } catch (err) {
      assert.equal((err as Error).message.split('\n').length, 3);
    }
  });

  it('unknown keys in every kind of place: top level, network, link, node, defaults, group, route, file', () => {
    const text = `name: t
defaults: { lables: {} }
groups:
  g: { imag: x }
networks:
  n1: { subnett: 10.0.0.0/24 }
links:
  - { endpoints: [a:eth1, b:eth1], adresses: [] }
nodes:
  a:
    routes: [{ dst: default, vai: 10.0.0.1 }]
    files: { /etc/x: { contnet: x } }
  b: {}
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'defaults.lables', 'did you mean "labels"', 'lables');
    expectError(text, errs, 'groups.g.imag', 'did you mean "image"', 'imag');
    expectError(text, errs, 'networks.n1.subnett', 'did you mean "subnet"', 'subnett');
    expectError(text, errs, 'links[0].adresses', 'did you mean "addresses"', 'adresses');
    expectError(text, errs, 'nodes.a.routes[0].vai', 'did you mean "via"', 'vai');
    expectError(text, errs, 'nodes.a.files./etc/x.contnet', 'did you mean "content"', 'contnet');
    expectError(text, errs, 'nodes.a.routes[0].via', 'missing required key "via"', '{ dst');
    assert.equal(errs.length, 7);
  });

  it('a duplicate key, at the second one', () => {
    const text = `name: t
nodes:
  r1:
    kind: router
    kind: host
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'nodes.r1.kind', 'duplicate key "kind"', 'kind', 1);
    assert.equal(errs.length, 1);
  });

  it('duplicate keys are reported with the shape errors', () => {
    const text = `name: t
name: u
nodes: { r1: { kind: rooter } }
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'name', 'duplicate key', 'name', 1);
    expectError(
      text,
      errs,
      'nodes.r1.kind',
      'expected one of router, host, capture, got "rooter" (did you mean "router"?)',
      'rooter',
    );
  });

  it('a YAML syntax error, with its position', () => {
    const text = `name: t
nodes:
  r1: { kind: router
  r2: {}
`;
    const errs = errorsOf(text);
    assert.deepEqual(errs, [
      {
        file: FILE,
        line: 4,
        col: 3,
        path: '',
        message: 'YAML: Flow map in block collection must be sufficiently indented and end with a }',
      },
    ]);
    const alias = 'name: t\nnodes: { a: *x }\n';
    assert.deepEqual(errorsOf(alias), [
      { file: FILE, line: 2, col: 13, path: '', message: 'YAML: alias *x has no anchor &x before it' },
    ]);
  });

  it('two YAML documents, and an empty file', () => {
    const two = 'name: t\nnodes: { a: {} }\n---\nname: u\n';
    expectError(two, errorsOf(two), '', 'one YAML document', '---');
    const empty = errorsOf('# nothing\n');
    assert.deepEqual(
      empty.map((e) => [e.line, e.col]),
      [[1, 1]],
    );
    assert.match(empty[0]!.message, /empty/);
  });

  it('wrong types, at the value, naming what was expected and what was found', () => {
    const text = `name: t
networks:
  n1:
    vlan: "100"
    mtu: 9000000
    dhcp: yes
    add_ports: 7
nodes:
  r1:
    interfaces: [eth1]
    cmd: { a: 1 }
  r2: nothing
  r3:
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'networks.n1.vlan', 'expected a number, got "100"', '"100"');
    expectError(text, errs, 'networks.n1.mtu', 'expected a whole number from 68 to 65535, got 9000000', '9000000');
    expectError(text, errs, 'networks.n1.dhcp', 'expected true or false, got "yes"', 'yes');
    expectError(text, errs, 'networks.n1.add_ports', 'expected a string or a list, got 7', '7\n');
    expectError(text, errs, 'nodes.r1.interfaces', 'expected a map, got a list of 1', '[eth1]');
    expectError(text, errs, 'nodes.r1.cmd', 'expected a string or a list, got a map', '{ a: 1 }');
    expectError(text, errs, 'nodes.r2', 'expected a map, got "nothing"', 'nothing');
    expectError(text, errs, 'nodes.r3', 'expected a map, got nothing', '\n', 12);
  });

  it('a missing required key, at the map that lacks it', () => {
    const text = `nodes:
  a: {}
links:
  - addresses: [10.0.0.1/30, 10.0.0.2/30]
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'name', 'missing required key "name"', 'nodes');
    expectError(text, errs, 'links[0].endpoints', 'missing required key "endpoints"', 'addresses');
    const none = `name: t\nnodes: {}\n`;
    expectError(none, errorsOf(none), 'nodes', 'at least one node', '{}');
  });

  it('bad CIDRs and addresses, at the value', () => {
    const text = `name: t
networks:
  n1: { mode: nat, subnet: 10.1.0.0/33 }
  n2: { mode: nat, subnet: 10.2.0.1/24 }
  n3: { subnet: 10.3.0.0/24 }
nodes:
  a:
    interfaces:
      eth1: { network: n3, address: 10.3.0.300/24 }
      eth2: { network: n3, address: 10.3.0.7 }
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'networks.n1.subnet', 'expected an IPv4 subnet with its prefix length', '10.1.0.0/33');
    expectError(
      text,
      errs,
      'nodes.a.interfaces.eth1.address',
      'expected an IPv4 address with its prefix length',
      '10.3.0.300/24',
    );
    expectError(text, errs, 'nodes.a.interfaces.eth2.address', 'got "10.3.0.7"', '10.3.0.7');
    const bits = `name: t
networks:
  n2: { mode: nat, subnet: 10.2.0.1/24 }
nodes: { a: { interfaces: { eth1: n2 } } }
`;
    expectError(
      bits,
      errorsOf(bits),
      'networks.n2.subnet',
      'has host bits set; the network is 10.2.0.0/24',
      '10.2.0.1/24',
    );
  });

  it('addresses outside the subnet, of another length, the gateway, network or broadcast, twice on a network', () => {
    const text = `name: t
networks:
  up: { mode: nat, subnet: 192.168.101.0/24 }
  flat: { subnet: 10.0.0.0/24 }
nodes:
  a:
    interfaces:
      eth1: { network: up, address: 192.168.102.2/24 }
      eth2: { network: flat, address: 10.0.0.0/24 }
  b:
    interfaces:
      eth1: { network: up, address: 192.168.101.1/24 }
      eth2: { network: flat, address: 10.0.0.5/16 }
  c:
    interfaces:
      eth1: { network: up, address: 192.168.101.255/24 }
      eth2: { network: flat, address: 10.0.0.9/24 }
  d:
    interfaces:
      eth2: { network: flat, address: 10.0.0.9/24 }
`;
    const errs = errorsOf(text);
    expectError(
      text,
      errs,
      'nodes.a.interfaces.eth1.address',
      "is outside network up's subnet 192.168.101.0/24",
      '192.168.102.2/24',
    );
    expectError(text, errs, 'nodes.a.interfaces.eth2.address', 'is the network address', '10.0.0.0/24', 1);
    expectError(text, errs, 'nodes.b.interfaces.eth1.address', "is network up's gateway", '192.168.101.1/24');
    expectError(text, errs, 'nodes.b.interfaces.eth2.address', 'has prefix length /16', '10.0.0.5/16');
    expectError(text, errs, 'nodes.c.interfaces.eth1.address', 'is the broadcast address', '192.168.101.255/24');
    expectError(
      text,
      errs,
      'nodes.d.interfaces.eth2.address',
      "address 10.0.0.9/24 is also c:eth2's on flat",
      '10.0.0.9/24',
      1,
    );
  });

  it('unknown networks, nodes and groups, with suggestions', () => {
    const text = `name: t
networks:
  uplink: { mode: nat, subnet: 192.168.101.0/24 }
nodes:
  r1:
    group: routres
    interfaces:
      eth1: uplnk
      eth2: { network: inside }
    wait-for: [r2, h9]
  r2: {}
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'nodes.r1.group', 'unknown group "routres"', 'routres');
    expectError(text, errs, 'nodes.r1.interfaces.eth1', 'unknown network "uplnk" (did you mean "uplink"?)', 'uplnk');
    expectError(text, errs, 'nodes.r1.interfaces.eth2.network', 'unknown network "inside"', 'inside');
    expectError(text, errs, 'nodes.r1.wait-for[1]', 'unknown node "h9"', 'h9');
    assert.equal(errs.length, 4);
  });

  it('a wait-for cycle, once, at the entry that starts it; waiting for oneself', () => {
    const text = `name: t
nodes:
  a: { wait-for: [b] }
  b: { wait-for: [c] }
  c: { wait-for: [a] }
  d: { wait-for: [d] }
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'nodes.a.wait-for[0]', 'wait-for cycle: a -> b -> c -> a', 'b]');
    expectError(text, errs, 'nodes.d.wait-for[0]', 'cannot wait for itself', 'd]');
    assert.equal(errs.length, 2);
  });

  it('an interface on a network and a link, on no network, two on one network', () => {
    const text = `name: t
networks:
  n1: {}
links:
  - endpoints: [a:eth1, b:eth1]
nodes:
  a:
    interfaces:
      eth1: n1
      eth2: {}
  b:
    interfaces:
      eth2: n1
      eth3: n1
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'nodes.a.interfaces.eth1', 'is on network n1 and on link a-eth1-b-eth1', 'n1', 1);
    expectError(text, errs, 'nodes.a.interfaces.eth2', 'is on no network', 'eth2');
    expectError(text, errs, 'nodes.b.interfaces.eth3', 'b has two interfaces on network n1 (eth2 and eth3)', 'eth3');
    assert.equal(errs.length, 3);
  });

  it('link endpoint errors', () => {
    const text = `name: t
links:
  - endpoints: [a:eth1, b:eth1]
    addresses: [10.0.0.1/30, 10.0.1.2/30]
  - endpoints: [a:eth1, c:eth1]
  - endpoints: [a:eth5, a:eth6]
  - endpoints: [a:eth7, x:eth1]
  - endpoints: [a:lo, b:eth2]
  - endpoints: [aeth8, b:eth3]
  - endpoints: [a:eth9]
  - endpoints: [a:eth10, b:eth10]
    addresses: [10.0.2.1/30, 10.0.2.1/30]
  - endpoints: [a:eth11, b:eth11]
    addresses: [10.0.3.0/24, 10.0.3.2/24]
nodes:
  a:
    interfaces:
      eth10: { address: 10.0.2.1/30 }
  b: {}
  c: {}
`;
    const errs = errorsOf(text);
    // The shape first: the malformed endpoint and the one-ended link.
    expectError(text, errs, 'links[5].endpoints[0]', 'expected NODE:IFACE', 'aeth8');
    expectError(text, errs, 'links[6].endpoints', 'a link has exactly two endpoints', '[a:eth9]');
    assert.equal(errs.length, 2);
    const fixed = text.replace('aeth8', 'a:eth8').replace('[a:eth9]', '[a:eth9, c:eth9]');
    const more = errorsOf(fixed);
    expectError(
      fixed,
      more,
      'links[0].addresses[1]',
      'are not in one subnet: 10.0.0.1/30 and 10.0.1.2/30',
      '10.0.1.2/30',
    );
    expectError(fixed, more, 'links[1].endpoints[0]', 'a:eth1 is already an end of link a-eth1-b-eth1', 'a:eth1', 1);
    expectError(fixed, more, 'links[2].endpoints[1]', 'a link joins two different nodes', 'a:eth6');
    expectError(fixed, more, 'links[3].endpoints[1]', 'unknown node "x"', 'x:eth1');
    expectError(fixed, more, 'links[4].endpoints[0]', 'an interface name is', 'a:lo');
    expectError(
      fixed,
      more,
      'links[7].addresses[1]',
      'both ends of link a-eth10-b-eth10 have the address 10.0.2.1/30',
      '10.0.2.1/30',
      1,
    );
    expectError(
      fixed,
      more,
      'nodes.a.interfaces.eth10.address',
      'already gives a:eth10 the address 10.0.2.1/30 in its addresses:',
      '10.0.2.1/30',
      2,
    );
    expectError(fixed, more, 'links[8].addresses[0]', 'is the network address', '10.0.3.0/24');
  });

  it('a link whose default name makes too long a Docker name must be given a name:', () => {
    const text = `name: a-lab-of-twenty-ch
links:
  - endpoints: [node-with-long-name:eth1, other-long-node-name:eth1]
nodes:
  node-with-long-name: {}
  other-long-node-name: {}
`;
    expectError(text, errorsOf(text), 'links[0].endpoints', 'more than 60; give the link a shorter name:', '[node');
    const named = text.replace('  - endpoints', '  - name: long\n    endpoints');
    assert.equal(parse(named).networks[0]?.dockerName, 'a-lab-of-twenty-ch-long');
  });

  it('a link named like a network', () => {
    const text = `name: t
networks: { n1: {} }
links:
  - { name: n1, endpoints: [a:eth1, b:eth1] }
nodes: { a: {}, b: {} }
`;
    expectError(text, errorsOf(text), 'links[0].name', 'already the name of network n1', 'n1', 1);
  });

  it('host routes: only on nat/routed, not into the subnet, via a node with an address or an address in the subnet', () => {
    const text = `name: t
networks:
  flat: { host_routes: ["10.9.0.0/16 via a"] }
  up:
    mode: nat
    subnet: 192.168.101.0/24
    host_routes:
      - 192.168.101.128/25 via a
      - { prefix: 10.1.0.0/16, via: b }
      - 10.2.0.0/16 via 192.168.102.1
      - 10.3.0.0/16 by a
      - 10.4.0.1/16 via a
      - 10.5.0.0/16 via zz
nodes:
  a:
    interfaces:
      eth1: { network: up, address: 192.168.101.2/24 }
  b:
    interfaces:
      eth1: up
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'networks.flat.host_routes', 'needs mode nat or routed', 'host_routes');
    expectError(text, errs, 'networks.up.host_routes[0]', "overlaps network up's own subnet", '192.168.101.128/25');
    expectError(text, errs, 'networks.up.host_routes[1].via', 'node b has no static address on network up', 'b }');
    expectError(
      text,
      errs,
      'networks.up.host_routes[2]',
      "192.168.102.1 is outside network up's subnet",
      '10.2.0.0/16',
    );
    expectError(text, errs, 'networks.up.host_routes[3]', 'is not "PREFIX via NODE-or-IPv4"', '10.3.0.0/16');
    expectError(
      text,
      errs,
      'networks.up.host_routes[4]',
      'has host bits set; the prefix is 10.4.0.0/16',
      '10.4.0.1/16',
    );
    expectError(text, errs, 'networks.up.host_routes[5]', '"zz" is neither an IPv4 address nor a node', '10.5.0.0/16');
    assert.equal(errs.length, 7);
  });

  it('network modes: nat needs a subnet, dhcp needs flat, a flat network has no gateway', () => {
    const text = `name: t
networks:
  a: { mode: nat }
  b: { mode: routed, subnet: 10.0.0.0/24, dhcp: true }
  c: { gateway: 10.0.0.1 }
  d: { mode: nat, subnet: 10.1.0.0/24, gateway: 10.2.0.1 }
  e: { dhcp_server: 10.0.0.1 }
nodes: { x: {} }
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'networks.a.mode', 'mode nat needs a subnet:', 'nat');
    expectError(text, errs, 'networks.b.dhcp', 'dhcp: needs mode flat (this network is routed)', 'true');
    expectError(text, errs, 'networks.c.gateway', 'gateway: is for mode nat or routed', '10.0.0.1');
    expectError(text, errs, 'networks.d.gateway', 'gateway 10.2.0.1 is outside the subnet 10.1.0.0/24', '10.2.0.1');
    expectError(text, errs, 'networks.e.dhcp_server', 'dhcp_server: needs dhcp: true', 'dhcp_server');
    assert.equal(errs.length, 5);
  });

  it("antispoof: only where the daemon knows the ports' addresses (nat, routed, DHCP), and no mac: there", () => {
    const text = `name: t
networks:
  flat: { subnet: 10.0.1.0/24, antispoof: true }
  bare: { antispoof: true }
  nat: { mode: nat, subnet: 10.0.2.0/24, antispoof: true }
  leased: { dhcp: true, antispoof: true }
  open: { subnet: 10.0.3.0/24, antispoof: false }
nodes:
  x:
    interfaces:
      eth1: { network: nat, address: 10.0.2.2/24, mac: "0e:00:00:00:00:01" }
      eth2: { network: open, address: 10.0.3.2/24, mac: "0e:00:00:00:00:02" }
      eth3: leased
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'networks.flat.antispoof', 'antispoof: needs mode nat or routed, or dhcp: true', 'true');
    expectError(text, errs, 'networks.bare.antispoof', "it would drop all of the nodes' IPv4 and ARP", 'true', 1);
    expectError(
      text,
      errs,
      'nodes.x.interfaces.eth1.mac',
      'network nat has antispoof: true, which pins each port to the MAC Docker gave it',
      '"0e:00:00:00:00:01"',
    );
    assert.equal(errs.length, 3);
  });

  it('name rules: the lab, networks, nodes, groups, interfaces', () => {
    const text = `name: -lab
groups: { G: {} }
networks:
  a-network-name-of-21c: {}
nodes:
  R1: {}
  ok:
    interfaces:
      lo: a-network-name-of-21c
      1eth: a-network-name-of-21c
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'name', 'a lab name is 1-20 characters', '-lab');
    expectError(text, errs, 'groups.G', 'a group name is 1-20 characters', 'G:');
    expectError(
      text,
      errs,
      'networks.a-network-name-of-21c',
      'a network name is 1-20 characters',
      'a-network-name-of-21c',
    );
    expectError(text, errs, 'nodes.R1', 'a node name is 1-20 characters', 'R1');
    expectError(text, errs, 'nodes.ok.interfaces.lo', 'an interface name is', 'lo:');
    expectError(text, errs, 'nodes.ok.interfaces.1eth', 'an interface name is', '1eth');
  });

  it("routes: the next hop on one of the node's subnets, destinations without host bits, one per destination", () => {
    const text = `name: t
networks:
  n1: { subnet: 10.0.0.0/24 }
nodes:
  a:
    interfaces: { eth1: { network: n1, address: 10.0.0.2/24 } }
    routes:
      - default via 10.0.1.1
      - 10.5.0.1/16 via 10.0.0.1
      - 10.6.0.0/16 through 10.0.0.1
      - { dst: 10.7.0.0/16, via: 10.0.0.1 }
      - { dst: 10.7.0.0/16, via: 10.0.0.3 }
`;
    const errs = errorsOf(text);
    expectError(
      text,
      errs,
      'nodes.a.routes[0]',
      "next hop 10.0.1.1 is on none of a's subnets (10.0.0.0/24)",
      'default',
    );
    expectError(text, errs, 'nodes.a.routes[1]', 'has host bits set; the prefix is 10.5.0.0/16', '10.5.0.1/16');
    expectError(text, errs, 'nodes.a.routes[2]', 'is not "DST via IPv4"', '10.6.0.0/16');
    expectError(text, errs, 'nodes.a.routes[4].dst', 'a has two routes to 10.7.0.0/16', '10.7.0.0/16', 1);
    assert.equal(errs.length, 4);
  });

  it('an inherited value is wrong where it was written: in defaults or the group', () => {
    const text = `name: t
defaults:
  interfaces:
    eth1: nowhere
groups:
  g:
    wait-for: [ghost]
nodes:
  a: { group: g }
  b: { group: g }
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'defaults.interfaces.eth1', 'unknown network "nowhere"', 'nowhere');
    expectError(text, errs, 'groups.g.wait-for[0]', 'unknown node "ghost"', 'ghost');
    assert.equal(errs.length, 2, 'one error each, however many nodes inherit it');
  });

  it('config: only on routers, and not beside files: /etc/frr/frr.conf on the same level', () => {
    const text = `name: t
nodes:
  h:
    config: "router ospf\\n"
  r:
    kind: router
    config: frr.conf
    files: { /etc/frr/frr.conf: { content: x } }
`;
    const errs = errorsOf(text, { 'frr.conf': 'x' });
    expectError(text, errs, 'nodes.h.config', 'config: is for kind router; h is host', 'config');
    expectError(text, errs, 'nodes.r.config', 'config: and files: both give /etc/frr/frr.conf', 'config', 1);
  });

  it('a missing source file, at its key', () => {
    const text = `name: t
nodes:
  r:
    kind: router
    config: frr/r.conf
    files:
      /etc/motd: motd.txt
      /etc/issue: { source: issue.txt, mode: "0600" }
`;
    const errs = errorsOf(text, { 'motd.txt': 'hi' });
    expectError(text, errs, 'nodes.r.config', 'cannot read frr/r.conf', 'config');
    expectError(text, errs, 'nodes.r.files./etc/issue', 'cannot read issue.txt', '/etc/issue');
    assert.match(errs.find((e) => e.path === 'nodes.r.config')!.message, /no such file/);
    assert.equal(errs.length, 2);
  });

  it('files: content or source, a mode in octal, an absolute path', () => {
    const text = `name: t
nodes:
  a:
    files:
      /etc/a: { mode: "0644" }
      /etc/b: { content: x, source: y }
      /etc/c: { content: x, mode: 0899 }
      etc/d: { content: x }
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'nodes.a.files.etc/d', 'a file is named by its absolute path', 'etc/d');
    assert.equal(errs.length, 1, 'the shape first');
    const fixed = text.replace('etc/d', '/etc/d');
    const more = errorsOf(fixed);
    expectError(fixed, more, 'nodes.a.files./etc/a', 'a file needs content: or source:', '{ mode');
    expectError(fixed, more, 'nodes.a.files./etc/b', 'content: or source:, not both', '{ content: x, source');
    assert.equal(more.length, 2, 'the mode is checked once the files are');
    const mode = `name: t\nnodes: { a: { files: { /etc/c: { content: x, mode: 0899 } } } }\n`;
    expectError(mode, errorsOf(mode), 'nodes.a.files./etc/c.mode', 'file mode 0899 is not an octal mode', '0899');
  });

  it('DPIDs: unique in the lab, in range, a big unquoted hex DPID keeps every digit', () => {
    const text = `name: t
networks:
  a: { dpid: 0x2a }
  b: { dpid: 42 }
  c: { dpid: 0x10000000000000000 }
  d: {}
  e: { dpid: "0x0d5a000092715900" }
nodes: { x: {} }
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'networks.b.dpid', "DPID 0x2a is also network a's", '42');
    expectError(text, errs, 'networks.c.dpid', 'invalid DPID "0x10000000000000000"', '0x1');
    // d's derived DPID (FNV-1a of "t/d" is 0x92715900) is the one e gives: the later one is wrong.
    expectError(text, errs, 'networks.e.dpid', "DPID 0xd5a000092715900 is also network d's", '"0x0d5a');
    assert.equal(errs.length, 3);
    const quoted = `name: t\nnetworks:\n  a: { dpid: "0xg" }\nnodes: { x: {} }\n`;
    expectError(
      quoted,
      errorsOf(quoted),
      'networks.a.dpid',
      'expected a datapath ID in hex (0x1) or decimal (1), got "0xg"',
      '"0xg"',
    );
    const big = `name: t\nnetworks:\n  a: { dpid: 0x0d5a0000a1b2c3d5 }\nnodes: { x: {} }\n`;
    assert.equal(parse(big).networks[0]?.options['ovs.bridge.dpid'], '0xd5a0000a1b2c3d5');
  });

  it('options: only ovs.bridge.*, and not an option that has its own key', () => {
    const text = `name: t
networks:
  a:
    options:
      ovs.bridge.vlan: 5
      bridge.name: x
links:
  - endpoints: [x:eth1, y:eth1]
    options: { ovs.bridge.nat_acl: a, ovs.bridge.name: br-x }
nodes: { x: {}, y: {} }
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'networks.a.options.bridge.name', 'an option name starts with ovs.bridge.', 'bridge.name');
    assert.equal(errs.length, 1);
    const fixed = text.replace('      bridge.name: x\n', '');
    const more = errorsOf(fixed);
    expectError(
      fixed,
      more,
      'networks.a.options.ovs.bridge.vlan',
      'has a key of its own: write vlan: instead',
      'ovs.bridge.vlan',
    );
    expectError(fixed, more, 'links[0].options.ovs.bridge.nat_acl', 'cannot be set on a link', 'ovs.bridge.nat_acl');
    assert.equal(more.length, 2);
  });

  it("labels: dovesnap.lab* is the lab's own; a short name and its long form not both", () => {
    const text = `name: t
nodes:
  a:
    labels:
      dovesnap.lab.owner: me
      portacl: x
      dovesnap.faucet.portacl: y
`;
    const errs = errorsOf(text);
    expectError(text, errs, 'nodes.a.labels.dovesnap.lab.owner', "the lab's own", 'dovesnap.lab.owner');
    expectError(
      text,
      errs,
      'nodes.a.labels.dovesnap.faucet.portacl',
      'both portacl and dovesnap.faucet.portacl',
      'dovesnap.faucet.portacl',
    );
  });

  it('the base lab of these tests is valid', () => {
    assert.equal(parse(BASE).nodes.length, 1);
    assert.deepEqual(posOf('a\nbc', 'c'), { line: 2, col: 2 });
  });
});

describe('loadLabFile', () => {
  it('reads the file, and sources relative to it; an unreadable file is a LabFileInvalid too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-lab-'));
    try {
      await writeFile(join(dir, 'motd'), 'hello\n');
      await writeFile(
        join(dir, 'lab.yaml'),
        'name: t\nnodes:\n  a: { files: { /etc/motd: motd }, binds: ["data:/data:ro"] }\n',
      );
      const lab = await loadLabFile(join(dir, 'lab.yaml'));
      assert.equal(lab.file, join(dir, 'lab.yaml'));
      assert.deepEqual(lab.nodes[0]?.files, [{ path: '/etc/motd', content: 'hello\n', mode: 0o644 }]);
      assert.deepEqual(lab.nodes[0]?.binds, [`${join(dir, 'data')}:/data:ro`]);
      await assert.rejects(loadLabFile(join(dir, 'nope.yaml')), (err: unknown) => {
        assert.ok(err instanceof LabFileInvalid);
        assert.equal(err.message, `${join(dir, 'nope.yaml')}:1:1: cannot read the lab file: no such file`);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
