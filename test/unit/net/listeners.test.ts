import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listenerCovers, parseProcNet } from '../../../src/net/listeners.js';
import { parseForwardingTags, splitRuleSpec } from '../../../src/net/forwarding.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:24C9 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:24C9 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1
   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1
`;

describe('host listeners from /proc/net', () => {
  it('parses listening TCP sockets (v4 and v6) and skips connections', () => {
    assert.deepEqual(parseProcNet(TCP, 'tcp', false), [
      { protocol: 'tcp', address: '0.0.0.0', port: 22 },
      { protocol: 'tcp', address: '127.0.0.1', port: 9417 },
    ]);
    assert.deepEqual(parseProcNet(TCP6, 'tcp', true), [
      { protocol: 'tcp', address: '::', port: 22 },
      { protocol: 'tcp', address: '0:0:0:0:0:0:0:1', port: 8080 },
    ]);
  });

  it('a wildcard on either side overlaps', () => {
    assert.equal(listenerCovers('0.0.0.0', '10.0.0.1'), true);
    assert.equal(listenerCovers('127.0.0.1', ''), true);
    assert.equal(listenerCovers('127.0.0.1', '10.0.0.1'), false);
  });
});

describe('DOCKER-USER rule tags', () => {
  it('finds dovesnap tags in iptables -S output and splits a rule back into arguments', () => {
    const out = `-N DOCKER-USER
-A DOCKER-USER -i ovsbr-a1b2c -m comment --comment "dovesnap a1b2c3d4e5f6" -j ACCEPT
-A DOCKER-USER -o ovsbr-a1b2c -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "dovesnap a1b2c3d4e5f6" -j ACCEPT
-A DOCKER-USER -j RETURN
`;
    assert.deepEqual(parseForwardingTags(out), ['a1b2c3d4e5f6']);
    // A swarm-scoped network's ID is the swarm manager's (base 36), not Docker's hex.
    const swarm = '-A DOCKER-USER -i ovsbr-wn08d -m comment --comment "dovesnap wn08da18g7gn" -j ACCEPT\n';
    assert.deepEqual(parseForwardingTags(swarm), ['wn08da18g7gn']);
    assert.deepEqual(parseForwardingTags('-A DOCKER-USER -m comment --comment "dovesnap WN08DA18G7GN" -j ACCEPT'), []);
    assert.deepEqual(splitRuleSpec('-i ovsbr-a1b2c -m comment --comment "dovesnap a1b2c3d4e5f6" -j ACCEPT'), [
      '-i',
      'ovsbr-a1b2c',
      '-m',
      'comment',
      '--comment',
      'dovesnap a1b2c3d4e5f6',
      '-j',
      'ACCEPT',
    ]);
  });
});
