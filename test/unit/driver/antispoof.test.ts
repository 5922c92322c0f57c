import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  antispoofAclName,
  antispoofRules,
  ipIn,
  linkLocalOf,
  macIn,
  sectionsOf,
  toInt,
  type AclRule,
  type AntispoofPort,
} from '../../../src/driver/antispoof.js';
import { managedState, withAntispoof } from '../../../src/driver/faucet-desired.js';
import { StateStore, endpointRecord, type EndpointRecord, type NetworkRecord } from '../../../src/driver/state.js';
import { readFaucetConfigFacts } from '../../../src/faucet/config-facts.js';
import { renderFaucetConfig } from '../../../src/faucet/render.js';
import { parseContainerLabels } from '../../../src/model/labels.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { isDovesnapError } from '../../../src/util/errors.js';

const MAC = '0e:00:00:00:00:0a';
const PEER_MAC = '0e:00:00:00:00:0b';
const IP = '10.9.0.10';
const PEER_IP = '10.9.0.11';
const PORT: AntispoofPort = { mac: MAC, ipv4: [`${IP}/24`], ipv6: [], dhcp: false };

/** A frame as OpenFlow matches it: field -> value (addresses as strings, the rest numbers). */
type Frame = Readonly<Record<string, string | number>>;

const MATCHERS: Readonly<Record<string, (ruleValue: unknown, v: string) => boolean>> = {
  eth_src: macIn,
  eth_dst: macIn,
  arp_sha: macIn,
  arp_tha: macIn,
  ipv4_src: ipIn,
  ipv4_dst: ipIn,
  arp_spa: ipIn,
  arp_tpa: ipIn,
  ipv6_src: ipIn,
  ipv6_dst: ipIn,
  ipv6_nd_target: ipIn,
};

/** FAUCET's verdict on a frame: the first rule all of whose fields match decides; none: dropped. */
function verdict(rules: readonly AclRule[], frame: Frame): boolean {
  for (const rule of rules) {
    const matches = Object.entries(rule).every(([field, want]) => {
      if (field === 'actions') return true;
      const got = frame[field];
      if (got === undefined) return false;
      const m = MATCHERS[field];
      return m !== undefined ? m(want, String(got)) : toInt(want) === got;
    });
    if (matches)
      return (
        (rule['actions'] as { allow?: unknown } | undefined)?.allow === true ||
        (rule['actions'] as { allow?: unknown } | undefined)?.allow === 1
      );
  }
  return false;
}

const arp = (sha: string, spa: string, tpa = PEER_IP): Frame => ({
  eth_type: 0x806,
  eth_src: sha,
  arp_sha: sha,
  arp_spa: spa,
  arp_tpa: tpa,
  arp_op: 1,
});
const tcp = (src: string, dport: number, mac = MAC): Frame => ({
  eth_type: 0x800,
  eth_src: mac,
  ipv4_src: src,
  ipv4_dst: PEER_IP,
  ip_proto: 6,
  tcp_dst: dport,
});
const icmp6 = (src: string, type: number, extra: Record<string, string | number> = {}, mac = MAC): Frame => ({
  eth_type: 0x86dd,
  eth_src: mac,
  ipv6_src: src,
  ipv6_dst: 'ff02::1',
  ip_proto: 58,
  icmpv6_type: type,
  ...extra,
});

