import { createHash } from 'node:crypto';
import type { FaucetConfigFacts } from '../faucet/config-facts.js';
import { PLACEHOLDER_DP_NAME } from '../faucet/placeholder.js';
import { formatDpid, Opt } from '../model/options.js';
import { HOST_PART } from '../config/host-name.js';

/**
 * How a network's FAUCET DP is named and numbered when several hosts' dovesnap daemons write
 * one FAUCET's configuration (FAUCETCONFRPC_ADDR set). Pure. With the local file (one host)
 * none of this applies: the DP is named after the Docker network and numbered by
 * `ovs.bridge.dpid`, as always.
 *
 * - Name: `<network>@<host>`, the host part being DOVESNAP_HOST_NAME (default: the host name).
 *   `@` is in no Docker network name and no host name, so the name reads back unambiguously
 *   (parseHostDpName), and it is a plain YAML key FAUCET takes as it is (a DP's name is any
 *   string equal to its key; config_parser.py checks only that).
 * - DPID: `ovs.bridge.dpid` when given; else derived (derivedDpid): the 16 bits 0x0d5e, then
 *   24 bits of the SHA-256 of the host part, then the first 24 bits (6 hex digits) of Docker's
 *   network ID — `docker network ls` shows them. The stack switch's own DPIDs start 0x0e0f00
 *   (driver/stack.ts), so the two never meet.
 */

/** Between the network's and the host's part of a DP name. */
export const DP_HOST_SEPARATOR = '@';

/** The top 16 bits of a derived network DPID. */
export const DERIVED_DPID_PREFIX = 0x0d5en;

/** The DP name of a network; undefined until Docker names the network. `dpHost` is set only with the remote backend. */
export function faucetDpName(n: { readonly name: string | undefined; readonly dpHost?: string }): string | undefined {
  if (n.name === undefined) return undefined;
  return n.dpHost === undefined ? n.name : `${n.name}${DP_HOST_SEPARATOR}${n.dpHost}`;
}

/** Whether a DP is the host's, by its name alone: one of its networks' (`<network>@<host>`) or its stack switch (`dovesnap-<host>`). */
export function ownedByHost(host: string): (dpName: string) => boolean {
  return (dpName) => dpName === `dovesnap-${host}` || parseHostDpName(dpName)?.host === host;
}

/** The parts of a `<network>@<host>` DP name; undefined for any other name. */
export function parseHostDpName(dpName: string): { network: string; host: string } | undefined {
  const at = dpName.lastIndexOf(DP_HOST_SEPARATOR);
  if (at <= 0) return undefined;
  const host = dpName.slice(at + 1);
  return HOST_PART.test(host) ? { network: dpName.slice(0, at), host } : undefined;
}

function bits24(hex: string): bigint {
  return BigInt(`0x${hex.slice(0, 6)}`);
}

/** The DPID of a network created without `ovs.bridge.dpid` on a host of a shared FAUCET. */
export function derivedDpid(host: string, networkId: string): bigint {
  const hostBits = bits24(createHash('sha256').update(host).digest('hex'));
  // Docker's network IDs are 64 hex digits; anything else (a test's ID) is hashed the same way.
  const netHex = /^[0-9a-f]{6}/i.test(networkId) ? networkId : createHash('sha256').update(networkId).digest('hex');
  return (DERIVED_DPID_PREFIX << 48n) | (hostBits << 24n) | bits24(netHex.toLowerCase());
}

/** A DP of the shared configuration that is not this host's, and in words whose it is. */
export interface DpHolder {
  readonly name: string;
  readonly dpId: bigint | undefined;
  readonly holder: string;
}

/** Mirrors of faucet-desired's description prefixes (kept here so this module stays a leaf). */
const NETWORK_DESCRIPTION = 'dovesnap network ';
const STACK_DESCRIPTION = 'dovesnap stack switch';

/** Who this daemon is among the hosts whose dovesnap writes one FAUCET's configuration. */
export interface DpOwner {
  /** Its DP names' host part; undefined with the local file, whose DPs have none. */
  readonly dpHost: string | undefined;
  /** Its stack switch's DP name (driver/stack.ts stackIdentity), whether stacking is on or not. */
  readonly stackDp: string;
}

