import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  faucetConfigStateFromMetrics,
  parsePrometheusText,
  portReportedUp,
  portStatusFromMetrics,
  readFaucetConfigState,
  type FetchLike,
} from '../../../src/faucet/metrics.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { FakeFaucet } from '../../fakes/fake-faucet.js';

/** Captured from prometheus_client 0.24 with FAUCET's metric definitions, after a failed load. */
const FAUCET_ERROR_OUTPUT = `# HELP faucet_config_reload_requests_total number of config reload requests
# TYPE faucet_config_reload_requests_total counter
faucet_config_reload_requests_total 1.0
# HELP faucet_config_reload_requests_created number of config reload requests
# TYPE faucet_config_reload_requests_created gauge
faucet_config_reload_requests_created 1.7953421815675256e+09
# HELP faucet_config_load_error 1 if last attempt to re/load config failed
# TYPE faucet_config_load_error gauge
faucet_config_load_error 1.0
# HELP faucet_config_hash_info file hashes for last successful config
# TYPE faucet_config_hash_info gauge
faucet_config_hash_info{config_files="/etc/faucet/faucet.yaml",error="DP x: bad \\"quote\\" back\\\\slash\\nnewline",hashes=""} 1.0
`;

describe('parsePrometheusText', () => {
  it('parses FAUCET output, unescaping label values', () => {
    const samples = parsePrometheusText(FAUCET_ERROR_OUTPUT);
    assert.deepEqual(
      samples.map((s) => s.name),
      [
        'faucet_config_reload_requests_total',
        'faucet_config_reload_requests_created',
        'faucet_config_load_error',
        'faucet_config_hash_info',
      ],
    );
    assert.equal(samples[1]?.value, 1795342181.5675256);
    assert.equal(samples[3]?.labels.get('error'), 'DP x: bad "quote" back\\slash\nnewline');
    assert.equal(samples[3]?.labels.get('hashes'), '');
  });

  it('handles spacing, trailing commas, special values, timestamps and CRLF', () => {
    const text =
      'a 1\r\nb{x="1",} +Inf 1700000000000\n  c { x = "a,b}" , y="" }  NaN\nd -Inf\n\n# free comment\ne{z="\\t"} -1.5e-3\n';
    const samples = parsePrometheusText(text);
    assert.deepEqual(
      samples.map((s) => [s.name, s.value, Object.fromEntries(s.labels), s.timestampMs]),
      [
        ['a', 1, {}, undefined],
        ['b', Infinity, { x: '1' }, 1700000000000],
        ['c', NaN, { x: 'a,b}', y: '' }, undefined],
        ['d', -Infinity, {}, undefined],
        ['e', -0.0015, { z: '\\t' }, undefined],
      ],
    );
  });

  it('reports malformed lines with their line number', () => {
    assert.throws(() => parsePrometheusText('ok 1\nbad{x="1" 2\n'), /line 2: expected ',' or '}'/);
    assert.throws(() => parsePrometheusText('x{y="open} 1\n'), /line 1: unterminated value of label y/);
    assert.throws(() => parsePrometheusText('x one\n'), /line 1: bad sample value 'one'/);
    assert.throws(() => parsePrometheusText('9x 1\n'), /line 1: expected a metric name/);
    assert.throws(() => parsePrometheusText('x 1 2 3\n'), /unexpected text/);
  });
});

describe('faucetConfigStateFromMetrics', () => {
  it('reads a failed load', () => {
    assert.deepEqual(faucetConfigStateFromMetrics(FAUCET_ERROR_OUTPUT), {
      files: ['/etc/faucet/faucet.yaml'],
      hashes: [],
      error: 'DP x: bad "quote" back\\slash\nnewline',
      loadError: true,
      reloadRequests: 1,
    });
  });

  it('reads a successful load of several files', () => {
    const text =
      'faucet_config_load_error 0.0\nfaucet_config_reload_requests_total 7.0\nfaucet_config_hash_info{config_files="/a.yaml,/b.yaml",error="",hashes="aa,bb"} 1.0\n';
    assert.deepEqual(faucetConfigStateFromMetrics(text), {
      files: ['/a.yaml', '/b.yaml'],
      hashes: ['aa', 'bb'],
      error: '',
      loadError: false,
      reloadRequests: 7,
    });
  });

  it('copes with FAUCET that has not loaded anything yet', () => {
    assert.deepEqual(faucetConfigStateFromMetrics('faucet_config_load_error 0.0\n'), {
      files: [],
      hashes: [],
      error: '',
      loadError: false,
      reloadRequests: undefined,
    });
  });
});

