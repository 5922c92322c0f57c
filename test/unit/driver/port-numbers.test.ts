import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { heldPortNumbers, lowestFreePortNumber } from '../../../src/driver/port-numbers.js';
import { parseNetworkOptions } from '../../../src/model/options.js';

describe('port numbers', () => {
  const options = parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.lbport': '3' });
  const ports = [
    { name: 'dspa', ofport: 1, ofportRequest: 1 },
    { name: 'dspb', ofport: undefined, ofportRequest: 2 },
    { name: 'dspc', ofport: 5, ofportRequest: undefined },
  ];

  it('holds every port number on the bridge (given or only asked for), the reserved ones and the mirrored ones', () => {
    const held = heldPortNumbers(ports, options, [4]);
    for (const n of [1, 2, 3, 4, 5]) assert.ok(held.has(n), `${n} held`);
    assert.equal(lowestFreePortNumber(held), 6);
  });

  it('leaves out the ports named in except', () => {
    const held = heldPortNumbers(ports, options, [], new Set(['dspb']));
    assert.equal(held.has(2), false);
    assert.equal(lowestFreePortNumber(held), 2);
  });

  it('undefined once none is left', () => {
    assert.equal(lowestFreePortNumber(new Set([1, 2, 3]), 3), undefined);
  });
});
