import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Driver, type DriverDeps } from '../../../src/driver/driver.js';
import { FakeFaucetView } from '../../fakes/fake-faucet-view.js';
import { StateStore } from '../../../src/driver/state.js';
import { ExtId } from '../../../src/driver/persist.js';
import { silentLogger } from '../../../src/util/log.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { FakeHostNet } from '../../fakes/fake-host.js';
import { createNetworkRequest, TEST_ENDPOINT_ID, TEST_NETWORK_ID } from '../../fakes/driver-requests.js';
import { createNatView } from '../../../src/driver/nat-view.js';
import { testDriver } from '../../fakes/test-driver.js';

const NET = TEST_NETWORK_ID;
const EP = TEST_ENDPOINT_ID;
const createReq = createNetworkRequest;

describe('driver', () => {
  let vs: FakeVSwitch;
  let host: FakeHostNet;
  let faucet: FakeFaucetView;
  let state: StateStore;
  let driver: Driver;
  const driverWith = (extra: Partial<DriverDeps> = {}): Driver =>
    testDriver({ vswitch: vs, host, state, faucet }, extra);

  beforeEach(() => {
    vs = new FakeVSwitch();
    host = new FakeHostNet();
    faucet = new FakeFaucetView();
    state = new StateStore();
    driver = driverWith();
  });

  it('creates a secure bridge with the default controllers and records the network in OVSDB', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1' }));
    const b = await vs.getBridge('ovsbr-a1b2c');
    assert.ok(b);
    assert.equal(b.failMode, 'secure');
    assert.deepEqual(b.controllers, ['tcp:127.0.0.1:6653']);
    assert.equal(b.datapathType, 'netdev');
    assert.equal(b.externalIds[ExtId.networkId], NET);
    assert.deepEqual(JSON.parse(b.externalIds[ExtId.options] ?? ''), { 'ovs.bridge.dpid': '0x1' });
    assert.equal(state.network(NET)?.bridgeName, 'ovsbr-a1b2c');
  });

  it('uses standalone mode when there is no controller at all', async () => {
    driver = new Driver({
      vswitch: vs,
      host,
      state,
      faucet,
      nat: createNatView(state, host, silentLogger()),
      settings: {
        defaultControllers: [],
        localFaucetControllers: ['tcp:127.0.0.1:6653'],
        hostDatapath: 'system',
        ofportTimeoutMs: 1000,
      },
      logger: silentLogger(),
    });
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '2', 'ovs.bridge.name': 'brx' }));
    const b = await vs.getBridge('brx');
    assert.equal(b?.failMode, 'standalone');
    assert.equal(b?.datapathType, 'system');
  });

  it('refuses a duplicate DPID, a DPID an operator DP uses, and a bad option, creating nothing', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1' }));
    const other = NET.replace('a1', 'ff');
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1' }, other)),
      (e: unknown) => isDovesnapError(e, ErrorCode.Conflict) && e.message.includes('ovs.bridge.dpid'),
    );
    faucet.foreign.set('operator-sw', 0x77n);
    await assert.rejects(driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x77' }, other)), /operator-sw/);
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x78', 'ovs.bridge.vlan': '0' }, other)),
      /ovs.bridge.vlan/,
    );
    assert.equal((await vs.listBridges()).length, 1);
    assert.equal(state.allNetworks().length, 1);
  });

  it('refuses an ACL option FAUCET does not define, and a missing add_ports interface', async () => {
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1', 'ovs.bridge.default_acl': 'nosuch' })),
      /nosuch.*ovs.bridge.default_acl/,
    );
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1', 'ovs.bridge.add_ports': 'eth77' })),
      /eth77 does not exist/,
    );
    assert.equal((await vs.listBridges()).length, 0);
  });

  it('refuses ovs.bridge.userspace=false on a host without the kernel module', async () => {
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1', 'ovs.bridge.userspace': 'false' })),
      /kernel module/,
    );
  });

  it('removes the bridge again when adding a host port fails', async () => {
    host.hostInterfaces.add('eno9');
    vs.failNext('addPort');
    await assert.rejects(driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1', 'ovs.bridge.add_ports': 'eno9/5' })));
    assert.equal((await vs.listBridges()).length, 0);
    assert.equal(state.allNetworks().length, 0);
  });

  it('creates an endpoint: veth, OVS port with the lowest free number, MAC returned when Docker gave none', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1' }));
    const res = await driver.createEndpoint({
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '10.9.0.2/24' },
      Options: {},
    });
    assert.equal(res.Interface?.MacAddress, '0e:07:07:07:07:07');
    assert.ok(host.links.has('dspe1e2e3e4e5e6'));
    const b = await vs.getBridge('ovsbr-a1b2c');
    assert.equal(b?.ports[0]?.name, 'dspe1e2e3e4e5e6');
    assert.equal(b?.ports[0]?.ofport, 1);
    assert.equal(b?.ports[0]?.externalIds[ExtId.endpointId], EP);
    assert.equal(state.endpoint(EP)?.ofport, 1);

    const given = await driver.createEndpoint({
      NetworkID: NET,
      EndpointID: EP.replace('e1', 'd1'),
      Interface: { MacAddress: '0E:00:00:00:00:07' },
      Options: {},
    });
    assert.deepEqual(given, {});
    assert.equal(state.endpoint(EP.replace('e1', 'd1'))?.ofport, 2);
    assert.equal(state.endpoint(EP.replace('e1', 'd1'))?.mac, '0e:00:00:00:00:07');
  });

  it('leaves no veth and no port when the OVS port cannot be added', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1' }));
    vs.failNext('waitOfport');
    await assert.rejects(driver.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: {}, Options: {} }));
    assert.equal(host.links.size, 0);
    assert.equal((await vs.getBridge('ovsbr-a1b2c'))?.ports.length, 0);
    assert.equal(state.endpoint(EP), undefined);
  });

  it('joins with the container-side name, no gateway on a flat network, and records the sandbox', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1' }));
    await driver.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: {}, Options: {} });
    const j = await driver.join({
      NetworkID: NET,
      EndpointID: EP,
      SandboxKey: '/var/run/docker/netns/abc',
      Options: {},
    });
    assert.deepEqual(j.InterfaceName, { SrcName: 'dsce1e2e3e4e5e6', DstPrefix: 'eth' });
    assert.equal(j.Gateway, undefined);
    assert.equal(j.DisableGatewayService, true);
    assert.equal(state.endpoint(EP)?.sandboxKey, '/var/run/docker/netns/abc');
    assert.equal(vs.inspectPort('dspe1e2e3e4e5e6')?.externalIds[ExtId.sandbox], '/var/run/docker/netns/abc');
  });

  it('deletes endpoints and networks idempotently', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1' }));
    await driver.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: {}, Options: {} });
    await driver.deleteEndpoint({ NetworkID: NET, EndpointID: EP });
    await driver.deleteEndpoint({ NetworkID: NET, EndpointID: EP });
    assert.equal(host.links.size, 0);
    await driver.deleteNetwork({ NetworkID: NET });
    await driver.deleteNetwork({ NetworkID: NET });
    assert.equal((await vs.listBridges()).length, 0);
    assert.equal(state.allNetworks().length, 0);
  });

  it('refuses DHCP networks that Docker would address itself, give a gateway, or give IPv6; creates nothing', async () => {
    const dhcp = { 'ovs.bridge.dpid': '1', 'ovs.bridge.dhcp': 'true', 'ovs.bridge.mode': 'flat' };
    const nullIpam = [{ AddressSpace: 'null', Pool: '0.0.0.0/0' }];
    await assert.rejects(
      driver.createNetwork(createReq(dhcp)),
      /invalid value "true" for option ovs\.bridge\.dhcp: needs --ipam-driver null.*10\.9\.0\.0\/24/,
    );
    await assert.rejects(
      driver.createNetwork({ ...createReq(dhcp), IPv4Data: nullIpam, Options: { 'com.docker.network.generic': dhcp } }),
      /option ovs\.bridge\.dhcp: needs --internal/,
    );
    await assert.rejects(
      driver.createNetwork({ ...createReq(dhcp), IPv4Data: nullIpam, IPv6Data: [{ Pool: 'fd00::/64' }] }),
      /option ovs\.bridge\.dhcp: the DHCP client leases IPv4 only/,
    );
    await assert.rejects(
      driver.createNetwork({ ...createReq({ ...dhcp, 'ovs.bridge.mode': 'nat' }), IPv4Data: nullIpam }),
      /ovs\.bridge\.dhcp/,
    );
    assert.equal((await vs.listBridges()).length, 0);
    assert.equal(state.allNetworks().length, 0);
    await driver.createNetwork({ ...createReq(dhcp), IPv4Data: nullIpam });
    assert.equal(state.network(NET)?.options.dhcp, true);
  });

  it('stops a DHCP client, releasing its lease, when the container leaves, and at DeleteEndpoint in case Leave never came', async () => {
    const calls: string[] = [];
    const dhcpDriver = driverWith({
      dhcp: {
        wants: (ep) => state.network(ep.networkId)?.options.dhcp === true,
        stop: async (ep, why, release) => {
          calls.push(`${ep.id.slice(0, 4)} ${why} release=${release}`);
        },
      },
    });
    await dhcpDriver.createNetwork({
      ...createReq({ 'ovs.bridge.dpid': '1', 'ovs.bridge.dhcp': 'true', 'ovs.bridge.mode': 'flat' }),
      IPv4Data: [{ Pool: '0.0.0.0/0' }],
    });
    await dhcpDriver.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: {}, Options: {} });
    await dhcpDriver.join({ NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/abc', Options: {} });
    await dhcpDriver.leave({ NetworkID: NET, EndpointID: EP });
    assert.deepEqual(calls, ['e1e2 container left the network release=true']);
    await dhcpDriver.deleteEndpoint({ NetworkID: NET, EndpointID: EP });
    assert.deepEqual(calls, ['e1e2 container left the network release=true', 'e1e2 endpoint deleted release=true']);
  });
});

