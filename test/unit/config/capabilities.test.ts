import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { driverCapabilities, LOCAL_CAPABILITIES } from '../../../src/config/capabilities.js';
import { loadSettings } from '../../../src/config/settings.js';

describe("GetCapabilities' answer (DOVESNAP_SCOPE, DOVESNAP_CONNECTIVITY_SCOPE)", () => {
  it('is local and local unless told otherwise', () => {
    assert.deepEqual(driverCapabilities({}), { Scope: 'local', ConnectivityScope: 'local' });
    assert.deepEqual(driverCapabilities({ DOVESNAP_SCOPE: ' ', DOVESNAP_CONNECTIVITY_SCOPE: '' }), LOCAL_CAPABILITIES);
    assert.deepEqual(loadSettings({}).capabilities, LOCAL_CAPABILITIES);
  });

  it('answers ConnectivityScope global with local data when asked', () => {
    assert.deepEqual(driverCapabilities({ DOVESNAP_CONNECTIVITY_SCOPE: 'global' }), {
      Scope: 'local',
      ConnectivityScope: 'global',
    });
    assert.deepEqual(loadSettings({ DOVESNAP_CONNECTIVITY_SCOPE: 'global' }).capabilities.ConnectivityScope, 'global');
  });

  it('takes an unset ConnectivityScope from Scope, as libnetwork does with an empty one', () => {
    assert.deepEqual(driverCapabilities({ DOVESNAP_SCOPE: 'global' }), {
      Scope: 'global',
      ConnectivityScope: 'global',
    });
    assert.deepEqual(driverCapabilities({ DOVESNAP_SCOPE: 'global', DOVESNAP_CONNECTIVITY_SCOPE: 'local' }), {
      Scope: 'global',
      ConnectivityScope: 'local',
    });
  });

  it('refuses anything but local or global, naming the variable and the value', () => {
    assert.throws(
      () => driverCapabilities({ DOVESNAP_SCOPE: 'swarm' }),
      /invalid value "swarm" for environment variable DOVESNAP_SCOPE: expected local or global/,
    );
    assert.throws(
      () => loadSettings({ DOVESNAP_CONNECTIVITY_SCOPE: 'Global' }),
      /invalid value "Global" for environment variable DOVESNAP_CONNECTIVITY_SCOPE/,
    );
  });
});
