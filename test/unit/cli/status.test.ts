import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildStatusApp, hostPortsStatus, networksStatus } from '../../../src/status/server.js';
import type { Health, ContainerStatus, NetworksStatus, NetworkStatus } from '../../../src/status/documents.js';
import { formatHost, formatStatus } from '../../../src/cli/status-cmd.js';
import { StateStore, endpointRecord, type EndpointRecord, type NetworkRecord } from '../../../src/driver/state.js';
import { parseContainerLabels } from '../../../src/model/labels.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { silentLogger } from '../../../src/util/log.js';
import { parseAllowList } from '../../../src/config/status-allow.js';
import type { DhcpStatus } from '../../../src/driver/dhcp-clients.js';
import { statusContainer, statusNetwork } from '../../fixtures/status-docs.js';

const NET1 = 'a1'.repeat(32);
const NET2 = 'b2'.repeat(32);

function network(
  id: string,
  name: string | undefined,
  raw: Record<string, string>,
  patch: Partial<NetworkRecord> = {},
): NetworkRecord {
  return {
    id,
    name,
    options: parseNetworkOptions(raw),
    rawOptions: raw,
    bridgeName: `ovsbr-${id.slice(0, 5)}`,
    datapathType: 'netdev',
    controllers: ['tcp:127.0.0.1:6653'],
    ipv4: [],
    internal: false,
    localFaucet: true,
    ...patch,
  };
}

function endpoint(id: string, networkId: string, patch: Partial<EndpointRecord>): EndpointRecord {
  return endpointRecord({
    id,
    networkId,
    hostIf: `dsp${id.slice(0, 12)}`,
    containerIf: `dsc${id.slice(0, 12)}`,
    mac: '0e:00:00:00:00:01',
    ...patch,
  });
}

const EP_WEB = 'e1'.repeat(32);
const EP_DB = 'e2'.repeat(32);
const EP_PENDING = 'e3'.repeat(32);
const CTR_WEB = 'c1'.repeat(32);
const CTR_DB = 'c2'.repeat(32);

function filledState(): StateStore {
  const s = new StateStore();
  s.putNetwork(
    network(NET1, 'net1', {
      'ovs.bridge.dpid': '0x10',
      'ovs.bridge.vlan': '200',
      'ovs.bridge.default_acl': 'allow',
      'ovs.bridge.mtu': '1400',
    }),
  );
  s.putNetwork(network(NET2, undefined, { 'ovs.bridge.dpid': '2' }, { datapathType: 'system', controllers: [] }));
  const webLabels = { 'dovesnap.faucet.portacl': 'block-ssh' };
  s.putEndpoint(
    endpoint(EP_WEB, NET1, {
      ipv4: '10.0.0.2/24',
      mac: '0e:00:00:00:00:02',
      ofport: 2,
      container: { id: CTR_WEB, name: '/web', labels: webLabels },
      labels: parseContainerLabels(webLabels, 'net1'),
    }),
  );
  s.putEndpoint(
    endpoint(EP_DB, NET1, {
      ipv4: '10.0.0.3/24',
      ofport: 1,
      container: { id: CTR_DB, name: '/db', labels: {} },
      labels: parseContainerLabels({}, 'net1'),
      blockedReason: 'ACL nosuch is not defined',
    }),
  );
  s.putEndpoint(endpoint(EP_PENDING, NET1, { ofport: undefined }));
  return s;
}

