import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { environmentWithFlags } from '../../../src/cli/daemon-cmd.js';
import { loadSettings } from '../../../src/config/settings.js';

describe('dovesnap daemon flags (the original dovesnap names)', () => {
  it('override their environment variables, and reach the settings', () => {
    const env = environmentWithFlags(
      { MIRROR_BRIDGE_OUT: 'eth1', DOVESNAP_DEFAULT_CONTROLLERS: 'tcp:127.0.0.1:6653' },
      { mirror_bridge_out: 'eth9', mirror_bridge_in: 'eth8', default_ofcontrollers: 'tcp:10.0.0.1:6653' },
    );
    const s = loadSettings(env);
    assert.equal(s.mirrorBridgeOut, 'eth9');
    assert.equal(s.mirrorBridgeIn, 'eth8');
    assert.deepEqual(s.defaultControllers, ['tcp:10.0.0.1:6653']);
    const stacked = loadSettings(
      environmentWithFlags(
        { DOVESNAP_DEFAULT_CONTROLLERS: 'tcp:127.0.0.1:6653' },
        { stacking_interfaces: 'core:3:eth5', stack_priority1: 'core', stack_mirror_interface: 'core:2' },
      ),
    );
    assert.deepEqual(stacked.stacking, {
      interfaces: [{ remoteDp: 'core', remotePort: 3, interface: 'eth5' }],
      priority1: 'core',
      mirrorInterface: { dp: 'core', port: 2 },
    });
  });

  it('leave the environment alone when not given', () => {
    assert.deepEqual(environmentWithFlags({ MIRROR_BRIDGE_OUT: 'eth1' }, {}), { MIRROR_BRIDGE_OUT: 'eth1' });
  });
});
