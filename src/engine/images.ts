import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { engineRequest } from './request.js';
import { dockerSocketPath } from '../config/environment.js';

/**
 * Docker Engine image calls for `dovesnap lab image`: inspect, list by label, remove, and import
 * a root file system tarball (POST /images/create?fromSrc=-). The small calls go through
 * engineRequest (unversioned paths: Docker 20.10 and 29 both answer); the import streams the
 * tarball from its file into its own request, never holding it in memory.
 */

export interface EngineImage {
  readonly Id: string;
  readonly RepoTags?: readonly string[] | null;
  readonly Created?: string;
  readonly Size?: number;
  readonly Config?: {
    readonly Labels?: Readonly<Record<string, string>> | null;
    readonly Cmd?: readonly string[] | null;
    readonly Env?: readonly string[] | null;
  } | null;
}

/** One row of GET /images/json. */
export interface EngineImageSummary {
  readonly Id: string;
  readonly RepoTags?: readonly string[] | null;
  readonly Labels?: Readonly<Record<string, string>> | null;
  /** Seconds since the epoch. */
  readonly Created?: number;
  readonly Size?: number;
}

export interface ImportOptions {
  readonly repo: string;
  readonly tag: string;
  /** Dockerfile instructions applied to the image: `CMD [...]`, `ENV K=V`, `LABEL k=v`. */
  readonly changes: readonly string[];
  readonly signal?: AbortSignal;
}

/** One line of the engine's JSON progress stream. */
interface ProgressLine {
  readonly status?: string;
  readonly error?: string;
  readonly errorDetail?: { readonly message?: string };
  readonly message?: string;
}

/**
 * The image id from an import's progress stream (newline-separated JSON objects; the last
 * `status` is the id). An `error` anywhere fails the import: the engine reports a bad tarball
 * there, after it has already answered 200.
 */
export function importResult(body: string): string {
  let id: string | undefined;
  for (const raw of body.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    let p: ProgressLine;
    try {
      p = JSON.parse(line) as ProgressLine;
    } catch {
      throw new DovesnapError(ErrorCode.Engine, `docker image import: unreadable progress line: ${line.slice(0, 200)}`);
    }
    if (p.error !== undefined || p.errorDetail?.message !== undefined) {
      throw new DovesnapError(ErrorCode.Engine, `docker image import failed: ${p.errorDetail?.message ?? p.error}`);
    }
    if (typeof p.status === 'string' && /^sha256:[0-9a-f]{64}$/.test(p.status.trim())) id = p.status.trim();
  }
  if (id === undefined)
    throw new DovesnapError(
      ErrorCode.Engine,
      `docker image import: the engine did not report an image id (${body.trim().slice(0, 200) || 'empty answer'})`,
    );
  return id;
}

export class DockerImages {
  constructor(
    private readonly socketPath = dockerSocketPath(),
    private readonly timeoutMs = 30_000,
  ) {}

  /** GET /images/{ref}/json; undefined when there is no such image. */
  async inspect(ref: string): Promise<EngineImage | undefined> {
    const { status, body } = await engineRequest(this.socketPath, 'GET', `/images/${encodeURIComponent(ref)}/json`, {
      accept: [404],
      timeoutMs: this.timeoutMs,
    });
    if (status === 404) return undefined;
    return JSON.parse(body) as EngineImage;
  }

  /** Images carrying the label `key` (any value). */
  async listWithLabel(key: string): Promise<EngineImageSummary[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [key] }));
    const { body } = await engineRequest(this.socketPath, 'GET', `/images/json?filters=${filters}`, {
      timeoutMs: this.timeoutMs,
    });
    return (JSON.parse(body) as EngineImageSummary[] | null) ?? [];
  }

  /**
   * DELETE /images/{ref} (never forced): false when the engine keeps it, because a container
   * uses it or it is gone already.
   */
  async remove(ref: string): Promise<boolean> {
    const { status } = await engineRequest(this.socketPath, 'DELETE', `/images/${encodeURIComponent(ref)}`, {
      accept: [404, 409],
      timeoutMs: this.timeoutMs,
    });
    return status >= 200 && status < 300;
  }

  /** Imports the tarball `file` as repo:tag with the changes; resolves to the image id. */
  async importTar(file: string, opts: ImportOptions): Promise<string> {
    const query = new URLSearchParams({ fromSrc: '-', repo: opts.repo, tag: opts.tag });
    for (const c of opts.changes) query.append('changes', c);
    const size = (await stat(file)).size;
    const path = `/images/create?${query.toString()}`;
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method: 'POST',
          headers: { 'Content-Type': 'application/x-tar', 'Content-Length': String(size) },
          ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        },
        (res) => {
          res.setEncoding('utf8');
          let text = '';
          res.on('data', (c: string) => (text += c));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(text);
            else
              reject(
                new DovesnapError(
                  ErrorCode.Engine,
                  `docker POST /images/create (import ${opts.repo}:${opts.tag}) answered ${status}: ${errorText(text)}`,
                ),
              );
          });
        },
      );
      req.on('error', (err) =>
        reject(
          err instanceof DovesnapError
            ? err
            : new DovesnapError(
                ErrorCode.Engine,
                `docker POST /images/create (import ${opts.repo}:${opts.tag}): ${err.message}`,
                { cause: err },
              ),
        ),
      );
      const src = createReadStream(file);
      src.on('error', (err) =>
        req.destroy(new DovesnapError(ErrorCode.Internal, `reading ${file}: ${err.message}`, { cause: err })),
      );
      src.pipe(req);
    });
    return importResult(body);
  }
}

/** The engine's `{"message": …}` error body, or the text as it is. */
function errorText(body: string): string {
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON
  }
  return body.trim();
}
