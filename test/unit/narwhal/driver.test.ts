import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { NarwhalDriver, joinResponse, networkRecordFor } from '../../../src/narwhal/driver.js';
import { NarwhalStore } from '../../../src/narwhal/store.js';
import type { CreateNetworkRequest } from '../../../src/model/plugin-protocol.js';
import { silentLogger } from '../../../src/util/log.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { FakeHost } from './fake-host.js';

const NET = '905de9a1e9ca6d0975c81bbf38ba60d13dc6d7c8769cb1de6273a51ec2e5d225';
const NET2 = 'aa5de9a1e9ca6d0975c81bbf38ba60d13dc6d7c8769cb1de6273a51ec2e5d225';
const EP = 'f481f81674fc0ade38e3de3571b44ecdc7f0a2b082ff1146644da69b696435ed';
const EP2 = '7d39ef7dae4dd25c4dbd7ca7ead80d77b41f616983640b1dd6da0e27f53d6843';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'narwhal-unit-'));
  dirs.push(d);
  return d;
}

function createReq(opts: Record<string, string> = {}, extra: Partial<CreateNetworkRequest> = {}): CreateNetworkRequest {
  return {
    NetworkID: NET,
    Options: { 'com.docker.network.generic': opts },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.97.0.0/24', Gateway: '10.97.0.1/24' }],
    IPv6Data: [],
    ...extra,
  };
}

const silent = silentLogger();

function driver(
  host = new FakeHost(),
  dir = tempDir(),
): { d: NarwhalDriver; host: FakeHost; store: NarwhalStore; dir: string } {
  const store = new NarwhalStore(dir);
  let n = 0;
  const d = new NarwhalDriver({
    host,
    store,
    logger: silent,
    random: (k) => Uint8Array.from({ length: k }, () => ++n),
    settleTimeoutMs: 50,
  });
  return { d, host, store, dir };
}