describe('antispoof rules without an operator ACL', () => {
  const rules = antispoofRules(PORT, undefined);

  it('let the container send as itself: ARP for its address, IPv4 from it, anything else from its MAC', () => {
    assert.equal(verdict(rules, arp(MAC, IP)), true);
    assert.equal(verdict(rules, tcp(IP, 80)), true);
    assert.equal(verdict(rules, { eth_type: 0x88cc, eth_src: MAC }), true);
    assert.equal(verdict(rules, icmp6(linkLocalOf(MAC), 128)), true);
  });

  it('drop a changed MAC, a changed or second IP, and ARP for a peer address (gratuitous or not)', () => {
    assert.equal(verdict(rules, tcp(IP, 80, PEER_MAC)), false);
    assert.equal(verdict(rules, { eth_type: 0x88cc, eth_src: PEER_MAC }), false);
    assert.equal(verdict(rules, tcp(PEER_IP, 80)), false);
    assert.equal(verdict(rules, tcp('10.9.0.99', 80)), false);
    assert.equal(verdict(rules, arp(MAC, PEER_IP, PEER_IP)), false);
    assert.equal(verdict(rules, { ...arp(MAC, IP), arp_sha: PEER_MAC }), false);
    assert.equal(verdict(rules, arp(PEER_MAC, IP)), false);
    assert.equal(
      verdict(rules, {
        eth_type: 0x800,
        eth_src: MAC,
        ipv4_src: '0.0.0.0',
        ipv4_dst: '255.255.255.255',
        ip_proto: 17,
        udp_src: 68,
        udp_dst: 67,
      }),
      false,
    );
  });

  it('drop IPv6 router advertisements, redirects and neighbour advertisements for others', () => {
    const ll = linkLocalOf(MAC);
    assert.equal(verdict(rules, icmp6(ll, 134)), false);
    assert.equal(verdict(rules, icmp6(ll, 137)), false);
    assert.equal(verdict(rules, icmp6(ll, 136, { ipv6_nd_target: ll })), true);
    assert.equal(verdict(rules, icmp6(ll, 136, { ipv6_nd_target: 'fe80::cc:ccff:fecc:cccc' })), false);
    assert.equal(verdict(rules, icmp6('fe80::1', 128)), false);
  });

  it('start with the guards, and name every EtherType of an OpenFlow prerequisite', () => {
    assert.deepEqual(rules[0], { eth_type: 0x86dd, ip_proto: 58, icmpv6_type: 134, actions: { allow: false } });
    for (const r of rules) {
      const keys = Object.keys(r);
      if (keys.some((k) => k.startsWith('arp_'))) assert.equal(r['eth_type'], 0x806);
      if (keys.some((k) => k.startsWith('ipv4_'))) assert.equal(r['eth_type'], 0x800);
      if (keys.some((k) => k.startsWith('udp_'))) {
        assert.ok(r['eth_type'] === 0x800 || r['eth_type'] === 0x86dd);
        assert.equal(r['ip_proto'], 17);
      }
      if (keys.some((k) => k.startsWith('ipv6_') || k.startsWith('icmpv6_'))) assert.equal(r['eth_type'], 0x86dd);
      if (keys.some((k) => k.startsWith('icmpv6_'))) assert.equal(r['ip_proto'], 58);
    }
  });

  it('allow no IPv4 or ARP at all while the container has no address', () => {
    const none = antispoofRules({ ...PORT, ipv4: [] }, undefined);
    assert.equal(verdict(none, arp(MAC, IP)), false);
    assert.equal(verdict(none, tcp(IP, 80)), false);
  });
});

describe('antispoof rules on a DHCP network', () => {
  it('pin the MAC and let only DHCP discovery through before the lease, and the leased address after', () => {
    const before = antispoofRules({ mac: MAC, ipv4: [], ipv6: [], dhcp: true }, undefined);
    const discover = {
      eth_type: 0x800,
      eth_src: MAC,
      ipv4_src: '0.0.0.0',
      ipv4_dst: '255.255.255.255',
      ip_proto: 17,
      udp_src: 68,
      udp_dst: 67,
    };
    assert.equal(verdict(before, discover), true);
    assert.equal(verdict(before, { ...discover, eth_src: PEER_MAC }), false);
    assert.equal(verdict(before, tcp(IP, 80)), false);
    const after = antispoofRules({ mac: MAC, ipv4: [IP], ipv6: [], dhcp: true }, undefined);
    assert.equal(verdict(after, tcp(IP, 80)), true);
    assert.equal(verdict(after, arp(MAC, IP)), true);
    assert.equal(verdict(after, tcp(PEER_IP, 80)), false);
  });
});

