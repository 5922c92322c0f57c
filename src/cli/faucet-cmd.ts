import type { Command } from 'commander';
import { faucetEndpoints } from '../config/daemon-env.js';
import { faucetHealth, faucetReloadDeps, HEALTH_EXIT, RELOAD_EXIT, reloadFaucet } from '../faucet/health.js';

/**
 * `dovesnap faucet health` and `dovesnap faucet reload`: FAUCET as the daemon sees it (its metrics,
 * its pidfile). scripts/up.sh waits on the first and restarts a FAUCET the second finds hung;
 * scripts/status.sh shows the first. The state is the first word printed and the exit status.
 */
export function addFaucetCommand(program: Command): void {
  const defaults = faucetEndpoints();
  const faucet = program.command('faucet').description('ask the local FAUCET how it is (as the daemon does)');
  faucet
    .command('health')
    .description(
      "read FAUCET's metrics: ok (exit 0), load-error (exit 4: it rejects its file and runs the last good one) or unreachable (exit 3)",
    )
    .option('--metrics <url>', "FAUCET's Prometheus URL (env DOVESNAP_FAUCET_METRICS)", defaults.metricsUrl)
    .action(async (opts: { metrics: string }) => {
      const health = await faucetHealth(opts.metrics);
      process.stdout.write(`${health.state}: ${health.detail}\n`);
      process.exitCode = HEALTH_EXIT[health.state];
    });
  faucet
    .command('reload')
    .description(
      'send FAUCET SIGHUP and wait for it to handle it: reloaded (exit 0), busy (exit 4: not handled, but using CPU) or hung (exit 3: not handled, idle)',
    )
    .option('--metrics <url>', "FAUCET's Prometheus URL (env DOVESNAP_FAUCET_METRICS)", defaults.metricsUrl)
    .option('--pidfile <file>', "FAUCET's pidfile (env DOVESNAP_FAUCET_PIDFILE)", defaults.pidfile)
    .option('--timeout <seconds>', 'how long FAUCET has to handle the request', '15')
    .action(async (opts: { metrics: string; pidfile: string; timeout: string }) => {
      const seconds = Number(opts.timeout);
      if (!(seconds > 0 && seconds <= 600)) throw new Error(`--timeout ${opts.timeout}: expected seconds, 1 to 600`);
      const report = await reloadFaucet(faucetReloadDeps(opts.metrics, opts.pidfile), seconds * 1000);
      process.stdout.write(`${report.outcome}: ${report.detail}\n`);
      process.exitCode = RELOAD_EXIT[report.outcome];
    });
}
