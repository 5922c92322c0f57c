import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  STATUS_URL,
  createNetwork,
  docker,
  dockerRaw,
  runContainer,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
} from './harness.js';

/** `GET /metrics` of the real daemon moves as Docker drives it. */

async function metrics(): Promise<string> {
  const res = await fetch(`${STATUS_URL}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const calls = (t: string, endpoint: string, outcome = 'ok'): number =>
  value(t, `dovesnap_driver_operations_total{endpoint="${endpoint}",outcome="${outcome}"}`);

describe('GET /metrics', () => {
  it('counts the plugin calls, errors and FAUCET writes a network and a container cause, and gauges networks and endpoints', async () => {
    const before = await metrics();
    const net = uniqueName('met');
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', testSubnet().subnet]);
    const bad = await dockerRaw(
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      'ovs.bridge.dpid=nonsense',
      uniqueName('metbad'),
    );
    assert.notEqual(bad.code, 0);
    await runContainer(`${net}-a`, net);
    const after = await waitFor(
      'FAUCET confirmed the container',
      async () => {
        const t = await metrics();
        return value(t, 'dovesnap_faucet_config_writes_total{outcome="confirmed"}') >
          value(before, 'dovesnap_faucet_config_writes_total{outcome="confirmed"}')
          ? t
          : undefined;
      },
      30_000,
      250,
    );
    assert.equal(calls(after, 'CreateNetwork') - calls(before, 'CreateNetwork'), 1);
    assert.equal(
      calls(after, 'CreateNetwork', 'error') - calls(before, 'CreateNetwork', 'error'),
      1,
      'the refused create',
    );
    assert.equal(calls(after, 'CreateEndpoint') - calls(before, 'CreateEndpoint'), 1);
    assert.equal(calls(after, 'Join') - calls(before, 'Join'), 1);
    assert.ok(value(after, 'dovesnap_driver_operation_duration_seconds_count{endpoint="CreateEndpoint"}') >= 1);
    assert.equal(value(after, 'dovesnap_networks') - value(before, 'dovesnap_networks'), 1);
    assert.equal(
      value(after, 'dovesnap_endpoints{state="joined"}') - value(before, 'dovesnap_endpoints{state="joined"}'),
      1,
    );
    assert.ok(value(after, 'dovesnap_process_resident_memory_bytes') > 0);
    await docker('rm', '-f', `${net}-a`);
    const gone = await metrics();
    assert.equal(calls(gone, 'Leave') - calls(before, 'Leave'), 1);
    assert.equal(calls(gone, 'DeleteEndpoint') - calls(before, 'DeleteEndpoint'), 1);
    assert.equal(
      value(gone, 'dovesnap_endpoints{state="joined"}'),
      value(before, 'dovesnap_endpoints{state="joined"}'),
    );
  });
});
