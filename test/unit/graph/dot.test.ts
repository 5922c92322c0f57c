import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { toDot } from '../../../src/graph/dot.js';
import type { ContainerStatus, HostStatus, NetworkStatus } from '../../../src/status/documents.js';
import { statusContainer, statusNetwork } from '../../fixtures/status-docs.js';

const NET = 'a'.repeat(64);
const NAT = 'b'.repeat(64);

const container = (p: Partial<ContainerStatus>): ContainerStatus =>
  statusContainer({ Id: 'c'.repeat(64), EndpointID: 'e'.repeat(64), Interface: 'dspeeeeeeeeeeee', ...p });
const network = (p: Partial<NetworkStatus>): NetworkStatus =>
  statusNetwork({
    NetworkID: NET,
    BridgeName: 'ovsbr-aaaaa',
    BridgeDpid: '0x10',
    Controllers: ['tcp:127.0.0.1:6653'],
    ...p,
  });

const HOST: HostStatus = {
  MirrorBridge: { Bridge: 'mirrorbr', Out: 'odsmirrori', In: 'eth77', Links: { [NET]: 10 }, Problem: null },
  Stack: {
    DpName: 'dovesnap-h1',
    DpId: '0xe0f000001',
    Root: 'core',
    Interfaces: [{ Interface: 'eth5', OFPort: 1, RemoteDp: 'core', RemotePort: 3 }],
    MirrorInterface: 'core:2',
    Problem: null,
  },
};

function topology(): string {
  return toDot([
    {
      source: '127.0.0.1:9401',
      host: HOST,
      networks: {
        [NET]: network({
          Options: {
            'ovs.bridge.dpid': '0x10',
            'ovs.bridge.add_ports': 'eno2/8/uplink-in/t20+t30',
            'ovs.bridge.add_copro_ports': 'eno3',
            'ovs.bridge.default_acl': 'allow',
          },
          HostPorts: [
            { Interface: 'eno2', OFPort: 8, Kind: 'added' },
            { Interface: 'eno3', OFPort: 9, Kind: 'coprocessor' },
            { Interface: 'tap-vm1', OFPort: 12, Kind: 'hand-added' },
            { Interface: 'dsmn1234', OFPort: 99, Kind: 'mirror link' },
          ],
          Containers: {
            web: container({ PortACLs: ['allow'], Mirrored: true }),
            db: container({
              Name: '/db',
              EndpointID: 'f'.repeat(64),
              OFPort: 2,
              MacAddress: '0e:00:00:00:00:02',
              HostIP: '',
              Blocked: 'ACL nosuch is not defined',
            }),
          },
        }),
        [NAT]: network({
          NetworkID: NAT,
          NetworkName: 'natnet',
          BridgeName: 'ovsbr-bbbbb',
          BridgeDpid: '0x11',
          Mode: 'nat',
        }),
      },
    },
    {
      source: 'host2:9401',
      host: undefined,
      networks: { [NET]: network({ NetworkName: 'lab2', BridgeDpid: '0x20' }) },
    },
  ]);
}

describe('the wiring diagram (DOT)', () => {
  it('marks a capture port (label dovesnap.faucet.capture) apart from other containers', () => {
    const dot = toDot([
      {
        source: 'h',
        host: undefined,
        networks: {
          [NET]: network({
            Containers: {
              t: container({ Name: '/tap', Capture: true }),
              w: container({ Name: '/web', EndpointID: 'f'.repeat(64) }),
            },
          }),
        },
      },
    ]);
    assert.ok(dot.includes('capture: copies of every port (output only)'));
    assert.equal(dot.split('capture: copies').length, 2, 'on the capture container only');
    assert.match(dot, /fillcolor="#e6dcf3", label="tap/);
  });

  it('holds every kind of element with what identifies it, and OpenFlow port numbers on the edges', () => {
    const dot = topology();
    for (const text of [
      'lab',
      'bridge ovsbr-aaaaa  DPID 0x10',
      'mode flat  VLAN 100  userspace',
      'ovs.bridge.add_ports=eno2/8/uplink-in/t20+t30', // network and its options
      'web',
      'MAC 0e:00:00:00:00:01',
      'IP 10.0.0.2',
      'OFPort 1',
      'ACLs allow',
      'mirrored', // container
      'BLOCKED: ACL nosuch is not defined', // a closed port
      'eno2\\nadded port\\nACL uplink-in\\nVLAN t20+t30',
      'eno3\\ncoprocessor port', // host ports
      'gateway (NAT to the host)',
      'LOCAL 4294967294', // gateway
      'mirror bridge mirrorbr',
      'odsmirrori\\nmirror out',
      'eth77\\nmirror in', // mirror bridge
      'stack switch dovesnap-h1',
      'FAUCET DP core',
      'root core', // stack
      'dovesnap at 127.0.0.1:9401',
      'dovesnap at host2:9401',
      'lab2', // two hosts in one picture
    ]) {
      assert.ok(dot.includes(text), `the DOT has ${JSON.stringify(text)}`);
    }
    assert.match(dot, /-> "h0:if:eno2" \[taillabel="8"\]/, 'edge to the added port carries its OpenFlow number');
    assert.match(dot, /-> "h0:if:eno3" \[taillabel="9"\]/, 'the number OVS gave a port the options did not number');
    assert.match(dot, /"h0:if:tap-vm1" \[shape=cds, label="tap-vm1\\nadded by hand"\]/, 'a port added by hand');
    assert.match(dot, /-> "h0:if:tap-vm1" \[taillabel="12"\]/);
    assert.match(
      dot,
      /-> "h0:mirror:mirrorbr" \[taillabel="99", headlabel="10"/,
      'mirror link: lbport on the network side, its port on the mirror bridge',
    );
    assert.match(dot, /-> "dp:core" \[taillabel="eth5 1", headlabel="3"/, 'stack link');
  });

  it('is valid Graphviz: dot renders it as PNG and SVG', () => {
    const dot = topology();
    const png = execFileSync('dot', ['-Tpng'], { input: dot });
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    const svg = execFileSync('dot', ['-Tsvg'], { input: dot }).toString();
    assert.match(svg, /<svg[\s>]/);
    assert.match(svg, /web/);
  });

  it('quotes names that would break DOT', () => {
    const dot = toDot([
      { source: 'x', host: undefined, networks: { [NET]: network({ NetworkName: 'a "quoted" \\ name' }) } },
    ]);
    assert.ok(dot.includes('a \\"quoted\\" \\\\ name'));
    execFileSync('dot', ['-Tsvg'], { input: dot });
  });
});