describe('antispoof rules against a container acting as a DHCP server', () => {
  const offer = {
    eth_type: 0x800,
    eth_src: MAC,
    ipv4_src: IP,
    ipv4_dst: '255.255.255.255',
    ip_proto: 17,
    udp_src: 67,
    udp_dst: 68,
  };
  const advertise = {
    eth_type: 0x86dd,
    eth_src: MAC,
    ipv6_src: linkLocalOf(MAC),
    ipv6_dst: 'fe80::1',
    ip_proto: 17,
    udp_src: 547,
    udp_dst: 546,
  };

  it('drop DHCPv4 replies and DHCPv6 server messages sent as itself, on DHCP networks and others, whatever the operator allows', () => {
    for (const dhcp of [false, true]) {
      for (const operator of [
        undefined,
        [
          { eth_type: 0x800, ip_proto: 17, actions: { allow: 1 } },
          { eth_type: 0x86dd, ip_proto: 17, actions: { allow: 1 } },
        ],
      ]) {
        const rules = antispoofRules({ ...PORT, dhcp }, operator);
        assert.equal(verdict(rules, offer), false, `DHCPv4 offer, dhcp=${dhcp}`);
        assert.equal(verdict(rules, { ...offer, ipv4_dst: PEER_IP }), false, `unicast DHCPv4 reply, dhcp=${dhcp}`);
        assert.equal(verdict(rules, advertise), false, `DHCPv6 advertise, dhcp=${dhcp}`);
      }
    }
  });

  it('still let the container be a DHCP client, and send other UDP as itself', () => {
    const rules = antispoofRules({ mac: MAC, ipv4: [IP], ipv6: [], dhcp: true }, undefined);
    assert.equal(
      verdict(rules, { ...offer, udp_src: 68, udp_dst: 67, ipv4_dst: PEER_IP }),
      true,
      'a renewal to the server',
    );
    assert.equal(verdict(rules, { ...offer, udp_src: 67, udp_dst: 53 }), true);
    assert.equal(verdict(rules, { ...advertise, udp_src: 546, udp_dst: 547 }), true, 'a DHCPv6 solicit');
  });
});

describe('antispoof rules with the operator ACLs of the port', () => {
  const no8080: AclRule[] = [
    { dl_type: 0x800, nw_proto: 6, tcp_dst: 8080, actions: { allow: 0 } },
    { actions: { allow: 1 } },
  ];

  it('let the operator rules decide for the container own traffic, and still drop spoofed traffic', () => {
    const rules = antispoofRules(PORT, no8080);
    assert.equal(verdict(rules, tcp(IP, 80)), true);
    assert.equal(verdict(rules, tcp(IP, 8080)), false);
    assert.equal(verdict(rules, tcp(PEER_IP, 80)), false);
    assert.equal(verdict(rules, arp(MAC, IP)), true);
    assert.equal(verdict(rules, arp(MAC, PEER_IP)), false);
    assert.equal(verdict(rules, { eth_type: 0x88cc, eth_src: MAC }), true);
    assert.ok(
      rules.every((r) => !('dl_type' in r) && !('nw_proto' in r)),
      'old field names are written as FAUCET maps them',
    );
  });

  it('keep an operator ACL that allows only some traffic closed for the rest', () => {
    const webOnly: AclRule[] = [
      { eth_type: '0x0800', ip_proto: 6, tcp_dst: 80, actions: { allow: true } },
      { eth_type: 0x806, actions: { allow: true } },
    ];
    const rules = antispoofRules(PORT, webOnly);
    assert.equal(verdict(rules, tcp(IP, 80)), true);
    assert.equal(verdict(rules, tcp(IP, 22)), false);
    assert.equal(verdict(rules, arp(MAC, IP)), true);
    assert.equal(verdict(rules, { eth_type: 0x88cc, eth_src: MAC }), false);
  });

  it('narrow an operator address match that includes the own address, and leave out one that cannot match it', () => {
    const rules = antispoofRules(PORT, [
      { eth_type: 0x800, ipv4_src: '10.9.0.0/24', actions: { allow: true } },
      { eth_type: 0x800, ipv4_src: '10.8.0.0/255.255.0.0', actions: { allow: true } },
      { eth_src: PEER_MAC, actions: { allow: true } },
      { eth_src: '0e:00:00:00:00:00/ff:ff:ff:00:00:00', eth_type: 0x806, actions: { allow: true } },
    ]);
    assert.ok(rules.some((r) => r['ipv4_src'] === IP && r['eth_src'] === MAC));
    assert.ok(!rules.some((r) => r['ipv4_src'] === '10.8.0.0/255.255.0.0' || r['eth_src'] === PEER_MAC));
    assert.equal(verdict(rules, tcp(IP, 22)), true);
    assert.equal(verdict(rules, arp(MAC, IP)), true);
    assert.equal(verdict(rules, { eth_type: 0x88cc, eth_src: MAC }), false);
  });

  it('keep the operator actions (output, meter) on the copies', () => {
    const rules = antispoofRules(PORT, [{ eth_type: 0x800, actions: { allow: true, meter: 'onemeg' } }]);
    assert.ok(
      rules.some(
        (r) =>
          r['ipv4_src'] === IP && JSON.stringify(r['actions']) === JSON.stringify({ allow: true, meter: 'onemeg' }),
      ),
    );
  });
});

