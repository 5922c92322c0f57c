import { Document, type YAMLMap } from 'yaml';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { flowSeq, yamlMap } from './entries.js';
import { renderFaucetConfig } from './render.js';
import { TO_STRING_OPTIONS, YAML_OPTIONS } from './yaml.js';

/** The first faucet.yaml and gauge.yaml `dovesnap setup-config` writes where there are none. */
const INITIAL_HEADER = `# FAUCET configuration, shared by the operator and dovesnap.
#
# Add your own ACLs, meters, VLANs, routers and DPs here: dovesnap keeps every byte of them,
# comments included. dovesnap adds, updates and removes only the DPs of its Docker networks
# (one DP per network, named after it), the VLANs named <network>-vlan<vid> and
# dovesnap-vid<vid>, and the placeholder DP below, which exists only because FAUCET refuses a
# file without a DP and is removed as soon as another DP exists.
`;

/** A minimal, valid, commented faucet.yaml holding only the placeholder DP. */
export function initialFaucetConfig(): string {
  return renderFaucetConfig(INITIAL_HEADER, { dps: [], owned: new Set() });
}

export interface GaugeConfigOptions {
  /** The faucet.yaml whose DPs Gauge watches; absolute, as Gauge resolves it from its cwd. */
  readonly faucetConfigPath: string;
  readonly prometheusPort: number;
  /** Gauge's default is 0.0.0.0. */
  readonly prometheusAddr?: string;
}

/** How often Gauge polls port counters (seconds): the watchers dovesnap writes into gauge.yaml. */
export const PORT_STATS_INTERVAL_S = 30;

/** gauge.yaml: port state, port stats and flow tables of every DP, exported to Prometheus. */
export function gaugeConfig(opts: GaugeConfigOptions): string {
  const { faucetConfigPath, prometheusPort, prometheusAddr } = opts;
  if (!faucetConfigPath.startsWith('/')) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `Gauge needs an absolute FAUCET config path, got '${faucetConfigPath}'`,
    );
  }
  if (!Number.isInteger(prometheusPort) || prometheusPort < 1 || prometheusPort > 65535) {
    throw new DovesnapError(ErrorCode.BadOption, `Gauge Prometheus port must be 1..65535, got ${prometheusPort}`);
  }
  const watcher = (type: string, interval?: number): YAMLMap =>
    yamlMap([
      ['type', type],
      ['all_dps', true],
      ['interval', interval],
      ['db', 'prometheus'],
    ]);
  const doc = new Document(null, YAML_OPTIONS);
  doc.contents = yamlMap([
    ['faucet_configs', flowSeq([faucetConfigPath])],
    [
      'watchers',
      yamlMap([
        ['port_status_poller', watcher('port_state')],
        ['port_stats_poller', watcher('port_stats', PORT_STATS_INTERVAL_S)],
        ['flow_table_poller', watcher('flow_table', 60)],
      ]),
    ],
    [
      'dbs',
      yamlMap([
        [
          'prometheus',
          yamlMap([
            ['type', 'prometheus'],
            ['prometheus_port', prometheusPort],
            ['prometheus_addr', prometheusAddr],
          ]),
        ],
      ]),
    ],
  ]);
  doc.commentBefore =
    ' Gauge configuration, written by dovesnap (`dovesnap setup-config`). Yours to edit: dovesnap\n only makes sure, at every start, that the ports of every switch are watched (README: Your FAUCET configuration).';
  return doc.toString({ ...TO_STRING_OPTIONS, indent: 2 });
}
