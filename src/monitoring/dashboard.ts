import type { Dashboard, DataSourceRef, Panel, RowPanel, VariableModel } from '@grafana/schema';

/**
 * The Grafana dashboard shipped as deploy/grafana/dovesnap.json (written by
 * scripts/write-grafana-dashboard.sh; a unit test keeps the two equal). Typed with Grafana's own
 * schema package (type-only: nothing of it is needed at run time). Its container panels read
 * the series that deploy/prometheus/dovesnap-rules.yml records, so they show a container's
 * traffic long after it is gone: pick a time range that covers it and its name is offered.
 */

/** The Prometheus data source, chosen on the dashboard (works with import and provisioning alike). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana template variable, not a JavaScript one
const DS: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** A Prometheus query as Grafana stores it in a panel. A type alias (not an interface), so that it fits `Record<string, unknown>`. */
type PromTarget = {
  readonly refId: string;
  readonly datasource: DataSourceRef;
  readonly expr: string;
  readonly legendFormat: string;
  readonly range: boolean;
  readonly instant: boolean;
  readonly format?: 'table';
};

/** The recorded per-container series, filtered by the dashboard's variables. */
const CONTAINERS = '{network=~"$network", container=~"$container"}';

function byContainer(counter: string): string {
  return `sum by (network, container) (dovesnap:container_port_${counter}:rate2m${CONTAINERS})`;
}

function targets(queries: readonly (readonly [expr: string, legend: string])[], instant = false): PromTarget[] {
  return queries.map(([expr, legend], i) => ({
    refId: String.fromCharCode(65 + i),
    datasource: DS,
    expr,
    legendFormat: legend,
    range: !instant,
    instant,
    ...(instant ? { format: 'table' as const } : {}),
  }));
}

const TIMESERIES_OPTIONS = {
  legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['mean', 'max'] },
  tooltip: { mode: 'multi', sort: 'desc' },
};

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly unit: string;
  readonly queries: readonly (readonly [expr: string, legend: string])[];
  readonly w: number;
  readonly h: number;
  readonly kind?: 'timeseries' | 'stat' | 'table';
}

type Section = readonly [title: string, panels: readonly PanelSpec[]];

const SECTIONS: readonly Section[] = [
  [
    'Containers (from the recorded series: kept after a container is gone)',
    [
      {
        title: 'Sent by the container',
        description:
          'Bytes per second the container sent: its switch port received them (Gauge of_port_rx_bytes, recorded as dovesnap:container_port_rx_bytes:rate2m).',
        unit: 'Bps',
        queries: [[byContainer('rx_bytes'), '{{network}}/{{container}}']],
        w: 12,
        h: 9,
      },
      {
        title: 'Received by the container',
        description:
          'Bytes per second the container received: its switch port sent them (Gauge of_port_tx_bytes, recorded as dovesnap:container_port_tx_bytes:rate2m).',
        unit: 'Bps',
        queries: [[byContainer('tx_bytes'), '{{network}}/{{container}}']],
        w: 12,
        h: 9,
      },
      {
        title: 'Packets sent by the container',
        description: 'Packets per second the container sent (dovesnap:container_port_rx_packets:rate2m).',
        unit: 'pps',
        queries: [[byContainer('rx_packets'), '{{network}}/{{container}}']],
        w: 12,
        h: 8,
      },
      {
        title: 'Packets received by the container',
        description: 'Packets per second the container received (dovesnap:container_port_tx_packets:rate2m).',
        unit: 'pps',
        queries: [[byContainer('tx_packets'), '{{network}}/{{container}}']],
        w: 12,
        h: 8,
      },
      {
        title: 'Drops and errors',
        description:
          "Packets per second the switch dropped, or counted as errors, on the containers' ports. Directions are the container's.",
        unit: 'pps',
        queries: [
          [byContainer('rx_dropped'), '{{network}}/{{container}} dropped, from the container'],
          [byContainer('tx_dropped'), '{{network}}/{{container}} dropped, to the container'],
          [byContainer('rx_errors'), '{{network}}/{{container}} errors, from the container'],
          [byContainer('tx_errors'), '{{network}}/{{container}} errors, to the container'],
        ],
        w: 12,
        h: 8,
      },
      {
        title: 'Traffic in the time range',
        description:
          'Bytes each container sent and received in the whole time range shown: pick a range that covers a container that is gone.',
        unit: 'bytes',
        kind: 'table',
        queries: [
          [`sum by (network, container) (increase(dovesnap:container_port_rx_bytes${CONTAINERS}[$__range]))`, 'sent'],
          [
            `sum by (network, container) (increase(dovesnap:container_port_tx_bytes${CONTAINERS}[$__range]))`,
            'received',
          ],
        ],
        w: 12,
        h: 8,
      },
    ],
  ],
  [
    'FAUCET',
    [
      {
        title: 'FAUCET configuration reloads',
        description:
          'Reload requests FAUCET handled (dovesnap sends one after each change of faucet.yaml), and the warm and cold reloads of its switches.',
        unit: 'short',
        queries: [
          ['sum(increase(faucet_config_reload_requests_total[$__rate_interval]))', 'reload requests'],
          ['sum(increase(faucet_config_reload_warm_total[$__rate_interval]))', 'warm reloads (switches)'],
          ['sum(increase(faucet_config_reload_cold_total[$__rate_interval]))', 'cold reloads (switches)'],
        ],
        w: 10,
        h: 8,
      },
      {
        title: "dovesnap's FAUCET configuration writes",
        description:
          'Changes dovesnap made to faucet.yaml, by what FAUCET made of them: confirmed, rejected (the last good file is back), timeout, invalid, failed.',
        unit: 'short',
        queries: [
          ['sum by (outcome) (increase(dovesnap_faucet_config_writes_total[$__rate_interval]))', '{{outcome}}'],
        ],
        w: 10,
        h: 8,
      },
      {
        title: 'FAUCET load error',
        description:
          'faucet_config_load_error: 1 while FAUCET refuses its configuration file and runs the last good one.',
        unit: 'short',
        kind: 'stat',
        queries: [['max(faucet_config_load_error)', 'load error']],
        w: 4,
        h: 8,
      },
    ],
  ],
  [
    'dovesnap driver',
    [
      {
        title: 'Driver operations',
        description: "Docker's network plugin calls per second, by endpoint and outcome.",
        unit: 'reqps',
        queries: [
          [
            'sum by (endpoint, outcome) (rate(dovesnap_driver_operations_total[$__rate_interval]))',
            '{{endpoint}} {{outcome}}',
          ],
        ],
        w: 12,
        h: 8,
      },
      {
        title: 'Driver operation latency',
        description: "How long Docker's plugin calls took: 50th and 95th percentiles, by endpoint.",
        unit: 's',
        queries: [
          [
            'histogram_quantile(0.5, sum by (le, endpoint) (rate(dovesnap_driver_operation_duration_seconds_bucket[$__rate_interval])))',
            '{{endpoint}} p50',
          ],
          [
            'histogram_quantile(0.95, sum by (le, endpoint) (rate(dovesnap_driver_operation_duration_seconds_bucket[$__rate_interval])))',
            '{{endpoint}} p95',
          ],
        ],
        w: 12,
        h: 8,
      },
      {
        title: 'Networks and container endpoints',
        description: 'dovesnap networks on the host, and container endpoints by whether a container runs on them.',
        unit: 'short',
        queries: [
          ['sum(dovesnap_networks)', 'networks'],
          ['sum by (state) (dovesnap_endpoints)', 'endpoints {{state}}'],
        ],
        w: 24,
        h: 7,
      },
    ],
  ],
];