describe('antispoof helpers', () => {
  it('sort rules into traffic types by EtherType or by the fields they match', () => {
    assert.deepEqual(sectionsOf({ eth_type: 0x806 }), ['arp']);
    assert.deepEqual(sectionsOf({ eth_type: 'bogus' }), []);
    assert.deepEqual(sectionsOf({ tcp_dst: 22 }), ['ipv4', 'ipv6']);
    assert.deepEqual(sectionsOf({ ipv6_dst: '::1' }), ['ipv6']);
    assert.deepEqual(sectionsOf({ actions: {} }), ['arp', 'ipv4', 'ipv6', 'other']);
    assert.deepEqual(sectionsOf({ eth_type: 0x88cc }), ['other']);
  });

  it('match addresses as OpenFlow does', () => {
    assert.equal(ipIn('10.0.0.0/8', '10.1.2.3'), true);
    assert.equal(ipIn('10.0.0.0/255.0.0.0', '10.1.2.3'), true);
    assert.equal(ipIn('10.0.0.0/255.0.255.0', '10.1.2.3'), false);
    assert.equal(ipIn('10.1.2.3', '10.1.2.4'), false);
    assert.equal(ipIn('fe80::/10', 'fe80::1'), true);
    assert.equal(ipIn('10.0.0.0/8', 'fe80::1'), false);
    assert.equal(ipIn(7, '10.0.0.1'), false);
    assert.equal(macIn('0E:00:00:00:00:0A', MAC), true);
    assert.equal(macIn('0e:00:00:00:00:00/ff:ff:ff:ff:ff:00', MAC), true);
    assert.equal(macIn('0e:00:00:00:00:0b', MAC), false);
  });

  it('derive the link-local address Linux uses from the MAC', () => {
    assert.equal(linkLocalOf('02:42:ac:11:00:02'), 'fe80::42:acff:fe11:2');
    assert.equal(linkLocalOf('0e:00:00:00:00:0a'), 'fe80::c00:ff:fe00:a');
  });

  it('name the ACL as dovesnap-owned, per DP and port, changing with its rules', () => {
    const a = antispoofAclName('lab', 3, antispoofRules(PORT, undefined));
    assert.match(a, /^dovesnap-antispoof-lab-3-[0-9a-f]{8}$/);
    assert.notEqual(a, antispoofAclName('lab', 3, antispoofRules({ ...PORT, ipv4: [PEER_IP] }, undefined)));
    assert.equal(a, antispoofAclName('lab', 3, antispoofRules(PORT, undefined)));
  });
});

const NET = 'c3'.repeat(32);

