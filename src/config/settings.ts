import path from 'node:path';
import { statusPeersSetting } from './status-peers.js';
import { DEFAULT_STATUS_ALLOW, parseAllowList, type AllowList } from './status-allow.js';
import { parseStatusHosts } from './status-hosts.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { isValidInterfaceName, parseControllers } from '../model/options.js';
import {
  badEnv,
  type Environment,
  dhcpDirFrom,
  dockerSocketPath,
  faucetMetricsUrl,
  faucetPidfile,
  faucetTimeoutMs,
  gaugePrometheus,
  nonEmpty,
  ovsdbSocket,
} from './environment.js';
import { parseFailpoints, type FailAction, type FailpointName } from '../util/failpoints.js';
import { type ConfrpcSettings, confrpcProtoPath, confrpcSettings } from './confrpc.js';
import { dpHostSetting } from './host-name.js';
import { type DriverCapabilities, driverCapabilities } from './capabilities.js';

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
  /** The answer to Docker's GetCapabilities on those sockets (DOVESNAP_SCOPE, DOVESNAP_CONNECTIVITY_SCOPE). */
  readonly capabilities: DriverCapabilities;
  readonly statusHost: string;
  readonly statusPort: number;
  /** Networks whose hosts may read the status API (DOVESNAP_STATUS_ALLOW). */
  readonly statusAllow: AllowList;
  /** Names (and addresses) besides its own that the status API may be called by (DOVESNAP_STATUS_HOSTS). */
  readonly statusHosts: readonly string[];
  /** Other hosts' status APIs, shown in the live view beside this host's (DOVESNAP_STATUS_PEERS). */
  readonly statusPeers: readonly string[];
  readonly ovsdbSocket: string;
  readonly dockerSocket: string;
  readonly faucetPidfile: string | undefined;
  readonly gaugePidfile: string | undefined;
  /** FAUCET's Prometheus endpoint; without it FAUCET's loading of a config is not confirmed. */
  readonly faucetMetricsUrl: string | undefined;
  readonly faucetConfirmTimeoutMs: number;
  /**
   * Most spare FAUCET interface entries a network keeps for the ports it will hand out next
   * (see driver/faucet-plan.ts); 0 turns spares off.
   */
  readonly sparePorts: number;
  /**
   * Most ready ports a network keeps: veth pairs already on its bridge and programmed by FAUCET,
   * which a container without port labels takes at CreateEndpoint (see driver/port-pool.ts); 0
   * turns them off.
   */
  readonly readyPorts: number;
  /** Where the DHCP clients' pidfiles, reports and logs live (kept across daemon restarts for adoption). */
  readonly dhcpDir: string;
  /** Where Gauge's Prometheus exporter listens, for the db dovesnap adds to gauge.yaml when it has none. */
  readonly gaugePrometheusPort: number;
  readonly gaugePrometheusAddr: string;
  readonly mirrorBridgeOut: string | undefined;
  readonly mirrorBridgeIn: string | undefined;
  /** FAUCET stacking (STACKING_INTERFACES and friends); undefined when off. */
  readonly stacking: StackingSettings | undefined;
  /**
   * FAUCET's configuration on another host, written through faucetconfrpc (FAUCETCONFRPC_*);
   * undefined: the local faucet.yaml. `proto`: faucetconfrpc's service definition, from the
   * installed package (DOVESNAP_CONFRPC_PROTO overrides); undefined if it was not found.
   */
  readonly confrpc: (ConfrpcSettings & { readonly proto: string | undefined }) | undefined;
  /**
   * With the remote backend: this host's part of its DP names (DOVESNAP_HOST_NAME, default the
   * host name; driver/dp-naming.ts). Undefined with the local file.
   */
  readonly dpHost: string | undefined;
  /** Faults to inject, for the fault-matrix tests (DOVESNAP_FAILPOINTS; util/failpoints.ts). Empty normally. */
  readonly failpoints: ReadonlyMap<FailpointName, FailAction>;
}

