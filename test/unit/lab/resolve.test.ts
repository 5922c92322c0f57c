import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { derivedDpid, fnv1a32 } from '../../../src/lab/check-networks.js';
import { loadLabFile } from '../../../src/lab/load.js';
import type { LabNetwork, LabNode } from '../../../src/lab/model.js';
import { parse } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/lab/', import.meta.url));

const ROUTER_CAPS = ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'];
const ROUTER_SYSCTLS = { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0' };

function node(nodes: readonly LabNode[], key: string): LabNode {
  const n = nodes.find((x) => x.key === key);
  assert.ok(n, `node ${key}`);
  return n;
}

function net(networks: readonly LabNetwork[], key: string): LabNetwork {
  const n = networks.find((x) => x.key === key);
  assert.ok(n, `network ${key}`);
  return n;
}

describe('the resolved lab', () => {
  it('FNV-1a and the derived DPID', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
    assert.equal(derivedDpid('ospf', 'uplink'), 0x0d5a0000a96a16f3n);
  });

  it('the OSPF lab (test/fixtures/lab/ospf.lab.yaml)', async () => {
    const lab = await loadLabFile(`${FIXTURES}ospf.lab.yaml`);
    assert.equal(lab.name, 'ospf');
    assert.equal(lab.file, `${FIXTURES}ospf.lab.yaml`);
    assert.deepEqual(lab.networks, [
      {
        key: 'uplink',
        kind: 'segment',
        dockerName: 'ospf-uplink',
        mode: 'nat',
        subnet: '192.168.101.0/24',
        gateway: '192.168.101.1',
        internal: false,
        options: {
          'ovs.bridge.dpid': '0x0d5a0000a96a16f3',
          'ovs.bridge.host_routes': '192.168.102.0/24@192.168.101.2,192.168.103.0/24@192.168.101.2',
          'ovs.bridge.mode': 'nat',
        },
        hostRoutes: [
          { prefix: '192.168.102.0/24', via: '192.168.101.2' },
          { prefix: '192.168.103.0/24', via: '192.168.101.2' },
        ],
      },
      {
        key: 'inside',
        kind: 'segment',
        dockerName: 'ospf-inside',
        mode: 'flat',
        internal: true,
        options: { 'ovs.bridge.dpid': '0x0d5a0000148ee356', 'ovs.bridge.mode': 'flat' },
        hostRoutes: [],
      },
      {
        key: 'r1-eth2-r2-eth1',
        kind: 'link',
        dockerName: 'ospf-r1-eth2-r2-eth1',
        mode: 'flat',
        internal: true,
        options: { 'ovs.bridge.dpid': '0x0d5a0000321d3231', 'ovs.bridge.mode': 'flat' },
        hostRoutes: [],
      },
    ]);
    assert.deepEqual(
      lab.nodes.map((n) => n.key),
      ['r1', 'r2', 'h1'],
    );
    const r1 = node(lab.nodes, 'r1');
    assert.deepEqual(
      { ...r1, files: r1.files.map((f) => ({ ...f, content: f.content.split('\n').slice(0, 2) })) },
      {
        key: 'r1',
        containerName: 'ospf-r1',
        kind: 'router',
        recipe: 'frr',
        interfaces: [
          { name: 'eth1', network: 'uplink', address: '192.168.101.2/24' },
          { name: 'eth2', network: 'r1-eth2-r2-eth1', address: '192.168.102.1/24' },
        ],
        routes: [{ dst: 'default', via: '192.168.101.1' }],
        labels: {},
        sysctls: ROUTER_SYSCTLS,
        capAdd: ROUTER_CAPS,
        env: {},
        binds: [],
        files: [{ path: '/etc/frr/frr.conf', content: ['frr defaults traditional', 'hostname r1'], mode: 0o644 }],
        exec: [],
        waitFor: [],
      },
    );
    assert.equal(r1.image, undefined, 'a recipe, no image');
    assert.match(r1.files[0]!.content, /default-information originate/);
    assert.match(
      r1.files[0]!.content,
      /ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n/,
    );
    const r2 = node(lab.nodes, 'r2');
    assert.deepEqual(r2.interfaces, [
      { name: 'eth1', network: 'r1-eth2-r2-eth1', address: '192.168.102.2/24' },
      { name: 'eth2', network: 'inside', address: '192.168.103.1/24' },
    ]);
    assert.deepEqual(r2.routes, []);
    assert.match(r2.files[0]!.content, /hostname r2/);
    assert.doesNotMatch(r2.files[0]!.content, /default-information/);
    const h1 = node(lab.nodes, 'h1');
    assert.deepEqual(
      {
        kind: h1.kind,
        recipe: h1.recipe,
        interfaces: h1.interfaces,
        routes: h1.routes,
        capAdd: h1.capAdd,
        sysctls: h1.sysctls,
        files: h1.files,
        waitFor: h1.waitFor,
      },
      {
        kind: 'host',
        recipe: 'host',
        interfaces: [{ name: 'eth1', network: 'inside', address: '192.168.103.2/24' }],
        routes: [{ dst: 'default', via: '192.168.103.1' }],
        capAdd: ['NET_ADMIN', 'NET_RAW'],
        sysctls: {},
        files: [],
        waitFor: ['r2'],
      },
    );
  });

  it('the campus lab: every network option, DHCP, mirroring, files, binds, commands, a custom image', async () => {
    const lab = await loadLabFile(`${FIXTURES}campus.lab.yaml`);
    const lan = net(lab.networks, 'lan');
    assert.deepEqual(lan, {
      key: 'lan',
      kind: 'segment',
      dockerName: 'campus-lan',
      mode: 'routed',
      subnet: '10.99.1.0/24',
      gateway: '10.99.1.254',
      internal: false,
      options: {
        'ovs.bridge.add_ports': 'veth-lab0,veth-lab1/7',
        'ovs.bridge.antispoof': 'true',
        'ovs.bridge.controller': 'tcp:127.0.0.1:6653',
        'ovs.bridge.default_acl': 'allow-all',
        'ovs.bridge.dpid': '0x99',
        'ovs.bridge.host_routes': '10.99.2.0/24@10.99.1.1',
        'ovs.bridge.mirror_tunnel_vid': '300',
        'ovs.bridge.mode': 'routed',
        'ovs.bridge.mtu': '1400',
        'ovs.bridge.nat_acl': 'allow-all',
        'ovs.bridge.preallocate_ports': '4',
        'ovs.bridge.userspace': 'true',
        'ovs.bridge.vlan': '200',
      },
      hostRoutes: [{ prefix: '10.99.2.0/24', via: '10.99.1.1' }],
    });
    const guests = net(lab.networks, 'guests');
    assert.equal(guests.subnet, undefined, 'flat: null IPAM');
    assert.equal(guests.internal, true);
    assert.equal(guests.options['ovs.bridge.dhcp'], 'true');
    assert.equal(guests.options['ovs.bridge.dhcp_subnet'], '10.99.3.0/24');
    const link = net(lab.networks, 'core-edge');
    assert.deepEqual(link.options, {
      'ovs.bridge.dpid': '0x1092',
      'ovs.bridge.mode': 'flat',
      'ovs.bridge.vlan': '300',
    });
    assert.equal(link.dockerName, 'campus-core-edge');

    const core = node(lab.nodes, 'core');
    assert.deepEqual(core.interfaces, [
      { name: 'eth1', network: 'lan', address: '10.99.1.1/24' },
      { name: 'eth9', network: 'core-edge', address: '10.99.2.1/30', mac: '0e:99:00:00:00:01' },
    ]);
    assert.deepEqual(
      core.sysctls,
      { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '2' },
      'the node over the kind',
    );
    assert.deepEqual(
      core.files.map((f) => [f.path, f.content.split('\n')[1], f.mode]),
      [
        ['/etc/frr/frr.conf', 'hostname core', 0o644],
        ['/etc/motd', '', 0o644],
      ],
    );
    assert.deepEqual(core.exec, ['ip link set eth1 mtu 1400']);
    assert.deepEqual(core.labels, { team: 'netops', 'dovesnap.faucet.mirror': 'campus-core-edge:true' });

    const pc1 = node(lab.nodes, 'pc1');
    assert.deepEqual(pc1.labels, {
      team: 'lab',
      'dovesnap.faucet.portacl': 'allow-web',
      'dovesnap.faucet.antispoof': 'false',
      'dovesnap.faucet.mirror': 'campus-guests:true/campus-core-edge:true',
    });
    assert.deepEqual(pc1.capAdd, ['NET_ADMIN', 'NET_RAW', 'SYS_PTRACE']);
    assert.deepEqual(pc1.binds, [`${FIXTURES}data:/data`, '/srv/shared:/shared:ro', `${FIXTURES}logs:/var/log/lab`]);
    assert.deepEqual(pc1.files, [
      { path: '/etc/motd', content: 'pc1 only\n', mode: 0o600 },
      { path: '/usr/local/bin/hello', content: 'Welcome to the campus lab.\n', mode: 0o755 },
    ]);
    assert.deepEqual(pc1.cmd, ['/bin/sh', '-c', 'sleep infinity']);
    assert.deepEqual(pc1.waitFor, ['core']);
    assert.deepEqual(
      pc1.interfaces.map((i) => i.name),
      ['eth2', 'uplink0'],
      'sorted by name',
    );

    const tap = node(lab.nodes, 'tap');
    assert.equal(tap.recipe, 'capture');
    assert.deepEqual(tap.capAdd, ['NET_ADMIN', 'NET_RAW'], 'CAP_ removed, no duplicate');
    assert.deepEqual(tap.cmd, ['tcpdump', '-i', 'eth1', '-w', '/tmp/guests.pcap']);

    const web = node(lab.nodes, 'web');
    assert.equal(web.kind, 'custom');
    assert.equal(web.image, 'nginx:1.27');
    assert.equal(web.recipe, undefined);
    assert.deepEqual(web.capAdd, []);
    assert.deepEqual(web.env, { TZ: 'UTC', PORT: '8080', DEBUG: 'false' });
    assert.deepEqual(web.exec, ['echo one', 'echo two']);
  });

  it('inheritance: kind built-ins < defaults < group < node; maps merge, lists replace, cap-add adds up', () => {
    const lab = parse(`name: t
defaults:
  kind: router
  labels: { a: d, b: d }
  sysctls: { net.ipv4.ip_forward: 0, kernel.x: d }
  env: { A: d }
  cap-add: [NET_BIND_SERVICE]
  routes: ["default via 10.0.0.1"]
  exec: [from-defaults]
  binds: ["/d:/d"]
  files: { /etc/a: { content: d }, /etc/b: { content: d } }
  interfaces: { eth1: n1 }
groups:
  g:
    kind: host
    labels: { b: g, c: g }
    env: { B: g }
    cap-add: [SYS_TIME]
    exec: from-group
    wait-for: [other]
    files: { /etc/b: { content: g } }
nodes:
  plain: {}
  grouped:
    group: g
  own:
    group: g
    kind: capture
    labels: { c: n }
    cap-add: [CAP_SYS_TIME, IPC_LOCK]
    routes: []
    wait-for: []
    interfaces: { eth1: { network: n1, address: 10.0.0.9/24 }, eth2: n1b }
  other: { image: "busybox" }
networks:
  n1: { subnet: 10.0.0.0/24 }
  n1b: {}
`);
    const plain = node(lab.nodes, 'plain');
    assert.equal(plain.kind, 'router');
    assert.deepEqual(plain.labels, { a: 'd', b: 'd' });
    assert.deepEqual(
      plain.sysctls,
      { 'net.ipv4.ip_forward': '0', 'net.ipv4.conf.all.rp_filter': '0', 'kernel.x': 'd' },
      'defaults over the kind',
    );
    assert.deepEqual(plain.capAdd, [...ROUTER_CAPS, 'NET_BIND_SERVICE']);
    assert.deepEqual(plain.routes, [{ dst: 'default', via: '10.0.0.1' }]);
    assert.deepEqual(plain.exec, ['from-defaults']);
    assert.deepEqual(plain.binds, ['/d:/d']);
    assert.deepEqual(plain.interfaces, [{ name: 'eth1', network: 'n1' }]);

    const grouped = node(lab.nodes, 'grouped');
    assert.equal(grouped.kind, 'host', 'the group over defaults');
    assert.deepEqual(grouped.labels, { a: 'd', b: 'g', c: 'g' });
    assert.deepEqual(grouped.env, { A: 'd', B: 'g' });
    assert.deepEqual(
      grouped.sysctls,
      { 'net.ipv4.ip_forward': '0', 'kernel.x': 'd' },
      "a host's kind brings no sysctls",
    );
    assert.deepEqual(grouped.capAdd, ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE', 'SYS_TIME']);
    assert.deepEqual(grouped.exec, ['from-group'], 'a list replaces the lower one');
    assert.deepEqual(grouped.waitFor, ['other']);
    assert.deepEqual(
      grouped.files.map((f) => [f.path, f.content]),
      [
        ['/etc/a', 'd'],
        ['/etc/b', 'g'],
      ],
    );

    const own = node(lab.nodes, 'own');
    assert.equal(own.kind, 'capture');
    assert.equal(own.recipe, 'capture');
    assert.deepEqual(
      own.labels,
      { a: 'd', b: 'g', c: 'n', 'dovesnap.faucet.capture': 't-n1:true/t-n1b:true' },
      'a capture node captures on its networks',
    );
    assert.deepEqual(own.capAdd, ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE', 'SYS_TIME', 'IPC_LOCK']);
    assert.deepEqual(own.routes, [], 'an empty list replaces too');
    assert.deepEqual(own.waitFor, []);
    assert.deepEqual(own.interfaces, [
      { name: 'eth1', network: 'n1', address: '10.0.0.9/24' },
      { name: 'eth2', network: 'n1b' },
    ]);

    const other = node(lab.nodes, 'other');
    assert.equal(other.kind, 'router', "defaults' kind, with the node's image");
    assert.equal(other.image, 'busybox');
    assert.equal(other.recipe, undefined);
  });

  it('kind: host by default, custom with an image and no kind', () => {
    const lab = parse('name: t\nnodes:\n  a: {}\n  b: { image: alpine }\n  c: { image: alpine, kind: router }\n');
    assert.deepEqual(
      lab.nodes.map((n) => [n.kind, n.recipe, n.image, n.capAdd.length]),
      [
        ['host', 'host', undefined, 2],
        ['custom', undefined, 'alpine', 0],
        ['router', undefined, 'alpine', 3],
      ],
    );
  });

  it("config: inline text or a path; a node's config replaces its group's file; modes as chmod reads them", () => {
    const lab = parse(
      `name: t
groups:
  r:
    kind: router
    files: { /etc/frr/frr.conf: { content: "from group\\n" } }
nodes:
  a: { group: r, config: "hostname a\\n" }
  b: { group: r, config: conf/b.conf }
  c: { group: r }
  d:
    files:
      /m1: { content: x, mode: 0o600 }
      /m2: { content: x, mode: 644 }
      /m3: { content: x, mode: 0755 }
      /m4: { content: x, mode: "755" }
`,
      { 'conf/b.conf': 'hostname b\n' },
    );
    const content = (k: string): string | undefined =>
      node(lab.nodes, k).files.find((f) => f.path === '/etc/frr/frr.conf')?.content;
    assert.equal(content('a'), 'hostname a\n');
    assert.equal(content('b'), 'hostname b\n');
    assert.equal(content('c'), 'from group\n');
    assert.deepEqual(
      node(lab.nodes, 'd').files.map((f) => f.mode),
      [0o600, 0o644, 0o755, 0o755],
    );
  });

  it('links: endpoints become interfaces, addresses given on the link or on the nodes, default name', () => {
    const lab = parse(`name: t
links:
  - endpoints: [a:eth3, b:eth1]
  - endpoints: [b:eth2, a:eth1]
    mtu: 9000
nodes:
  a:
    interfaces:
      eth3: { address: 10.0.0.1/31, mac: 0E:00:00:00:00:01 }
  b:
    interfaces:
      eth1: { address: 10.0.0.0/31 }
`);
    assert.deepEqual(
      lab.networks.map((n) => [n.key, n.kind, n.internal, n.options['ovs.bridge.mtu']]),
      [
        ['a-eth3-b-eth1', 'link', true, undefined],
        ['b-eth2-a-eth1', 'link', true, '9000'],
      ],
    );
    assert.deepEqual(node(lab.nodes, 'a').interfaces, [
      { name: 'eth1', network: 'b-eth2-a-eth1' },
      { name: 'eth3', network: 'a-eth3-b-eth1', address: '10.0.0.1/31', mac: '0e:00:00:00:00:01' },
    ]);
    assert.deepEqual(node(lab.nodes, 'b').interfaces, [
      { name: 'eth1', network: 'a-eth3-b-eth1', address: '10.0.0.0/31' },
      { name: 'eth2', network: 'b-eth2-a-eth1' },
    ]);
  });

  it("mirror: a network mirrors its nodes' ports unless a node says otherwise; short label names", () => {
    const lab = parse(`name: t
networks:
  m: { mirror: true }
  n: {}
nodes:
  a: { interfaces: { eth1: m, eth2: n } }
  b: { interfaces: { eth1: m }, labels: { mirror: "false", mac_prefix: "0e:99", custom.label: 1 } }
  c: { interfaces: { eth1: n } }
`);
    assert.deepEqual(node(lab.nodes, 'a').labels, { 'dovesnap.faucet.mirror': 't-m:true' });
    assert.deepEqual(node(lab.nodes, 'b').labels, {
      'dovesnap.faucet.mirror': 'false',
      'dovesnap.faucet.mac_prefix': '0e:99',
      'custom.label': '1',
    });
    assert.deepEqual(node(lab.nodes, 'c').labels, {});
  });
});
