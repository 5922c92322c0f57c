import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostRoutesProblem, type HostRoutesCheck } from '../../../src/driver/host-routes.js';
import { parseRoutes } from '../../../src/net/routes.js';

/** The seed lab's uplink: 192.168.101.0/24, gateway .1, a router at .2 for 192.168.102.0/24. */
function check(patch: Partial<HostRoutesCheck> = {}): HostRoutesCheck {
  return {
    value: '192.168.102.0/24@192.168.101.2',
    routes: [{ prefix: '192.168.102.0/24', via: '192.168.101.2' }],
    subnet: '192.168.101.0/24',
    gateway: '192.168.101.1',
    bridge: 'ovsbr-a1b2c',
    others: [],
    table: [],
    ...patch,
  };
}

const route = (prefix: string, via: string): HostRoutesCheck['routes'][number] => ({ prefix, via });

describe('host routes against the network, the other networks and the host', () => {
  it('accepts a next hop inside the subnet to a prefix outside it', () => {
    assert.equal(hostRoutesProblem(check()), undefined);
    assert.equal(hostRoutesProblem(check({ routes: [] })), undefined, 'nothing to check');
  });

  it('names the option and the value in every refusal', () => {
    const why = hostRoutesProblem(check({ routes: [route('192.168.102.0/24', '10.0.0.2')] }));
    assert.ok(
      why?.startsWith('invalid value "192.168.102.0/24@192.168.101.2" for option ovs.bridge.host_routes: '),
      why,
    );
  });

  it('refuses a next hop outside the subnet, the gateway, and the network and broadcast addresses', () => {
    assert.match(
      hostRoutesProblem(check({ routes: [route('192.168.102.0/24', '192.168.100.2')] })) ?? '',
      /next hop 192\.168\.100\.2 of 192\.168\.102\.0\/24 is not in the network's subnet 192\.168\.101\.0\/24/,
    );
    assert.match(
      hostRoutesProblem(check({ routes: [route('192.168.102.0/24', '192.168.101.1')] })) ?? '',
      /is the network's gateway/,
    );
    assert.match(
      hostRoutesProblem(check({ routes: [route('192.168.102.0/24', '192.168.101.0')] })) ?? '',
      /is the network address of 192\.168\.101\.0\/24/,
    );
    assert.match(
      hostRoutesProblem(check({ routes: [route('192.168.102.0/24', '192.168.101.255')] })) ?? '',
      /is the broadcast address of 192\.168\.101\.0\/24/,
    );
    // The second route is checked as well as the first.
    assert.match(
      hostRoutesProblem(
        check({ routes: [route('192.168.102.0/24', '192.168.101.2'), route('192.168.103.0/24', '192.168.101.1')] }),
      ) ?? '',
      /192\.168\.103\.0\/24/,
    );
  });

  it("refuses a prefix overlapping the network's own subnet, inside or around it", () => {
    assert.match(
      hostRoutesProblem(check({ routes: [route('192.168.101.128/25', '192.168.101.2')] })) ?? '',
      /overlaps the network's own subnet/,
    );
    assert.match(
      hostRoutesProblem(check({ routes: [route('192.168.0.0/16', '192.168.101.2')] })) ?? '',
      /overlaps the network's own subnet/,
    );
  });

  it('refuses a prefix another dovesnap network routes, or that overlaps its subnet', () => {
    const others = [
      {
        label: 'lab2',
        bridge: 'ovsbr-ffff0',
        subnet: '10.20.0.0/24',
        hostRoutes: [route('172.30.0.0/24', '10.20.0.5')],
      },
    ];
    assert.match(
      hostRoutesProblem(check({ others, routes: [route('172.30.0.0/24', '192.168.101.2')] })) ?? '',
      /dovesnap network lab2 already routes 172\.30\.0\.0\/24 \(via 10\.20\.0\.5\)/,
    );
    assert.match(
      hostRoutesProblem(check({ others, routes: [route('10.20.0.0/16', '192.168.101.2')] })) ?? '',
      /overlaps 10\.20\.0\.0\/24, the subnet of dovesnap network lab2/,
    );
    assert.equal(hostRoutesProblem(check({ others, routes: [route('172.30.1.0/24', '192.168.101.2')] })), undefined);
  });

  it("never takes over a route of the host's, nor part of another interface's subnet", () => {
    const table = parseRoutes(
      JSON.stringify([
        { dst: 'default', gateway: '10.0.2.2', dev: 'eth0', flags: [] },
        {
          dst: '172.17.0.0/16',
          dev: 'docker0',
          protocol: 'kernel',
          scope: 'link',
          prefsrc: '172.17.0.1',
          flags: ['linkdown'],
        },
        { dst: '192.168.102.0/24', gateway: '10.0.2.9', dev: 'eth0', protocol: 'static', flags: [] },
        { dst: '10.77.0.0/16', gateway: '10.0.2.9', dev: 'eth0', protocol: 'static', flags: [] },
      ]),
    );
    assert.match(
      hostRoutesProblem(check({ table })) ?? '',
      /the host already has a route to 192\.168\.102\.0\/24 \(via 10\.0\.2\.9 dev eth0\), which this one would replace/,
    );
    assert.match(
      hostRoutesProblem(check({ table, routes: [route('172.17.5.0/24', '192.168.101.2')] })) ?? '',
      /172\.17\.5\.0\/24 is inside 172\.17\.0\.0\/16, the subnet of the host's interface docker0/,
    );
    // Around it: the interface's own, longer prefix still wins for its addresses.
    assert.equal(hostRoutesProblem(check({ table, routes: [route('172.16.0.0/12', '192.168.101.2')] })), undefined);
    // A more specific route inside a route through a gateway is ordinary routing, not a takeover.
    assert.equal(hostRoutesProblem(check({ table, routes: [route('10.77.3.0/24', '192.168.101.2')] })), undefined);
    // The network's own routes (a repeated create) are not conflicts.
    const own = parseRoutes(
      JSON.stringify([{ dst: '192.168.102.0/24', gateway: '192.168.101.2', dev: 'ovsbr-a1b2c', flags: [] }]),
    );
    assert.equal(hostRoutesProblem(check({ table: own })), undefined);
  });
});

describe('parseRoutes', () => {
  it('reads ip -json route output: default as 0.0.0.0/0, bare addresses as /32, other route types left out', () => {
    const r = parseRoutes(
      JSON.stringify([
        { dst: 'default', gateway: '10.0.2.2', dev: 'eth0', flags: [] },
        { dst: '10.9.9.9', gateway: '10.0.2.3', dev: 'eth0', flags: [] },
        { type: 'blackhole', dst: '10.66.0.0/16', flags: [] },
        { dst: '10.0.2.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '10.0.2.15', flags: [] },
      ]),
    );
    assert.deepEqual(r, [
      { dst: '0.0.0.0/0', dev: 'eth0', gateway: '10.0.2.2', protocol: undefined, scope: undefined },
      { dst: '10.9.9.9/32', dev: 'eth0', gateway: '10.0.2.3', protocol: undefined, scope: undefined },
      { dst: '10.0.2.0/24', dev: 'eth0', gateway: undefined, protocol: 'kernel', scope: 'link' },
    ]);
    assert.deepEqual(parseRoutes(''), []);
  });
});
