import path from 'node:path';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { isValidInterfaceName, parseControllers } from '../model/options.js';

/**
 * The daemon's settings, from the environment (the original dovesnap's variables where they
 * exist: FAUCET_PREFIX, MIRROR_BRIDGE_IN, MIRROR_BRIDGE_OUT; DOVESNAP_* for the rest).
 * Parsed once at start; a bad value stops the daemon with a message naming the variable.
 */
export interface DaemonSettings {
  readonly faucetDir: string;
  readonly faucetConfigPath: string;
  readonly gaugeConfigPath: string;
  readonly defaultControllers: readonly string[];
  /**
   * The OpenFlow address(es) of the FAUCET that reads this host's faucet.yaml. A network whose
   * controllers include one of them is written into faucet.yaml; any other network (standalone,
   * or controlled by a FAUCET elsewhere) is not.
   */
  readonly localFaucetControllers: readonly string[];
  readonly pluginDir: string;
  /** Socket names Docker finds the driver by: `-d dovesnap` and the original's older `-d ovs`. */
  readonly driverNames: readonly string[];
  readonly statusHost: string;
  readonly statusPort: number;
  readonly ovsdbSocket: string;
  readonly dockerSocket: string;
  readonly faucetPidfile: string | undefined;
  readonly gaugePidfile: string | undefined;
  /** FAUCET's Prometheus endpoint; without it FAUCET's loading of a config is not confirmed. */
  readonly faucetMetricsUrl: string | undefined;
  readonly faucetConfirmTimeoutMs: number;
  /**
   * Most spare FAUCET interface entries a network keeps for the ports it will hand out next
   * (see core/faucet-plan.ts); 0 turns spares off.
   */
  readonly sparePorts: number;
  readonly mirrorBridgeOut: string | undefined;
  readonly mirrorBridgeIn: string | undefined;
}

export const DEFAULT_SPARE_PORTS = 64;

/** Where `make up` starts FAUCET's OpenFlow listener. */
export const DEFAULT_LOCAL_FAUCET = 'tcp:127.0.0.1:6653';

/** Is a network with these controllers controlled by this host's FAUCET? */
export function isLocalFaucet(controllers: readonly string[], localFaucetControllers: readonly string[]): boolean {
  return controllers.some((c) => localFaucetControllers.includes(c));
}

function badEnv(name: string, value: string, expected: string): DovesnapError {
  return new DovesnapError(ErrorCode.BadOption, `invalid value ${JSON.stringify(value)} for environment variable ${name}: ${expected}`);
}

function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function faucetDirFor(env: NodeJS.ProcessEnv): string {
  return path.join(env['FAUCET_PREFIX'] ?? '', '/etc/faucet');
}

function mirrorSettings(env: NodeJS.ProcessEnv): { mirrorBridgeOut: string | undefined; mirrorBridgeIn: string | undefined } {
  const out = nonEmpty(env, 'MIRROR_BRIDGE_OUT');
  const inn = nonEmpty(env, 'MIRROR_BRIDGE_IN');
  for (const [name, v] of [['MIRROR_BRIDGE_OUT', out], ['MIRROR_BRIDGE_IN', inn]] as const) {
    if (v !== undefined && !isValidInterfaceName(v)) throw badEnv(name, v, 'expected an interface name (1 to 15 letters, digits, _ . -)');
  }
  if (inn !== undefined && out === undefined) throw badEnv('MIRROR_BRIDGE_IN', inn, 'needs MIRROR_BRIDGE_OUT too (where the passed-on traffic leaves)');
  if (inn !== undefined && inn === out) throw badEnv('MIRROR_BRIDGE_IN', inn, 'must differ from MIRROR_BRIDGE_OUT');
  return { mirrorBridgeOut: out, mirrorBridgeIn: inn };
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): DaemonSettings {
  const faucetDir = faucetDirFor(env);
  // The original's STACK_OFCONTROLLERS (--default_ofcontrollers) wins: `make up` always sets ours.
  const controllersVar = nonEmpty(env, 'STACK_OFCONTROLLERS') !== undefined ? 'STACK_OFCONTROLLERS' : 'DOVESNAP_DEFAULT_CONTROLLERS';
  const controllersRaw = nonEmpty(env, controllersVar);
  const defaultControllers = controllersRaw === undefined ? [] : parseControllers(controllersRaw, controllersVar);

  const localRaw = nonEmpty(env, 'DOVESNAP_LOCAL_FAUCET');
  const localFaucetControllers = localRaw === undefined ? [DEFAULT_LOCAL_FAUCET] : parseControllers(localRaw, 'DOVESNAP_LOCAL_FAUCET');

  const statusAddr = nonEmpty(env, 'DOVESNAP_STATUS_ADDR') ?? '127.0.0.1:9401';
  const m = /^(.*):([0-9]{1,5})$/.exec(statusAddr);
  const statusPort = Number(m?.[2]);
  if (!m || statusPort < 1 || statusPort > 65535 || m[1] === '') throw badEnv('DOVESNAP_STATUS_ADDR', statusAddr, 'expected HOST:PORT such as 127.0.0.1:9401');

  const timeoutRaw = nonEmpty(env, 'DOVESNAP_FAUCET_TIMEOUT_MS') ?? '15000';
  const faucetConfirmTimeoutMs = Number(timeoutRaw);
  if (!Number.isInteger(faucetConfirmTimeoutMs) || faucetConfirmTimeoutMs < 100) throw badEnv('DOVESNAP_FAUCET_TIMEOUT_MS', timeoutRaw, 'expected milliseconds, at least 100');

  const sparesRaw = nonEmpty(env, 'DOVESNAP_SPARE_PORTS') ?? String(DEFAULT_SPARE_PORTS);
  const sparePorts = Number(sparesRaw);
  if (!/^[0-9]+$/.test(sparesRaw) || sparePorts > 1024) throw badEnv('DOVESNAP_SPARE_PORTS', sparesRaw, 'expected a whole number from 0 to 1024');

  const metrics = nonEmpty(env, 'DOVESNAP_FAUCET_METRICS');
  if (metrics !== undefined && !/^https?:\/\//.test(metrics)) throw badEnv('DOVESNAP_FAUCET_METRICS', metrics, 'expected a URL such as http://127.0.0.1:9302/metrics');

  return Object.freeze({
    faucetDir,
    faucetConfigPath: path.join(faucetDir, 'faucet.yaml'),
    gaugeConfigPath: path.join(faucetDir, 'gauge.yaml'),
    defaultControllers,
    localFaucetControllers,
    pluginDir: nonEmpty(env, 'DOVESNAP_PLUGIN_DIR') ?? '/run/docker/plugins',
    driverNames: ['dovesnap', 'ovs'],
    // "[::1]:9401": the brackets belong to the address notation, not to the host name.
    statusHost: (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1'),
    statusPort,
    ovsdbSocket: nonEmpty(env, 'DOVESNAP_OVSDB') ?? '/var/run/openvswitch/db.sock',
    dockerSocket: nonEmpty(env, 'DOVESNAP_DOCKER_SOCK') ?? '/var/run/docker.sock',
    faucetPidfile: nonEmpty(env, 'DOVESNAP_FAUCET_PIDFILE'),
    gaugePidfile: nonEmpty(env, 'DOVESNAP_GAUGE_PIDFILE'),
    faucetMetricsUrl: metrics,
    faucetConfirmTimeoutMs,
    sparePorts,
    ...mirrorSettings(env),
  });
}