describe('networksStatus', () => {
  it("keeps the original dovesnap's field names and fills them from the state", () => {
    const st = networksStatus(filledState());
    assert.deepEqual(Object.keys(st).sort(), [NET1, NET2]);
    const n1 = st[NET1];
    assert.ok(n1);
    assert.deepEqual(
      { ...n1, Containers: undefined },
      {
        NetworkID: NET1,
        NetworkName: 'net1',
        BridgeName: 'ovsbr-a1a1a',
        BridgeDpid: '0x10',
        BridgeVLAN: 200,
        Mode: 'flat',
        MTU: 1400,
        Userspace: true,
        Controllers: ['tcp:127.0.0.1:6653'],
        Options: n1.Options,
        OvsLocalMac: null,
        LbPort: 99,
        MirrorTunnelVid: 456,
        PreallocatedPorts: 0,
        HostPorts: [],
        ReadyPorts: 0,
        HostRoutes: [],
        Containers: undefined,
      },
    );
    assert.equal(n1.Options['ovs.bridge.vlan'], '200', 'the options as given');
    assert.deepEqual(Object.keys(n1.Containers).sort(), [CTR_WEB, CTR_DB, EP_PENDING].sort());
    assert.deepEqual(n1.Containers[CTR_WEB], {
      Name: '/web',
      Id: CTR_WEB,
      EndpointID: EP_WEB,
      MacAddress: '0e:00:00:00:00:02',
      HostIP: '10.0.0.2',
      OFPort: 2,
      Interface: `dsp${EP_WEB.slice(0, 12)}`,
      Labels: { 'dovesnap.faucet.portacl': 'block-ssh' },
      PortACLs: ['block-ssh'],
      Mirrored: false,
      Capture: false,
      Blocked: null,
      Ports: [],
      Dhcp: null,
    });
    assert.deepEqual(n1.Containers[CTR_DB]?.PortACLs, ['allow'], 'the default ACL when the container names none');
    assert.equal(n1.Containers[CTR_DB]?.Blocked, 'ACL nosuch is not defined');
    assert.deepEqual(n1.Containers[EP_PENDING], {
      Name: '',
      Id: '',
      EndpointID: EP_PENDING,
      MacAddress: '0e:00:00:00:00:01',
      HostIP: '',
      OFPort: null,
      Interface: `dsp${EP_PENDING.slice(0, 12)}`,
      Labels: {},
      PortACLs: ['allow'],
      Mirrored: false,
      Capture: false,
      Blocked: null,
      Ports: [],
      Dhcp: null,
    });
    const n2 = st[NET2];
    assert.equal(n2?.NetworkName, '');
    assert.equal(n2?.MTU, null);
    assert.equal(n2?.Userspace, false);
    assert.deepEqual(n2?.Containers, {});
  });
});

describe('buildStatusApp', () => {
  let health: Health = { status: 'starting' };
  const state = filledState();
  const app = buildStatusApp({ state, logger: silentLogger(), health: () => health });
  after(() => app.close());

  it('serves no live view page unless given a feed', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 404);
  });

  it('GET /networks answers the status document as JSON', async () => {
    const res = await app.inject({ method: 'GET', url: '/networks' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /application\/json/);
    assert.deepEqual(res.json(), JSON.parse(JSON.stringify(networksStatus(state))));
  });

  it('GET /healthz is 503 until ready, then 200, and 503 "degraded" with the reason while OVSDB is lost', async () => {
    health = { status: 'starting' };
    const down = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(down.statusCode, 503);
    assert.deepEqual(down.json(), { ok: false, status: 'starting' });
    health = { status: 'ok' };
    const up = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(up.statusCode, 200);
    assert.deepEqual(up.json(), { ok: true, status: 'ok' });
    health = { status: 'degraded', reason: 'OVSDB unreachable' };
    const degraded = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(degraded.statusCode, 503);
    assert.deepEqual(degraded.json(), { ok: false, status: 'degraded', reason: 'OVSDB unreachable' });
  });
});

function container(patch: Partial<ContainerStatus>): ContainerStatus {
  return statusContainer({ Name: '', Id: '', EndpointID: 'ep', HostIP: '', OFPort: null, Interface: 'dspx', ...patch });
}

function net(patch: Partial<NetworkStatus>): NetworkStatus {
  return statusNetwork({
    NetworkID: NET1,
    NetworkName: 'net1',
    BridgeName: 'ovsbr-a1a1a',
    BridgeDpid: '0x10',
    Userspace: false,
    ...patch,
  });
}

describe('status API access', () => {
  it('answers loopback by default and refuses others with 403, whatever X-Forwarded-For or X-Real-IP claim', async () => {
    const app = buildStatusApp({ state: new StateStore(), logger: silentLogger(), health: () => ({ status: 'ok' }) });
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/networks', remoteAddress: '127.0.0.1' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: '::1' })).statusCode, 200);
      const refused = await app.inject({
        method: 'GET',
        url: '/networks',
        remoteAddress: '198.51.100.7',
        headers: { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' },
      });
      assert.equal(refused.statusCode, 403);
      assert.match(
        (refused.json() as { message: string }).message,
        /198\.51\.100\.7 is not allowed .*DOVESNAP_STATUS_ALLOW/,
      );
    } finally {
      await app.close();
    }
  });

  it('answers the networks of the allow-list, and loopback', async () => {
    const app = buildStatusApp({
      state: new StateStore(),
      logger: silentLogger(),
      health: () => ({ status: 'ok' }),
      allow: parseAllowList('198.51.100.0/24'),
    });
    try {
      assert.equal(
        (await app.inject({ method: 'GET', url: '/networks', remoteAddress: '198.51.100.7' })).statusCode,
        200,
      );
      assert.equal(
        (await app.inject({ method: 'GET', url: '/networks', remoteAddress: '127.0.0.1' })).statusCode,
        200,
        'loopback, always',
      );
      assert.equal(
        (await app.inject({ method: 'GET', url: '/networks', remoteAddress: '198.51.101.7' })).statusCode,
        403,
      );
    } finally {
      await app.close();
    }
  });
});