describe('narwhal driver: creating a network refuses what it cannot do, naming the option', () => {
  const refused = (req: CreateNetworkRequest, re: RegExp): void => {
    assert.throws(
      () => networkRecordFor(req),
      (e: unknown) => isDovesnapError(e, ErrorCode.BadOption) && re.test(e.message),
      String(re),
    );
  };

  it('no addresses (--ipam-driver null), two subnets, --internal with forwarding or nat', () => {
    refused(createReq({}, { IPv4Data: [{ Pool: '0.0.0.0/0' }] }), /needs IPv4 addresses from Docker's IPAM/);
    refused(
      createReq({}, { IPv4Data: [{ Pool: '10.1.0.0/24' }, { Pool: '10.2.0.0/24' }] }),
      /takes one IPv4 subnet \(got 10\.1\.0\.0\/24, 10\.2\.0\.0\/24\)/,
    );
    refused(
      createReq(
        { 'narwhal.nat': 'true' },
        { Options: { 'com.docker.network.generic': { 'narwhal.nat': 'true' }, 'com.docker.network.internal': true } },
      ),
      /invalid value "true" for option narwhal\.nat: an --internal network/,
    );
  });

  it('a host address inside the subnet, a small MTU with IPv6, an unknown option', () => {
    refused(
      createReq({ 'narwhal.host_ipv4': '10.97.0.1' }),
      /invalid value "10\.97\.0\.1" for option narwhal\.host_ipv4: the host address must lie outside the network's subnet 10\.97\.0\.0\/24/,
    );
    refused(
      createReq({ 'narwhal.host_ipv6': 'fd97::1' }, { IPv6Data: [{ Pool: 'fd97::/64' }] }),
      /option narwhal\.host_ipv6: the host address must lie outside/,
    );
    refused(
      createReq({ 'narwhal.mtu': '1000' }, { IPv6Data: [{ Pool: 'fd97::/64' }] }),
      /invalid value "1000" for option narwhal\.mtu: IPv6 \(--ipv6\) needs an MTU of at least 1280/,
    );
    refused(createReq({ 'narwhal.bogus': '1' }), /unknown option narwhal\.bogus/);
  });

  it('a good request becomes a record with the subnets', () => {
    const r = networkRecordFor(createReq({ 'narwhal.forwarding': 'true' }, { IPv6Data: [{ Pool: 'fd97::/64' }] }));
    assert.equal(r.ipv4Subnet, '10.97.0.0/24');
    assert.equal(r.ipv6Subnet, 'fd97::/64');
    assert.equal(r.options.forwarding, true);
    assert.deepEqual(r.rawOptions, { 'narwhal.forwarding': 'true' });
  });
});

describe('narwhal driver: lifecycle against a fake host', () => {
  it('a network gets its forwarding chain and DOCKER-USER rules, and its record on disk; a refused one leaves nothing', async () => {
    const { d, host, dir } = driver();
    await d.createNetwork(createReq({ 'narwhal.nat': 'true' }));
    assert.deepEqual([...host.chains.keys()].sort(), ['nat_905de9a1e9ca', 'net_905de9a1e9ca']);
    assert.equal(host.rules.length, 3);
    assert.deepEqual(readdirSync(path.join(dir, 'networks')), [`${NET}.json`]);
    await assert.rejects(d.createNetwork({ ...createReq({ 'narwhal.mtu': 'x' }), NetworkID: NET2 }), /narwhal\.mtu/);
    assert.equal(host.chains.size, 2, 'nothing of the refused network');
  });

  it("an endpoint: one veth with the container's MAC at both ends, ARP off on the container end before Docker moves it, host end configured", async () => {
    const { d, host, store } = driver();
    await d.createNetwork(createReq({ 'narwhal.paranoid': 'true' }));
    const res = await d.createEndpoint({
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '10.97.0.2/24' },
      Options: {},
    });
    const mac = res.Interface?.MacAddress ?? '';
    assert.match(mac, /^0e:/);
    assert.ok(
      host.calls.includes(
        `ip link add nw905de9f481f81 address ${mac} type veth peer name nx905de9f481f81 address ${mac}`,
      ),
      host.calls.join('\n'),
    );
    assert.ok(host.calls.includes('ip link set dev nx905de9f481f81 arp off'));
    assert.ok(host.calls.includes('ip -4 addr replace 169.254.0.1 peer 10.97.0.2/32 dev nw905de9f481f81'));
    assert.ok(host.chains.has('in_nw905de9f481f81'), 'the paranoid filter');
    const filterAt = host.calls.findIndex((c) => c.includes('in_nw905de9f481f81'));
    const upAt = host.calls.indexOf('ip link set dev nw905de9f481f81 up');
    assert.ok(filterAt >= 0 && filterAt < upAt, 'the filter is in place before the host end is up');
    assert.equal(store.endpoint(EP)?.ipv4?.prefixLength, 24);

    const join = await d.join({ NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/x', Options: {} });
    assert.deepEqual(join, {
      InterfaceName: { SrcName: 'nx905de9f481f81', DstPrefix: 'eth' },
      Gateway: '169.254.0.1',
      StaticRoutes: [{ Destination: '169.254.0.1/32', RouteType: 1 }],
    });
    await assert.rejects(
      d.join({
        NetworkID: NET,
        EndpointID: EP,
        SandboxKey: '/x',
        Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 80, HostPort: 8080 }] },
      }),
      /publishes no ports/,
    );
    await d.leave({ NetworkID: NET, EndpointID: EP });
    await d.deleteEndpoint({ NetworkID: NET, EndpointID: EP });
    assert.equal(host.links.size, 0);
    assert.ok(!host.chains.has('in_nw905de9f481f81'));
    assert.equal(store.endpoint(EP), undefined);
    d.close();
  });

  it('a failed endpoint creation rolls back: no link, no filter, no record', async () => {
    const { d, host, store } = driver();
    await d.createNetwork(createReq({ 'narwhal.paranoid': 'true' }));
    host.failOn = 'neigh replace';
    await assert.rejects(
      d.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.97.0.2/24' }, Options: {} }),
      /failed/,
    );
    assert.equal(host.links.size, 0);
    assert.ok(!host.chains.has('in_nw905de9f481f81'));
    assert.equal(store.endpoint(EP), undefined);
  });

  it('deleting the network removes its endpoints, chains and rules', async () => {
    const { d, host } = driver();
    await d.createNetwork(createReq({ 'narwhal.forwarding': 'true', 'narwhal.nat': 'true' }));
    await d.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.97.0.2/24' }, Options: {} });
    await d.deleteNetwork({ NetworkID: NET });
    assert.equal(host.links.size, 0);
    assert.equal(host.chains.size, 0);
    assert.equal(host.rules.length, 0);
  });

  it('IPv6: the gateway is the host IPv6 address', async () => {
    const { d } = driver();
    await d.createNetwork(createReq({}, { IPv6Data: [{ Pool: 'fd97::/64' }] }));
    const n = networkRecordFor(createReq({}, { IPv6Data: [{ Pool: 'fd97::/64' }] }));
    const j = joinResponse(n, {
      id: EP,
      networkId: NET,
      hostIf: 'h',
      containerIf: 'c',
      hostMac: 'm',
      containerMac: 'm',
      ipv4: { address: '10.97.0.2', prefixLength: 24 },
      ipv6: { address: 'fd97::2', prefixLength: 64 },
      sandboxKey: undefined,
    });
    assert.equal(j.GatewayIPv6, 'fe80::1');
    assert.equal(j.Gateway, '169.254.0.1');
  });
});

