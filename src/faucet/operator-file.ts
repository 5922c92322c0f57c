import { DovesnapError, ErrorCode } from '../util/errors.js';
import { PLACEHOLDER_DP_ID, PLACEHOLDER_DP_NAME } from './placeholder.js';
import { jsMap, section } from './yaml.js';

/**
 * What the operator's faucet.yaml defines (DPs, ACLs, VLANs), and whether a new network may take
 * a DP name there. Each reader throws FaucetInvalid if the text is not valid YAML.
 */

/** DP name → dp_id for every DP in the file with an integer dp_id (decimal, hex, ...). */
export function definedDps(text: string): Map<string, bigint> {
  const result = new Map<string, bigint>();
  for (const [name, conf] of section(text, 'dps') ?? []) {
    const dpId = jsMap(conf)?.get('dp_id');
    if (typeof dpId === 'bigint') result.set(String(name), dpId);
  }
  return result;
}

/** Names of the ACLs defined in `acls:`. */
export function definedAcls(text: string): Set<string> {
  return new Set([...(section(text, 'acls')?.keys() ?? [])].map(String));
}

/**
 * VLAN name → VID for the entries of `vlans:`. As in FAUCET, the VID is the entry's `vid`, or
 * its key when the key is a number.
 */
export function definedVlans(text: string): Map<string, number> {
  const result = new Map<string, number>();
  for (const [key, conf] of section(text, 'vlans') ?? []) {
    const vid = jsMap(conf)?.get('vid') ?? key;
    if (typeof vid === 'bigint') result.set(String(key), Number(vid));
  }
  return result;
}

/**
 * Throws Conflict if a new network may not take DP `name` with `dpId`: the name belongs to a DP
 * dovesnap does not own, or another DP already uses the DPID. Call it before adding a name to
 * `ManagedFaucetState.owned`, which is what allows the renderer to overwrite an entry.
 */
export function checkDpClaim(
  text: string,
  claim: { readonly name: string; readonly dpId: bigint },
  owned: ReadonlySet<string>,
): void {
  const hex = `0x${claim.dpId.toString(16)}`;
  if (claim.name === PLACEHOLDER_DP_NAME || claim.dpId === PLACEHOLDER_DP_ID) {
    throw new DovesnapError(
      ErrorCode.Conflict,
      `DP name '${PLACEHOLDER_DP_NAME}' and DPID 0x${PLACEHOLDER_DP_ID.toString(16)} are reserved for dovesnap's placeholder DP (network '${claim.name}', DPID ${hex})`,
    );
  }
  for (const [name, dpId] of definedDps(text)) {
    if (name === claim.name && !owned.has(name)) {
      throw new DovesnapError(
        ErrorCode.Conflict,
        `faucet.yaml already has a DP named '${name}' that dovesnap does not manage; choose another network name`,
      );
    }
    if (name !== claim.name && dpId === claim.dpId) {
      throw new DovesnapError(
        ErrorCode.Conflict,
        `DPID ${hex} of network '${claim.name}' is already used by DP '${name}' in faucet.yaml`,
      );
    }
  }
}
