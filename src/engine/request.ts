import http from 'node:http';
import { DovesnapError, ErrorCode } from '../util/errors.js';

/**
 * One HTTP request to the Docker Engine API over its unix socket, with node's own client.
 * Paths are unversioned: the engine answers in its own API version, which keeps one client
 * working against Docker 20.10 and current engines alike.
 */

export interface EngineReply {
  readonly status: number;
  readonly body: string;
}

export interface EngineRequestOptions {
  /** A JSON body (sent with Content-Type application/json). */
  readonly json?: unknown;
  /** Statuses besides 2xx that are answers, not errors (e.g. 404 for "absent", 304 for "already"). */
  readonly accept?: readonly number[];
  readonly timeoutMs?: number;
}

export function engineRequest(
  socketPath: string,
  method: string,
  path: string,
  opts: EngineRequestOptions = {},
): Promise<EngineReply> {
  const payload = opts.json === undefined ? undefined : JSON.stringify(opts.json);
  const headers: Record<string, string | number> =
    payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) };
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method, headers, timeout: opts.timeoutMs ?? 10_000 }, (res) => {
      res.setEncoding('utf8');
      let body = '';
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if ((status >= 200 && status < 300) || (opts.accept ?? []).includes(status)) resolve({ status, body });
        else
          reject(
            new DovesnapError(
              ErrorCode.Engine,
              `docker ${method} ${path.split('?')[0]} answered ${status}: ${engineMessage(body)}`,
            ),
          );
      });
    });
    req.on('timeout', () => req.destroy(new DovesnapError(ErrorCode.Timeout, `docker ${method} ${path} timed out`)));
    req.on('error', (err) =>
      reject(
        err instanceof DovesnapError
          ? err
          : new DovesnapError(ErrorCode.Engine, `docker ${method} ${path}: ${err.message}`, { cause: err }),
      ),
    );
    req.end(payload);
  });
}

/** Docker's error bodies are `{"message": "…"}`; anything else is shown as it came. */
function engineMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return body.trim();
}
