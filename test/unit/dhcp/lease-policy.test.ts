import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaseRefusal } from '../../../src/dhcp/lease-policy.js';
import type { DhcpLease } from '../../../src/dhcp/lease.js';

const lease = (address: string, serverId: string | undefined): DhcpLease => ({
  address,
  prefixLength: 24,
  router: undefined,
  dns: [],
  domain: undefined,
  leaseSeconds: 600,
  serverId,
});

describe('which leases a DHCP network takes', () => {
  const policy = { servers: ['192.168.50.1', '192.168.50.2'], subnet: '192.168.50.0/24' };

  it('takes a lease in the subnet from one of the servers', () => {
    assert.equal(leaseRefusal(lease('192.168.50.117', '192.168.50.1'), policy), undefined);
    assert.equal(leaseRefusal(lease('192.168.50.254', '192.168.50.2'), policy), undefined);
  });

  it('refuses a lease from another server, or one naming none, naming the option and the server', () => {
    assert.equal(
      leaseRefusal(lease('192.168.50.200', '192.168.50.117'), policy),
      'the lease of 192.168.50.200 is from server 192.168.50.117, not from ovs.bridge.dhcp_server=192.168.50.1,192.168.50.2',
    );
    assert.match(leaseRefusal(lease('192.168.50.200', undefined), policy) ?? '', /gave no server identifier/);
  });

  it('refuses a lease outside the subnet, even from the server', () => {
    assert.equal(
      leaseRefusal(lease('192.168.51.7', '192.168.50.1'), policy),
      'the leased address 192.168.51.7 is outside ovs.bridge.dhcp_subnet=192.168.50.0/24',
    );
    assert.notEqual(
      leaseRefusal(lease('10.0.0.1', '192.168.50.1'), { servers: [], subnet: '192.168.50.128/25' }),
      undefined,
    );
    assert.notEqual(
      leaseRefusal(lease('192.168.50.127', '192.168.50.1'), { servers: [], subnet: '192.168.50.128/25' }),
      undefined,
    );
  });

  it('takes any lease where the network names neither (the options are not given)', () => {
    assert.equal(leaseRefusal(lease('10.9.9.9', undefined), { servers: [], subnet: undefined }), undefined);
    assert.equal(leaseRefusal(lease('10.9.9.9', '10.0.0.1'), { servers: [], subnet: '0.0.0.0/0' }), undefined);
  });
});
