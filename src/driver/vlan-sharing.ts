import { Opt, type NetworkOptions } from '../model/options.js';

/**
 * Which VLANs may carry an output ACL (`ovs.bridge.vlan_out_acl`). Pure.
 *
 * FAUCET's `vlans:` entries are global by VID: a port of any DP on VID v runs under the one
 * entry with that VID (FAUCET refuses a file with two: "VLAN VID v multiply configured"). So a
 * VLAN's output ACL applies to every network of this FAUCET on that VID, and to the operator's
 * DPs on it. A network with an output ACL therefore needs its VLAN to itself: dovesnap refuses
 * the create that would share it, either way round, instead of filtering another network's
 * traffic with an ACL nobody asked for it.
 */

export interface VlanHolder {
  /** The network's name, or its ID while Docker has not named it. */
  readonly label: string;
  readonly options: NetworkOptions;
}

/** Every VID a network's ports use, with the option (and its value) that puts it there. */
export function vlanUses(o: NetworkOptions): Map<number, { option: string; value: string }> {
  const out = new Map<number, { option: string; value: string }>();
  out.set(o.vlan, { option: Opt.vlan, value: String(o.vlan) });
  for (const [option, ports] of [
    [Opt.addPorts, o.addPorts],
    [Opt.addCoproPorts, o.addCoproPorts],
  ] as const) {
    for (const p of ports) {
      for (const vid of [p.vlans?.native, ...(p.vlans?.tagged ?? [])]) {
        if (vid !== undefined && !out.has(vid)) out.set(vid, { option, value: p.interface });
      }
    }
  }
  return out;
}

/**
 * Why a new network may not share VLANs as it would (undefined: it may). `others`: this FAUCET's
 * other networks; `operatorVids`: the VIDs the operator's own `vlans:` entries and DPs use.
 */
export function vlanSharingProblem(
  candidate: NetworkOptions,
  others: readonly VlanHolder[],
  operatorVids: ReadonlySet<number>,
): string | undefined {
  const own = candidate.vlanOutAcl;
  if (own !== undefined) {
    const vid = candidate.vlan;
    const why = `FAUCET's VLANs are shared by VID across all its switches, so the ACL would filter their traffic too; give this network a VLAN of its own (${Opt.vlan})`;
    if (operatorVids.has(vid))
      return `invalid value ${JSON.stringify(own)} for option ${Opt.vlanOutAcl}: VLAN ${vid} is also used by the operator's own FAUCET configuration; ${why}`;
    const sharer = others.find((n) => vlanUses(n.options).has(vid));
    if (sharer !== undefined)
      return `invalid value ${JSON.stringify(own)} for option ${Opt.vlanOutAcl}: VLAN ${vid} is also used by network ${sharer.label}; ${why}`;
  }
  for (const [vid, use] of vlanUses(candidate)) {
    const holder = others.find((n) => n.options.vlanOutAcl !== undefined && n.options.vlan === vid);
    if (holder === undefined) continue;
    return `invalid value ${JSON.stringify(use.value)} for option ${use.option}: VLAN ${vid} carries network ${holder.label}'s output ACL ${holder.options.vlanOutAcl} (${Opt.vlanOutAcl}), which FAUCET would apply to this network too (its VLANs are shared by VID); choose another VLAN`;
  }
  return undefined;
}