/**
 * The dovesnap DPs of the configuration that are other hosts' (a network DP named for another
 * host, or a stack switch not this host's): on the controller's host, whose dovesnap writes the
 * local file while other hosts write through faucetconfrpc, they must be left alone.
 */
export function otherHostsDps(facts: FaucetConfigFacts, self: DpOwner): Set<string> {
  const out = new Set<string>();
  for (const [name, dp] of facts.dps) {
    if (dp.description?.startsWith(STACK_DESCRIPTION) === true) {
      if (name !== self.stackDp) out.add(name);
    } else if (dp.description?.startsWith(NETWORK_DESCRIPTION) === true) {
      const host = parseHostDpName(name)?.host;
      if (host !== undefined && host !== self.dpHost) out.add(name);
    }
  }
  return out;
}

/** Whose a DP is, in words, from its name and description. */
export function describeHolder(name: string, description: string | undefined): string {
  if (description?.startsWith(STACK_DESCRIPTION) === true)
    return `the stack switch of the host whose dovesnap names it ${name}`;
  if (description?.startsWith(NETWORK_DESCRIPTION) === true) {
    const parts = parseHostDpName(name);
    return parts === undefined
      ? `a dovesnap network of a host that writes DP names without a host part (${name})`
      : `network ${parts.network} of host ${parts.host}`;
  }
  return `the operator's DP ${name} (not dovesnap's)`;
}

/** Every DP of the controller's configuration but the placeholder, with whose it is. */
export function dpHolders(facts: FaucetConfigFacts): DpHolder[] {
  const out: DpHolder[] = [];
  for (const [name, dp] of facts.dps) {
    if (name === PLACEHOLDER_DP_NAME) continue;
    out.push({ name, dpId: dp.dpId, holder: describeHolder(name, dp.description) });
  }
  return out;
}

/**
 * Why a network's DPID may not be used in the shared configuration, or undefined. `given`:
 * the user set `ovs.bridge.dpid` (else dovesnap derived it from `host`).
 */
export function dpidConflict(
  dpId: bigint,
  given: boolean,
  host: string,
  holders: readonly DpHolder[],
): string | undefined {
  const other = holders.find((h) => h.dpId === dpId);
  if (other === undefined) return undefined;
  const held = `FAUCET's configuration already has DP ${other.name} with dp_id ${formatDpid(dpId)}, held by ${other.holder}`;
  return given
    ? `invalid value ${JSON.stringify(formatDpid(dpId))} for option ${Opt.dpid}: ${held}; choose another ${Opt.dpid}`
    : `the DPID dovesnap derived for this network on host ${host} (${formatDpid(dpId)}) is taken: ${held}; set ${Opt.dpid} to choose one`;
}

/**
 * Why the network `networkId` may not have the DP `dpName` in the shared configuration, or
 * undefined: a DP of that name is there and is not this network's (its description names
 * another network ID): the operator's, or another host's that calls itself the same.
 */
export function dpNameHeld(dpName: string, networkId: string, facts: FaucetConfigFacts): string | undefined {
  if (dpName === PLACEHOLDER_DP_NAME)
    return `the name ${dpName} is reserved for dovesnap's placeholder DP in FAUCET's configuration; choose another network name`;
  const dp = facts.dps.get(dpName);
  if (dp === undefined || dp.description === `${NETWORK_DESCRIPTION}${networkId}`) return undefined;
  const parts = parseHostDpName(dpName);
  if (dp.description?.startsWith(NETWORK_DESCRIPTION) === true && parts !== undefined)
    return `FAUCET's configuration already has DP ${dpName}, network ${parts.network} of another host that also calls itself ${parts.host} (DOVESNAP_HOST_NAME; or this host's network of that name, deleted while dovesnap was down: remove that DP with faucetconfrpc_client); give each host its own DOVESNAP_HOST_NAME`;
  return `FAUCET's configuration already has a DP named ${dpName}, held by ${describeHolder(dpName, dp.description)}; choose another network name`;
}
