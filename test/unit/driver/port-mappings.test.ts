import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allocateHostPorts } from '../../../src/driver/port-mappings.js';
import type { ListeningSocket } from '../../../src/net/listeners.js';
import type { PortBinding } from '../../../src/model/plugin-protocol.js';
import { DovesnapError, ErrorCode } from '../../../src/util/errors.js';

function tcp(hostIp: string, hostPort: number, port = 80): PortBinding {
  return { Proto: 6, IP: '', Port: port, HostIP: hostIp, HostPort: hostPort, HostPortEnd: hostPort };
}

describe('host ports for -p', () => {
  it('refuses a host address that is not an IP address, naming it', () => {
    assert.throws(
      () => allocateHostPorts([tcp('localhost', 8080)], [], []),
      (err: unknown) =>
        err instanceof DovesnapError &&
        err.code === ErrorCode.BadOption &&
        /host address "localhost"/.test(err.message) &&
        /80\/tcp/.test(err.message),
    );
  });

  it('finds a host listener on the same IPv6 address, as /proc writes it', () => {
    const listeners: ListeningSocket[] = [{ protocol: 'tcp', address: '0:0:0:0:0:0:0:1', port: 8081 }];
    assert.throws(
      () => allocateHostPorts([tcp('::1', 8081)], [], listeners),
      /cannot publish 80\/tcp on \[::1\], host port 8081: the host already listens on \[0:0:0:0:0:0:0:1\]:8081/,
    );
  });

  it('lets an IPv6 address have a port the host holds on IPv4 addresses only, and the other way round', () => {
    const listeners: ListeningSocket[] = [
      { protocol: 'tcp', address: '0.0.0.0', port: 8081 },
      { protocol: 'tcp', address: '0:0:0:0:0:0:0:1', port: 8082 },
    ];
    assert.deepEqual(
      allocateHostPorts([tcp('::1', 8081), tcp('127.0.0.2', 8082)], [], listeners).map(
        (p) => `${p.hostIp}:${p.hostPort}`,
      ),
      ['::1:8081', '127.0.0.2:8082'],
    );
  });

  it('still sees a dual-stack listener on :: as holding every address', () => {
    const listeners: ListeningSocket[] = [{ protocol: 'tcp', address: '::', port: 8083 }];
    assert.throws(() => allocateHostPorts([tcp('::1', 8083)], [], listeners), /already listens/);
    assert.throws(() => allocateHostPorts([tcp('127.0.0.2', 8083)], [], listeners), /already listens/);
  });
});
