import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/status/metrics.js';
import { portInfo } from '../../../src/status/port-info.js';
import { StateStore, endpointRecord, type NetworkRecord } from '../../../src/driver/state.js';
import { parseNetworkOptions } from '../../../src/model/options.js';

const LOCAL = 'a'.repeat(64);
const REMOTE = 'b'.repeat(64);
const UNNAMED = 'c'.repeat(64);
const WEB = '1'.repeat(64);
const DB = '2'.repeat(64);
const LEASED = '3'.repeat(64);

function network(id: string, name: string | undefined, dpid: string, localFaucet: boolean): NetworkRecord {
  return {
    id,
    name,
    options: parseNetworkOptions({ 'ovs.bridge.dpid': dpid }),
    rawOptions: {},
    bridgeName: `ovsbr-${id.slice(0, 5)}`,
    datapathType: 'netdev',
    controllers: [],
    ipv4: [],
    internal: false,
    localFaucet,
  };
}

/** A local network with web (port 1) and db (port 3, blocked), a DHCP container (port 4), one not yet numbered and one not yet known; a remote and an unnamed network. */
function sampleState(): StateStore {
  const s = new StateStore();
  s.putNetwork(network(LOCAL, 'lab', '0x7E5701', true));
  s.putNetwork(network(REMOTE, 'far', '0x20', false));
  s.putNetwork(network(UNNAMED, undefined, '0x21', true));
  const ctr = (id: string, name: string) => ({ id, name, labels: {} });
  s.putEndpoint(
    endpointRecord({
      id: 'e1',
      networkId: LOCAL,
      hostIf: 'dspe1',
      containerIf: 'dsce1',
      mac: '0e:00:00:00:00:01',
      ipv4: '10.0.0.2/24',
      ofport: 1,
      container: ctr(WEB, '/web'),
    }),
  );
  s.putEndpoint(
    endpointRecord({
      id: 'e3',
      networkId: LOCAL,
      hostIf: 'dspe3',
      containerIf: 'dsce3',
      mac: '0e:00:00:00:00:03',
      ipv4: '10.0.0.3/24',
      ofport: 3,
      container: ctr(DB, '/db'),
      blockedReason: 'ACL nosuch is not defined',
    }),
  );
  s.putEndpoint(
    endpointRecord({
      id: 'e4',
      networkId: LOCAL,
      hostIf: 'dspe4',
      containerIf: 'dsce4',
      mac: '0e:00:00:00:00:04',
      ofport: 4,
      container: ctr(LEASED, '/dhcp-1'),
    }),
  );
  s.putEndpoint(
    endpointRecord({
      id: 'e5',
      networkId: LOCAL,
      hostIf: 'dspe5',
      containerIf: 'dsce5',
      mac: '0e:00:00:00:00:05',
      container: ctr('4'.repeat(64), '/starting'),
    }),
  );
  s.putEndpoint(
    endpointRecord({
      id: 'e6',
      networkId: LOCAL,
      hostIf: 'dspe6',
      containerIf: 'dsce6',
      mac: '0e:00:00:00:00:06',
      ofport: 6,
    }),
  );
  s.putEndpoint(
    endpointRecord({
      id: 'e7',
      networkId: REMOTE,
      hostIf: 'dspe7',
      containerIf: 'dsce7',
      mac: '0e:00:00:00:00:07',
      ofport: 1,
      container: ctr('5'.repeat(64), '/remote'),
    }),
  );
  s.putEndpoint(
    endpointRecord({
      id: 'e8',
      networkId: UNNAMED,
      hostIf: 'dspe8',
      containerIf: 'dsce8',
      mac: '0e:00:00:00:00:08',
      ofport: 1,
      container: ctr('6'.repeat(64), '/early'),
    }),
  );
  return s;
}

describe('dovesnap_port_info', () => {
  it("labels each numbered container port of the local FAUCET's switches as Gauge labels its counters, with the container, network, interface, MAC and address", () => {
    const info = portInfo(sampleState(), (e) => (e.id === 'e4' ? '192.168.50.117' : null));
    assert.deepEqual(info, [
      {
        dp_id: '0x7e5701',
        dp_name: 'lab',
        port: '1',
        network: 'lab',
        network_id: LOCAL,
        container: 'web',
        container_id: WEB,
        interface: 'dspe1',
        mac: '0e:00:00:00:00:01',
        ip: '10.0.0.2',
      },
      {
        dp_id: '0x7e5701',
        dp_name: 'lab',
        port: '3',
        network: 'lab',
        network_id: LOCAL,
        container: 'db',
        container_id: DB,
        interface: 'dspe3',
        mac: '0e:00:00:00:00:03',
        ip: '10.0.0.3',
      },
      {
        dp_id: '0x7e5701',
        dp_name: 'lab',
        port: '4',
        network: 'lab',
        network_id: LOCAL,
        container: 'dhcp-1',
        container_id: LEASED,
        interface: 'dspe4',
        mac: '0e:00:00:00:00:04',
        ip: '192.168.50.117',
      },
    ]);
    assert.equal(portInfo(sampleState())[2]?.ip, '', 'no lease: an empty address');
  });

  it('is exported at scrape time from the current state, one series per port, and a port that goes away goes with it', async () => {
    const s = sampleState();
    const m = createMetrics(s);
    const lines = async (): Promise<string[]> =>
      (await m.registry.getSingleMetricAsString('dovesnap_port_info'))
        .split('\n')
        .filter((l) => l.startsWith('dovesnap_port_info{'));
    const before = await lines();
    assert.equal(before.length, 3);
    assert.ok(
      before.includes(
        `dovesnap_port_info{dp_id="0x7e5701",dp_name="lab",port="1",network="lab",network_id="${LOCAL}",container="web",container_id="${WEB}",interface="dspe1",mac="0e:00:00:00:00:01",ip="10.0.0.2"} 1`,
      ),
      before.join('\n'),
    );
    s.removeEndpoint('e1');
    s.updateEndpoint('e6', { container: { id: '7'.repeat(64), name: '/late', labels: {} } });
    const after = await lines();
    assert.equal(after.length, 3);
    assert.ok(!after.some((l) => l.includes('container="web"')), 'the removed container has no series any more');
    assert.ok(
      after.some((l) => l.includes('port="6"') && l.includes('container="late"')),
      'a container learnt since has one',
    );
  });
});
