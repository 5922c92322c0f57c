import type { FaucetDpSpec, FaucetVlanSpec } from '../faucet/types.js';

/**
 * How many hosts FAUCET may learn on the VLANs of dovesnap's networks. Pure.
 *
 * FAUCET learns at most `max_hosts` hosts per VLAN of a DP (its default: 256). Past that it
 * installs, for about a minute at a time, a flow that drops every frame from a host it has not
 * learned: a network's 257th container is cut off (seen at N = 500: containers past ~320 got no
 * reply for 12–30 s, or none). Docker's bridge has no such limit. So dovesnap defines the VLANs
 * of its networks with `max_hosts: 65536`.
 *
 * FAUCET's `vlans:` entries are global: a DP's port on VID v takes the first entry with that
 * VID, whichever DP it was written for. So the value is one constant (an entry never changes
 * because another network came or went, which would make FAUCET reconfigure every port on the
 * VLAN), and a VID the operator defines, or that one of the operator's DPs uses, is left
 * alone: a new entry would change the operator's VLAN.
 */

export const VLAN_MAX_HOSTS = 65_536;

function vidsOf(dp: FaucetDpSpec): Set<number> {
  const out = new Set<number>();
  for (const p of dp.ports) {
    if (p.nativeVlan !== undefined) out.add(p.nativeVlan);
    for (const v of p.taggedVlans ?? []) out.add(v);
  }
  return out;
}

/**
 * `dps` with `max_hosts` on their own VLAN entries, and the entries to add for VIDs that have
 * none (`shared`, one per VID). `operatorVids`: VIDs the operator defines or uses.
 */
export function withVlanCapacity(
  dps: readonly FaucetDpSpec[],
  operatorVids: ReadonlySet<number>,
): { dps: FaucetDpSpec[]; shared: FaucetVlanSpec[] } {
  const ours = new Set(dps.flatMap((dp) => [...vidsOf(dp)]).filter((vid) => !operatorVids.has(vid)));
  const defined = new Set<number>();
  const out = dps.map((dp) => {
    if (dp.vlans === undefined || dp.vlans.length === 0) return dp;
    for (const v of dp.vlans) defined.add(v.vid);
    return { ...dp, vlans: dp.vlans.map((v) => (ours.has(v.vid) ? { ...v, maxHosts: VLAN_MAX_HOSTS } : v)) };
  });
  const shared = [...ours]
    .filter((vid) => !defined.has(vid))
    .sort((a, b) => a - b)
    .map((vid) => ({ vid, description: `VLAN ${vid} of dovesnap's networks`, maxHosts: VLAN_MAX_HOSTS }));
  return { dps: out, shared };
}