describe('driver: nat and routed networks', () => {
  const NAT = 'b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
  const EP1 = 'f1e2e3e4e5e6e7e8e9e0f1f2f3f4f5f6f7f8f9f0a1a2a3a4a5a6a7a8a9a0b1b2';

  function setup(): { driver: Driver; host: FakeHostNet; state: StateStore; vs: FakeVSwitch } {
    const vs = new FakeVSwitch();
    const host = new FakeHostNet();
    const state = new StateStore();
    const driver = new Driver({
      vswitch: vs,
      host,
      state,
      faucet: new FakeFaucetView(),
      nat: createNatView(state, host, silentLogger()),
      settings: {
        defaultControllers: ['tcp:127.0.0.1:6653'],
        localFaucetControllers: ['tcp:127.0.0.1:6653'],
        hostDatapath: 'netdev',
        ofportTimeoutMs: 1000,
      },
      logger: silentLogger(),
    });
    return { driver, host, state, vs };
  }

  it('puts the gateway on the bridge, lets the network through DOCKER-USER, and masquerades it', async () => {
    const { driver, host } = setup();
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '9', 'ovs.bridge.mode': 'nat' }, NAT));
    assert.equal(host.gateways.get('ovsbr-b1b2c'), '10.9.0.1/24');
    assert.equal(host.forwarding.get(NAT), 'nat');
    assert.equal(host.ipForward, true);
    assert.match(host.nftScripts.at(-1) ?? '', /ip saddr 10\.9\.0\.0\/24 oifname != "ovsbr-b1b2c" masquerade/);
  });

  it('refuses a nat network without a subnet', async () => {
    const { driver, vs } = setup();
    const req = {
      ...createReq({ 'ovs.bridge.dpid': '9', 'ovs.bridge.mode': 'routed' }, NAT),
      IPv4Data: [{ AddressSpace: 'null', Pool: '0.0.0.0/0' }],
    };
    await assert.rejects(driver.createNetwork(req), /needs an IPv4 subnet with a gateway/);
    assert.equal((await vs.listBridges()).length, 0);
  });

  it('answers Join with the gateway, publishes the mapping, and withdraws it on Leave', async () => {
    const { driver, host } = setup();
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '9', 'ovs.bridge.mode': 'nat' }, NAT));
    await driver.createEndpoint({
      NetworkID: NAT,
      EndpointID: EP1,
      Interface: { Address: '10.9.0.5/24' },
      Options: {},
    });
    const portmap = [
      { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
      { Proto: 17, IP: '', Port: 53, HostIP: '', HostPort: 0, HostPortEnd: 0 },
    ];
    const j = await driver.join({
      NetworkID: NAT,
      EndpointID: EP1,
      SandboxKey: '/x',
      Options: { 'com.docker.network.portmap': portmap },
    });
    assert.equal(j.Gateway, '10.9.0.1');
    assert.notEqual(j.DisableGatewayService, true);
    const script = host.nftScripts.at(-1) ?? '';
    assert.match(script, /tcp dport 8080 dnat to 10\.9\.0\.5:80/);
    assert.match(script, /udp dport 49153 dnat to 10\.9\.0\.5:53/, 'a free host port for -p 53/udp');
    await driver.leave({ NetworkID: NAT, EndpointID: EP1 });
    assert.doesNotMatch(host.nftScripts.at(-1) ?? '', /dport 8080/);
  });

  it('removes the forwarding rules and the NAT table with the last network', async () => {
    const { driver, host } = setup();
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '9', 'ovs.bridge.mode': 'nat' }, NAT));
    await driver.deleteNetwork({ NetworkID: NAT });
    assert.equal(host.forwarding.size, 0);
    assert.equal(host.nftScripts.at(-1), 'table ip dovesnap\ndelete table ip dovesnap\n');
  });
});