/** One of this host's interfaces that links its stack switch to another switch's port. */
export interface StackingInterface {
  readonly remoteDp: string;
  readonly remotePort: number;
  readonly interface: string;
}

export interface StackingSettings {
  readonly interfaces: readonly StackingInterface[];
  /** The DP that is the stack root (STACK_PRIORITY1). */
  readonly priority1: string;
  /**
   * Where mirrored traffic of every host ends up (STACK_MIRROR_INTERFACE=DP:PORT[:IFACE]); IFACE
   * only for this host's own stack switch, whose port PORT dovesnap then makes of that interface.
   */
  readonly mirrorInterface:
    | { readonly dp: string; readonly port: number; readonly interface?: string | undefined }
    | undefined;
}

export const DEFAULT_SPARE_PORTS = 64;
/** Enough for ~64 container starts while FAUCET reloads a 500-port DP (docs/benchmarks.md). */
export const DEFAULT_READY_PORTS = 128;

/** Where `make up` starts FAUCET's OpenFlow listener. */
export const DEFAULT_LOCAL_FAUCET = 'tcp:127.0.0.1:6653';

/** Is a network with these controllers controlled by this host's FAUCET? */
export function isLocalFaucet(controllers: readonly string[], localFaucetControllers: readonly string[]): boolean {
  return controllers.some((c) => localFaucetControllers.includes(c));
}

/** FAUCET_PREFIX: FAUCET's files are in $FAUCET_PREFIX/etc/faucet. */
export function faucetDirFor(env: Environment = process.env): string {
  return path.join(env['FAUCET_PREFIX'] ?? '', '/etc/faucet');
}

const DP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

function stackingSettings(
  env: Environment,
  mirrorBridgeOut: string | undefined,
  defaultControllers: readonly string[],
): StackingSettings | undefined {
  const raw = nonEmpty(env, 'STACKING_INTERFACES');
  const priority1 = nonEmpty(env, 'STACK_PRIORITY1');
  const mirrorRaw = nonEmpty(env, 'STACK_MIRROR_INTERFACE');
  if (raw === undefined) {
    if (priority1 !== undefined)
      throw badEnv('STACK_PRIORITY1', priority1, 'needs STACKING_INTERFACES (stacking is off without it)');
    if (mirrorRaw !== undefined)
      throw badEnv('STACK_MIRROR_INTERFACE', mirrorRaw, 'needs STACKING_INTERFACES (stacking is off without it)');
    return undefined;
  }
  const interfaces: StackingInterface[] = [];
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const m = /^([^:]+):([0-9]{1,10}):([^:]+)$/.exec(item);
    const port = Number(m?.[2]);
    if (!m || !DP_NAME.test(m[1] ?? '') || !(port >= 1 && port <= 0xfeff) || !isValidInterfaceName(m[3] ?? '')) {
      throw badEnv(
        'STACKING_INTERFACES',
        raw,
        `${JSON.stringify(item)} must be DP:PORT:INTERFACE (the remote switch's DP name and port, this host's interface)`,
      );
    }
    if (interfaces.some((i) => i.interface === m[3]))
      throw badEnv('STACKING_INTERFACES', raw, `interface ${m[3]} is listed twice`);
    interfaces.push({ remoteDp: m[1] ?? '', remotePort: port, interface: m[3] ?? '' });
  }
  if (interfaces.length === 0) throw badEnv('STACKING_INTERFACES', raw, 'expected DP:PORT:INTERFACE,...');
  if (priority1 === undefined || !DP_NAME.test(priority1)) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `environment variable STACK_PRIORITY1 must name the stack's root DP when STACKING_INTERFACES is set${priority1 === undefined ? '' : ` (got ${JSON.stringify(priority1)})`}`,
    );
  }
  let mirrorInterface: StackingSettings['mirrorInterface'];
  if (mirrorRaw !== undefined) {
    const m = /^([^:]+):([0-9]{1,10})(?::([A-Za-z0-9_.-]{1,15}))?$/.exec(mirrorRaw);
    const port = Number(m?.[2]);
    if (!m || !DP_NAME.test(m[1] ?? '') || !(port >= 1 && port <= 0xfeff))
      throw badEnv(
        'STACK_MIRROR_INTERFACE',
        mirrorRaw,
        "expected DP:PORT, the switch and port where mirrored traffic of every host ends up (DP:PORT:IFACE for this host's own stack switch)",
      );
    mirrorInterface = { dp: m[1] ?? '', port, ...(m[3] === undefined ? {} : { interface: m[3] }) };
  }
  if (mirrorBridgeOut !== undefined)
    throw badEnv(
      'MIRROR_BRIDGE_OUT',
      mirrorBridgeOut,
      'is for one host; with STACKING_INTERFACES use STACK_MIRROR_INTERFACE',
    );
  if (defaultControllers.length === 0)
    throw badEnv(
      'STACKING_INTERFACES',
      raw,
      'stacking needs OpenFlow controllers for the stack switch (STACK_OFCONTROLLERS or DOVESNAP_DEFAULT_CONTROLLERS)',
    );
  return { interfaces, priority1, mirrorInterface };
}

