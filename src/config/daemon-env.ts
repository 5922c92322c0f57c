import { CONFRPC_ENV_DEFAULTS } from './confrpc.js';
import { type Environment, faucetMetricsUrl, faucetPidfile } from './environment.js';

/**
 * The environment the daemon is started with, by `make up` (scripts/up.sh runs `dovesnap settings --env`)
 * and by deploy/systemd/dovesnap.service (its Environment= lines, checked against this by a contract test).
 * One list, so that what the shell starts and what loadSettings reads cannot drift apart.
 */

/** Where `make up` has FAUCET write its pid and serve its metrics (scripts/lib.sh starts it so). */
export const MAKE_UP_FAUCET_PIDFILE = '/run/dovesnap/faucet.pid';
export const MAKE_UP_FAUCET_METRICS = 'http://127.0.0.1:9302/metrics';

/** `make up`'s layout, as the daemon needs to know it (scripts/lib.sh starts FAUCET and Gauge on these). */
export const MAKE_UP_DAEMON_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  FAUCET_PREFIX: '',
  DOVESNAP_DEFAULT_CONTROLLERS: 'tcp:127.0.0.1:6653,tcp:127.0.0.1:6654',
  DOVESNAP_FAUCET_PIDFILE: MAKE_UP_FAUCET_PIDFILE,
  DOVESNAP_GAUGE_PIDFILE: '/run/dovesnap/gauge.pid',
  DOVESNAP_FAUCET_METRICS: MAKE_UP_FAUCET_METRICS,
  DOVESNAP_STATUS_ADDR: '127.0.0.1:9401',
  // glibc's default of up to 8 malloc arenas per core, one per busy thread, holds memory the
  // daemon's few threads never need together (docs/benchmarks.md).
  MALLOC_ARENA_MAX: '2',
  // FAUCET's configuration on another host (config/confrpc.ts): off while FAUCETCONFRPC_ADDR is empty.
  ...CONFRPC_ENV_DEFAULTS,
});

/**
 * The caller's variables that reach the daemon besides DOVESNAP_*: the original dovesnap's names
 * (loadSettings reads them). GAUGE_PROMETHEUS_* are not among them: `make up` starts Gauge with its
 * own fixed address, and the daemon must describe that one.
 */
export const PASSED_THROUGH_ENV: readonly string[] = Object.freeze([
  'FAUCET_PREFIX',
  'MIRROR_BRIDGE_OUT',
  'MIRROR_BRIDGE_IN',
  'STACKING_INTERFACES',
  'STACK_PRIORITY1',
  'STACK_MIRROR_INTERFACE',
  'STACK_OFCONTROLLERS',
  ...Object.keys(CONFRPC_ENV_DEFAULTS),
]);

/** Whether the caller's variable `name` is handed to the daemon. */
export function passedThrough(name: string): boolean {
  return name.startsWith('DOVESNAP_') || PASSED_THROUGH_ENV.includes(name);
}

/**
 * The daemon's environment as NAME=VALUE lines, sorted by byte (as `LC_ALL=C sort`, so that
 * scripts/up.sh can compare it with the one the running daemon was started with): `make up`'s
 * defaults, then the caller's passed-through variables, which win.
 */
export function daemonEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  const out = new Map(Object.entries(MAKE_UP_DAEMON_ENV));
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && passedThrough(name)) out.set(name, value);
  }
  return [...out]
    .map(([name, value]) => `${name}=${value}`)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Where the operator's commands find FAUCET when not told: the daemon's variables, else `make up`'s. */
export function faucetEndpoints(env: Environment = process.env): { metricsUrl: string; pidfile: string } {
  return {
    metricsUrl: faucetMetricsUrl(env) ?? MAKE_UP_FAUCET_METRICS,
    pidfile: faucetPidfile(env) ?? MAKE_UP_FAUCET_PIDFILE,
  };
}
