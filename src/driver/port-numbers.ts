import { MAX_OFPORT, reservedOfports, type NetworkOptions } from '../model/options.js';
import type { PortState } from '../ovs/vswitch.js';

/**
 * The one rule for which OpenFlow port numbers of a network's bridge are held, shared by the
 * driver (the number a new port asks for) and the FAUCET view (the numbers spare entries may
 * use), so that the two cannot drift apart:
 * - every port's number on the bridge, given or only asked for (ovs-vswitchd may not have
 *   numbered it yet), but for the ports named in `except`;
 * - the numbers the network's options reserve (`lbport`, the stack link, numbered added ports);
 * - the numbers FAUCET may still mirror: FAUCET copies a port's traffic from the port's own
 *   flows, which an entry changed only in its description keeps, so a new port on such a
 *   number would be mirrored too.
 */
export function heldPortNumbers(
  ports: readonly Pick<PortState, 'name' | 'ofport' | 'ofportRequest'>[],
  options: NetworkOptions,
  mirrored: Iterable<number> = [],
  except: ReadonlySet<string> = new Set(),
): Set<number> {
  const held = new Set<number>(reservedOfports(options));
  for (const p of ports) {
    if (except.has(p.name)) continue;
    if (p.ofport !== undefined) held.add(p.ofport);
    if (p.ofportRequest !== undefined) held.add(p.ofportRequest);
  }
  for (const n of mirrored) held.add(n);
  return held;
}

/** The lowest port number not in `held`; undefined if the bridge has none left. */
export function lowestFreePortNumber(held: ReadonlySet<number>, max = MAX_OFPORT): number | undefined {
  for (let n = 1; n <= max; n++) if (!held.has(n)) return n;
  return undefined;
}