function mirrorSettings(env: Environment): {
  mirrorBridgeOut: string | undefined;
  mirrorBridgeIn: string | undefined;
} {
  const out = nonEmpty(env, 'MIRROR_BRIDGE_OUT');
  const inn = nonEmpty(env, 'MIRROR_BRIDGE_IN');
  for (const [name, v] of [
    ['MIRROR_BRIDGE_OUT', out],
    ['MIRROR_BRIDGE_IN', inn],
  ] as const) {
    if (v !== undefined && !isValidInterfaceName(v))
      throw badEnv(name, v, 'expected an interface name (1 to 15 letters, digits, _ . -)');
  }
  if (inn !== undefined && out === undefined)
    throw badEnv('MIRROR_BRIDGE_IN', inn, 'needs MIRROR_BRIDGE_OUT too (where the passed-on traffic leaves)');
  if (inn !== undefined && inn === out) throw badEnv('MIRROR_BRIDGE_IN', inn, 'must differ from MIRROR_BRIDGE_OUT');
  return { mirrorBridgeOut: out, mirrorBridgeIn: inn };
}

export function loadSettings(env: Environment = process.env): DaemonSettings {
  const faucetDir = faucetDirFor(env);
  // The original's STACK_OFCONTROLLERS (--default_ofcontrollers) wins: `make up` always sets ours.
  const controllersVar =
    nonEmpty(env, 'STACK_OFCONTROLLERS') !== undefined ? 'STACK_OFCONTROLLERS' : 'DOVESNAP_DEFAULT_CONTROLLERS';
  const controllersRaw = nonEmpty(env, controllersVar);
  const defaultControllers = controllersRaw === undefined ? [] : parseControllers(controllersRaw, controllersVar);

  const localRaw = nonEmpty(env, 'DOVESNAP_LOCAL_FAUCET');
  const confrpc = confrpcSettings(env);
  // With FAUCET on another host, the FAUCET whose configuration dovesnap writes is the one its
  // switches are given by default (STACK_OFCONTROLLERS), unless told otherwise.
  const localFaucetControllers =
    localRaw !== undefined
      ? parseControllers(localRaw, 'DOVESNAP_LOCAL_FAUCET')
      : confrpc !== undefined && defaultControllers.length > 0
        ? [...defaultControllers]
        : [DEFAULT_LOCAL_FAUCET];

  const statusAddr = nonEmpty(env, 'DOVESNAP_STATUS_ADDR') ?? '127.0.0.1:9401';
  const m = /^(.*):([0-9]{1,5})$/.exec(statusAddr);
  const statusPort = Number(m?.[2]);
  if (!m || statusPort < 1 || statusPort > 65535 || m[1] === '')
    throw badEnv('DOVESNAP_STATUS_ADDR', statusAddr, 'expected HOST:PORT such as 127.0.0.1:9401');

  const faucetConfirmTimeoutMs = faucetTimeoutMs(env) ?? 15_000;

  const sparesRaw = nonEmpty(env, 'DOVESNAP_SPARE_PORTS') ?? String(DEFAULT_SPARE_PORTS);
  const sparePorts = Number(sparesRaw);
  if (!/^[0-9]+$/.test(sparesRaw) || sparePorts > 1024)
    throw badEnv('DOVESNAP_SPARE_PORTS', sparesRaw, 'expected a whole number from 0 to 1024');

  const readyRaw = nonEmpty(env, 'DOVESNAP_READY_PORTS') ?? String(DEFAULT_READY_PORTS);
  const readyPorts = Number(readyRaw);
  if (!/^[0-9]+$/.test(readyRaw) || readyPorts > 1024)
    throw badEnv('DOVESNAP_READY_PORTS', readyRaw, 'expected a whole number from 0 to 1024');

  const metrics = faucetMetricsUrl(env);

  const allowRaw = nonEmpty(env, 'DOVESNAP_STATUS_ALLOW') ?? DEFAULT_STATUS_ALLOW;
  let statusAllow: AllowList;
  try {
    statusAllow = parseAllowList(allowRaw);
  } catch (err) {
    throw badEnv('DOVESNAP_STATUS_ALLOW', allowRaw, err instanceof Error ? err.message : String(err));
  }

  const hostsRaw = nonEmpty(env, 'DOVESNAP_STATUS_HOSTS') ?? '';
  let statusHosts: string[];
  try {
    statusHosts = parseStatusHosts(hostsRaw);
  } catch (err) {
    throw badEnv('DOVESNAP_STATUS_HOSTS', hostsRaw, err instanceof Error ? err.message : String(err));
  }

  const gauge = gaugePrometheus(env);

  const mirror = mirrorSettings(env);
  return Object.freeze({
    faucetDir,
    faucetConfigPath: path.join(faucetDir, 'faucet.yaml'),
    gaugeConfigPath: path.join(faucetDir, 'gauge.yaml'),
    defaultControllers,
    localFaucetControllers,
    pluginDir: nonEmpty(env, 'DOVESNAP_PLUGIN_DIR') ?? '/run/docker/plugins',
    driverNames: ['dovesnap', 'ovs'],
    capabilities: driverCapabilities(env),
    // "[::1]:9401": the brackets belong to the address notation, not to the host name.
    statusHost: (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1'),
    statusPort,
    statusAllow,
    statusHosts,
    statusPeers: statusPeersSetting(env),
    ovsdbSocket: ovsdbSocket(env),
    dockerSocket: dockerSocketPath(env),
    faucetPidfile: faucetPidfile(env),
    gaugePidfile: nonEmpty(env, 'DOVESNAP_GAUGE_PIDFILE'),
    faucetMetricsUrl: metrics,
    faucetConfirmTimeoutMs,
    sparePorts,
    readyPorts,
    dhcpDir: dhcpDirFrom(env),
    gaugePrometheusPort: gauge.port,
    gaugePrometheusAddr: gauge.addr,
    ...mirror,
    stacking: stackingSettings(env, mirror.mirrorBridgeOut, defaultControllers),
    failpoints: parseFailpoints(nonEmpty(env, 'DOVESNAP_FAILPOINTS') ?? ''),
    confrpc: confrpc === undefined ? undefined : Object.freeze({ ...confrpc, proto: confrpcProtoPath(env) }),
    dpHost: dpHostSetting(env, confrpc !== undefined),
  });
}
