import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderNatScript, type NatState, type PortMapping } from '../../../src/net/nat-rules.js';
import { forwardRules } from '../../../src/net/forwarding.js';

const NET = 'a1b2c3d4e5f60718293a';

/** A mapping on NET (10.1.0.0/24 on br1) to 10.1.0.2; `m` overrides any field. */
function mapping(hostIp: string, hostPort: number, m: Partial<PortMapping> = {}): PortMapping {
  return {
    networkId: NET,
    bridge: 'br1',
    subnet: '10.1.0.0/24',
    protocol: 'tcp',
    hostIp,
    hostPort,
    containerIp: '10.1.0.2',
    containerPort: 80,
    endpointId: 'e1e1e1e1e1e1e1',
    ...m,
  };
}

describe('NAT rules', () => {
  it('deletes the table when nothing needs it', () => {
    assert.equal(renderNatScript({ networks: [], mappings: [] }), 'table ip dovesnap\ndelete table ip dovesnap\n');
  });

  it('masquerades a nat network leaving by another interface, and hairpins published ports', () => {
    const s = renderNatScript({
      networks: [{ id: NET, bridge: 'ovsbr-a1b2c', subnet: '10.1.0.0/24', mode: 'nat' }],
      mappings: [],
    });
    assert.match(s, /^table ip dovesnap\ndelete table ip dovesnap\ntable ip dovesnap \{/);
    assert.match(s, /ip saddr 10\.1\.0\.0\/24 oifname != "ovsbr-a1b2c" masquerade comment "dovesnap a1b2c3d4e5f6"/);
    assert.match(s, /ip saddr 10\.1\.0\.0\/24 oifname "ovsbr-a1b2c" ct status dnat masquerade/);
    assert.match(s, /type nat hook postrouting priority srcnat; policy accept;/);
  });

  it("masquerades the prefixes behind a nat network's routers like its subnet (ovs.bridge.host_routes)", () => {
    const s = renderNatScript({
      networks: [
        {
          id: NET,
          bridge: 'ovsbr-a1b2c',
          subnet: '192.168.101.0/24',
          mode: 'nat',
          hostRoutePrefixes: ['192.168.102.0/24', '192.168.103.0/24'],
        },
      ],
      mappings: [],
    });
    const post = s.slice(s.indexOf('chain postrouting'));
    for (const p of ['192\\.168\\.101\\.0\\/24', '192\\.168\\.102\\.0\\/24', '192\\.168\\.103\\.0\\/24']) {
      assert.match(
        post,
        new RegExp(`ip saddr ${p} oifname != "ovsbr-a1b2c" masquerade comment "dovesnap a1b2c3d4e5f6"`),
      );
      assert.match(
        post,
        new RegExp(`ip saddr ${p} oifname "ovsbr-a1b2c" ct status dnat masquerade comment "dovesnap a1b2c3d4e5f6"`),
      );
    }
    assert.ok(
      post.indexOf('192.168.101.0/24') < post.indexOf('192.168.102.0/24'),
      'the subnet first, then the prefixes in order',
    );
  });

  it("leaves the prefixes behind a routed network's routers unmasqueraded", () => {
    const s = renderNatScript({
      networks: [{ id: NET, bridge: 'br1', subnet: '10.2.0.0/24', mode: 'routed', hostRoutePrefixes: ['10.3.0.0/24'] }],
      mappings: [],
    });
    assert.doesNotMatch(s, /oifname != "br1" masquerade/);
    assert.match(s, /ip saddr 10\.3\.0\.0\/24 oifname "br1" ct status dnat masquerade/);
  });

  it('keeps a prefix nft would refuse out of the table, which would otherwise fail as a whole', () => {
    const s = renderNatScript({
      networks: [
        {
          id: NET,
          bridge: 'br1',
          subnet: '10.2.0.0/24',
          mode: 'nat',
          hostRoutePrefixes: ['10.3.0.7/24', 'bogus"; flush ruleset', '10.4.0.0/24', '10.4.0.0/24'],
        },
      ],
      mappings: [],
    });
    assert.doesNotMatch(s, /10\.3\.0|bogus/);
    assert.equal(s.match(/ip saddr 10\.4\.0\.0\/24 oifname != "br1" masquerade/g)?.length, 1);
  });

  it('does not masquerade a routed network', () => {
    const s = renderNatScript({
      networks: [{ id: NET, bridge: 'br1', subnet: '10.2.0.0/24', mode: 'routed' }],
      mappings: [],
    });
    assert.doesNotMatch(s, /oifname != "br1" masquerade/);
  });

  it('publishes ports on every host address or one, from outside and from the host, never for loopback from the host', () => {
    const state: NatState = {
      networks: [{ id: NET, bridge: 'br1', subnet: '10.1.0.0/24', mode: 'nat' }],
      mappings: [
        {
          networkId: NET,
          bridge: 'br1',
          subnet: '10.1.0.0/24',
          protocol: 'udp',
          hostIp: '',
          hostPort: 5353,
          containerIp: '10.1.0.3',
          containerPort: 53,
          endpointId: 'e2e2e2e2e2e2e2',
        },
        {
          networkId: NET,
          bridge: 'br1',
          subnet: '10.1.0.0/24',
          protocol: 'tcp',
          hostIp: '192.0.2.9',
          hostPort: 8080,
          containerIp: '10.1.0.2',
          containerPort: 80,
          endpointId: 'e1e1e1e1e1e1e1',
        },
      ],
    };
    const s = renderNatScript(state);
    const pre = s.slice(s.indexOf('chain prerouting'), s.indexOf('chain output'));
    const out = s.slice(s.indexOf('chain output'), s.indexOf('chain postrouting'));
    assert.match(pre, /ip daddr 192\.0\.2\.9 tcp dport 8080 dnat to 10\.1\.0\.2:80 comment "dovesnap e1e1e1e1e1e1"/);
    assert.match(pre, /fib daddr type local udp dport 5353 dnat to 10\.1\.0\.3:53/);
    assert.match(out, /fib daddr type local ip daddr != 127\.0\.0\.0\/8 udp dport 5353 dnat to 10\.1\.0\.3:53/);
    assert.ok(pre.indexOf('tcp dport 8080') < pre.indexOf('udp dport 5353'), 'stable order');
    assert.equal(renderNatScript(state), s, 'same state, same script');
  });

  it('leaves all of 127.0.0.0/8 to the port proxy: no DNAT a neighbour could reach, no OUTPUT rule that cannot match', () => {
    const s = renderNatScript({
      networks: [{ id: NET, bridge: 'br1', subnet: '10.1.0.0/24', mode: 'nat' }],
      mappings: [mapping('127.0.0.2', 8080), mapping('127.255.0.9', 5353, { protocol: 'udp', containerPort: 53 })],
    });
    assert.doesNotMatch(s, /dport (8080|5353)/);
    assert.doesNotMatch(s, /127\.0\.0\.2|127\.255\.0\.9/);
  });

  it("writes no IPv6 address into the ip table: IPv6 host addresses are the port proxy's", () => {
    const s = renderNatScript({
      networks: [{ id: NET, bridge: 'br1', subnet: '10.1.0.0/24', mode: 'nat' }],
      mappings: [mapping('::1', 8081), mapping('2001:db8::5', 8082)],
    });
    assert.doesNotMatch(s, /::1|2001:db8|dport 808[12]/);
    assert.match(s, /ip saddr 10\.1\.0\.0\/24 oifname != "br1" masquerade/);
  });

  it("leaves out a mapping it cannot render, and renders every other network's rules", () => {
    const OTHER = 'f0f1f2f3f4f5f6f7f8f9';
    const s = renderNatScript({
      networks: [
        { id: NET, bridge: 'br1', subnet: '10.1.0.0/24', mode: 'nat' },
        { id: OTHER, bridge: 'br2', subnet: '10.2.0.0/24', mode: 'nat' },
      ],
      mappings: [
        mapping('10.0.0.1; flush ruleset', 8080),
        mapping('', 8081, { containerIp: 'fd00::2' }),
        mapping('', 9090, {
          networkId: OTHER,
          bridge: 'br2',
          subnet: '10.2.0.0/24',
          containerIp: '10.2.0.2',
          containerPort: 90,
          endpointId: 'e3e3e3e3e3e3e3',
        }),
      ],
    });
    assert.doesNotMatch(s, /flush|fd00|dport 808[01]/);
    assert.match(s, /fib daddr type local tcp dport 9090 dnat to 10\.2\.0\.2:90/);
    assert.match(s, /ip saddr 10\.2\.0\.0\/24 oifname != "br2" masquerade/);
  });

  it('lets a nat network out and only mapped traffic in; a routed network both ways', () => {
    const nat = forwardRules(NET, 'br1', 'nat').map((r) => r.join(' '));
    assert.ok(nat.some((r) => r.startsWith('-i br1 ') && r.endsWith('-j ACCEPT')));
    assert.ok(nat.some((r) => r.includes('-o br1 -m conntrack --ctstate DNAT')));
    assert.ok(!nat.some((r) => /^-o br1 -m comment/.test(r)));
    for (const r of nat) assert.ok(r.includes('--comment dovesnap a1b2c3d4e5f6'));
    const routed = forwardRules(NET, 'br1', 'routed').map((r) => r.join(' '));
    assert.ok(routed.some((r) => /^-o br1 -m comment/.test(r)));
  });
});
