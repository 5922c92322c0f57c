import type { FaucetDpSpec, FaucetPortSpec, FaucetVlanSpec } from '../faucet/types.js';
import { MAX_OFPORT, reservedOfports, type NetworkOptions } from '../model/options.js';

/**
 * Spare ports, and what makes a FAUCET change "only cosmetic". Pure.
 *
 * FAUCET re-reads and re-plans its whole configuration on every reload; on a network of a few
 * hundred containers that takes a large part of a second, during which it handles no port
 * events. So dovesnap keeps a few spare interface entries in each network's DP, for the next
 * port numbers it will hand out, with the network's VLAN and default ACL. A container without
 * an ACL label then takes an entry FAUCET already runs: its port can be raised at once, and the
 * only change left is the entry's description (the container's name), which waits for a quiet
 * moment and goes out with others in one write.
 */

export const SPARE_DESCRIPTION = 'dovesnap spare port';

/** How many spares a network keeps: more for a network that grows, within bounds. */
export function spareTarget(endpoints: number, ceiling: number): number {
  if (ceiling <= 0) return 0;
  return Math.min(ceiling, Math.max(Math.min(8, ceiling), Math.ceil(endpoints / 2)));
}

/**
 * The spare numbers for the next render: last render's spares and the numbers it gave to
 * ports that are gone now (so that their entries stay and a returning number costs nothing),
 * less what is taken; topped up to `target` (lowest free numbers first, as the driver hands
 * them out) only once fewer than a quarter remain, and trimmed only once far too many are
 * left, so that most renders keep the set as is.
 */
export function nextSpares(
  previous: Iterable<number>,
  taken: ReadonlySet<number>,
  target: number,
  max = MAX_OFPORT,
): number[] {
  if (target <= 0) return [];
  const kept = [...new Set(previous)].filter((n) => !taken.has(n) && n >= 1 && n <= max).sort((a, b) => a - b);
  // Trimmed only well past the target, and then well below that bound: containers leaving one
  // by one (each freeing a number) do not each change the set.
  if (kept.length > Math.max(4 * target, 32)) return kept.slice(0, 2 * target);
  if (kept.length >= Math.ceil(target / 4) && kept.length > 0) return kept;
  const out = new Set(kept);
  for (let n = 1; out.size < target && n <= max; n++) if (!taken.has(n)) out.add(n);
  return [...out].sort((a, b) => a - b);
}

/**
 * The entries `ovs.bridge.preallocate_ports=N` keeps: the N lowest numbers the network hands
 * to containers (the ones the options reserve skipped), so the first N containers each take an
 * entry FAUCET already runs, and an entry a container gives back stays.
 */
export function preallocatedNumbers(
  o: NetworkOptions,
  otherPorts: ReadonlySet<number> = new Set(),
  max = MAX_OFPORT,
): number[] {
  // Numbers held by ports that are not containers' (added, coprocessor, hand-added) are not
  // the network's to hand out: N entries means N for containers.
  const reserved = new Set([...reservedOfports(o), ...otherPorts]);
  const out: number[] = [];
  for (let n = 1; out.length < o.preallocatePorts && n <= max; n++) if (!reserved.has(n)) out.push(n);
  return out;
}

/** A port's entry without its description: what FAUCET enforces. */
function policyOfPort(p: FaucetPortSpec): string {
  const { description: _description, ...rest } = p;
  return JSON.stringify(rest);
}

/** What FAUCET enforces for each DP's ports, by DP name and port number. */
export function portPolicies(dps: readonly FaucetDpSpec[]): Map<string, Map<number, string>> {
  const out = new Map<string, Map<number, string>>();
  for (const dp of dps) out.set(dp.name, new Map(dp.ports.map((p) => [p.number, policyOfPort(p)])));
  return out;
}

/** The whole set of DPs (and dovesnap's shared VLAN entries) as FAUCET enforces it: equal keys mean only descriptions differ. */
export function policyKey(dps: readonly FaucetDpSpec[], vlans: readonly FaucetVlanSpec[] = []): string {
  return JSON.stringify([
    dps.map((dp) => ({ ...dp, dpId: dp.dpId.toString(16), ports: dp.ports.map(policyOfPort) })),
    vlans,
  ]);
}

/** Everything, descriptions included: equal keys mean the file would not change. */
export function fullKey(dps: readonly FaucetDpSpec[], vlans: readonly FaucetVlanSpec[] = []): string {
  return JSON.stringify([dps.map((dp) => ({ ...dp, dpId: dp.dpId.toString(16) })), vlans]);
}
