import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/status/metrics.js';
import { buildStatusApp } from '../../../src/status/server.js';
import { buildPluginApp } from '../../../src/plugin/server.js';
import { StateStore, endpointRecord } from '../../../src/driver/state.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { silentLogger } from '../../../src/util/log.js';
import type { NetworkDriver } from '../../../src/model/plugin-protocol.js';

const NET = 'a'.repeat(64);

/** The value of one sample line of the exposition text, e.g. `dovesnap_networks` or `x{a="b"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('counts plugin calls by endpoint and outcome with latencies, passes, repairs and FAUCET writes; gauges come from the state', async () => {
    const state = new StateStore();
    state.putNetwork({
      id: NET,
      name: 'n',
      options: parseNetworkOptions({ 'ovs.bridge.dpid': '1' }),
      rawOptions: {},
      bridgeName: 'b',
      datapathType: 'netdev',
      controllers: [],
      ipv4: [],
      internal: false,
      localFaucet: true,
    });
    state.putEndpoint(
      endpointRecord({
        id: 'e1',
        networkId: NET,
        hostIf: 'dsp1',
        containerIf: 'dsc1',
        mac: '0e:00:00:00:00:01',
        sandboxKey: '/x',
      }),
    );
    state.putEndpoint(
      endpointRecord({ id: 'e2', networkId: NET, hostIf: 'dsp2', containerIf: 'dsc2', mac: '0e:00:00:00:00:02' }),
    );
    const m = createMetrics(state, () => ['bound', 'bound', 'no lease']);
    m.driverCall('CreateEndpoint', true, 0.03);
    m.driverCall('CreateEndpoint', false, 0.2);
    m.driverCall('Join', true, 0.001);
    m.reconcilePass(0.5);
    m.repaired('endpoint_gone');
    m.repaired('leftover_link', 0);
    m.faucetConfig('confirmed');
    m.faucetConfig('confirmed');
    m.faucetConfig('rejected');
    const text = await m.registry.metrics();
    assert.equal(sample(text, 'dovesnap_driver_operations_total{endpoint="CreateEndpoint",outcome="ok"}'), 1);
    assert.equal(sample(text, 'dovesnap_driver_operations_total{endpoint="CreateEndpoint",outcome="error"}'), 1);
    assert.equal(sample(text, 'dovesnap_driver_operation_duration_seconds_count{endpoint="CreateEndpoint"}'), 2);
    assert.equal(
      sample(text, 'dovesnap_driver_operation_duration_seconds_bucket{le="0.05",endpoint="CreateEndpoint"}'),
      1,
    );
    assert.equal(sample(text, 'dovesnap_reconcile_passes_total'), 1);
    assert.equal(sample(text, 'dovesnap_reconcile_repairs_total{kind="endpoint_gone"}'), 1);
    assert.equal(
      sample(text, 'dovesnap_reconcile_repairs_total{kind="leftover_link"}'),
      undefined,
      'nothing repaired: no series',
    );
    assert.equal(sample(text, 'dovesnap_faucet_config_writes_total{outcome="confirmed"}'), 2);
    assert.equal(sample(text, 'dovesnap_faucet_config_writes_total{outcome="rejected"}'), 1);
    assert.equal(sample(text, 'dovesnap_faucet_config_writes_total{outcome="timeout"}'), 0);
    assert.equal(sample(text, 'dovesnap_networks'), 1);
    assert.equal(sample(text, 'dovesnap_endpoints{state="joined"}'), 1);
    assert.equal(sample(text, 'dovesnap_endpoints{state="created"}'), 1);
    assert.equal(sample(text, 'dovesnap_dhcp_clients{state="bound"}'), 2);
    assert.equal(sample(text, 'dovesnap_dhcp_clients{state="requesting"}'), 0);
    assert.ok((sample(text, 'dovesnap_process_resident_memory_bytes') ?? 0) > 0, 'process metrics');
  });

  it('is served at GET /metrics in the Prometheus text format, and the plugin server reports each call', async () => {
    const state = new StateStore();
    const m = createMetrics(state);
    const failing = { createNetwork: async () => Promise.reject(new Error('no')) } as unknown as NetworkDriver;
    const plugin = buildPluginApp(failing, silentLogger(), (e, ok, s) => m.driverCall(e, ok, s));
    const r = await plugin.inject({
      method: 'POST',
      url: '/NetworkDriver.CreateNetwork',
      payload: '{"NetworkID":"x","Options":{},"IPv4Data":[],"IPv6Data":[]}',
    });
    assert.equal(r.statusCode, 500);
    await plugin.inject({ method: 'POST', url: '/NetworkDriver.GetCapabilities', payload: '' });
    const app = buildStatusApp({
      state,
      logger: silentLogger(),
      health: () => ({ status: 'ok' }),
      metrics: m.registry,
    });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(res.body, 'dovesnap_driver_operations_total{endpoint="CreateNetwork",outcome="error"}'), 1);
    assert.equal(sample(res.body, 'dovesnap_driver_operations_total{endpoint="GetCapabilities",outcome="ok"}'), 1);
    assert.match(res.body, /^# HELP dovesnap_networks /m);
    await app.close();
    await plugin.close();
  });
});
