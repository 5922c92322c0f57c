import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildDhcpRelease, parseDhcpRelease } from '../../../src/dhcp/release-packet.js';
import { onLink } from '../../../src/dhcp/release.js';
import type { DhcpLease } from '../../../src/dhcp/lease.js';

const lease = (address: string, prefixLength: number): DhcpLease => ({
  address,
  prefixLength,
  router: '10.0.0.1',
  dns: [],
  domain: undefined,
  leaseSeconds: 600,
  serverId: '10.0.0.1',
});

describe('DHCPRELEASE', () => {
  it('is a BOOTREQUEST with ciaddr, chaddr, message type 7, the server id and the client id udhcpc uses', () => {
    const b = buildDhcpRelease({
      mac: '0e:42:00:00:00:07',
      address: '10.234.5.15',
      serverId: '10.234.5.1',
      xid: 0xdeadbeef,
    });
    assert.equal(b.readUInt32BE(4), 0xdeadbeef);
    assert.deepEqual([...b.subarray(236, 240)], [99, 130, 83, 99], 'magic cookie');
    assert.deepEqual(parseDhcpRelease(b), {
      op: 1,
      ciaddr: '10.234.5.15',
      chaddr: '0e:42:00:00:00:07',
      messageType: 7,
      serverId: '10.234.5.1',
      clientId: '01:0e:42:00:00:00:07',
    });
    assert.equal(b[b.length - 1], 255, 'ends with the end option');
  });

  it('refuses malformed addresses instead of sending garbage', () => {
    assert.throws(
      () => buildDhcpRelease({ mac: '0e:42:00:00:07', address: '10.0.0.2', serverId: '10.0.0.1', xid: 1 }),
      /MAC/,
    );
    assert.throws(
      () => buildDhcpRelease({ mac: '0e:42:00:00:00:07', address: '10.0.0.256', serverId: '10.0.0.1', xid: 1 }),
      /IPv4/,
    );
  });

  it('goes straight to a server on the lease subnet, through the router otherwise', () => {
    assert.equal(onLink(lease('10.0.0.77', 24), '10.0.0.1'), true);
    assert.equal(onLink(lease('10.0.0.77', 24), '10.0.1.1'), false);
    assert.equal(onLink(lease('10.0.0.77', 16), '10.0.200.1'), true);
    assert.equal(onLink(lease('10.0.0.77', 32), '10.0.0.78'), false);
  });
});
