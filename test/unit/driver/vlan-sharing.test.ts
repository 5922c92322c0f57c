import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { vlanSharingProblem, vlanUses } from '../../../src/driver/vlan-sharing.js';
import { parseNetworkOptions } from '../../../src/model/options.js';

const opts = (o: Record<string, string>) => parseNetworkOptions({ 'ovs.bridge.dpid': '1', ...o });

describe('vlan sharing (vlan_out_acl)', () => {
  it("vlanUses: the network's VLAN and its added ports' own VLANs, each with the option that brings it", () => {
    const uses = vlanUses(opts({ 'ovs.bridge.vlan': '10', 'ovs.bridge.add_ports': 'eth1/5//20,eth2/6//t30+t40' }));
    assert.deepEqual(
      [...uses.keys()].sort((a, b) => a - b),
      [10, 20, 30, 40],
    );
    assert.deepEqual(uses.get(30), { option: 'ovs.bridge.add_ports', value: 'eth2' });
  });

  it('an output ACL needs its VLAN to itself; any network may share a VLAN without one', () => {
    const plain = { label: 'plain', options: opts({}) };
    const quiet = { label: 'quiet', options: opts({ 'ovs.bridge.vlan': '200', 'ovs.bridge.vlan_out_acl': 'out' }) };
    assert.equal(vlanSharingProblem(opts({}), [plain], new Set([100])), undefined, 'no ACL: VLAN 100 shared as always');
    assert.match(
      vlanSharingProblem(opts({ 'ovs.bridge.vlan_out_acl': 'out' }), [plain], new Set()) ?? '',
      /VLAN 100 is also used by network plain/,
    );
    assert.match(
      vlanSharingProblem(opts({ 'ovs.bridge.vlan_out_acl': 'out' }), [], new Set([100])) ?? '',
      /operator's own/,
    );
    assert.equal(
      vlanSharingProblem(
        opts({ 'ovs.bridge.vlan_out_acl': 'out', 'ovs.bridge.vlan': '201' }),
        [plain, quiet],
        new Set([100]),
      ),
      undefined,
    );
    assert.match(
      vlanSharingProblem(opts({ 'ovs.bridge.vlan': '200' }), [quiet], new Set()) ?? '',
      /option ovs\.bridge\.vlan: VLAN 200 carries network quiet's output ACL out/,
    );
    assert.match(
      vlanSharingProblem(opts({ 'ovs.bridge.add_ports': 'eth1/5//200' }), [quiet], new Set()) ?? '',
      /invalid value "eth1" for option ovs\.bridge\.add_ports: VLAN 200 carries/,
    );
  });
});