describe('narwhal driver: restart and leftovers', () => {
  it('restores networks and live endpoints from disk, drops endpoints whose link is gone', async () => {
    const host = new FakeHost();
    const first = driver(host);
    await first.d.createNetwork(createReq());
    await first.d.createEndpoint({
      NetworkID: NET,
      EndpointID: EP,
      Interface: { Address: '10.97.0.2/24' },
      Options: {},
    });
    await first.d.createEndpoint({
      NetworkID: NET,
      EndpointID: EP2,
      Interface: { Address: '10.97.0.3/24' },
      Options: {},
    });
    host.links.delete('nw905de97d39ef7'); // that container died while the daemon was down
    host.chains.clear(); // a reboot-like loss of the rules
    const second = driver(host, first.dir);
    await second.d.restore();
    assert.ok(second.store.network(NET));
    assert.ok(second.store.endpoint(EP));
    assert.equal(second.store.endpoint(EP2), undefined);
    assert.ok(host.chains.has('net_905de9a1e9ca'), 'the network chain is back');
  });

  it('a record that cannot be read is reported, not fatal', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'networks'), { recursive: true });
    writeFileSync(path.join(dir, 'networks', `${NET}.json`), '{not json');
    const loaded = await new NarwhalStore(dir).load();
    assert.equal(loaded.networks.length, 0);
    assert.equal(loaded.problems.length, 1);
  });

  it('collects driver links of unknown endpoints, rules of unknown networks and filters of vanished links; keeps what is known', async () => {
    const { d, host } = driver();
    await d.createNetwork(createReq());
    await d.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.97.0.2/24' }, Options: {} });
    host.links.add('nw905de9deadbee'); // a daemon killed between `ip link add` and the record
    host.links.add('eth0');
    host.chains.set('in_nw_dgone', 'netdev'); // a command link whose container died
    host.chains.set('net_aaaaaaaaaaaa', 'inet');
    host.rules.push(
      { tool: 'iptables', comment: 'narwhal net aaaaaaaaaaaa', spec: ['-j', 'ACCEPT'] },
      { tool: 'iptables', comment: 'narwhal link nw-gone', spec: ['-o', 'nw-gone'] },
    );
    const found = await d.collectGarbage();
    assert.deepEqual(found.links, ['nw905de9deadbee']);
    assert.deepEqual(found.chains.sort(), ['inet net_aaaaaaaaaaaa', 'netdev in_nw_dgone']);
    assert.deepEqual(found.rules.sort(), ['iptables: narwhal link nw-gone', 'iptables: narwhal net aaaaaaaaaaaa']);
    assert.ok(host.links.has('nw905de9f481f81') && host.links.has('eth0'));
    assert.ok(host.chains.has('net_905de9a1e9ca'));
    assert.equal(host.rules.length, 1);
  });
});
