import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { detectDatapath } from '../../../src/driver/host.js';

/**
 * DOVESNAP_DATAPATH overrides the guess both ways. Before, a forced `netdev` (a string, so truthy)
 * chose `system`: the simulated hosts of `make hosts`, which force it, got kernel-datapath
 * bridges, whose ports never got an OpenFlow number.
 */
describe('detectDatapath (driver/host)', () => {
  it('takes DOVESNAP_DATAPATH as given', () => {
    assert.equal(detectDatapath({ DOVESNAP_DATAPATH: 'netdev' }), 'netdev');
    assert.equal(detectDatapath({ DOVESNAP_DATAPATH: 'system' }), 'system');
  });

  it('guesses from the kernel module otherwise', () => {
    const guess = existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
    assert.equal(detectDatapath({}), guess);
    assert.equal(detectDatapath({ DOVESNAP_DATAPATH: 'other' }), guess);
  });
});
