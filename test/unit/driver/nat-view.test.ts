import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { wantedProxies } from '../../../src/driver/nat-view.js';
import type { PortMapping } from '../../../src/net/nat-rules.js';

function mapping(hostIp: string, hostPort: number): PortMapping {
  return {
    networkId: 'n1',
    bridge: 'br1',
    subnet: '10.1.0.0/24',
    protocol: 'tcp',
    hostIp,
    hostPort,
    containerIp: '10.1.0.2',
    containerPort: 80,
    endpointId: 'e1e1e1e1e1e1',
  };
}

describe('port proxies wanted', () => {
  it('serves every loopback and IPv6 host address by the proxy alone, every address also on 127.0.0.1, other IPv4 addresses not at all', () => {
    const got = wantedProxies({
      networks: [],
      mappings: [
        mapping('', 8080),
        mapping('127.0.0.2', 8081),
        mapping('::1', 8082),
        mapping('2001:db8::5', 8083),
        mapping('192.0.2.9', 8084),
        mapping('nonsense', 8085),
      ],
    });
    assert.deepEqual(
      got.map((p) => `${p.target.address} ${p.target.hostPort} ${p.only ? 'only' : 'also'}`),
      ['127.0.0.1 8080 also', '127.0.0.2 8081 only', '::1 8082 only', '2001:db8::5 8083 only'],
    );
  });
});