describe('formatStatus', () => {
  it('says so when there are no networks', () => {
    assert.equal(formatStatus({}), 'no dovesnap networks\n');
  });

  it("shows each DHCP container's lease, or why it has none", () => {
    const dhcp = (patch: Partial<DhcpStatus>): DhcpStatus => ({
      State: 'bound',
      Reason: null,
      Address: '10.1.2.3',
      PrefixLength: 24,
      Router: '10.1.2.1',
      Dns: [],
      Domain: null,
      Server: '10.1.2.1',
      LeaseSeconds: 600,
      LeasedAt: '2026-11-27T10:00:00.000Z',
      ExpiresAt: '2026-11-27T10:10:00.000Z',
      ClientPid: 7,
      Restarts: 0,
      ResolvConf: 'not applied: no lease yet',
      ...patch,
    });
    const out = formatStatus({
      [NET1]: net({
        Containers: {
          [CTR_WEB]: container({ Name: '/web', Id: CTR_WEB, OFPort: 2, HostIP: '10.1.2.3', Dhcp: dhcp({}) }),
          [CTR_DB]: container({
            Name: '/db',
            Id: CTR_DB,
            OFPort: 3,
            Dhcp: dhcp({
              State: 'no lease',
              Reason: 'no DHCP server answered (no offer); asking again every few seconds',
              Address: null,
            }),
          }),
        },
      }),
    });
    assert.match(out, /web .* up, dhcp 10\.1\.2\.3\/24 from 10\.1\.2\.1 until 2026-11-27T10:10:00Z$/m);
    assert.match(out, /db .* up, dhcp no lease: no DHCP server answered/m);
  });

  it('prints a table per network: names without the slash, OFPORT order, (pending), blocked state', () => {
    const status: NetworksStatus = {
      [NET2]: net({ NetworkID: NET2, NetworkName: 'zeta', BridgeName: 'brz', BridgeDpid: '0x2', Userspace: true }),
      [NET1]: net({
        Controllers: ['tcp:127.0.0.1:6653', 'tcp:10.0.0.1:6653'],
        Containers: {
          [CTR_WEB]: container({
            Name: '/web',
            Id: CTR_WEB,
            OFPort: 10,
            HostIP: '10.0.0.2',
            MacAddress: '0e:00:00:00:00:02',
            PortACLs: ['block-ssh', 'allow'],
          }),
          [CTR_DB]: container({
            Name: '/db',
            Id: CTR_DB,
            OFPort: 9,
            HostIP: '10.0.0.3',
            Blocked: 'ACL nosuch is not defined',
          }),
          [EP_PENDING]: container({ EndpointID: EP_PENDING, OFPort: 2 }),
        },
      }),
    };
    assert.equal(
      formatStatus(status),
      [
        `net1  id ${NET1.slice(0, 12)}  bridge ovsbr-a1a1a  dpid 0x10  vlan 100  mode flat`,
        '  controllers: tcp:127.0.0.1:6653, tcp:10.0.0.1:6653',
        '  OFPORT  CONTAINER  ID            IP        MAC                ACLS             STATE',
        '  2       (pending)  -             -         0e:00:00:00:00:01  -                pending',
        `  9       db         ${CTR_DB.slice(0, 12)}  10.0.0.3  0e:00:00:00:00:01  -                blocked: ACL nosuch is not defined`,
        `  10      web        ${CTR_WEB.slice(0, 12)}  10.0.0.2  0e:00:00:00:00:02  block-ssh,allow  up`,
        `zeta  id ${NET2.slice(0, 12)}  bridge brz  dpid 0x2  vlan 100  mode flat  userspace`,
        '  controllers: (none: standalone)',
        '  no containers',
        '',
      ].join('\n'),
    );
  });

  it('shows a capture port (label dovesnap.faucet.capture) in its ACLS and STATE columns, and in the API document', () => {
    const s = new StateStore();
    s.putNetwork(network(NET1, 'net1', { 'ovs.bridge.dpid': '0x10', 'ovs.bridge.default_acl': 'allow' }));
    const tapLabels = { 'dovesnap.faucet.capture': 'true' };
    s.putEndpoint(
      endpoint(EP_WEB, NET1, {
        ipv4: '10.0.0.2/24',
        ofport: 2,
        container: { id: CTR_WEB, name: '/tap', labels: tapLabels },
        labels: parseContainerLabels(tapLabels, 'net1'),
      }),
    );
    s.putEndpoint(
      endpoint(EP_DB, NET1, {
        ipv4: '10.0.0.3/24',
        ofport: 3,
        container: { id: CTR_DB, name: '/db', labels: {} },
        labels: parseContainerLabels({}, 'net1'),
      }),
    );
    const doc = networksStatus(s);
    const tap = doc[NET1]?.Containers[CTR_WEB];
    assert.equal(tap?.Capture, true);
    assert.deepEqual(tap?.PortACLs, [], 'no input ACL on an output-only port, whatever the network default');
    assert.equal(doc[NET1]?.Containers[CTR_DB]?.Capture, false);
    const out = formatStatus(doc);
    assert.match(out, /^ {2}2 +tap .* capture +up, capture \(output only\)$/m);
    assert.match(out, /^ {2}3 +db .* allow +up$/m);
    // Blocked (a value that did not parse): not a capture port, and the reason shows.
    s.updateEndpoint(EP_WEB, {
      labels: undefined,
      blockedReason: 'invalid value "maybe" for label dovesnap.faucet.capture: expected true or false',
    });
    const blocked = networksStatus(s)[NET1]?.Containers[CTR_WEB];
    assert.equal(blocked?.Capture, false);
    assert.match(
      formatStatus(networksStatus(s)),
      /tap .* blocked: invalid value "maybe" for label dovesnap\.faucet\.capture/,
    );
  });

  it('prints an unnamed network as (unnamed)', () => {
    assert.match(formatStatus({ [NET1]: net({ NetworkName: '' }) }), /^\(unnamed\) {2}id /);
  });
});

