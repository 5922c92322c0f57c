import { loadSettings } from '../config/settings.js';
import { startDaemon } from '../daemon.js';
import { createLogger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';

/** The only place that owns the process: signals and exit codes. */
export async function runDaemon(): Promise<void> {
  const log = createLogger('dovesnap');
  const settings = loadSettings();
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
