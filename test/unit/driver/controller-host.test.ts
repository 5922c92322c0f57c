import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { managedState } from '../../../src/driver/faucet-desired.js';
import { StateStore, type NetworkRecord } from '../../../src/driver/state.js';
import { readFaucetConfigFacts } from '../../../src/faucet/config-facts.js';
import { renderFaucetConfig } from '../../../src/faucet/render.js';
import { parseFaucetDocument } from '../../../src/faucet/yaml.js';
import { parseNetworkOptions } from '../../../src/model/options.js';

/**
 * The controller's host: its dovesnap writes the local faucet.yaml while other hosts' dovesnap
 * write the same file through faucetconfrpc (docs/multi-host.md). Each render of the local
 * daemon must leave the other hosts' DPs, the shared VLAN entries they use and their ACLs as
 * they are, and still remove its own stale entries.
 */

const OTHER_ID = 'ab'.repeat(32);
const OWN_ID = 'cd'.repeat(32);
const STALE_ID = 'ef'.repeat(32);

const FILE = `vlans:
  dovesnap-vid240:
    vid: 240
  dovesnap-vid250:
    vid: 250
dps:
  lab@h2:
    dp_id: 0xd5e00000000001
    description: dovesnap network ${OTHER_ID}
    hardware: Open vSwitch
    interfaces:
      1:
        description: c1
        native_vlan: dovesnap-vid240
        acls_in: [dovesnap-antispoof-lab@h2-1]
  dovesnap-h2:
    dp_id: 0xe0f00000000002
    description: dovesnap stack switch dovesnap-h2
    hardware: Open vSwitch
    interfaces:
      1:
        description: to h3
        native_vlan: 250
  dovesnap-ctl:
    dp_id: 0xe0f00000000009
    description: dovesnap stack switch dovesnap-ctl
    hardware: Open vSwitch
    interfaces:
      1:
        description: stale
        native_vlan: 240
  gone:
    dp_id: 0x9
    description: dovesnap network ${STALE_ID}
    hardware: Open vSwitch
    interfaces:
      1:
        description: stale
        native_vlan: 240
acls:
  dovesnap-antispoof-lab@h2-1:
    - rule:
        actions:
          allow: 1
  dovesnap-antispoof-gone-1:
    - rule:
        actions:
          allow: 1
`;

function ownNetwork(): StateStore {
  const rawOptions = { 'ovs.bridge.dpid': '0x7', 'ovs.bridge.vlan': '100' };
  const record: NetworkRecord = {
    id: OWN_ID,
    name: 'web',
    options: parseNetworkOptions(rawOptions),
    rawOptions,
    bridgeName: 'ovsbr-cdcdc',
    datapathType: 'netdev',
    controllers: ['tcp:127.0.0.1:6653'],
    ipv4: [],
    internal: false,
    localFaucet: true,
  };
  const s = new StateStore();
  s.putNetwork(record);
  return s;
}

function sections(text: string): { dps: string[]; vlans: string[]; acls: string[] } {
  const js = parseFaucetDocument(text).toJS() as Record<string, Record<string, unknown> | undefined>;
  const keys = (k: string): string[] => Object.keys(js[k] ?? {}).sort();
  return { dps: keys('dps'), vlans: keys('vlans'), acls: keys('acls') };
}

describe("the controller's host, beside other hosts writing through faucetconfrpc", () => {
  const facts = readFaucetConfigFacts(FILE);
  const render = (owner?: { dpHost: string | undefined; stackDp: string }): string =>
    renderFaucetConfig(FILE, managedState(ownNetwork(), facts, facts.acls, new Map(), new Map(), undefined, owner));

  it("keeps the other hosts' DPs, their shared VLAN entries and ACLs; removes its own stale ones", () => {
    const out = sections(render({ dpHost: undefined, stackDp: 'dovesnap-ctl' }));
    assert.deepEqual(out.dps, ['dovesnap-h2', 'lab@h2', 'web']);
    for (const key of ['dovesnap-vid240', 'dovesnap-vid250']) assert.ok(out.vlans.includes(key), `${key} kept`);
    assert.deepEqual(out.acls, ['dovesnap-antispoof-lab@h2-1']);
  });

  it("leaves the other hosts' entries byte for byte", () => {
    const text = render({ dpHost: undefined, stackDp: 'dovesnap-ctl' });
    const block = FILE.slice(FILE.indexOf('  lab@h2:'), FILE.indexOf('  dovesnap-ctl:'));
    assert.ok(text.includes(block), text);
  });

  it("without an owner (a host alone), every DP marked as dovesnap's is its own, as before", () => {
    assert.deepEqual(sections(render()).dps, ['web']);
  });
});
