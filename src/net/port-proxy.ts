import net, { isIPv6 } from 'node:net';
import dgram from 'node:dgram';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { showHostAddress } from './publish-paths.js';

/**
 * Published ports NAT cannot serve (see publish-paths.ts): loopback addresses, and IPv6
 * addresses in front of IPv4-only containers. Like Docker's own docker-proxy, a small proxy in
 * the daemon listens on the host address and carries each connection to the container.
 */

export interface ProxyTarget {
  readonly protocol: 'tcp' | 'udp';
  /** The host address the proxy listens on. */
  readonly address: string;
  readonly hostPort: number;
  readonly containerIp: string;
  readonly containerPort: number;
}

export function targetKey(t: ProxyTarget): string {
  return `${t.protocol}/${showHostAddress(t.address)}:${t.hostPort}->${t.containerIp}:${t.containerPort}`;
}

interface Running {
  close(): Promise<void>;
}

/** UDP "connections" idle this long are forgotten. */
const UDP_IDLE_MS = 60_000;

function startTcp(t: ProxyTarget, log: Logger): Promise<Running> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: t.containerIp, port: t.containerPort });
    sockets.add(client).add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: t.address, port: t.hostPort }, () => {
      server.off('error', reject);
      server.on('error', (err) => log.warn({ mapping: targetKey(t), err: errorMessage(err) }, 'port proxy error'));
      resolve({
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

function startUdp(t: ProxyTarget, log: Logger): Promise<Running> {
  const front = dgram.createSocket(isIPv6(t.address) ? 'udp6' : 'udp4');
  const flows = new Map<string, { sock: dgram.Socket; timer: NodeJS.Timeout }>();
  const forget = (key: string): void => {
    const f = flows.get(key);
    if (f === undefined) return;
    clearTimeout(f.timer);
    f.sock.close();
    flows.delete(key);
  };
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let f = flows.get(key);
    if (f === undefined) {
      const sock = dgram.createSocket('udp4');
      sock.on('message', (reply) => front.send(reply, rinfo.port, rinfo.address));
      sock.on('error', () => forget(key));
      f = { sock, timer: setTimeout(() => forget(key), UDP_IDLE_MS) };
      flows.set(key, f);
    }
    f.timer.refresh();
    f.sock.send(msg, t.containerPort, t.containerIp);
  });
  return new Promise((resolve, reject) => {
    front.once('error', reject);
    front.bind({ address: t.address, port: t.hostPort }, () => {
      front.off('error', reject);
      front.on('error', (err) => log.warn({ mapping: targetKey(t), err: errorMessage(err) }, 'port proxy error'));
      resolve({
        close: async () => {
          for (const k of [...flows.keys()]) forget(k);
          await new Promise<void>((r) => front.close(() => r()));
        },
      });
    });
  });
}

/** Keeps exactly the wanted proxies running. */
export class PortProxies {
  private readonly running = new Map<string, Running>();

  constructor(private readonly log: Logger) {}

  /** Returns the wanted proxies that could not start (target key → why); the next call tries them again. */
  async reconcile(wanted: readonly ProxyTarget[]): Promise<Map<string, string>> {
    const keys = new Set(wanted.map(targetKey));
    for (const [key, r] of this.running) {
      if (!keys.has(key)) {
        this.running.delete(key);
        await r.close();
      }
    }
    const failed = new Map<string, string>();
    for (const t of wanted) {
      const key = targetKey(t);
      if (this.running.has(key)) continue;
      try {
        this.running.set(key, await (t.protocol === 'tcp' ? startTcp(t, this.log) : startUdp(t, this.log)));
      } catch (err) {
        failed.set(key, errorMessage(err));
      }
    }
    return failed;
  }

  async closeAll(): Promise<void> {
    await this.reconcile([]);
  }
}
