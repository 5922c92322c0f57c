import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createEndpointResponse,
  endpointMac,
  freePortNumber,
  planCreateEndpoint,
  planJoin,
  planLeave,
  planRemoveEndpoint,
  staysOpen,
  type EndpointFacts,
} from '../../../src/driver/endpoint-plan.js';
import { ExtId } from '../../../src/driver/persist.js';
import { endpointRecord, type EndpointRecord, type NetworkRecord } from '../../../src/driver/state.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import type { CreateEndpointRequest, PortBinding } from '../../../src/model/plugin-protocol.js';
import { localNetwork } from '../../fakes/network-record.js';

const NET = 'a1'.repeat(32);
const EP = 'e1e2e3e4e5e6'.padEnd(64, '0');
const MAC = '0e:07:07:07:07:07';

function network(patch: Partial<NetworkRecord> = {}, raw: Record<string, string> = {}): NetworkRecord {
  return localNetwork(
    NET,
    'web',
    { 'ovs.bridge.dpid': '0x71', ...raw },
    {
      controllers: ['tcp:127.0.0.1:6653'],
      ipv4: [{ AddressSpace: 'LocalDefault', Pool: '10.9.0.0/24', Gateway: '10.9.0.1/24' }],
      ...patch,
    },
  );
}

function request(iface: CreateEndpointRequest['Interface'] = { Address: '10.9.0.2/24' }): CreateEndpointRequest {
  return { NetworkID: NET, EndpointID: EP, Interface: iface, Options: {} };
}

function endpoint(patch: Partial<EndpointRecord> = {}): EndpointRecord {
  return endpointRecord({
    id: EP,
    networkId: NET,
    hostIf: 'dspe1e2e3e4e5e6',
    containerIf: 'dsce1e2e3e4e5e6',
    mac: MAC,
    ...patch,
  });
}

const READY = { hostIf: 'dsr0a0b0c0d0e0f', containerIf: 'dsq0a0b0c0d0e0f', ofport: 4 };
const facts = (patch: Partial<EndpointFacts> = {}): EndpointFacts => ({
  ready: undefined,
  freeNumber: 5,
  spareRuns: false,
  mayOpenEarly: false,
  ...patch,
});

