/**
 * JSON-RPC 1.0 as OVSDB speaks it (RFC 7047 §4): over any Duplex, so tests can use in-memory
 * streams. Knows nothing of OVSDB methods except `echo`, which the server uses as a keepalive
 * and which must be answered or the server drops us.
 */
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isJsonWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * OVSDB writes JSON texts back to back with no delimiter, so message boundaries are found by
 * tracking nesting depth outside strings. Only structural ASCII characters matter, so scanning
 * decoded text is safe; the StringDecoder keeps a UTF-8 sequence split across chunks intact.
 */
export class JsonTextSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  /** How much of `pending` has already been scanned: a new chunk resumes there. */
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly maxTextLength = 64 * 1024 * 1024) {}

  /** Returns the JSON texts completed by this chunk, in order. Throws on bytes that cannot start a text. */
  push(chunk: Buffer | string): string[] {
    const text = this.pending + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const complete: string[] = [];
    let start = 0;
    for (let i = this.scanned; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
        continue;
      }
      if (this.depth === 0 && c !== OPEN_BRACE && c !== OPEN_BRACKET) {
        // Between texts only whitespace may appear; anything else means we lost sync.
        if (!isJsonWhitespace(c)) throw framingError(`unexpected ${JSON.stringify(text[i])} between messages`);
        start = i + 1;
        continue;
      }
      if (c === QUOTE) this.inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) this.depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth === 0) {
          complete.push(text.slice(start, i + 1));
          start = i + 1;
        }
      }
    }
    this.pending = text.slice(start);
    this.scanned = this.pending.length;
    if (this.pending.length > this.maxTextLength) {
      throw framingError(`message longer than ${this.maxTextLength} characters`);
    }
    return complete;
  }
}

function framingError(what: string): DovesnapError {
  return new DovesnapError(ErrorCode.Ovsdb, `OVSDB stream framing error: ${what}`);
}

export const ConnectionState = { Open: 'open', Closed: 'closed' } as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

export type NotificationHandler = (params: unknown) => void;
/** `cause` is the stream error or protocol violation that ended the connection, if any. */
export type CloseHandler = (cause: unknown) => void;

interface PendingRequest {
  readonly method: string;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: unknown) => void;
}

export class JsonRpcConnection {
  private currentState: ConnectionState = ConnectionState.Open;
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly notificationHandlers = new Map<string, NotificationHandler>();
  private readonly closeHandlers = new Set<CloseHandler>();
  private readonly splitter = new JsonTextSplitter();

  constructor(
    private readonly stream: Duplex,
    private readonly logger?: Logger,
  ) {
    stream.on('data', (chunk: Buffer | string) => this.receive(chunk));
    stream.on('error', (err: Error) => this.shutDown(err));
    // A half-closed peer will never answer, so end-of-input already counts as closed.
    stream.on('end', () => this.shutDown(undefined));
    stream.on('close', () => this.shutDown(undefined));
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  request(method: string, params: readonly unknown[]): Promise<unknown> {
    if (this.currentState !== ConnectionState.Open) return Promise.reject(abandoned(method, undefined));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { method, resolve, reject });
      this.send({ method, params, id });
    });
  }

  /** One handler per method; returns a function that removes it. */
  onNotification(method: string, handler: NotificationHandler): () => void {
    this.notificationHandlers.set(method, handler);
    return () => {
      if (this.notificationHandlers.get(method) === handler) this.notificationHandlers.delete(method);
    };
  }

  /** Called once when the connection closes for any reason (also at once if already closed). */
  onClose(handler: CloseHandler): () => void {
    if (this.currentState === ConnectionState.Closed) {
      queueMicrotask(() => handler(undefined));
      return () => {};
    }
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  /** Closes the stream; every request still in flight rejects with DovesnapError(Disposed). */
  dispose(): void {
    this.shutDown(undefined);
  }

  private send(message: Record<string, unknown>): void {
    this.stream.write(JSON.stringify(message));
  }

  private receive(chunk: Buffer | string): void {
    let texts: string[];
    try {
      texts = this.splitter.push(chunk);
    } catch (err) {
      this.shutDown(err);
      return;
    }
    for (const text of texts) {
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch (err) {
        // The splitter found balanced brackets but the text is not JSON: the peer is broken.
        this.shutDown(new DovesnapError(ErrorCode.Ovsdb, `OVSDB sent invalid JSON: ${errorMessage(err)}`));
        return;
      }
      this.dispatch(message);
      if (this.currentState !== ConnectionState.Open) return;
    }
  }

  private dispatch(message: unknown): void {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.logger?.warn({ message }, 'ignoring OVSDB message that is not an object');
      return;
    }
    const fields = message as Record<string, unknown>;
    const { method, id } = fields;
    if (typeof method === 'string') {
      if (id === null || id === undefined) this.deliverNotification(method, fields['params']);
      else this.answerRequest(method, fields['params'], id);
      return;
    }
    if (typeof id !== 'number') {
      this.logger?.warn({ id }, 'ignoring OVSDB response with an id we never used');
      return;
    }
    const request = this.pending.get(id);
    if (request === undefined) {
      this.logger?.warn({ id }, 'ignoring OVSDB response to no pending request');
      return;
    }
    this.pending.delete(id);
    const error = fields['error'];
    if (error !== null && error !== undefined) {
      request.reject(new DovesnapError(ErrorCode.Ovsdb, `OVSDB ${request.method} failed: ${describeRpcError(error)}`));
    } else {
      request.resolve(fields['result']);
    }
  }

  private deliverNotification(method: string, params: unknown): void {
    const handler = this.notificationHandlers.get(method);
    if (handler === undefined) {
      this.logger?.debug({ method }, 'OVSDB notification with no handler');
      return;
    }
    try {
      handler(params);
    } catch (err) {
      // One faulty subscriber must not take the connection down for everyone else.
      this.logger?.error({ err, method }, 'OVSDB notification handler threw');
    }
  }

  private answerRequest(method: string, params: unknown, id: unknown): void {
    if (method === 'echo') {
      this.send({ result: params, error: null, id });
    } else {
      this.send({ result: null, error: { error: 'unknown method', details: method }, id });
    }
  }

  private shutDown(cause: unknown): void {
    if (this.currentState === ConnectionState.Closed) return;
    this.currentState = ConnectionState.Closed;
    if (cause !== undefined) this.logger?.warn({ err: cause }, 'OVSDB connection failed');
    const inFlight = [...this.pending.values()];
    this.pending.clear();
    for (const request of inFlight) request.reject(abandoned(request.method, cause));
    const handlers = [...this.closeHandlers];
    this.closeHandlers.clear();
    this.notificationHandlers.clear();
    this.stream.destroy();
    for (const handler of handlers) {
      try {
        handler(cause);
      } catch (err) {
        this.logger?.error({ err }, 'OVSDB close handler threw');
      }
    }
  }
}

function abandoned(method: string, cause: unknown): DovesnapError {
  const why = cause === undefined ? '' : `: ${errorMessage(cause)}`;
  return new DovesnapError(ErrorCode.Disposed, `OVSDB ${method} abandoned: connection closed${why}`, { cause });
}

/** OVSDB's RPC-level errors are objects like {error, details, syntax}; other servers send strings. */
function describeRpcError(error: unknown): string {
  if (typeof error === 'object' && error !== null && !Array.isArray(error)) {
    const { error: kind, details } = error as Record<string, unknown>;
    if (typeof kind === 'string') return typeof details === 'string' ? `${kind} (${details})` : kind;
  }
  return typeof error === 'string' ? error : JSON.stringify(error);
}
