import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDhcpReport } from '../../../src/dhcp/lease.js';
import { dhcpHostname } from '../../../src/dhcp/supervisor.js';

const rec = (vars: Record<string, string>): string =>
  Object.entries(vars)
    .map(([k, v]) => `${k}=${v}\0`)
    .join('');

describe('DHCP client reports', () => {
  it('reads a bound event with its lease; values a server sends cannot break the record', () => {
    const r = parseDhcpReport(
      rec({
        event: 'bound',
        ip: '10.1.0.15',
        mask: '24',
        router: '10.1.0.1 10.1.0.2',
        dns: '10.1.0.1 9.9.9.9',
        domain: 'a "quoted"\nlab',
        lease: '600',
        serverid: '10.1.0.1',
        PATH: '/bin',
      }),
    );
    assert.deepEqual(r, {
      event: 'bound',
      lease: {
        address: '10.1.0.15',
        prefixLength: 24,
        router: '10.1.0.1',
        dns: ['10.1.0.1', '9.9.9.9'],
        domain: 'a "quoted"\nlab',
        leaseSeconds: 600,
        serverId: '10.1.0.1',
      },
      message: undefined,
    });
  });

  it('takes the prefix from a dotted subnet when there is no mask', () => {
    assert.equal(
      parseDhcpReport(rec({ event: 'renew', ip: '10.1.0.15', subnet: '255.255.252.0' }))?.lease?.prefixLength,
      22,
    );
  });

  it('keeps failures without a lease, and refuses what is not a report', () => {
    assert.deepEqual(parseDhcpReport(rec({ event: 'leasefail' })), {
      event: 'leasefail',
      lease: undefined,
      message: undefined,
    });
    assert.equal(parseDhcpReport(rec({ event: 'nak', message: 'wrong network' }))?.message, 'wrong network');
    assert.equal(parseDhcpReport(''), undefined);
    assert.equal(parseDhcpReport(rec({ event: 'reboot' })), undefined);
    assert.equal(parseDhcpReport(rec({ event: 'bound', ip: '999.1.1.1', mask: '24' })), undefined);
  });

  it('sends a container name as a valid host name', () => {
    assert.equal(dhcpHostname('/web_1'), 'web-1');
    assert.equal(dhcpHostname('db'), 'db');
    assert.equal(dhcpHostname('/_x'), 'x');
    assert.equal(dhcpHostname('/___'), 'container');
  });
});
