/**
 * The Prometheus configuration and recording rules in deploy/prometheus/, and every query of
 * the Grafana dashboard, checked by Prometheus' own promtool (Debian's prometheus package, which
 * `make up MONITORING=1` and so `make test` install). The rules' behaviour is proven with
 * `promtool test rules` on synthetic Gauge and dovesnap series: the join names a port's
 * counters after its container, keeps one series while FAUCET's port description changes, and
 * what was recorded stays queryable after the container is gone. Without promtool these tests
 * fail: they never skip.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { panelQueries, variableQueries } from '../fixtures/dashboard-queries.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const RULES = join(REPO, 'deploy/prometheus/dovesnap-rules.yml');

function promtool(): string {
  assert.equal(
    spawnSync('promtool', ['--version']).status,
    0,
    'promtool is not installed (Debian: prometheus; `make up MONITORING=1` installs it)',
  );
  return 'promtool';
}

async function check(args: readonly string[]): Promise<string> {
  try {
    const r = await run(promtool(), [...args]);
    return r.stdout + r.stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    assert.fail(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? String(err)}`);
  }
}

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dovesnap-prometheus-contract-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const DP = { dp_id: '0x7e5701', dp_name: 'lab' };
const WEB = { network: 'lab', network_id: 'n1', container: 'web', container_id: 'c1' };

function series(name: string, labels: Readonly<Record<string, string>>): string {
  return `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

describe('Prometheus configuration (promtool)', () => {
  it('accepts deploy/prometheus/prometheus.yml with the rules it loads', async () => {
    const out = await check(['check', 'config', join(REPO, 'deploy/prometheus/prometheus.yml')]);
    assert.match(out, /SUCCESS: 16 rules found/);
  });

  it("accepts every query of the Grafana dashboard, with Grafana's variables as Grafana sends them", async () => {
    const queries = [...panelQueries().map((q) => q.concrete), ...variableQueries().map((v) => v.selector)];
    const file = join(dir, 'dashboard-queries.yml');
    await writeFile(
      file,
      stringify({
        groups: [{ name: 'dashboard', rules: queries.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }],
      }),
    );
    const out = await check(['check', 'rules', file]);
    assert.match(out, new RegExp(`SUCCESS: ${queries.length} rules found`));
  });

  it("name a port's counters after its container, keep them across a port description change, and keep what was recorded after the container is gone", async () => {
    const gauge = { job: 'gauge', instance: '127.0.0.1:9303', ...DP };
    const info = {
      job: 'dovesnap',
      instance: '127.0.0.1:9401',
      ...DP,
      port: '1',
      ...WEB,
      interface: 'dspe1',
      mac: '0e:00:00:00:00:01',
    };
    const web = series('dovesnap:container_port_rx_bytes', {
      container: 'web',
      container_id: 'c1',
      dp_id: DP.dp_id,
      dp_name: DP.dp_name,
      network: 'lab',
      network_id: 'n1',
      port: '1',
    });
    const test = {
      rule_files: [RULES],
      evaluation_interval: '10s',
      tests: [
        {
          interval: '10s',
          input_series: [
            // Port 1 under FAUCET's spare description until 50 s, then under the container's name.
            {
              series: series('of_port_rx_bytes', { ...gauge, port: '1', port_description: 'dovesnap spare port' }),
              values: '0+1000x5 stale',
            },
            {
              series: series('of_port_rx_bytes', { ...gauge, port: '1', port_description: '/web c1' }),
              values: '_x6 6000+1000x20',
            },
            // Ports without a container: another spare entry, and a DP dovesnap does not know.
            {
              series: series('of_port_rx_bytes', { ...gauge, port: '2', port_description: 'dovesnap spare port' }),
              values: '0x25',
            },
            {
              series: series('of_port_rx_bytes', {
                ...gauge,
                dp_id: '0x99',
                dp_name: 'operators',
                port: '1',
                port_description: 'uplink',
              }),
              values: '0+5x25',
            },
            // The container until 200 s; dovesnap scraped twice meanwhile, and its address changing.
            { series: series('dovesnap_port_info', { ...info, ip: '10.0.0.2' }), values: '1x10 stale' },
            { series: series('dovesnap_port_info', { ...info, ip: '10.0.0.3' }), values: '_x10 1x10 stale' },
            {
              series: series('dovesnap_port_info', { ...info, instance: '[::1]:9401', ip: '10.0.0.2' }),
              values: '1x20 stale',
            },
          ],
          promql_expr_test: [
            { expr: 'dovesnap:container_port_rx_bytes', eval_time: '40s', exp_samples: [{ labels: web, value: 4000 }] },
            {
              expr: 'dovesnap:container_port_rx_bytes',
              eval_time: '100s',
              exp_samples: [{ labels: web, value: 10000 }],
            },
            {
              expr: 'dovesnap:container_port_rx_bytes:rate2m',
              eval_time: '180s',
              exp_samples: [{ labels: web.replace('rx_bytes', 'rx_bytes:rate2m'), value: 100 }],
            },
            {
              expr: 'count(dovesnap:container_port_rx_bytes)',
              eval_time: '150s',
              exp_samples: [{ labels: '{}', value: 1 }],
            },
            // Gone: no current value, but the history is there.
            { expr: 'dovesnap:container_port_rx_bytes', eval_time: '250s', exp_samples: [] },
            {
              expr: 'max_over_time(dovesnap:container_port_rx_bytes{container="web"}[10m])',
              eval_time: '250s',
              exp_samples: [{ labels: web.replace(/^dovesnap:container_port_rx_bytes/, ''), value: 20000 }],
            },
          ],
        },
      ],
    };
    const file = join(dir, 'rules-test.yml');
    await writeFile(file, stringify(test));
    const out = await check(['test', 'rules', file]);
    assert.match(out, /SUCCESS/);
  });
});
