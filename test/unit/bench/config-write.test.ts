import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { withProbeAcl } from '../../../bench/config-write.js';

describe('bench config-write: the local-file probe write', () => {
  it('sets the probe ACL and keeps 64-bit dp_ids to the last digit', () => {
    const text = 'dps:\n  a@h1:\n    dp_id: 1013028710788617308\n    interfaces:\n      1: {native_vlan: 100}\n';
    const out = withProbeAcl(text, 'probe', 1);
    assert.match(out, /dp_id: 1013028710788617308\n/);
    assert.match(out, /probe:/);
  });
});
