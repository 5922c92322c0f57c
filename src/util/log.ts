import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The daemon logs JSON lines to stdout; `make up` and the systemd unit send stdout to the one
 * documented log place. Level from DOVESNAP_LOG_LEVEL (default info).
 */
export function createLogger(name: string, level = process.env['DOVESNAP_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/** A logger that drops everything: for unit tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
