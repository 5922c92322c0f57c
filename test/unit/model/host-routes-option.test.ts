import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseHostRoutes, parseNetworkOptions } from '../../../src/model/options.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

const OPT = 'ovs.bridge.host_routes';

function rejects(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isDovesnapError(err, ErrorCode.BadOption), `expected BadOption, got ${String(err)}`);
    for (const f of fragments)
      assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

const nat = (value: string, mode = 'nat'): ReturnType<typeof parseNetworkOptions> =>
  parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.mode': mode, [OPT]: value });

describe('ovs.bridge.host_routes', () => {
  it('parses PREFIX@VIA pairs, in order, spaces around items ignored', () => {
    const o = nat('192.168.102.0/24@192.168.101.2, 192.168.103.0/24@192.168.101.2,10.9.9.9/32@192.168.101.3');
    assert.deepEqual(o.hostRoutes, [
      { prefix: '192.168.102.0/24', via: '192.168.101.2' },
      { prefix: '192.168.103.0/24', via: '192.168.101.2' },
      { prefix: '10.9.9.9/32', via: '192.168.101.3' },
    ]);
    assert.ok(Object.isFrozen(o.hostRoutes));
    assert.ok(o.given.has(OPT));
    assert.deepEqual(nat('10.5.0.0/16@10.1.0.9', 'routed').hostRoutes, [{ prefix: '10.5.0.0/16', via: '10.1.0.9' }]);
  });

  it('is empty by default', () => {
    assert.deepEqual(parseNetworkOptions({ 'ovs.bridge.dpid': '1' }).hostRoutes, []);
  });

  it('needs mode nat or routed, naming the option, the value and the mode option', () => {
    rejects(
      () => nat('192.168.102.0/24@192.168.101.2', 'flat'),
      OPT,
      '"192.168.102.0/24@192.168.101.2"',
      'ovs.bridge.mode=nat or routed',
    );
    rejects(
      () => parseNetworkOptions({ 'ovs.bridge.dpid': '1', [OPT]: '192.168.102.0/24@192.168.101.2' }),
      OPT,
      'flat network',
    );
  });

  it('refuses malformed items, naming the option, the value and the item', () => {
    rejects(() => nat(''), OPT, 'expected PREFIX@VIA');
    rejects(() => nat(' , '), OPT, 'expected PREFIX@VIA');
    rejects(() => nat('192.168.102.0/24'), `invalid value "192.168.102.0/24" for option ${OPT}`, 'must be PREFIX@VIA');
    rejects(() => nat('192.168.102.0/24@192.168.101.2@x'), 'must be PREFIX@VIA');
    rejects(() => nat('192.168.102.0@192.168.101.2'), '"192.168.102.0" is not an IPv4 prefix');
    rejects(() => nat('192.168.102.0/33@192.168.101.2'), 'is not an IPv4 prefix');
    rejects(() => nat('300.1.1.0/24@192.168.101.2'), 'is not an IPv4 prefix');
    rejects(() => nat('fd00::/64@192.168.101.2'), 'is not an IPv4 prefix');
    rejects(() => nat('192.168.102.0/24@gw'), 'the next hop "gw" of 192.168.102.0/24 is not an IPv4 address');
    rejects(() => nat('192.168.102.0/24@'), 'the next hop "" of 192.168.102.0/24');
  });

  it('refuses host bits, naming the network meant', () => {
    rejects(
      () => nat('192.168.102.7/24@192.168.101.2'),
      'host bits are set in 192.168.102.7/24; the network is 192.168.102.0/24',
    );
  });

  it("refuses the default route and prefixes that are never a container's", () => {
    rejects(() => nat('0.0.0.0/0@192.168.101.2'), "would replace the host's default route");
    rejects(() => nat('127.0.0.0/16@192.168.101.2'), 'loopback');
    rejects(() => nat('224.0.0.0/4@192.168.101.2'), 'multicast');
    rejects(() => nat('255.255.255.255/32@192.168.101.2'), 'multicast and reserved');
    rejects(() => nat('0.1.0.0/16@192.168.101.2'), 'this network');
    // Wider prefixes that merely contain such space are routes like any other.
    assert.equal(nat('0.0.0.0/1@192.168.101.2').hostRoutes.length, 1);
  });

  it('refuses a prefix given twice, even with another next hop', () => {
    rejects(
      () => nat('192.168.102.0/24@192.168.101.2,192.168.102.0/24@192.168.101.3'),
      '192.168.102.0/24 is given twice',
    );
  });

  it('parseHostRoutes names the option it is given', () => {
    rejects(() => parseHostRoutes('x', 'lab.uplink'), 'option lab.uplink');
  });
});