/** A driver over fakes and the given FAUCET view; `defaultControllers` [] makes standalone networks. */
function driverOver(
  faucet: FakeFaucetView,
  defaultControllers: string[],
): { driver: Driver; vs: FakeVSwitch; state: StateStore } {
  const vs = new FakeVSwitch();
  const host = new FakeHostNet();
  const state = new StateStore();
  const driver = new Driver({
    vswitch: vs,
    host,
    state,
    faucet,
    nat: createNatView(state, host, silentLogger()),
    logger: silentLogger(),
    settings: {
      defaultControllers,
      localFaucetControllers: ['tcp:127.0.0.1:6653'],
      hostDatapath: 'netdev',
      ofportTimeoutMs: 1000,
    },
  });
  return { driver, vs, state };
}

describe('driver: one ACL, one direction', () => {
  it('refuses vlan_out_acl naming an input ACL, and default_acl naming an output ACL', async () => {
    const faucet = new FakeFaucetView();
    faucet.acls.add('both');
    faucet.usage.input.add('both');
    const { driver, vs } = driverOver(faucet, []);
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '3', 'ovs.bridge.vlan_out_acl': 'both' })),
      /already used as an input ACL/,
    );
    faucet.usage.input.clear();
    faucet.usage.output.add('both');
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '3', 'ovs.bridge.default_acl': 'both' })),
      /already used as an output ACL/,
    );
    assert.equal((await vs.listBridges()).length, 0);
  });
});

