/**
 * What FAUCET says about its configuration, read from its Prometheus endpoint. This is the only
 * confirmation FAUCET gives that a reload happened and what it loaded.
 */
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { httpGetText, type TextResponse } from '../util/http-get.js';

/**
 * The metric names as exposed (faucet_metrics.py through prometheus_client): the Info
 * `faucet_config_hash` is exposed with an `_info` suffix, the Counter
 * `faucet_config_reload_requests` with `_total`.
 */
export const FAUCET_CONFIG_METRICS = {
  hashInfo: 'faucet_config_hash_info',
  loadError: 'faucet_config_load_error',
  reloadRequests: 'faucet_config_reload_requests_total',
} as const;

export interface PromSample {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
  readonly value: number;
  readonly timestampMs?: number;
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;

function parseNumber(text: string): number | undefined {
  switch (text) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default: {
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
      return Number(text);
    }
  }
}

/** Parses one sample line; throws with the reason (the caller adds the line number). */
function parseSample(line: string): PromSample {
  let at = 0;
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = at;
    const found = re.exec(line);
    if (found === null) return undefined;
    at = re.lastIndex;
    return found[0];
  };
  const skipSpaces = (): void => {
    while (line[at] === ' ' || line[at] === '\t') at += 1;
  };

  const name = match(NAME);
  if (name === undefined) throw new Error('expected a metric name');
  const labels = new Map<string, string>();
  skipSpaces();
  if (line[at] === '{') {
    at += 1;
    for (;;) {
      skipSpaces();
      if (line[at] === '}') break;
      const label = match(LABEL_NAME);
      if (label === undefined) throw new Error(`expected a label name at column ${at + 1}`);
      skipSpaces();
      if (line[at] !== '=') throw new Error(`expected '=' after label ${label}`);
      at += 1;
      skipSpaces();
      if (line[at] !== '"') throw new Error(`expected '"' to open the value of label ${label}`);
      at += 1;
      let value = '';
      for (;;) {
        const ch = line[at];
        if (ch === undefined) throw new Error(`unterminated value of label ${label}`);
        at += 1;
        if (ch === '"') break;
        if (ch !== '\\') {
          value += ch;
          continue;
        }
        const escaped = line[at];
        at += 1;
        // The format defines only these three escapes; keep anything else as written.
        if (escaped === 'n') value += '\n';
        else if (escaped === '\\' || escaped === '"') value += escaped;
        else if (escaped === undefined) throw new Error(`unterminated value of label ${label}`);
        else value += `\\${escaped}`;
      }
      labels.set(label, value);
      skipSpaces();
      if (line[at] === ',') at += 1;
      else if (line[at] !== '}') throw new Error(`expected ',' or '}' after label ${label}`);
    }
    at += 1;
  }
  const rest = line
    .slice(at)
    .trim()
    .split(/[ \t]+/);
  const [valueText, timestampText, ...extra] = rest;
  const value = valueText === undefined ? undefined : parseNumber(valueText);
  if (value === undefined) throw new Error(`bad sample value '${valueText ?? ''}' for ${name}`);
  if (extra.length > 0) throw new Error(`unexpected text after the sample of ${name}`);
  if (timestampText === undefined) return { name, labels, value };
  const timestampMs = Number(timestampText);
  if (!Number.isInteger(timestampMs)) throw new Error(`bad timestamp '${timestampText}' for ${name}`);
  return { name, labels, value, timestampMs };
}

/** Parses Prometheus text exposition format 0.0.4 (what prometheus_client serves). */
export function parsePrometheusText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      samples.push(parseSample(line));
    } catch (err) {
      throw new Error(`Prometheus metrics line ${index + 1}: ${errorMessage(err)}`);
    }
  }
  return samples;
}

export interface FaucetConfigState {
  /** Files FAUCET last loaded successfully (real paths, includes too), or the file that failed. */
  readonly files: string[];
  /** sha256 (hex) of each of `files`' UTF-8 content, same order; empty after a failed load. */
  readonly hashes: string[];
  /** FAUCET's message for the last failed load, '' after a successful one. */
  readonly error: string;
  /** True if FAUCET's last attempt to (re)load its configuration failed. */
  readonly loadError: boolean;
  /** How many reloads FAUCET has processed; it counts after updating the hash metrics, so a
   * rise past a baseline means the metrics describe a reload requested after that baseline.
   * Undefined if not exposed. */
  readonly reloadRequests: number | undefined;
}

