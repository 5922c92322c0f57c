import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StateStore } from '../../../src/driver/state.js';
import { restoreFromBridge } from '../../../src/driver/persist.js';
import { networksStatus } from '../../../src/status/server.js';
import { formatStatus } from '../../../src/cli/status-cmd.js';
import { DovesnapError, ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { FakeFaucetView } from '../../fakes/fake-faucet-view.js';
import { FakeHostNet } from '../../fakes/fake-host.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { createNetworkRequest, TEST_NETWORK_ID } from '../../fakes/driver-requests.js';
import { testDriver } from '../../fakes/test-driver.js';
import type { Driver } from '../../../src/driver/driver.js';

/**
 * `ovs.bridge.host_routes` in the driver, over fakes: the routes come with the gateway, come
 * back at a start, go with the network, and a create that cannot have them makes nothing.
 * The network is createNetworkRequest's 10.9.0.0/24, gateway 10.9.0.1, on bridge ovsbr-a1b2c.
 */

const NET = TEST_NETWORK_ID;
const OTHER = NET.replace(/^a1/, 'b1');
const BRIDGE = 'ovsbr-a1b2c';
const ROUTES = '192.168.102.0/24@10.9.0.2,192.168.103.0/24@10.9.0.2';

function setup(): { driver: Driver; host: FakeHostNet; vs: FakeVSwitch; state: StateStore } {
  const vs = new FakeVSwitch();
  const host = new FakeHostNet();
  const state = new StateStore();
  return { driver: testDriver({ vswitch: vs, host, state, faucet: new FakeFaucetView() }), host, vs, state };
}

const natReq = (routes: string, mode = 'nat', id = NET): ReturnType<typeof createNetworkRequest> =>
  createNetworkRequest(
    { 'ovs.bridge.dpid': id === NET ? '9' : '10', 'ovs.bridge.mode': mode, 'ovs.bridge.host_routes': routes },
    id,
  );

describe('driver: ovs.bridge.host_routes', () => {
  it('routes each prefix via its next hop on the bridge once the gateway is there, and masquerades it (nat)', async () => {
    const { driver, host } = setup();
    await driver.createNetwork(natReq(ROUTES));
    assert.equal(host.gateways.get(BRIDGE), '10.9.0.1/24');
    assert.deepEqual(
      [...host.routes],
      [
        [`192.168.102.0/24 dev ${BRIDGE}`, '10.9.0.2'],
        [`192.168.103.0/24 dev ${BRIDGE}`, '10.9.0.2'],
      ],
    );
    const script = host.nftScripts.at(-1) ?? '';
    assert.match(script, new RegExp(`ip saddr 192\\.168\\.102\\.0/24 oifname != "${BRIDGE}" masquerade`));
    assert.match(script, new RegExp(`ip saddr 192\\.168\\.103\\.0/24 oifname != "${BRIDGE}" masquerade`));
  });

  it("routes a routed network's prefixes without NAT", async () => {
    const { driver, host } = setup();
    await driver.createNetwork(natReq('192.168.102.0/24@10.9.0.2', 'routed'));
    assert.equal(host.routes.get(`192.168.102.0/24 dev ${BRIDGE}`), '10.9.0.2');
    assert.doesNotMatch(
      host.nftScripts.at(-1) ?? '',
      /masquerade comment[^\n]*\n[^\n]*192\.168\.102\.0\/24 oifname !=/,
    );
    assert.doesNotMatch(host.nftScripts.at(-1) ?? '', /ip saddr 192\.168\.102\.0\/24 oifname != /);
  });

  it('removes the routes and their NAT rules with the network, even when a route will not go', async () => {
    const { driver, host } = setup();
    await driver.createNetwork(natReq(ROUTES));
    const realDelete = host.deleteRoute.bind(host);
    let calls = 0;
    host.deleteRoute = async (prefix, via, dev): Promise<void> => {
      calls++;
      if (prefix === '192.168.103.0/24') throw new DovesnapError(ErrorCode.HostCommand, 'injected: route not removed');
      await realDelete(prefix, via, dev);
    };
    await driver.deleteNetwork({ NetworkID: NET });
    assert.equal(calls, 2);
    assert.deepEqual(
      [...host.routes.keys()],
      [`192.168.103.0/24 dev ${BRIDGE}`],
      'the one that failed is left to the kernel, which drops it with the bridge',
    );
    assert.equal(host.nftScripts.at(-1), 'table ip dovesnap\ndelete table ip dovesnap\n');
  });

  it('puts the routes back at a start, from what OVSDB kept', async () => {
    const { driver, vs } = setup();
    await driver.createNetwork(natReq(ROUTES));
    const bridge = await vs.getBridge(BRIDGE);
    assert.ok(bridge);
    const restored = restoreFromBridge(bridge);
    assert.ok(restored !== undefined && 'network' in restored);
    // A new daemon on a host that lost its routes (a reboot, or someone's `ip route flush`).
    const state = new StateStore();
    state.putNetwork(restored.network);
    const host = new FakeHostNet();
    const again = testDriver({ vswitch: vs, host, state, faucet: new FakeFaucetView() });
    await again.setUpGateway(restored.network);
    assert.deepEqual([...host.routes.values()], ['10.9.0.2', '10.9.0.2']);
    assert.ok(host.routes.has(`192.168.103.0/24 dev ${BRIDGE}`));
  });

  it('refuses a value that does not fit the network, naming option and value, and makes nothing', async () => {
    const { driver, host, vs, state } = setup();
    const cases: [string, string, RegExp][] = [
      [
        '192.168.102.0/24@10.8.0.2',
        'nat',
        /next hop 10\.8\.0\.2 of 192\.168\.102\.0\/24 is not in the network's subnet 10\.9\.0\.0\/24/,
      ],
      ['192.168.102.0/24@10.9.0.1', 'nat', /is the network's gateway/],
      ['192.168.102.0/24@10.9.0.255', 'routed', /broadcast address/],
      ['10.9.0.128/25@10.9.0.2', 'nat', /overlaps the network's own subnet/],
      ['192.168.102.0/24@10.9.0.2', 'flat', /ovs\.bridge\.mode=nat or routed/],
    ];
    for (const [value, mode, why] of cases) {
      await assert.rejects(driver.createNetwork(natReq(value, mode)), (e: unknown) => {
        assert.ok(isDovesnapError(e, ErrorCode.BadOption), String(e));
        assert.ok(e.message.includes(`invalid value "${value}" for option ovs.bridge.host_routes`), e.message);
        assert.match(e.message, why);
        return true;
      });
    }
    assert.equal((await vs.listBridges()).length, 0);
    assert.equal(state.allNetworks().length, 0);
    assert.equal(host.routes.size, 0);
    assert.equal(host.gateways.size, 0);
    assert.equal(host.forwarding.size, 0);
  });

  it('refuses a prefix the host or another network already routes', async () => {
    const { driver, host, vs } = setup();
    host.table.push({
      dst: '192.168.104.0/24',
      dev: 'eth0',
      gateway: '10.0.2.9',
      protocol: 'static',
      scope: undefined,
    });
    await assert.rejects(
      driver.createNetwork(natReq('192.168.104.0/24@10.9.0.2')),
      /the host already has a route to 192\.168\.104\.0\/24 \(via 10\.0\.2\.9 dev eth0\)/,
    );
    await driver.createNetwork(natReq('192.168.102.0/24@10.9.0.2'));
    const other = {
      ...natReq('192.168.102.0/24@10.20.0.2', 'nat', OTHER),
      IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.20.0.0/24', Gateway: '10.20.0.1/24' }],
    };
    await assert.rejects(driver.createNetwork(other), /already routes 192\.168\.102\.0\/24 \(via 10\.9\.0\.2\)/);
    assert.equal((await vs.listBridges()).length, 1);
  });

  it('refuses a nat or routed network whose subnet another network routes to a container, and makes nothing', async () => {
    const { driver, host, vs, state } = setup();
    await driver.createNetwork(natReq('10.20.0.0/24@10.9.0.2'));
    // The second network's subnet is (part of) the prefix the first one routes via 10.9.0.2.
    for (const [pool, mode] of [
      ['10.20.0.0/24', 'nat'],
      ['10.20.0.128/25', 'routed'],
    ] as const) {
      const req = {
        ...createNetworkRequest({ 'ovs.bridge.dpid': '10', 'ovs.bridge.mode': mode }, OTHER),
        IPv4Data: [
          {
            AddressSpace: 'LocalDefault',
            Pool: pool,
            Gateway: `${pool.split('/')[0]?.replace(/\.\d+$/, '.129')}/${pool.split('/')[1]}`,
          },
        ],
      };
      await assert.rejects(driver.createNetwork(req), (e: unknown) => {
        assert.ok(isDovesnapError(e, ErrorCode.Conflict), String(e));
        assert.match(
          e.message,
          new RegExp(
            `the subnet ${pool.replace(/\./g, '\\.')} overlaps 10\\.20\\.0\\.0/24, which dovesnap network ${NET.slice(0, 12)} routes to 10\\.9\\.0\\.2`,
          ),
        );
        return true;
      });
    }
    assert.equal((await vs.listBridges()).length, 1);
    assert.equal(state.allNetworks().length, 1);
    assert.equal(host.gateways.size, 1);
    // A flat network puts no address on the host: the same subnet is no conflict there.
    await driver.createNetwork({
      ...createNetworkRequest({ 'ovs.bridge.dpid': '10' }, OTHER),
      IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.20.0.0/24', Gateway: '10.20.0.1/24' }],
    });
  });

  it('rolls the whole create back when a route cannot be made', async () => {
    const { driver, host, vs, state } = setup();
    host.failRouteFor = '192.168.103.0/24';
    await assert.rejects(driver.createNetwork(natReq(ROUTES)), /injected route failure/);
    assert.equal((await vs.listBridges()).length, 0);
    assert.equal(state.allNetworks().length, 0);
    assert.equal(host.routes.size, 0, 'the first route went with the rollback');
    assert.equal(host.forwarding.size, 0);
  });

  it('shows the routes in the status document and in dovesnap status', async () => {
    const { driver, state } = setup();
    await driver.createNetwork(natReq(ROUTES));
    const doc = networksStatus(state);
    const n = doc[NET];
    assert.deepEqual(n?.HostRoutes, [
      { Prefix: '192.168.102.0/24', Via: '10.9.0.2' },
      { Prefix: '192.168.103.0/24', Via: '10.9.0.2' },
    ]);
    assert.equal(n?.Options['ovs.bridge.host_routes'], ROUTES);
    assert.match(
      formatStatus(doc),
      /\n {2}host routes: 192\.168\.102\.0\/24 via 10\.9\.0\.2, 192\.168\.103\.0\/24 via 10\.9\.0\.2\n/,
    );
    const { driver: d2, state: s2 } = setup();
    await d2.createNetwork(createNetworkRequest({ 'ovs.bridge.dpid': '9', 'ovs.bridge.mode': 'nat' }));
    assert.deepEqual(networksStatus(s2)[NET]?.HostRoutes, []);
    assert.doesNotMatch(formatStatus(networksStatus(s2)), /host routes/);
  });
});
