import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The daemon logs JSON lines to stdout; `make up` and the systemd unit send stdout to the one
 * documented log place. The level is the caller's (config/environment.ts logLevel).
 */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/** A logger that drops everything: for unit tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
