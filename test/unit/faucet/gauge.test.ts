import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { ensureGaugeWatchers } from '../../../src/faucet/gauge.js';
import { gaugeConfig } from '../../../src/faucet/initial-files.js';

const OPTS = { faucetConfigPath: '/etc/faucet/faucet.yaml', prometheusPort: 9303, prometheusAddr: '127.0.0.1' };

interface Gauge {
  faucet_configs: string[];
  watchers: Record<string, { type: string; all_dps?: boolean; dps?: string[]; db: string; interval?: number }>;
  dbs: Record<string, { type: string; prometheus_port?: number }>;
}

const OPERATOR = `# the operator's Gauge
faucet_configs:
  - /etc/faucet/other.yaml
watchers:
  # stats of the core switch only
  core_stats:
    type: port_stats
    dps: [core]
    interval: 10
    db: influx
dbs:
  influx:
    type: influx
    influx_db: gauge
`;

describe('ensureGaugeWatchers', () => {
  it('writes the full default when there is no gauge.yaml, and leaves that default as it is', () => {
    const fresh = ensureGaugeWatchers(undefined, OPTS);
    assert.equal(fresh, gaugeConfig(OPTS));
    assert.equal(ensureGaugeWatchers(fresh, OPTS), undefined, 'its all_dps watchers already cover every switch');
  });

  it("adds what is missing to the operator's file and keeps everything of theirs, comments included; a second pass changes nothing", () => {
    const out = ensureGaugeWatchers(OPERATOR, OPTS);
    assert.ok(out !== undefined);
    assert.match(out, /# the operator's Gauge/);
    assert.match(out, /# stats of the core switch only/);
    const g = parse(out) as Gauge;
    assert.deepEqual(g.faucet_configs, ['/etc/faucet/other.yaml', '/etc/faucet/faucet.yaml']);
    assert.deepEqual(g.watchers['core_stats'], { type: 'port_stats', dps: ['core'], interval: 10, db: 'influx' });
    assert.deepEqual(g.dbs['influx'], { type: 'influx', influx_db: 'gauge' });
    assert.deepEqual(g.dbs['dovesnap_prometheus'], {
      type: 'prometheus',
      prometheus_port: 9303,
      prometheus_addr: '127.0.0.1',
    });
    assert.deepEqual(g.watchers['dovesnap_port_state'], {
      type: 'port_state',
      all_dps: true,
      db: 'dovesnap_prometheus',
    });
    assert.deepEqual(g.watchers['dovesnap_port_stats'], {
      type: 'port_stats',
      all_dps: true,
      interval: 30,
      db: 'dovesnap_prometheus',
    });
    assert.equal(ensureGaugeWatchers(out, OPTS), undefined);
  });

  it("uses the operator's Prometheus db, and adds no watcher of a type theirs already has for every switch", () => {
    const text = `faucet_configs: [/etc/faucet/faucet.yaml]
watchers:
  all_ports:
    type: port_state
    all_dps: true
    db: prom
dbs:
  prom:
    type: prometheus
    prometheus_port: 9400
`;
    const g = parse(ensureGaugeWatchers(text, OPTS) ?? '') as Gauge;
    assert.equal(g.watchers['dovesnap_port_state'], undefined);
    assert.deepEqual(g.watchers['dovesnap_port_stats'], {
      type: 'port_stats',
      all_dps: true,
      interval: 30,
      db: 'prom',
    });
    assert.equal(g.dbs['dovesnap_prometheus'], undefined, 'one Prometheus exporter: theirs');
  });

  it('puts back a dovesnap watcher that was edited, and refuses a file that does not parse without touching it', () => {
    const out = ensureGaugeWatchers(OPERATOR, OPTS) ?? '';
    const edited = out.replace('interval: 30', 'interval: 5');
    const again = parse(ensureGaugeWatchers(edited, OPTS) ?? '') as Gauge;
    assert.equal(again.watchers['dovesnap_port_stats']?.interval, 30);
    assert.throws(
      () => ensureGaugeWatchers('watchers: [unclosed', OPTS, '/etc/faucet/gauge.yaml'),
      /\/etc\/faucet\/gauge\.yaml does not parse/,
    );
  });
});