function network(raw: Record<string, string> = {}, localFaucet = true): NetworkRecord {
  const rawOptions = { 'ovs.bridge.dpid': '0x33', ...raw };
  return {
    id: NET,
    name: 'lab',
    options: parseNetworkOptions(rawOptions),
    rawOptions,
    bridgeName: 'ovsbr-c3c3c',
    datapathType: 'netdev',
    controllers: [],
    ipv4: [],
    internal: false,
    localFaucet,
  };
}

function endpoint(n: number, labels: Record<string, string> = {}, patch: Partial<EndpointRecord> = {}): EndpointRecord {
  const id = `${n}`.padStart(2, '0').repeat(32);
  return endpointRecord({
    id,
    networkId: NET,
    hostIf: `dsp${id.slice(0, 12)}`,
    containerIf: `dsc${id.slice(0, 12)}`,
    mac: `0e:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
    ipv4: `10.9.0.${n}/24`,
    ofport: n,
    container: { id: `c${id.slice(1)}`, name: `/c${n}`, labels },
    labels: parseContainerLabels(labels, 'lab'),
    ...patch,
  });
}

function store(n: NetworkRecord, eps: EndpointRecord[]): StateStore {
  const s = new StateStore();
  s.putNetwork(n);
  for (const e of eps) s.putEndpoint(e);
  return s;
}

const OPERATOR_YAML = `acls:
  no-8080:
    - rule: {dl_type: 0x800, nw_proto: 6, tcp_dst: 8080, actions: {allow: 0}}
    - rule: {actions: {allow: 1}}
  rules-form:
    rules:
      - rule: {eth_type: 0x806, actions: {allow: true}}
`;

describe('anti-spoofing ports in the FAUCET state', () => {
  it('reads the operator ACLs rules, in both of FAUCET forms', () => {
    const facts = readFaucetConfigFacts(OPERATOR_YAML);
    assert.deepEqual(facts.aclRules.get('no-8080'), [
      { dl_type: 0x800, nw_proto: 6, tcp_dst: 8080, actions: { allow: 0 } },
      { actions: { allow: 1 } },
    ]);
    assert.deepEqual(facts.aclRules.get('rules-form'), [{ eth_type: 0x806, actions: { allow: true } }]);
  });

  it('gives each container port of an antispoof network its own ACL, built from the port ACLs; the label exempts one', () => {
    const s = store(network({ 'ovs.bridge.antispoof': 'true', 'ovs.bridge.default_acl': 'no-8080' }), [
      endpoint(2),
      endpoint(3, { 'dovesnap.faucet.antispoof': 'false' }),
    ]);
    const facts = readFaucetConfigFacts(OPERATOR_YAML);
    const managed = managedState(s, facts, facts.acls, new Map());
    const dp = managed.dps[0]!;
    const p2 = dp.ports.find((p) => p.number === 2)!;
    const p3 = dp.ports.find((p) => p.number === 3)!;
    assert.match(p2.aclsIn?.[0] ?? '', /^dovesnap-antispoof-lab-2-/);
    assert.deepEqual(p3.aclsIn, ['no-8080']);
    assert.equal(managed.acls?.length, 1);
    const acl = managed.acls![0]!;
    assert.equal(acl.name, p2.aclsIn?.[0]);
    assert.equal(verdict(acl.rules, tcp('10.9.0.2', 80, '0e:00:00:00:00:02')), true);
    assert.equal(verdict(acl.rules, tcp('10.9.0.2', 8080, '0e:00:00:00:00:02')), false);
    assert.equal(verdict(acl.rules, tcp('10.9.0.3', 80, '0e:00:00:00:00:02')), false);
  });

  it('turns it on for one port by label on a network without the option, and per network', () => {
    const s = store(network(), [endpoint(2, { 'dovesnap.faucet.antispoof': 'lab:true/other:false' }), endpoint(3)]);
    const { dps, acls } = managedState(s, '', new Set(), new Map());
    assert.deepEqual(
      acls?.map((a) => a.name.split('-').slice(0, 4).join('-')),
      ['dovesnap-antispoof-lab-2'],
    );
    assert.equal(dps[0]!.ports.find((p) => p.number === 3)!.aclsIn, undefined);
    // withAntispoof alone leaves DPs of networks it does not know as they are.
    assert.deepEqual(withAntispoof(new StateStore(), dps, new Map()), { dps, acls: [] });
  });

  it('pins the leased address on a DHCP network once the lease is known', () => {
    const net = network({ 'ovs.bridge.antispoof': 'true', 'ovs.bridge.dhcp': 'true' });
    const unleased = endpoint(2, {}, { ipv4: undefined });
    const before = managedState(store(net, [unleased]), '', new Set(), new Map()).acls![0]!;
    const after = managedState(store(net, [{ ...unleased, leasedIpv4: '192.168.50.7' }]), '', new Set(), new Map())
      .acls![0]!;
    assert.notEqual(before.name, after.name);
    const mac = '0e:00:00:00:00:02';
    assert.equal(verdict(before.rules, tcp('192.168.50.7', 80, mac)), false);
    assert.equal(verdict(after.rules, tcp('192.168.50.7', 80, mac)), true);
  });

  it('leaves a port kept closed (an ACL FAUCET lacks) out, with no ACL made for it', () => {
    const s = store(network({ 'ovs.bridge.antispoof': 'true' }), [
      endpoint(2, { 'dovesnap.faucet.portacl': 'missing' }),
    ]);
    const managed = managedState(s, OPERATOR_YAML, new Set(['no-8080']), new Map());
    assert.equal(
      managed.dps[0]!.ports.some((p) => p.number === 2),
      false,
    );
    assert.deepEqual(managed.acls, []);
  });

  it('renders the ACL into faucet.yaml next to the operator own, and removes it with the port', () => {
    const s = store(network({ 'ovs.bridge.antispoof': 'true', 'ovs.bridge.default_acl': 'no-8080' }), [endpoint(2)]);
    const withPort = renderFaucetConfig(
      OPERATOR_YAML,
      managedState(s, OPERATOR_YAML, new Set(['no-8080', 'rules-form']), new Map()),
    );
    assert.ok(withPort.startsWith(OPERATOR_YAML.trimEnd().split('\n')[0]!));
    const names = [...readFaucetConfigFacts(withPort).acls];
    assert.ok(names.some((n) => n.startsWith('dovesnap-antispoof-lab-2-')));
    s.removeEndpoint(endpoint(2).id);
    const without = renderFaucetConfig(withPort, managedState(s, withPort, new Set(names), new Map()));
    assert.deepEqual([...readFaucetConfigFacts(without).acls], ['no-8080', 'rules-form']);
    assert.ok(without.includes('    - rule: {dl_type: 0x800, nw_proto: 6, tcp_dst: 8080, actions: {allow: 0}}'));
  });
});

describe('the option and the label', () => {
  it('ovs.bridge.antispoof is off by default, a boolean, and a bad value is refused naming it', () => {
    assert.equal(parseNetworkOptions({ 'ovs.bridge.dpid': '1' }).antispoof, false);
    assert.equal(parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.antispoof': 'true' }).antispoof, true);
    assert.throws(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.antispoof': 'maybe' }),
      (err: unknown) => isDovesnapError(err) && /ovs\.bridge\.antispoof/.test(err.message) && /maybe/.test(err.message),
    );
  });

  it('dovesnap.faucet.antispoof takes the bare and the per-network form; a bad value names the label', () => {
    assert.equal(parseContainerLabels({ 'dovesnap.faucet.antispoof': 'false' }, 'lab').antispoof, false);
    assert.equal(parseContainerLabels({ 'dovesnap.faucet.antispoof': 'lab:false/web:true' }, 'web').antispoof, true);
    assert.equal(parseContainerLabels({ 'dovesnap.faucet.antispoof': 'web:true' }, 'lab').antispoof, undefined);
    assert.equal(parseContainerLabels({}, 'lab').antispoof, undefined);
    assert.throws(
      () => parseContainerLabels({ 'dovesnap.faucet.antispoof': 'sometimes' }, 'lab'),
      (err: unknown) => isDovesnapError(err) && /label dovesnap\.faucet\.antispoof/.test(err.message),
    );
  });
});