describe("driver: a VLAN with an output ACL is one network's alone", () => {
  it('refuses vlan_out_acl on a VLAN another network or the operator uses, and a network on a VLAN that carries one; nothing is made', async () => {
    const faucet = new FakeFaucetView();
    faucet.acls.add('out');
    faucet.operatorVids.add(300);
    const { driver, vs, state } = driverOver(faucet, ['tcp:127.0.0.1:6653']);
    const id = (c: string): string => c.repeat(64);
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '1' }, id('a')));
    state.putNetwork({ ...(state.network(id('a')) ?? assert.fail('no network')), name: 'plain' });
    // FAUCET's VLANs are global by VID: the ACL would filter network plain's traffic too.
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '2', 'ovs.bridge.vlan_out_acl': 'out' }, id('b'))),
      /invalid value "out" for option ovs\.bridge\.vlan_out_acl: VLAN 100 is also used by network plain/,
    );
    await assert.rejects(
      driver.createNetwork(
        createReq({ 'ovs.bridge.dpid': '2', 'ovs.bridge.vlan_out_acl': 'out', 'ovs.bridge.vlan': '300' }, id('b')),
      ),
      /VLAN 300 is also used by the operator's own FAUCET configuration/,
    );
    assert.equal((await vs.listBridges()).length, 1, 'nothing made for the refused ones');
    assert.equal(state.network(id('b')), undefined);

    await driver.createNetwork(
      createReq({ 'ovs.bridge.dpid': '2', 'ovs.bridge.vlan_out_acl': 'out', 'ovs.bridge.vlan': '200' }, id('b')),
    );
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '3', 'ovs.bridge.vlan': '200' }, id('c'))),
      /invalid value "200" for option ovs\.bridge\.vlan: VLAN 200 carries network b{12}'s output ACL out/,
    );
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '3', 'ovs.bridge.vlan': '201' }, id('c')));
    assert.equal((await vs.listBridges()).length, 3);
  });
});