function panel(spec: PanelSpec, id: number, x: number, y: number): Panel {
  const kind = spec.kind ?? 'timeseries';
  const base: Panel = {
    id,
    type: kind,
    title: spec.title,
    description: spec.description,
    datasource: DS,
    gridPos: { x, y, w: spec.w, h: spec.h },
    fieldConfig: { defaults: { unit: spec.unit }, overrides: [] },
    targets: targets(spec.queries, kind === 'table'),
  };
  if (kind === 'timeseries') return { ...base, options: TIMESERIES_OPTIONS };
  if (kind === 'stat')
    return {
      ...base,
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'area',
      },
    };
  // One row per container, the sent and received columns side by side.
  return {
    ...base,
    transformations: [
      { id: 'merge', options: {} },
      { id: 'organize', options: { excludeByName: { Time: true } } },
    ],
  };
}

/** Rows of panels, each row's panels laid out left to right and wrapped at Grafana's 24 columns. */
function layout(): (Panel | RowPanel)[] {
  const out: (Panel | RowPanel)[] = [];
  let id = 1;
  let y = 0;
  for (const [title, specs] of SECTIONS) {
    out.push({ id: id++, type: 'row', title, collapsed: false, panels: [], gridPos: { x: 0, y, w: 24, h: 1 } });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const spec of specs) {
      if (x + spec.w > 24) {
        y += rowHeight;
        x = 0;
        rowHeight = 0;
      }
      out.push(panel(spec, id++, x, y));
      x += spec.w;
      rowHeight = Math.max(rowHeight, spec.h);
    }
    y += rowHeight;
  }
  return out;
}

/** A multi-value variable of the recorded series' label values, over the dashboard's time range. */
function labelVariable(name: string, label: string, query: string): VariableModel {
  return {
    type: 'query',
    name,
    label,
    datasource: DS,
    query: { query, refId: `${name}-variable` },
    refresh: 2, // on time range change: containers gone within the range are offered
    includeAll: true,
    multi: true,
    allValue: '.*',
    sort: 1,
    current: { selected: true, text: ['All'], value: ['$__all'] },
  };
}

export function dovesnapDashboard(): Dashboard {
  return {
    uid: 'dovesnap',
    title: 'dovesnap',
    description:
      "Per-container traffic on dovesnap's Open vSwitch bridges (kept after a container is gone), FAUCET's configuration reloads and dovesnap's driver operations. Needs Prometheus with deploy/prometheus/dovesnap-rules.yml (make up MONITORING=1).",
    tags: ['dovesnap', 'faucet', 'openvswitch'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    timezone: 'browser',
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    links: [],
    annotations: { list: [] },
    templating: {
      list: [
        { type: 'datasource', name: 'datasource', label: 'Prometheus', query: 'prometheus' },
        labelVariable('network', 'Network', 'label_values(dovesnap:container_port_rx_bytes, network)'),
        labelVariable(
          'container',
          'Container',
          'label_values(dovesnap:container_port_rx_bytes{network=~"$network"}, container)',
        ),
      ],
    },
    panels: layout(),
  };
}

/** The dashboard as deploy/grafana/dovesnap.json holds it. */
export function dashboardJson(): string {
  return `${JSON.stringify(dovesnapDashboard(), null, 2)}\n`;
}
