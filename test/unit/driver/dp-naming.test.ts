import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  derivedDpid,
  dpHolders,
  dpidConflict,
  dpNameHeld,
  faucetDpName,
  parseHostDpName,
} from '../../../src/driver/dp-naming.js';
import { readFaucetConfigFacts } from '../../../src/faucet/config-facts.js';

/** The DP naming and numbering rule of several hosts sharing one FAUCET (driver/dp-naming.ts). */

const NET_ID = 'a1b2c3'.padEnd(64, '0');

describe('DP names: <network>@<host> with the remote backend, the network name without', () => {
  const cases: [string, { name: string | undefined; dpHost?: string }, string | undefined][] = [
    ['local: the network name, as always', { name: 'web' }, 'web'],
    ['remote: network@host', { name: 'web', dpHost: 'h1' }, 'web@h1'],
    ['a Compose name', { name: 'lab_web', dpHost: 'dsh-h2' }, 'lab_web@dsh-h2'],
    ['unnamed yet: no DP', { name: undefined, dpHost: 'h1' }, undefined],
  ];
  for (const [what, n, want] of cases) it(what, () => assert.equal(faucetDpName(n), want));

  const parses: [string, { network: string; host: string } | undefined][] = [
    ['web@h1', { network: 'web', host: 'h1' }],
    ['lab_web@dsh-h2.example', { network: 'lab_web', host: 'dsh-h2.example' }],
    ['web', undefined],
    ['@h1', undefined],
    ['web@', undefined],
    ['web@bad host', undefined],
  ];
  for (const [name, want] of parses)
    it(`reads ${JSON.stringify(name)} back`, () => assert.deepEqual(parseHostDpName(name), want));
});

describe('derived DPIDs: 0x0d5e, 24 bits of the host, the network ID’s first 6 hex digits', () => {
  it('lays the bits out as documented', () => {
    const id = derivedDpid('h1', NET_ID);
    assert.equal(id >> 48n, 0x0d5en);
    assert.equal(id & 0xffffffn, 0xa1b2c3n);
    assert.equal((id >> 24n) & 0xffffffn, (derivedDpid('h1', 'ffffff') >> 24n) & 0xffffffn);
  });
  it('differs between hosts for the same network ID, and between networks on one host', () => {
    assert.notEqual(derivedDpid('h1', NET_ID), derivedDpid('h2', NET_ID));
    assert.notEqual(derivedDpid('h1', NET_ID), derivedDpid('h1', 'b'.repeat(64)));
  });
  it('never meets the stack switch’s DPIDs (0x0e0f00…)', () => {
    assert.notEqual(derivedDpid('h1', NET_ID) >> 40n, 0x0e0f00n);
  });
  it('hashes an ID that is not hex', () => {
    assert.equal(derivedDpid('h1', 'net-x') >> 48n, 0x0d5en);
  });
});

const SHARED = readFaucetConfigFacts(`dps:
  core:
    dp_id: 0x10
    interfaces: {1: {native_vlan: 100}}
  web@h2:
    dp_id: 0x20
    description: dovesnap network ${'e'.repeat(64)}
    interfaces: {1: {native_vlan: 100}}
  dovesnap-h2:
    dp_id: 0x30
    description: dovesnap stack switch dovesnap-h2
    interfaces: {1: {native_vlan: 100}}
  web@h1:
    dp_id: 0x40
    description: dovesnap network ${'f'.repeat(64)}
    interfaces: {1: {native_vlan: 100}}
`);

describe('collisions in the shared configuration: refused, naming the option, the value and the holder', () => {
  const holders = dpHolders(SHARED);
  const cases: [string, bigint, boolean, RegExp | undefined][] = [
    ['a free given DPID', 0x99n, true, undefined],
    [
      "a given DPID the operator's DP has",
      0x10n,
      true,
      /^invalid value "0x10" for option ovs\.bridge\.dpid: FAUCET's configuration already has DP core with dp_id 0x10, held by the operator's DP core/,
    ],
    [
      "a given DPID another host's network has",
      0x20n,
      true,
      /held by network web of host h2; choose another ovs\.bridge\.dpid$/,
    ],
    [
      "a given DPID another host's stack switch has",
      0x30n,
      true,
      /held by the stack switch of the host whose dovesnap names it dovesnap-h2/,
    ],
    [
      'a derived DPID taken',
      0x20n,
      false,
      /^the DPID dovesnap derived for this network on host h1 \(0x20\) is taken: .* set ovs\.bridge\.dpid to choose one$/,
    ],
  ];
  for (const [what, id, given, want] of cases)
    it(what, () => {
      const got = dpidConflict(id, given, 'h1', holders);
      if (want === undefined) assert.equal(got, undefined);
      else assert.match(got ?? '', want);
    });

  const names: [string, string, string, RegExp | undefined][] = [
    ['a new DP name', 'db@h1', NET_ID, undefined],
    ["this network's own DP (a restart)", 'web@h1', 'f'.repeat(64), undefined],
    [
      'the same name from another host calling itself h1',
      'web@h1',
      NET_ID,
      /another host that also calls itself h1 \(DOVESNAP_HOST_NAME/,
    ],
    ["the operator's DP", 'core', NET_ID, /already has a DP named core, held by the operator's DP core/],
    ['the placeholder', 'dovesnap-placeholder', NET_ID, /reserved/],
  ];
  for (const [what, dpName, networkId, want] of names)
    it(what, () => {
      const got = dpNameHeld(dpName, networkId, SHARED);
      if (want === undefined) assert.equal(got, undefined);
      else assert.match(got ?? '', want);
    });
});
