import type { Command } from 'commander';
import { daemonEnvironment } from '../config/daemon-env.js';
import { loadSettings } from '../config/settings.js';

/** JSON for the settings: maps as objects, sets as lists, a setting not given as null (shown, not left out). */
function settingsJson(key: string, value: unknown): unknown {
  if (value === undefined) return null;
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === 'bigint') return value.toString();
  return key === 'statusAllow' && typeof value === 'object' && value !== null && 'text' in value ? value.text : value;
}

/**
 * `dovesnap settings`: the daemon's settings as this environment gives them (a bad value fails with
 * the variable named, as the daemon would); `--env`: the environment `make up` starts the daemon
 * with (scripts/up.sh uses it, and compares it with the running daemon's to decide on a restart).
 */
export function addSettingsCommand(program: Command): void {
  program
    .command('settings')
    .description("print the daemon's settings read from this environment (JSON)")
    .option(
      '--env',
      "instead, print the environment make up starts the daemon with (make up's defaults, then this environment's MIRROR_BRIDGE_*, STACK*, FAUCET_PREFIX, DOVESNAP_*), NAME=VALUE a line",
    )
    .action((opts: { env?: boolean }) => {
      const text = opts.env === true ? daemonEnvironment().join('\n') : JSON.stringify(loadSettings(), settingsJson, 2);
      process.stdout.write(`${text}\n`);
    });
}