describe('endpoint plan: CreateEndpoint', () => {
  // [case, facts, a ready port taken, the own port it falls back to]
  const cases: [string, EndpointFacts, boolean, 'closed' | 'open' | 'refused'][] = [
    ['no ready port, no spare: a port of its own, down', facts(), false, 'closed'],
    [
      'a spare runs for the number and nothing could be joining with port labels: raised first',
      facts({ spareRuns: true, mayOpenEarly: true }),
      false,
      'open',
    ],
    ['a spare runs but a labelled container could be joining: down', facts({ spareRuns: true }), false, 'closed'],
    [
      'a ready port FAUCET runs, and the default entry may carry traffic: take it',
      facts({ ready: READY, mayOpenEarly: true }),
      true,
      'closed',
    ],
    ['a ready port, but a labelled container could be joining: not taken', facts({ ready: READY }), false, 'closed'],
    [
      'a ready port and no free number: taken; an own port would be refused',
      facts({ ready: READY, mayOpenEarly: true, freeNumber: undefined }),
      true,
      'refused',
    ],
    ['no free number and no ready port: refused', facts({ freeNumber: undefined }), false, 'refused'],
  ];
  for (const [name, given, ready, own] of cases) {
    it(name, () => {
      const plan = planCreateEndpoint(request(), network(), given, MAC);
      assert.equal(plan.readyPort !== undefined, ready);
      if (own === 'refused') {
        assert.deepEqual(plan.ownPort, { refused: 'bridge ovsbr-a1a1a has no free port number' });
        return;
      }
      assert.ok(!('refused' in plan.ownPort));
      assert.equal(plan.ownPort.openEarly, own === 'open');
    });
  }

  it('a port of its own: the veth named for the endpoint, the number asked for, the MTU, the records in OVSDB', () => {
    const plan = planCreateEndpoint(request(), network({}, { 'ovs.bridge.mtu': '1400' }), facts(), MAC);
    assert.ok(!('refused' in plan.ownPort));
    const { veth, port, record } = plan.ownPort;
    assert.deepEqual(veth, {
      names: { host: 'dspe1e2e3e4e5e6', container: 'dsce1e2e3e4e5e6' },
      containerMac: MAC,
      mtu: 1400,
      disableContainerTxOffload: true,
    });
    assert.equal(port.bridge, 'ovsbr-a1a1a');
    assert.equal(port.name, 'dspe1e2e3e4e5e6');
    assert.equal(port.ofportRequest, 5);
    assert.equal(port.mtu, 1400);
    assert.equal(port.externalIds[ExtId.endpointId], EP);
    assert.equal(port.externalIds[ExtId.address], '10.9.0.2/24');
    assert.equal(port.externalIds[ExtId.pooled], '');
    assert.equal(record.ofport, undefined, 'numbered once ovs-vswitchd has numbered the port');
    const kernel = planCreateEndpoint(request(), network({ datapathType: 'system' }), facts(), MAC);
    assert.ok(!('refused' in kernel.ownPort));
    assert.equal(kernel.ownPort.veth.disableContainerTxOffload, false);
  });

  it('a ready port: the record on the ready pair, numbered and pooled; the write that makes the port the endpoint’s', () => {
    const plan = planCreateEndpoint(request(), network(), facts({ ready: READY, mayOpenEarly: true }), MAC);
    const ready = plan.readyPort;
    assert.ok(ready);
    assert.equal(ready.record.hostIf, READY.hostIf);
    assert.equal(ready.record.containerIf, READY.containerIf);
    assert.equal(ready.record.ofport, 4);
    assert.equal(ready.record.pooled, true);
    assert.equal(ready.externalIds[ExtId.endpointId], EP);
    assert.equal(ready.externalIds[ExtId.readyPort], '', 'no longer a ready port');
    assert.equal(ready.externalIds[ExtId.pooled], 'true');
  });

  it('answers with the MAC only when Docker chose none; a MAC Docker gave is used in lower case', () => {
    const random = (): string => MAC;
    assert.equal(endpointMac(request(), random), MAC);
    assert.equal(endpointMac(request({ MacAddress: '02:42:0A:00:00:05' }), random), '02:42:0a:00:00:05');
    assert.deepEqual(createEndpointResponse(request(), MAC), { Interface: { MacAddress: MAC } });
    assert.deepEqual(createEndpointResponse(request({ MacAddress: '02:42:0a:00:00:05' }), MAC), {});
    assert.deepEqual(planCreateEndpoint(request(), network(), facts(), MAC).response, {
      Interface: { MacAddress: MAC },
    });
  });

  it('a port opened early stays open only on the number asked for (the spare’s)', () => {
    const open = planCreateEndpoint(request(), network(), facts({ spareRuns: true, mayOpenEarly: true }), MAC);
    const closed = planCreateEndpoint(request(), network(), facts(), MAC);
    assert.ok(!('refused' in open.ownPort) && !('refused' in closed.ownPort));
    const table: [typeof open.ownPort, number, boolean][] = [
      [open.ownPort, 5, true],
      [open.ownPort, 9, false],
      [closed.ownPort, 5, false],
    ];
    for (const [plan, ofport, want] of table) assert.equal(staysOpen(plan, ofport), want, `${ofport}`);
  });

  it('free port number: not one on the bridge, reserved by the options, or to be avoided', () => {
    const options = parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.lbport': '2' });
    const ports = [
      { name: 'a', ofport: 1, ofportRequest: 1 },
      { name: 'b', ofport: undefined, ofportRequest: 3 },
    ];
    assert.equal(freePortNumber(ports, options, []), 4);
    assert.equal(freePortNumber(ports, options, [4, 5]), 6);
  });
});

