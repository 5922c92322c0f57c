import { loadSettings } from '../config/settings.js';
import { logLevel, processEnvironment, type Environment } from '../config/environment.js';
import { startDaemon } from '../daemon.js';
import { createLogger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';

/** The daemon's flags, the original dovesnap's names; each overrides its environment variable. */
export interface DaemonFlags {
  readonly mirror_bridge_out?: string;
  readonly mirror_bridge_in?: string;
  readonly stacking_interfaces?: string;
  readonly stack_priority1?: string;
  readonly stack_mirror_interface?: string;
  readonly default_ofcontrollers?: string;
  readonly faucetconfrpc_addr?: string;
  readonly faucetconfrpc_port?: string;
  readonly faucetconfrpc_keydir?: string;
  readonly faucetconfrpc_client?: string;
  readonly faucetconfrpc_connretries?: string;
}

const FLAG_ENV: Readonly<Record<keyof DaemonFlags, string>> = {
  mirror_bridge_out: 'MIRROR_BRIDGE_OUT',
  mirror_bridge_in: 'MIRROR_BRIDGE_IN',
  stacking_interfaces: 'STACKING_INTERFACES',
  stack_priority1: 'STACK_PRIORITY1',
  stack_mirror_interface: 'STACK_MIRROR_INTERFACE',
  default_ofcontrollers: 'STACK_OFCONTROLLERS',
  faucetconfrpc_addr: 'FAUCETCONFRPC_ADDR',
  faucetconfrpc_port: 'FAUCETCONFRPC_PORT',
  faucetconfrpc_keydir: 'FAUCETCONFRPC_KEYDIR',
  faucetconfrpc_client: 'FAUCETCONFRPC_CLIENT',
  faucetconfrpc_connretries: 'FAUCETCONFRPC_CONNRETRIES',
};

/** The environment the settings are read from: the process's, with the flags given on top. */
export function environmentWithFlags(env: Environment, flags: DaemonFlags): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const [flag, name] of Object.entries(FLAG_ENV) as [keyof DaemonFlags, string][]) {
    const v = flags[flag];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** The only place that owns the process: signals and exit codes. */
export async function runDaemon(flags: DaemonFlags = {}): Promise<void> {
  const log = createLogger('dovesnap', logLevel());
  const settings = loadSettings(environmentWithFlags(processEnvironment(), flags));
  const daemon = await startDaemon(settings, log);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
