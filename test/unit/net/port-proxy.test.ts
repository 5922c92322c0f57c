import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import { PortProxies, targetKey, type ProxyTarget } from '../../../src/net/port-proxy.js';
import { silentLogger } from '../../../src/util/log.js';

/**
 * The port proxies on real loopback sockets: a "container" service on 127.0.0.1, reached
 * through proxies on another loopback address and on ::1 (IPv6 to IPv4).
 */

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** One request and its answer; like a web client, it does not half-close first. */
function ask(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port }, () => c.write('ping'));
    c.on('data', (d) => {
      c.destroy();
      resolve(String(d));
    }).on('error', reject);
  });
}

function askUdp(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no UDP answer'));
    }, 2000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(String(m));
    });
    s.send('ping', port, host);
  });
}

describe('port proxies', () => {
  const proxies = new PortProxies(silentLogger());
  const service = net.createServer((c) =>
    c.on('data', (d) => c.write(`tcp ${String(d)} from ${c.remoteAddress ?? ''}`)).on('error', () => undefined),
  );
  const udpService = dgram.createSocket('udp4');
  after(async () => {
    await proxies.closeAll();
    await new Promise<void>((r) => service.close(() => r()));
    await new Promise<void>((r) => udpService.close(() => r()));
  });

  it('carries TCP and UDP from 127.0.0.2 and from ::1 to an IPv4 service', async () => {
    await new Promise<void>((r) => service.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    udpService.on('message', (m, from) => udpService.send(`udp ${String(m)}`, from.port, from.address));
    await new Promise<void>((r) => udpService.bind({ address: '127.0.0.1', port: 0 }, () => r()));
    const containerPort = (service.address() as net.AddressInfo).port;
    const udpPort = udpService.address().port;
    const [p1, p2] = [await freePort(), await freePort()];
    const targets: ProxyTarget[] = [
      { protocol: 'tcp', address: '127.0.0.2', hostPort: p1, containerIp: '127.0.0.1', containerPort },
      { protocol: 'tcp', address: '::1', hostPort: p2, containerIp: '127.0.0.1', containerPort },
      { protocol: 'udp', address: '::1', hostPort: p1, containerIp: '127.0.0.1', containerPort: udpPort },
    ];
    assert.deepEqual([...(await proxies.reconcile(targets))], []);
    assert.equal(await ask('127.0.0.2', p1), 'tcp ping from 127.0.0.1');
    assert.equal(await ask('::1', p2), 'tcp ping from 127.0.0.1');
    assert.equal(await askUdp('::1', p1), 'udp ping');
  });

  it('reports a proxy that cannot listen (no such host address)', async () => {
    const t: ProxyTarget = {
      protocol: 'tcp',
      address: '2001:db8::99',
      hostPort: await freePort(),
      containerIp: '127.0.0.1',
      containerPort: 9,
    };
    const failed = await proxies.reconcile([t]);
    assert.match(failed.get(targetKey(t)) ?? '', /EADDRNOTAVAIL/);
  });
});