describe('endpoint plan: Join, Leave, removal', () => {
  const binding: PortBinding = { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 };
  const cases: {
    name: string;
    net: NetworkRecord;
    bindings: PortBinding[];
    allocate: number;
    unpublishable: boolean;
    raiseNow: boolean;
    gateway: string | undefined;
  }[] = [
    {
      name: 'flat, local FAUCET: no gateway, Docker told not to add its own',
      net: network(),
      bindings: [],
      allocate: 0,
      unpublishable: false,
      raiseNow: false,
      gateway: undefined,
    },
    {
      name: 'flat with -p: nothing published, said so',
      net: network(),
      bindings: [binding],
      allocate: 0,
      unpublishable: true,
      raiseNow: false,
      gateway: undefined,
    },
    {
      name: 'nat with -p: allocated, the gateway given',
      net: network({}, { 'ovs.bridge.mode': 'nat' }),
      bindings: [binding],
      allocate: 1,
      unpublishable: false,
      raiseNow: false,
      gateway: '10.9.0.1',
    },
    {
      name: 'standalone: raised at Join (no FAUCET configures it)',
      net: network({ localFaucet: false, controllers: [] }),
      bindings: [],
      allocate: 0,
      unpublishable: false,
      raiseNow: true,
      gateway: undefined,
    },
  ];
  for (const c of cases) {
    it(`join: ${c.name}`, () => {
      const plan = planJoin(c.net, endpoint(), c.bindings);
      assert.equal(plan.bindings.length, c.allocate);
      assert.equal(plan.unpublishable, c.unpublishable);
      assert.equal(plan.raiseNow, c.raiseNow);
      assert.deepEqual(plan.response.InterfaceName, { SrcName: 'dsce1e2e3e4e5e6', DstPrefix: 'eth' });
      if (c.gateway === undefined) {
        assert.equal(plan.response.DisableGatewayService, true);
        assert.equal(plan.response.Gateway, undefined);
      } else {
        assert.equal(plan.response.Gateway, c.gateway);
        assert.equal(plan.response.DisableGatewayService, undefined);
      }
    });
  }

  const published = [{ protocol: 'tcp' as const, hostIp: '', hostPort: 8080, containerPort: 80 }];
  it('leave: the DHCP client stopped where one runs; NAT rendered again only for an endpoint that published', () => {
    assert.deepEqual(planLeave(endpoint(), false), { stopDhcp: false, natSync: undefined });
    assert.deepEqual(planLeave(endpoint({ published }), true), {
      stopDhcp: true,
      natSync: 'container left: port mappings of dspe1e2e3e4e5e6 removed',
    });
  });

  it('removal: the port from the bridge of a known network, FAUCET rendered for a resolved container, NAT for mappings', () => {
    const container = { id: 'c'.repeat(64), name: '/web1', labels: {} };
    const table: [string, ReturnType<typeof planRemoveEndpoint>, ReturnType<typeof planRemoveEndpoint>][] = [
      [
        'known network and endpoint, resolved, with mappings and DHCP',
        planRemoveEndpoint(network(), endpoint({ container, published }), EP, true),
        {
          hostIf: 'dspe1e2e3e4e5e6',
          stopDhcp: true,
          bridge: 'ovsbr-a1a1a',
          faucetSync: 'port dspe1e2e3e4e5e6 removed',
          natSync: 'port mappings of dspe1e2e3e4e5e6 removed',
        },
      ],
      [
        'not resolved yet: FAUCET had no entry of its own',
        planRemoveEndpoint(network(), endpoint(), EP, false),
        {
          hostIf: 'dspe1e2e3e4e5e6',
          stopDhcp: false,
          bridge: 'ovsbr-a1a1a',
          faucetSync: undefined,
          natSync: undefined,
        },
      ],
      [
        'a network of another controller: FAUCET is not asked',
        planRemoveEndpoint(network({ localFaucet: false }), endpoint({ container }), EP, false),
        {
          hostIf: 'dspe1e2e3e4e5e6',
          stopDhcp: false,
          bridge: 'ovsbr-a1a1a',
          faucetSync: undefined,
          natSync: undefined,
        },
      ],
      [
        'neither known: the veth named for the endpoint id goes, nothing else',
        planRemoveEndpoint(undefined, undefined, EP, true),
        { hostIf: 'dspe1e2e3e4e5e6', stopDhcp: false, bridge: undefined, faucetSync: undefined, natSync: undefined },
      ],
    ];
    for (const [name, got, want] of table) assert.deepEqual(got, want, name);
  });
});
