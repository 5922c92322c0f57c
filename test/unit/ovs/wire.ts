/**
 * In-memory transport for the OVSDB unit tests: a connected pair of duplexes, and a scripted
 * far end that reads what the client sent and answers as the test says.
 */
import { Duplex } from 'node:stream';
import { JsonTextSplitter } from '../../../src/ovs/jsonrpc.js';

/** One end of an in-memory socket: writes arrive at the peer; end or destroy reads as EOF there. */
class Endpoint extends Duplex {
  peer: Endpoint | undefined;

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.peer?.deliver(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.deliver(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.peer?.deliver(null);
    callback(error);
  }

  private deliver(chunk: Buffer | null): void {
    if (!this.destroyed && !this.readableEnded) this.push(chunk);
  }
}

/** Two duplexes wired back to back, like a socketpair. */
export function duplexPair(): [Duplex, Duplex] {
  const a = new Endpoint();
  const b = new Endpoint();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export type Message = Record<string, unknown>;

export class ScriptedPeer {
  private readonly splitter = new JsonTextSplitter();
  private readonly inbox: Message[] = [];
  private waiting: ((message: Message) => void) | undefined;

  constructor(readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      for (const text of this.splitter.push(chunk)) {
        const message = JSON.parse(text) as Message;
        const waiter = this.waiting;
        this.waiting = undefined;
        if (waiter) waiter(message);
        else this.inbox.push(message);
      }
    });
  }

  /** The next message the client sent. */
  next(): Promise<Message> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  send(message: Message): void {
    this.stream.write(JSON.stringify(message));
  }

  sendRaw(text: string | Buffer): void {
    this.stream.write(text);
  }

  reply(request: Message, result: unknown): void {
    this.send({ id: request['id'], result, error: null });
  }

  end(): void {
    this.stream.end();
  }
}

export function connectedPeer(): [client: Duplex, peer: ScriptedPeer] {
  const [client, server] = duplexPair();
  return [client, new ScriptedPeer(server)];
}