describe('formatHost', () => {
  it('prints nothing when the host has neither a mirror bridge nor a stack', () => {
    assert.equal(formatHost({ MirrorBridge: null, Stack: null }), '');
  });

  it('prints the mirror bridge and the stack switch, with any problem', () => {
    const out = formatHost({
      MirrorBridge: { Bridge: 'mirrorbr', Out: 'odsmirrori', In: 'eth77', Links: { [NET1]: 3 }, Problem: null },
      Stack: {
        DpName: 'dovesnap-lab1',
        DpId: '0xe0f00aa',
        Root: 'core',
        Interfaces: [{ Interface: 'eth5', OFPort: 1, RemoteDp: 'core', RemotePort: 3 }],
        MirrorInterface: 'core:2',
        Problem: 'stacking interface eth6 does not exist',
      },
    });
    assert.equal(
      out,
      'mirror bridge mirrorbr  out odsmirrori  in eth77  networks linked 1\n' +
        'stack switch dovesnap-lab1 0xe0f00aa  root core  links eth5(1)->core:3  mirror to core:2  PROBLEM: stacking interface eth6 does not exist\n\n',
    );
  });
});

describe('hostPortsStatus', () => {
  it('names the kind of each non-container port of a bridge: added, coprocessor, mirror link, hand-added; skips containers and the bridge itself', () => {
    const rows: { name: string; ofport: number | undefined; externalIds: Record<string, string> }[] = [
      { name: 'ovsbr-a1a1a', ofport: 65534, externalIds: {} },
      { name: 'dspe1e2e3e4e5e6', ofport: 1, externalIds: { 'dovesnap-network-id': 'n' } },
      { name: 'eno2', ofport: 8, externalIds: { 'dovesnap-network-id': 'n', 'dovesnap-host-port': 'true' } },
      { name: 'eno3', ofport: 9, externalIds: { 'dovesnap-network-id': 'n', 'dovesnap-host-port': 'copro' } },
      { name: 'dsmn1', ofport: 99, externalIds: { 'dovesnap-network-id': 'n', 'dovesnap-host-port': 'mirror' } },
      { name: 'tap-vm1', ofport: 12, externalIds: {} },
      { name: 'tap-vm2', ofport: undefined, externalIds: {} },
    ];
    assert.deepEqual(hostPortsStatus('ovsbr-a1a1a', rows), [
      { Interface: 'tap-vm2', OFPort: null, Kind: 'hand-added' },
      { Interface: 'eno2', OFPort: 8, Kind: 'added' },
      { Interface: 'eno3', OFPort: 9, Kind: 'coprocessor' },
      { Interface: 'tap-vm1', OFPort: 12, Kind: 'hand-added' },
      { Interface: 'dsmn1', OFPort: 99, Kind: 'mirror link' },
    ]);
  });
});
