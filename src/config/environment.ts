import { DovesnapError, ErrorCode } from '../util/errors.js';

/**
 * Every environment variable dovesnap reads, each as a named setting: the daemon's (settings.ts
 * builds DaemonSettings from these and its own), and those of the commands and libraries that
 * run outside the daemon (attach, narwhal, the lab, the CLI). Nothing outside src/config/ reads
 * the environment (test/unit/architecture.test.ts); callers may pass an environment of their own,
 * as the tests do, and otherwise get the process's.
 */
export type Environment = Readonly<Record<string, string | undefined>>;

export function badEnv(name: string, value: string, expected: string): DovesnapError {
  return new DovesnapError(
    ErrorCode.BadOption,
    `invalid value ${JSON.stringify(value)} for environment variable ${name}: ${expected}`,
  );
}

/** The variable's value trimmed; undefined when unset or blank. */
export function nonEmpty(env: Environment, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** The process's environment, for a caller that puts something on top before reading it here (the daemon's flags). */
export function processEnvironment(): Environment {
  return process.env;
}

/** The environment a child process runs in: this process's, with `extra` on top. */
export function childEnvironment(extra: Readonly<Record<string, string>>): Record<string, string | undefined> {
  return { ...process.env, ...extra };
}

/** DOVESNAP_LOG_LEVEL: pino's level for the daemon's log (default info). */
export function logLevel(env: Environment = process.env): string {
  return env['DOVESNAP_LOG_LEVEL'] ?? 'info';
}

/** PATH: where executables are looked for. */
export function executablePath(env: Environment = process.env): string | undefined {
  return env['PATH'];
}

/** FAUCET_VENV: the Python virtual environment FAUCET's tools are installed in. */
export function faucetVenv(env: Environment = process.env): string {
  return env['FAUCET_VENV'] ?? '/opt/dovesnap/venv';
}

/** DOVESNAP_DOCKER_SOCK: the Docker Engine API's unix socket. */
export function dockerSocketPath(env: Environment = process.env): string {
  return nonEmpty(env, 'DOVESNAP_DOCKER_SOCK') ?? '/var/run/docker.sock';
}

export const DEFAULT_STATUS_URL = 'http://127.0.0.1:9401';

/** DOVESNAP_STATUS_URL: where the CLI reads the daemon's status API; `fallback` when unset. */
export function statusUrl(fallback = DEFAULT_STATUS_URL, env: Environment = process.env): string {
  return env['DOVESNAP_STATUS_URL'] ?? fallback;
}

/** DOVESNAP_DATAPATH: `netdev` or `system` overrides the guess of which OVS datapath works here. */
export function forcedDatapath(env: Environment = process.env): 'netdev' | 'system' | undefined {
  const forced = env['DOVESNAP_DATAPATH'];
  return forced === 'netdev' || forced === 'system' ? forced : undefined;
}

export const DEFAULT_DHCP_DIR = '/run/dovesnap/dhcp';

/** DOVESNAP_DHCP_DIR: where the daemon's DHCP clients keep their pidfiles, reports and logs. */
export function dhcpDirFrom(env: Environment = process.env): string {
  return nonEmpty(env, 'DOVESNAP_DHCP_DIR') ?? DEFAULT_DHCP_DIR;
}

/**
 * Where attach keeps its records and its DHCP clients' files. Records live under /var/lib so
 * that `--persist` attachments outlive a reboot; DHCP pidfiles and leases are run-time state.
 */
export interface AttachPaths {
  readonly dir: string;
  readonly dhcpDir: string;
}

/** DOVESNAP_ATTACH_DIR and DOVESNAP_ATTACH_DHCP_DIR. */
export function attachPaths(env: Environment = process.env): AttachPaths {
  return {
    dir: env['DOVESNAP_ATTACH_DIR'] ?? '/var/lib/dovesnap/attach',
    dhcpDir: env['DOVESNAP_ATTACH_DHCP_DIR'] ?? '/run/dovesnap/attach-dhcp',
  };
}

/** DOVESNAP_NARWHAL_DIR: where narwhal keeps its records. */
export function narwhalStateDir(env: Environment = process.env): string {
  return env['DOVESNAP_NARWHAL_DIR'] ?? '/var/lib/dovesnap/narwhal';
}

/** DOVESNAP_LAB_DIR: where the lab keeps each lab's state. */
export function labStateDir(env: Environment = process.env): string {
  return env['DOVESNAP_LAB_DIR'] ?? '/var/lib/dovesnap/lab';
}

/** DOVESNAP_FAUCET_TIMEOUT_MS: how long FAUCET has to confirm loading a config; undefined when unset. */
export function faucetTimeoutMs(env: Environment = process.env): number | undefined {
  const raw = nonEmpty(env, 'DOVESNAP_FAUCET_TIMEOUT_MS');
  if (raw === undefined) return undefined;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 100)
    throw badEnv('DOVESNAP_FAUCET_TIMEOUT_MS', raw, 'expected milliseconds, at least 100');
  return ms;
}

/** DOVESNAP_FAUCET_METRICS: FAUCET's Prometheus endpoint; undefined when unset. */
export function faucetMetricsUrl(env: Environment = process.env): string | undefined {
  const metrics = nonEmpty(env, 'DOVESNAP_FAUCET_METRICS');
  if (metrics !== undefined && !/^https?:\/\//.test(metrics))
    throw badEnv('DOVESNAP_FAUCET_METRICS', metrics, 'expected a URL such as http://127.0.0.1:9302/metrics');
  return metrics;
}

/** DOVESNAP_FAUCET_PIDFILE: FAUCET's pidfile, for the SIGHUP that makes it reload; undefined when unset. */
export function faucetPidfile(env: Environment = process.env): string | undefined {
  return nonEmpty(env, 'DOVESNAP_FAUCET_PIDFILE');
}

/** GAUGE_PROMETHEUS_PORT and GAUGE_PROMETHEUS_ADDR: where Gauge's Prometheus exporter listens. */
export function gaugePrometheus(env: Environment = process.env): { readonly port: number; readonly addr: string } {
  const portRaw = nonEmpty(env, 'GAUGE_PROMETHEUS_PORT') ?? '9303';
  const port = Number(portRaw);
  if (!/^[0-9]+$/.test(portRaw) || port < 1 || port > 65535)
    throw badEnv('GAUGE_PROMETHEUS_PORT', portRaw, 'expected a port number 1..65535');
  return { port, addr: nonEmpty(env, 'GAUGE_PROMETHEUS_ADDR') ?? '127.0.0.1' };
}

/** DOVESNAP_OVSDB: Open vSwitch's database socket, for the daemon and the commands that change bridges (attach). */
export function ovsdbSocket(env: Environment = process.env): string {
  return nonEmpty(env, 'DOVESNAP_OVSDB') ?? '/var/run/openvswitch/db.sock';
}