function splitList(text: string | undefined): string[] {
  return text === undefined || text === '' ? [] : text.split(',');
}

export function faucetConfigStateFromMetrics(text: string): FaucetConfigState {
  const samples = parsePrometheusText(text);
  const last = (name: string): PromSample | undefined => samples.filter((sample) => sample.name === name).pop();
  const info = last(FAUCET_CONFIG_METRICS.hashInfo);
  const loadError = last(FAUCET_CONFIG_METRICS.loadError);
  const reloads = last(FAUCET_CONFIG_METRICS.reloadRequests);
  return {
    files: splitList(info?.labels.get('config_files')),
    hashes: splitList(info?.labels.get('hashes')),
    error: info?.labels.get('error') ?? '',
    loadError: loadError !== undefined && loadError.value === 1,
    reloadRequests: reloads?.value,
  };
}

/**
 * FAUCET's exporter answers `?name[]=…` with only those metrics. The full page grows with every
 * DP FAUCET has ever run (it keeps their series) and reaches megabytes; the few lines dovesnap
 * needs stay a few hundred bytes, cheap enough to poll every few milliseconds.
 */
export function onlyMetrics(metricsUrl: string, names: readonly string[]): string {
  const url = new URL(metricsUrl);
  for (const n of names) url.searchParams.append('name[]', n);
  return url.toString();
}

/** How the metrics are fetched: httpGetText, not the global fetch() (see there why), or a test's fake. */
export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<TextResponse>;

/**
 * Reads FAUCET's configuration metrics. Throws DovesnapError(FaucetTimeout) if FAUCET cannot be
 * reached or answers with something else than metrics: for dovesnap both mean that FAUCET is
 * not confirming anything right now.
 */
