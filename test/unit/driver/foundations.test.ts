/**
 * Regression tests for defects found in review of the core driver (issue 6): each failed on
 * the code before its fix.
 */
import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Driver } from '../../../src/driver/driver.js';
import type { FaucetView } from '../../../src/driver/faucet-api.js';
import { StateStore } from '../../../src/driver/state.js';
import { ExtId } from '../../../src/driver/persist.js';
import { createNatView, type NatView } from '../../../src/driver/nat-view.js';
import { PortProxies } from '../../../src/net/port-proxy.js';
import { silentLogger } from '../../../src/util/log.js';
import { DovesnapError, ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { vethNamesFor } from '../../../src/net/links.js';
import type { CreateNetworkRequest, JoinRequest } from '../../../src/model/plugin-protocol.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { FakeHostNet } from '../../fakes/fake-host.js';

class StubFaucetView implements FaucetView {
  syncs: string[] = [];
  async foreignDps(): Promise<Map<string, bigint>> {
    return new Map();
  }
  async dpNameConflict(): Promise<string | undefined> {
    return undefined;
  }
  async definedAcls(): Promise<Set<string>> {
    return new Set(['allowall']);
  }
  async aclUsage(): Promise<{ input: Set<string>; output: Set<string> }> {
    return { input: new Set(), output: new Set() };
  }
  async sync(reason: string): Promise<void> {
    this.syncs.push(reason);
  }
}

/** A NAT view whose next syncs fail, as `nft` would on a host without nf_tables. */
class FailingNat implements NatView {
  failing = 0;
  constructor(private readonly inner: NatView) {}
  async sync(reason: string): Promise<void> {
    if (this.failing > 0) {
      this.failing--;
      throw new DovesnapError(ErrorCode.HostCommand, 'nft -f failed: injected');
    }
    return this.inner.sync(reason);
  }
  unserved(endpointId: string): string[] {
    return this.inner.unserved(endpointId);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const NET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const NET2 = 'b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const EP1 = 'e1'.repeat(32);
const EP2 = 'e2'.repeat(32);
const EP3 = 'e3'.repeat(32);

function createReq(generic: Record<string, string>, id = NET, subnet = '10.9.0'): CreateNetworkRequest {
  return {
    NetworkID: id,
    Options: { 'com.docker.network.generic': generic, 'com.docker.network.internal': false },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: `${subnet}.0/24`, Gateway: `${subnet}.1/24` }],
    IPv6Data: [],
  };
}

function portmap(
  ...maps: { port: number; host: number; end?: number; proto?: number; ip?: string }[]
): JoinRequest['Options'] {
  return {
    'com.docker.network.portmap': maps.map((m) => ({
      Proto: m.proto ?? 6,
      IP: '',
      Port: m.port,
      HostIP: m.ip ?? '',
      HostPort: m.host,
      HostPortEnd: m.end ?? m.host,
    })),
  };
}

describe('driver: foundations', () => {
  let vs: FakeVSwitch;
  let host: FakeHostNet;
  let state: StateStore;
  let nat: FailingNat;
  let faucet: StubFaucetView;
  let driver: Driver;

  const make = (
    opts: {
      assignOfports?: boolean;
      defaultControllers?: string[];
      unavailableAfterMs?: number;
      proxies?: PortProxies;
    } = {},
  ): void => {
    vs = new FakeVSwitch({ assignOfports: opts.assignOfports ?? true, unavailableAfterMs: opts.unavailableAfterMs });
    host = new FakeHostNet();
    state = new StateStore();
    faucet = new StubFaucetView();
    nat = new FailingNat(createNatView(state, host, silentLogger(), opts.proxies));
    driver = new Driver({
      vswitch: vs,
      host,
      state,
      faucet,
      nat,
      settings: {
        defaultControllers: opts.defaultControllers ?? ['tcp:127.0.0.1:6653'],
        localFaucetControllers: ['tcp:127.0.0.1:6653'],
        hostDatapath: 'netdev',
        ofportTimeoutMs: 300,
      },
      logger: silentLogger(),
    });
  };
  beforeEach(() => make());

  async function endpoint(id: string, network = NET): Promise<void> {
    await driver.createEndpoint({
      NetworkID: network,
      EndpointID: id,
      Interface: { Address: '10.9.0.5/24', AddressIPv6: '', MacAddress: '' },
      Options: {},
    });
  }

  it('a NAT failure during network create leaves no bridge, state, forwarding rule or DPID claim (defect 5)', async () => {
    nat.failing = 1;
    await assert.rejects(
      driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.mode': 'nat' })),
      /nft -f failed/,
    );
    assert.equal(await vs.getBridge('ovsbr-a1b2c'), undefined, 'no bridge');
    assert.equal(state.network(NET), undefined, 'no state');
    assert.equal(host.forwarding.size, 0, 'no DOCKER-USER rules');
    // The DPID is free again: the same create succeeds now.
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.mode': 'nat' }));
    assert.ok(state.network(NET));
  });

  it('network create waits until every add_ports interface has its OpenFlow number (defect 16)', async () => {
    make({ assignOfports: false });
    host.hostInterfaces.add('veth-up1');
    let done = false;
    const creating = driver
      .createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.add_ports': 'veth-up1/7' }))
      .then(() => {
        done = true;
      });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, 'not done before ovs-vswitchd numbered the port');
    vs.simulateVswitchd('veth-up1', 7);
    await creating;
    assert.equal(done, true);
  });

  it('an added port that ovs-vswitchd cannot number fails the create and leaves nothing (defect 16)', async () => {
    make({ assignOfports: false });
    host.hostInterfaces.add('veth-up1');
    const creating = driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.add_ports': 'veth-up1' }));
    await new Promise((r) => setTimeout(r, 20));
    vs.simulateVswitchd('veth-up1', -1, 'could not open network device veth-up1');
    await assert.rejects(creating, /veth-up1/);
    assert.equal(await vs.getBridge('ovsbr-a1b2c'), undefined);
    assert.equal(state.network(NET), undefined);
  });

  it('Leave and RevokeExternalConnectivity persist what they change (defect 10)', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.mode': 'nat' }));
    await endpoint(EP1);
    const hostIf = vethNamesFor(EP1).host;
    await driver.join({
      NetworkID: NET,
      EndpointID: EP1,
      SandboxKey: '/var/run/docker/netns/1',
      Options: portmap({ port: 80, host: 18080 }),
    });
    assert.equal(vs.inspectPort(hostIf)?.externalIds[ExtId.sandbox], '/var/run/docker/netns/1');
    assert.notEqual(vs.inspectPort(hostIf)?.externalIds[ExtId.portmap] ?? '', '');
    await driver.revokeExternalConnectivity({ NetworkID: NET, EndpointID: EP1 });
    assert.equal(vs.inspectPort(hostIf)?.externalIds[ExtId.portmap], undefined, 'revoked mappings are gone from OVSDB');
    await driver.leave({ NetworkID: NET, EndpointID: EP1 });
    assert.equal(vs.inspectPort(hostIf)?.externalIds[ExtId.sandbox], undefined, 'the sandbox is gone from OVSDB');
  });

  describe('port mappings (defect 6)', () => {
    beforeEach(async () => {
      await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.mode': 'nat' }));
      await endpoint(EP1);
      await endpoint(EP2);
    });

    it('refuses a host port another container already publishes, naming it', async () => {
      await driver.join({
        NetworkID: NET,
        EndpointID: EP1,
        SandboxKey: '/n/1',
        Options: portmap({ port: 80, host: 18080 }),
      });
      await assert.rejects(
        driver.join({
          NetworkID: NET,
          EndpointID: EP2,
          SandboxKey: '/n/2',
          Options: portmap({ port: 81, host: 18080 }),
        }),
        (err: unknown) => {
          assert.ok(isDovesnapError(err, ErrorCode.Conflict));
          assert.match(err.message, /18080/);
          assert.match(err.message, /already published/);
          return true;
        },
      );
      // The same port on another protocol, or on another specific address, is fine.
      await driver.join({
        NetworkID: NET,
        EndpointID: EP2,
        SandboxKey: '/n/2',
        Options: portmap({ port: 81, host: 18080, proto: 17 }),
      });
    });

    it('takes the first free port of a host port range', async () => {
      await driver.join({
        NetworkID: NET,
        EndpointID: EP1,
        SandboxKey: '/n/1',
        Options: portmap({ port: 80, host: 18080, end: 18082 }),
      });
      await driver.join({
        NetworkID: NET,
        EndpointID: EP2,
        SandboxKey: '/n/2',
        Options: portmap({ port: 80, host: 18080, end: 18082 }),
      });
      assert.equal(state.endpoint(EP1)?.published[0]?.hostPort, 18080);
      assert.equal(state.endpoint(EP2)?.published[0]?.hostPort, 18081);
      await endpoint(EP3);
      host.listening.push({ protocol: 'tcp', address: '0.0.0.0', port: 18082 });
      await assert.rejects(
        driver.join({
          NetworkID: NET,
          EndpointID: EP3,
          SandboxKey: '/n/3',
          Options: portmap({ port: 80, host: 18080, end: 18082 }),
        }),
        /18080-18082/,
      );
    });

    it('refuses a port the host itself listens on (sshd on 22)', async () => {
      host.listening.push({ protocol: 'tcp', address: '0.0.0.0', port: 22 });
      await assert.rejects(
        driver.join({ NetworkID: NET, EndpointID: EP1, SandboxKey: '/n/1', Options: portmap({ port: 22, host: 22 }) }),
        /host already listens on 0\.0\.0\.0:22/,
      );
      assert.deepEqual(state.endpoint(EP1)?.published, []);
    });

    it('a Join whose mappings cannot be put in place withdraws them: the host port is free again, and later syncs leave them out', async () => {
      nat.failing = 1;
      await assert.rejects(
        driver.join({
          NetworkID: NET,
          EndpointID: EP1,
          SandboxKey: '/n/1',
          Options: portmap({ port: 80, host: 18080 }),
        }),
        /nft -f failed/,
      );
      assert.deepEqual(state.endpoint(EP1)?.published, []);
      assert.doesNotMatch(host.nftScripts.at(-1) ?? '', /dport 18080/);
      await driver.join({
        NetworkID: NET,
        EndpointID: EP2,
        SandboxKey: '/n/2',
        Options: portmap({ port: 81, host: 18080 }),
      });
      assert.match(host.nftScripts.at(-1) ?? '', /tcp dport 18080 dnat to 10\.9\.0\.5:81/);
    });

    it('fails a Join whose mapping only a port proxy can serve when the proxy cannot listen, naming the address', async () => {
      make({ proxies: new PortProxies(silentLogger()) });
      await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.mode': 'nat' }));
      await endpoint(EP1);
      try {
        await assert.rejects(
          driver.join({
            NetworkID: NET,
            EndpointID: EP1,
            SandboxKey: '/n/1',
            Options: portmap({ port: 81, host: 18081, ip: '2001:db8::99' }),
          }),
          (err: unknown) => {
            assert.ok(isDovesnapError(err, ErrorCode.HostCommand));
            assert.match(err.message, /cannot publish 81\/tcp on \[2001:db8::99\]:18081: .*EADDRNOTAVAIL/);
            return true;
          },
        );
        assert.deepEqual(state.endpoint(EP1)?.published, []);
        assert.deepEqual(nat.unserved(EP1), []);
      } finally {
        await nat.close();
      }
    });

    it("gives each -p CONTAINERPORT its own ephemeral port, skipping the host's", async () => {
      host.listening.push({ protocol: 'tcp', address: '::', port: 49153 });
      await driver.join({
        NetworkID: NET,
        EndpointID: EP1,
        SandboxKey: '/n/1',
        Options: portmap({ port: 80, host: 0, end: 0 }, { port: 81, host: 0, end: 0 }),
      });
      assert.deepEqual(
        state.endpoint(EP1)?.published.map((p) => p.hostPort),
        [49154, 49155],
      );
    });
  });

  it('a standalone network writes nothing to FAUCET and raises the port at Join (defect 7)', async () => {
    make({ defaultControllers: [] });
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1' }));
    assert.equal(state.network(NET)?.localFaucet, false);
    await endpoint(EP1);
    await driver.join({ NetworkID: NET, EndpointID: EP1, SandboxKey: '/n/1', Options: {} });
    assert.equal(host.links.get(vethNamesFor(EP1).host)?.up, true);
    await driver.deleteEndpoint({ NetworkID: NET, EndpointID: EP1 });
    await driver.deleteNetwork({ NetworkID: NET });
    assert.deepEqual(faucet.syncs, []);
  });

  it("a network of a remote controller is not the local FAUCET's (defect 7)", async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.controller': 'tcp:192.0.2.10:6653' }));
    assert.equal(state.network(NET)?.localFaucet, false);
    await driver.createNetwork(
      createReq({ 'ovs.bridge.dpid': '0x2', 'ovs.bridge.controller': 'tcp:127.0.0.1:6653,tcp:127.0.0.1:6654' }, NET2),
    );
    assert.equal(state.network(NET2)?.localFaucet, true);
  });

  it('collects veth pairs and DOCKER-USER rules that belong to nothing known, and only those (defect 17, defect 3)', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.mode': 'nat' }));
    await endpoint(EP1);
    // What a daemon killed right after `ip link add` leaves behind, and a deleted network's rules.
    await host.createVeth({
      names: vethNamesFor(EP2),
      containerMac: '0e:00:00:00:00:02',
      mtu: undefined,
      disableContainerTxOffload: false,
    });
    host.forwarding.set(NET2, 'nat');
    const collected = await driver.collectGarbage();
    assert.deepEqual(collected.links, [vethNamesFor(EP2).host]);
    assert.deepEqual(collected.forwardingTags, [NET2.slice(0, 12)]);
    assert.ok(host.links.has(vethNamesFor(EP1).host), 'the known endpoint keeps its veth');
    assert.ok(host.forwarding.has(NET), 'the known network keeps its rules');
  });

  it('the collector leaves alone a veth whose endpoint is being created right now', async () => {
    make({ assignOfports: false });
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1' }));
    const creating = endpoint(EP1);
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(host.links.has(vethNamesFor(EP1).host));
    const collected = await driver.collectGarbage();
    assert.deepEqual(collected.links, []);
    vs.simulateVswitchd(vethNamesFor(EP1).host, 1);
    await creating;
    assert.ok(state.endpoint(EP1));
  });

  it('DeleteEndpoint while OVSDB is away removes the veth and the endpoint; its port is collected once OVSDB answers', async () => {
    // Seen under load: Join and then DeleteEndpoint both failed while ovsdb-server restarted;
    // Docker does not retry a refused DeleteEndpoint, so the endpoint, its veth pair and its port stayed for good.
    make({ unavailableAfterMs: 20 });
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1' }));
    await endpoint(EP1);
    await endpoint(EP2);
    const port = vethNamesFor(EP1).host;
    vs.simulateDisconnect();
    await driver.deleteEndpoint({ NetworkID: NET, EndpointID: EP1 });
    assert.equal(state.endpoint(EP1), undefined, 'the endpoint is gone from the model');
    assert.equal(host.links.has(port), false, 'its veth pair is gone');
    vs.simulateReconnect();
    assert.ok(
      (await vs.getBridge('ovsbr-a1b2c'))?.ports.some((p) => p.name === port),
      'the port waited for OVSDB',
    );
    const collected = await driver.collectGarbage();
    assert.deepEqual(collected.ports, [port]);
    const left = (await vs.getBridge('ovsbr-a1b2c'))?.ports.map((p) => p.name);
    assert.deepEqual(left, [vethNamesFor(EP2).host], 'the known endpoint keeps its port');
  });

  it('removing a network Docker forgot revokes its forwarding rules through the one teardown (defect 3)', async () => {
    await driver.createNetwork(createReq({ 'ovs.bridge.dpid': '0x1', 'ovs.bridge.mode': 'routed' }));
    assert.ok(host.forwarding.has(NET));
    await driver.removeNetwork(NET, 'gone from Docker');
    assert.equal(host.forwarding.has(NET), false);
    assert.equal(await vs.getBridge('ovsbr-a1b2c'), undefined);
  });
});
