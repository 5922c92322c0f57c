import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from './log.js';
import { errorMessage } from './errors.js';

/**
 * The daemon's two small HTTP faces (Docker's plugin socket and the status API) on node's own
 * server. A framework was used here before; it cost the daemon about 15 MB of resident memory,
 * a sixth of its budget (docs/benchmarks.md), for exact-path routing, JSON replies and one
 * event stream. Routes are functions from a request to a reply, so tests call them in process
 * (`inject`) exactly as a connection would.
 */

export interface HttpRequest {
  readonly method: string;
  /** The path, without the query string. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The body as text ('' if none). */
  readonly body: string;
  /** The connection's own peer address, never a header. */
  readonly remoteAddress: string | undefined;
}

export interface HttpReply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string or bytes as they are; anything else as JSON. */
  readonly body?: unknown;
}

export type Route = (req: HttpRequest) => Promise<HttpReply> | HttpReply;
/** A route that keeps the response open (server-sent events): it writes to `res` itself. */
export type StreamRoute = (req: IncomingMessage, res: ServerResponse) => void;

export interface InjectRequest {
  readonly method: string;
  readonly url: string;
  readonly payload?: string;
  /** Host is `localhost` unless given, as a client on this host would send. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly remoteAddress?: string;
}

export interface InjectedResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  json<T = unknown>(): T;
}

/** Docker's plugin calls and the status API's requests are small; anything bigger is refused. */
const MAX_BODY_BYTES = 1 << 20;
/** How long an idle keep-alive connection is kept, unless listen() is told otherwise. */
const KEEP_ALIVE_MS = 72_000;

export interface ListenOptions {
  /**
   * Idle keep-alive connections are closed after this long; 0 keeps them until the client
   * closes them. A server closing an idle connection races a client that has just started to
   * send on it: the client sees EOF with its request unanswered.
   */
  readonly idleTimeoutMs?: number;
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  500: 'Internal Server Error',
};

function errorReply(status: number, message: string): HttpReply {
  return { status, body: { statusCode: status, error: REASONS[status] ?? 'Error', message } };
}

function encode(reply: HttpReply): { status: number; headers: Record<string, string>; payload: Buffer } {
  const headers: Record<string, string> = { ...reply.headers };
  const { body } = reply;
  let payload: Buffer;
  if (body === undefined) payload = Buffer.alloc(0);
  else if (Buffer.isBuffer(body)) payload = body;
  else if (typeof body === 'string') {
    payload = Buffer.from(body);
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else {
    payload = Buffer.from(JSON.stringify(body));
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  headers['content-length'] = String(payload.length);
  return { status: reply.status ?? 200, headers, payload };
}

export class HttpApp {
  private readonly routes = new Map<string, Route>();
  private readonly streamRoutes = new Map<string, StreamRoute>();
  private readonly closers: (() => void)[] = [];
  private guardFn: ((req: HttpRequest) => HttpReply | undefined) | undefined;
  private server: http.Server | undefined;

  constructor(private readonly log: Logger) {}

  get(path: string, route: Route): void {
    this.routes.set(`GET ${path}`, route);
  }

  post(path: string, route: Route): void {
    this.routes.set(`POST ${path}`, route);
  }

  /** A GET route that streams (see StreamRoute); the guard applies to it too. */
  stream(path: string, route: StreamRoute): void {
    this.streamRoutes.set(path, route);
  }

  /** Runs before every route: a reply ends the request there. */
  guard(fn: (req: HttpRequest) => HttpReply | undefined): void {
    this.guardFn = fn;
  }

  /** Called at close(), before the server stops: open streams must end, or close() would wait for ever. */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  /** The reply to one request, as the server would send it. */
  async dispatch(req: HttpRequest): Promise<HttpReply> {
    const refused = this.guardFn?.(req);
    if (refused !== undefined) return refused;
    // HEAD is GET without the body (which the server leaves out).
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const route = this.routes.get(`${method} ${req.path}`);
    if (route === undefined) {
      const other = [...this.routes.keys()].some((k) => k.endsWith(` ${req.path}`)) || this.streamRoutes.has(req.path);
      return other
        ? errorReply(405, `${req.method} is not allowed on ${req.path}`)
        : errorReply(404, `Route ${req.method}:${req.path} not found`);
    }
    try {
      return await route(req);
    } catch (err) {
      this.log.error({ method: req.method, path: req.path, err: errorMessage(err) }, 'request handler failed');
      return errorReply(500, errorMessage(err));
    }
  }

  async inject(r: InjectRequest): Promise<InjectedResponse> {
    const headers: IncomingHttpHeaders = { host: 'localhost' };
    for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
    const reply = await this.dispatch({
      method: r.method,
      path: r.url.split('?')[0] ?? r.url,
      headers,
      body: r.payload ?? '',
      remoteAddress: r.remoteAddress ?? '127.0.0.1',
    });
    const { status, headers: out, payload } = encode(reply);
    const body = payload.toString('utf8');
    return { statusCode: status, headers: out, body, json: <T>() => JSON.parse(body) as T };
  }

  async listen(
    where: { readonly host: string; readonly port: number } | { readonly path: string },
    options: ListenOptions = {},
  ): Promise<void> {
    const server = http.createServer((req, res) => void this.serve(req, res));
    // Far longer than node's 5 s: clients that pool connections reuse them.
    server.keepAliveTimeout = options.idleTimeoutMs ?? KEEP_ALIVE_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        resolve();
      };
      if ('path' in where) server.listen(where.path, done);
      else server.listen(where.port, where.host, done);
    });
    server.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'HTTP server error'));
    this.server = server;
  }

  /** The bound address (tests listen on port 0). */
  address(): ReturnType<http.Server['address']> | undefined {
    return this.server?.address();
  }

  async close(): Promise<void> {
    for (const fn of this.closers.splice(0)) fn();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Idle keep-alive connections (Docker keeps its plugin connections) would hold close() open.
    server.closeIdleConnections();
    await closed;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const remoteAddress = req.socket.remoteAddress;
    const stream = req.method === 'GET' ? this.streamRoutes.get(path) : undefined;
    if (stream !== undefined) {
      const refused = this.guardFn?.({ method: 'GET', path, headers: req.headers, body: '', remoteAddress });
      if (refused !== undefined) return this.send(req, res, refused);
      stream(req, res);
      return;
    }
    let body: string;
    try {
      body = await readBody(req);
    } catch (err) {
      return this.send(req, res, errorReply(413, errorMessage(err)));
    }
    this.send(
      req,
      res,
      await this.dispatch({ method: req.method ?? 'GET', path, headers: req.headers, body, remoteAddress }),
    );
  }

  private send(req: IncomingMessage, res: ServerResponse, reply: HttpReply): void {
    const { status, headers, payload } = encode(reply);
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : payload);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