export async function readFaucetConfigState(
  metricsUrl: string,
  fetchImpl: FetchLike = httpGetText,
  timeoutMs = 5000,
): Promise<FaucetConfigState> {
  let body: string;
  try {
    const response = await fetchImpl(onlyMetrics(metricsUrl, Object.values(FAUCET_CONFIG_METRICS)), {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.text();
  } catch (err) {
    // A fetch()-like client may report "fetch failed" and keep the useful part (ECONNREFUSED, ...) in `cause`.
    const cause = err instanceof Error && err.cause !== undefined ? ` (${errorMessage(err.cause)})` : '';
    throw new DovesnapError(
      ErrorCode.FaucetTimeout,
      `cannot read FAUCET metrics from ${metricsUrl}: ${errorMessage(err)}${cause}`,
      { cause: err },
    );
  }
  try {
    return faucetConfigStateFromMetrics(body);
  } catch (err) {
    throw new DovesnapError(
      ErrorCode.FaucetTimeout,
      `FAUCET metrics from ${metricsUrl} are unreadable: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}

/** The text of these metrics only; DovesnapError(FaucetTimeout) when FAUCET answers anything but 200. */
async function fetchMetrics(
  metricsUrl: string,
  names: readonly string[],
  fetchImpl: FetchLike,
  timeoutMs: number,
): Promise<string> {
  const response = await fetchImpl(onlyMetrics(metricsUrl, names), { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new DovesnapError(ErrorCode.FaucetTimeout, `FAUCET metrics answered HTTP ${response.status}`);
  return response.text();
}

/**
 * Which DPs FAUCET is running (connected and configured), by dp_id, from `dp_status`. A switch
 * FAUCET is not running yet ignores port events, so dovesnap waits for this before it raises a
 * container's link.
 */
export async function readRunningDps(
  metricsUrl: string,
  fetchImpl: FetchLike = httpGetText,
  timeoutMs = 5000,
): Promise<Set<bigint>> {
  const running = new Set<bigint>();
  for (const s of parsePrometheusText(await fetchMetrics(metricsUrl, ['dp_status'], fetchImpl, timeoutMs))) {
    const id = s.labels.get('dp_id');
    if (s.name === 'dp_status' && s.value === 1 && id !== undefined) running.add(BigInt(id));
  }
  return running;
}

/** One `port_stack_state` series: FAUCET labels it with the DP's name, the port and its description. */
export interface StackPortStateSeries {
  readonly description: string | undefined;
  readonly state: number;
}

/** FAUCET's `port_stack_state` by `DP name:port`, every series kept (see stack-settle.ts everyStackPortUp). */
export type StackPortStateReport = ReadonlyMap<string, readonly StackPortStateSeries[]>;

export async function readStackPortState(
  metricsUrl: string,
  fetchImpl: FetchLike = httpGetText,
  timeoutMs = 5000,
): Promise<StackPortStateReport> {
  return stackPortStateFromMetrics(await fetchMetrics(metricsUrl, ['port_stack_state'], fetchImpl, timeoutMs));
}

export function stackPortStateFromMetrics(body: string): StackPortStateReport {
  const out = new Map<string, StackPortStateSeries[]>();
  for (const s of parsePrometheusText(body)) {
    if (s.name !== 'port_stack_state') continue;
    const key = `${s.labels.get('dp_name') ?? ''}:${s.labels.get('port') ?? ''}`;
    out.set(key, [...(out.get(key) ?? []), { description: s.labels.get('port_description'), state: s.value }]);
  }
  return out;
}

/** One `port_status` series of a port: FAUCET labels it with the DP's name and the port's description. */
export interface PortStatusSeries {
  readonly dpName: string | undefined;
  readonly description: string | undefined;
  readonly up: boolean;
}

/** FAUCET's `port_status` series by DP id and port number. */
export type PortStatusReport = ReadonlyMap<bigint, ReadonlyMap<number, readonly PortStatusSeries[]>>;

/** FAUCET's `port_status`, every series kept with its labels (see portReportedUp). */
export async function readPortStatus(
  metricsUrl: string,
  fetchImpl: FetchLike = httpGetText,
  timeoutMs = 5000,
): Promise<PortStatusReport> {
  return portStatusFromMetrics(await fetchMetrics(metricsUrl, ['port_status'], fetchImpl, timeoutMs));
}

export function portStatusFromMetrics(body: string): PortStatusReport {
  const out = new Map<bigint, Map<number, PortStatusSeries[]>>();
  for (const s of parsePrometheusText(body)) {
    const id = s.labels.get('dp_id');
    const port = Number(s.labels.get('port'));
    if (s.name !== 'port_status' || id === undefined || !Number.isInteger(port)) continue;
    const dp = out.get(BigInt(id)) ?? new Map<number, PortStatusSeries[]>();
    dp.set(port, [
      ...(dp.get(port) ?? []),
      { dpName: s.labels.get('dp_name'), description: s.labels.get('port_description'), up: s.value === 1 },
    ]);
    out.set(BigInt(id), dp);
  }
  return out;
}

/**
 * Whether FAUCET reports a port up; undefined if it reports nothing for it. prometheus_client
 * never drops a series, so FAUCET keeps those of a port's earlier labels at their last value: a
 * spare entry renamed after its container, or a deleted network whose name and dp_id came back.
 * A stale "up" must not hide a link-up FAUCET missed, so the series of the DP name and the
 * description FAUCET is running decides when there is one; otherwise any series saying up.
 * FAUCET sets a series only on port events, not when a reload renames a port, so the live
 * series can also be stale at "down" (a container of the same name and id back on its old
 * number): the cost is one needless bounce, against a port left dead for good.
 */
export function portReportedUp(
  report: PortStatusReport,
  dpId: bigint,
  port: number,
  running: { readonly dpName?: string; readonly description?: string } = {},
): boolean | undefined {
  const all = report.get(dpId)?.get(port) ?? [];
  const ofDp =
    running.dpName === undefined ? all : all.filter((s) => s.dpName === undefined || s.dpName === running.dpName);
  if (ofDp.length === 0) return undefined;
  const live = running.description === undefined ? [] : ofDp.filter((s) => s.description === running.description);
  return (live.length > 0 ? live : ofDp).some((s) => s.up);
}
