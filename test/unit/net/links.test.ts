import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { peerSettled, type LinkInfo } from '../../../src/net/links.js';

const link = (ifname: string, up: boolean): LinkInfo => ({
  ifindex: 5,
  ifname,
  address: '0e:00:00:00:00:01',
  mtu: 1500,
  linkIndex: 4,
  operstate: up ? 'LOWERLAYERDOWN' : 'DOWN',
  up,
});

describe('peerSettled: Docker has finished with the container end of a veth', () => {
  it('not while it still has our name, nor renamed but down (Docker sets the MAC after the rename and raises it last)', () => {
    assert.equal(peerSettled(link('dsc0123456789ab', false)), false, 'just moved');
    assert.equal(peerSettled(link('dsc0123456789ab', true)), false);
    // A ready port's container end is up in the host before Docker moves it (driver/port-pool.ts).
    assert.equal(peerSettled(link('dsr0123456789ab', true)), false, 'a ready port, not renamed yet');
    assert.equal(peerSettled(link('eth0', false)), false, 'renamed, MAC and addresses maybe not yet');
  });

  it('once renamed and up, with or without carrier (the host end stays down until FAUCET has the port)', () => {
    assert.equal(peerSettled(link('eth0', true)), true);
    assert.equal(peerSettled(link('eth3', true)), true);
  });
});
