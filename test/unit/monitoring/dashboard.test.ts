import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Panel, RowPanel } from '@grafana/schema';
import { dashboardJson, dovesnapDashboard } from '../../../src/monitoring/dashboard.js';
import { PORT_INFO_LABELS } from '../../../src/status/port-info.js';
import { panelQueries, variableQueries } from '../../fixtures/dashboard-queries.js';

/**
 * The shipped Grafana dashboard and Prometheus rules agree with each other and with the daemon's
 * metrics. (promtool checks the rules and every query in test/contract/prometheus.test.ts; the
 * e2e test runs them against the live Prometheus.)
 */

const REPO = new URL('../../../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, REPO), 'utf8');

interface RulesFile {
  groups: { name: string; rules: { record: string; expr: string }[] }[];
}
const rules = (): { record: string; expr: string }[] =>
  (parse(read('deploy/prometheus/dovesnap-rules.yml')) as RulesFile).groups.flatMap((g) => g.rules);

const isRow = (p: Panel | RowPanel): p is RowPanel => p.type === 'row';

describe('Grafana dashboard', () => {
  it('deploy/grafana/dovesnap.json is what src/monitoring/dashboard.ts defines (scripts/write-grafana-dashboard.sh writes it)', () => {
    assert.equal(read('deploy/grafana/dovesnap.json'), dashboardJson(), 'run scripts/write-grafana-dashboard.sh');
  });

  it('has unique panel ids, panels inside 24 columns that do not overlap, a Prometheus query with a refId in every panel, and only variables it defines', () => {
    const d = dovesnapDashboard();
    assert.ok(
      Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36,
      'a schemaVersion Grafana 9 and later migrate',
    );
    const panels = d.panels ?? [];
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'unique ids');
    const cells = new Set<string>();
    for (const p of panels) {
      const g = p.gridPos;
      assert.ok(
        g !== undefined && g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0,
        `${p.title}: gridPos inside the grid`,
      );
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
      }
      if (isRow(p)) continue;
      assert.deepEqual(
        p.datasource,
        { type: 'prometheus', uid: '${datasource}' },
        `${p.title}: the dashboard's data source`,
      );
      const targets = p.targets ?? [];
      assert.ok(targets.length > 0, `${p.title}: queries`);
      assert.equal(new Set(targets.map((t) => t['refId'])).size, targets.length, `${p.title}: unique refIds`);
      for (const t of targets)
        assert.ok(typeof t['expr'] === 'string' && t['expr'] !== '', `${p.title}: ${String(t['refId'])} has an expr`);
    }
    const defined = new Set((d.templating?.list ?? []).map((v) => v.name));
    assert.deepEqual([...defined], ['datasource', 'network', 'container']);
    const used = JSON.stringify(d).match(/\$\{?\w+/g) ?? [];
    for (const u of used) {
      const name = u.replace(/^\$\{?/, '');
      assert.ok(
        defined.has(name) || ['__rate_interval', '__range', '__all'].includes(name),
        `${u} is a variable of the dashboard or Grafana's`,
      );
    }
  });

  it('reads only series that the rules record or that FAUCET, Gauge and dovesnap export', () => {
    const recorded = new Set(rules().map((r) => r.record));
    const exprs = [...panelQueries().map((q) => q.expr), ...variableQueries().map((v) => v.selector)];
    const series = new Set(exprs.flatMap((e) => e.match(/\b(dovesnap:[\w:]+|dovesnap_\w+|faucet_\w+)/g) ?? []));
    assert.ok(series.size >= 10, [...series].join(' '));
    for (const s of series) {
      if (s.startsWith('dovesnap:'))
        assert.ok(recorded.has(s), `${s} is recorded by deploy/prometheus/dovesnap-rules.yml`);
    }
    assert.ok(
      [...series].some((s) => s.startsWith('dovesnap:')) &&
        [...series].some((s) => s.startsWith('faucet_')) &&
        [...series].some((s) => s.startsWith('dovesnap_driver')),
    );
  });
});

describe('Prometheus rules', () => {
  it('record every Gauge port counter per container, joined on labels dovesnap_port_info has, and a rate of each', () => {
    const all = rules();
    const counters = [
      'rx_bytes',
      'tx_bytes',
      'rx_packets',
      'tx_packets',
      'rx_dropped',
      'tx_dropped',
      'rx_errors',
      'tx_errors',
    ];
    for (const c of counters) {
      const counter = all.find((r) => r.record === `dovesnap:container_port_${c}`);
      assert.ok(counter !== undefined, `${c} is recorded`);
      assert.ok(counter.expr.includes(`of_port_${c}`), c);
      assert.ok(
        all.some(
          (r) =>
            r.record === `dovesnap:container_port_${c}:rate2m` && r.expr.includes(`dovesnap:container_port_${c}[2m]`),
        ),
        `${c} rate`,
      );
      assert.ok(
        all.findIndex((r) => r.record === counter.record) <
          all.findIndex((r) => r.record === `${counter.record}:rate2m`),
        'each rate after its counter',
      );
      for (const list of counter.expr.matchAll(/\b(?:on|by|group_left)\s*\(([^)]*)\)/g)) {
        for (const label of (list[1] ?? '').split(',').map((l) => l.trim())) {
          assert.ok(
            (PORT_INFO_LABELS as readonly string[]).includes(label),
            `${c}: ${label} is a label of dovesnap_port_info`,
          );
        }
      }
    }
    assert.equal(all.length, 2 * counters.length);
  });
});
