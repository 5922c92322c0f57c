import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  bridgeExists,
  createNetwork,
  dockerRaw,
  faucetYaml,
  must,
  ovsVsctl,
  run,
  status,
  testDpid,
  uniqueName,
  DOCKER,
} from './harness.js';

/** Every dovesnap bridge on the host, by network ID. */
async function ourBridges(): Promise<string[]> {
  const out = await must('ovs-vsctl', ['--format=json', '--columns=name,external_ids', 'list', 'Bridge']);
  const rows = (JSON.parse(out) as { data: [string, ['map', [string, string][]]][] }).data;
  return rows.filter((r) => r[1][1].some(([k]) => k === 'dovesnap-network-id')).map((r) => r[0]);
}

function dpNames(): string[] {
  return Object.keys((parse(faucetYaml()) as { dps?: Record<string, unknown> }).dps ?? {});
}

describe('network options at docker network create', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['no DPID', {}, /ovs\.bridge\.dpid is required/],
    ['a malformed DPID', { 'ovs.bridge.dpid': '0xZZ' }, /"0xZZ".*ovs\.bridge\.dpid/],
    [
      'an unknown ovs.bridge key',
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.colour': 'blue' },
      /unknown option ovs\.bridge\.colour/,
    ],
    ['a bad mode', { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'mesh' }, /"mesh".*ovs\.bridge\.mode/],
    ['a VLAN out of range', { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.vlan': '5000' }, /"5000".*ovs\.bridge\.vlan/],
    [
      'a bad controller',
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.controller': 'tcp:nowhere' },
      /ovs\.bridge\.controller/,
    ],
    ['a bad MTU', { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mtu': 'big' }, /"big".*ovs\.bridge\.mtu/],
    [
      'a bad userspace flag',
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.userspace': 'perhaps' },
      /ovs\.bridge\.userspace/,
    ],
    [
      'a bridge name too long',
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.name': 'abcdefghijklmnopq' },
      /ovs\.bridge\.name/,
    ],
    [
      'an ACL FAUCET does not define',
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.default_acl': 'no-such-acl' },
      /no-such-acl.*ovs\.bridge\.default_acl/,
    ],
  ];

  for (const [what, opts, message] of cases) {
    it(`fails with ${what}, naming the option, and leaves nothing behind`, async () => {
      const before = await ourBridges();
      const dpsBefore = dpNames();
      const name = uniqueName('bad');
      const args = ['network', 'create', '-d', 'dovesnap'];
      for (const [k, v] of Object.entries(opts)) args.push('-o', `${k}=${v}`);
      const r = await dockerRaw(...args, name);
      if (r.code === 0) await run(DOCKER, ['network', 'rm', name]);
      assert.notEqual(r.code, 0, 'docker network create must fail');
      assert.match(r.stderr, message);
      assert.notEqual((await run(DOCKER, ['network', 'inspect', name])).code, 0, 'Docker has no such network');
      // Other tests' networks may still be going away: compare by what this one could have made.
      const made = (await ourBridges()).filter((b) => !before.includes(b));
      assert.deepEqual(made, [], 'no bridge made');
      assert.ok(!dpNames().includes(name), 'no DP in FAUCET');
      // (The placeholder DP comes back by itself whenever the last other DP goes.)
      assert.deepEqual(
        dpNames().filter((d) => !dpsBefore.includes(d) && d !== 'dovesnap-placeholder'),
        [],
        'no DP added',
      );
    });
  }

  it('refuses a DPID another dovesnap network has', async () => {
    const dpid = testDpid();
    const first = uniqueName('dup');
    const id = await createNetwork(first, { 'ovs.bridge.dpid': dpid });
    const second = uniqueName('dup');
    const r = await dockerRaw(
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      `ovs.bridge.dpid=${BigInt(dpid).toString()}`,
      second,
    );
    if (r.code === 0) await run(DOCKER, ['network', 'rm', second]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`ovs\\.bridge\\.dpid.*already used by network ${first}`));
    assert.ok(await bridgeExists(`ovsbr-${id.slice(0, 5)}`));
    assert.equal(Object.values(await status()).filter((n) => n.BridgeDpid === dpid).length, 1);
  });

  it('accepts the original driver name "ovs", a bridge name, MTU and VLAN', async () => {
    const name = uniqueName('ovs');
    const bridge = `dsb${name.slice(-6)}`;
    const id = await createNetwork(
      name,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.name': bridge, 'ovs.bridge.mtu': '1400', 'ovs.bridge.vlan': '222' },
      ['--internal'],
      'ovs',
    );
    assert.ok(await bridgeExists(bridge));
    assert.equal(await ovsVsctl('get', 'Interface', bridge, 'mtu_request'), '1400');
    const n = (await status())[id];
    assert.equal(n?.BridgeVLAN, 222);
    assert.equal(n?.NetworkName, name);
  });
});