describe('readFaucetConfigState', () => {
  it('reads the fake FAUCET over HTTP', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dovesnap-metrics-'));
    const path = join(dir, 'faucet.yaml');
    await writeFile(path, 'dps:\n  a:\n    dp_id: 1\n    interfaces: {1: {native_vlan: 1}}\n');
    const fake = await FakeFaucet.start({ configPath: path });
    try {
      const state = await readFaucetConfigState(fake.metricsUrl);
      assert.deepEqual(state.files, [path]);
      assert.equal(state.hashes.length, 1);
      assert.match(state.hashes[0] ?? '', /^[0-9a-f]{64}$/);
      assert.equal(state.loadError, false);
      assert.equal(state.reloadRequests, 1);
    } finally {
      await fake.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('turns HTTP and network failures into FaucetTimeout naming the URL', async () => {
    const http500: FetchLike = async () => ({ ok: false, status: 500, text: async () => '' });
    await assert.rejects(
      readFaucetConfigState('http://faucet/metrics', http500),
      (err: unknown) => isDovesnapError(err, ErrorCode.FaucetTimeout) && /faucet\/metrics: HTTP 500/.test(err.message),
    );
    const refused: FetchLike = async () => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') });
    };
    await assert.rejects(
      readFaucetConfigState('http://127.0.0.1:9/metrics', refused),
      /fetch failed \(connect ECONNREFUSED/,
    );
    const garbage: FetchLike = async () => ({ ok: true, status: 200, text: async () => '<html>\n' });
    await assert.rejects(
      readFaucetConfigState('http://x/metrics', garbage),
      (err: unknown) => isDovesnapError(err, ErrorCode.FaucetTimeout) && /unreadable/.test(err.message),
    );
  });
});

/** As FAUCET 1.10 serves it after port 5 of net1 went from a spare entry to a container, and net1 was once deleted and made again. */
const PORT_STATUS_OUTPUT = `# HELP port_status status of switch ports
# TYPE port_status gauge
port_status{dp_id="0x50",dp_name="net1",port="5",port_description="dovesnap spare port"} 1.0
port_status{dp_id="0x50",dp_name="net1",port="5",port_description="/web c1"} 0.0
port_status{dp_id="0x50",dp_name="old",port="6",port_description="/db c2"} 1.0
port_status{dp_id="0x50",dp_name="net1",port="6",port_description="/db c2"} 0.0
port_status{dp_id="0x50",dp_name="net1",port="7",port_description="/x c3"} 1.0
port_status{dp_id="0x50",dp_name="net1",port="copro0",port_description="Coprocessor interface copro0"} 1.0
`;

describe('portReportedUp', () => {
  const report = portStatusFromMetrics(PORT_STATUS_OUTPUT);

  it('keeps every series of a port with its DP name and description', () => {
    assert.deepEqual(report.get(0x50n)?.get(5), [
      { dpName: 'net1', description: 'dovesnap spare port', up: true },
      { dpName: 'net1', description: '/web c1', up: false },
    ]);
    assert.equal(
      report.get(0x50n)?.size,
      3,
      'a port FAUCET labels by name (a coprocessor port) has no number to key it',
    );
  });

  it('the series of the description FAUCET runs decides; a stale one of an earlier description does not', () => {
    assert.equal(portReportedUp(report, 0x50n, 5, { dpName: 'net1', description: '/web c1' }), false);
    assert.equal(portReportedUp(report, 0x50n, 5, { dpName: 'net1', description: 'dovesnap spare port' }), true);
  });

  it("a series of an earlier DP name is not this network's", () => {
    assert.equal(portReportedUp(report, 0x50n, 6, { dpName: 'net1', description: '/db c2' }), false);
    assert.equal(portReportedUp(report, 0x50n, 6, { dpName: 'net1' }), false);
  });

  it('with no series of the running description, any series of the DP saying up counts; nothing reported is undefined', () => {
    assert.equal(portReportedUp(report, 0x50n, 5, { dpName: 'net1', description: 'not loaded yet' }), true);
    assert.equal(portReportedUp(report, 0x50n, 7), true);
    assert.equal(portReportedUp(report, 0x50n, 8, { dpName: 'net1' }), undefined);
    assert.equal(portReportedUp(report, 0x51n, 5), undefined);
    assert.equal(portReportedUp(report, 0x50n, 6, { dpName: 'other' }), undefined);
  });
});
