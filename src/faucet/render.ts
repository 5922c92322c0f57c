/**
 * faucet.yaml as a pure function of dovesnap's state, spliced into the operator's file.
 *
 * The operator owns faucet.yaml; dovesnap owns only the DPs named in `ManagedFaucetState.owned`
 * (plus the placeholder DP, and the `vlans:` entries named after its DPs). Round-tripping the
 * whole document through a YAML library would re-indent, re-quote and move comments, so this
 * module never re-emits operator text: it uses `yaml`'s parser only to find the byte ranges of
 * dovesnap's own entries and splices freshly rendered text into exactly those ranges. Every
 * byte outside them survives, and after each splice the result is re-parsed and compared with
 * the input to prove that nothing else changed.
 *
 * The parts, one job each: yaml.ts (parsing as FAUCET does), entries.ts (dovesnap's entries as
 * nodes), splice.ts (a section made to hold exactly the desired entries), foreign-ports.ts
 * (stack links inside the operator's DPs), operator-file.ts (what the operator's file defines),
 * initial-files.ts (the first faucet.yaml and gauge.yaml).
 */
import { isMap, type Node } from 'yaml';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { PLACEHOLDER_DP_NAME } from './placeholder.js';
import { OWNED_ACL_PREFIX, type ManagedFaucetState } from './types.js';
import {
  PLACEHOLDER_SPEC,
  aclNode,
  dpNode,
  managedVlanName,
  parseManagedVlanName,
  parseSharedVlanName,
  sharedVlanName,
  vlanNode,
} from './entries.js';
import { syncForeignPorts } from './foreign-ports.js';
import { keyName, syncSectionChecked } from './splice.js';
import { loadFaucetYaml } from './yaml.js';

export function checkManagedState(managed: ManagedFaucetState): void {
  const bug = (why: string): never => {
    throw new DovesnapError(ErrorCode.Internal, `bug: invalid managed FAUCET state: ${why}`);
  };
  const names = new Set<string>();
  for (const dp of managed.dps) {
    if (dp.name === PLACEHOLDER_DP_NAME) bug(`DP name '${dp.name}' is reserved for the placeholder`);
    if (names.has(dp.name)) bug(`DP '${dp.name}' is listed twice`);
    if (!managed.owned.has(dp.name)) bug(`DP '${dp.name}' is desired but not in 'owned' (add it after checkDpClaim)`);
    names.add(dp.name);
    const vids = new Set<number>();
    for (const vlan of dp.vlans ?? []) {
      if (vids.has(vlan.vid)) bug(`DP '${dp.name}' defines VLAN ${vlan.vid} twice`);
      vids.add(vlan.vid);
    }
  }
}

function sortedByName<T>(entries: Iterable<readonly [string, T]>): Map<string, T> {
  return new Map([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * `currentText` with dovesnap's DPs (and their VLANs) made equal to `managed`, and the
 * placeholder DP present iff no other DP would remain. Pure and byte-stable: rendering the
 * output again with the same state returns it unchanged, and an add followed by a remove
 * returns the original bytes. Throws FaucetInvalid if the current text cannot be edited
 * safely (bad YAML, flow-style sections), Internal on a caller's or our own bug.
 */
export function renderFaucetConfig(currentText: string, managed: ManagedFaucetState): string {
  checkManagedState(managed);

  const vlans = sortedByName([
    ...managed.dps.flatMap((dp) =>
      (dp.vlans ?? []).map((vlan) => [managedVlanName(dp.name, vlan.vid), vlanNode(vlan)] as const),
    ),
    ...(managed.vlans ?? []).map((vlan) => [sharedVlanName(vlan.vid), vlanNode(vlan)] as const),
  ]);
  const kept = managed.kept;
  const ownsVlan = (key: string): boolean => {
    if (parseSharedVlanName(key) !== undefined) return vlans.has(key) || kept?.vlans.has(key) !== true;
    const parsed = parseManagedVlanName(key);
    return parsed !== undefined && managed.owned.has(parsed.dpName);
  };
  const withVlans = syncSectionChecked(
    { text: currentText, doc: loadFaucetYaml(currentText) },
    'vlans',
    vlans,
    ownsVlan,
  );

  const ownsDp = (name: string): boolean => name === PLACEHOLDER_DP_NAME || managed.owned.has(name);
  const dpsNode = withVlans.doc.get('dps', true);
  const existing = isMap(dpsNode) ? dpsNode.items.map((pair) => keyName(pair) ?? '') : [];
  const dps = sortedByName(managed.dps.map((dp) => [dp.name, dpNode(dp)] as const));
  if (dps.size === 0 && existing.every(ownsDp)) dps.set(PLACEHOLDER_DP_NAME, dpNode(PLACEHOLDER_SPEC));
  const withDps = syncSectionChecked(withVlans, 'dps', dps, ownsDp);
  const acls = sortedByName((managed.acls ?? []).map((acl) => [acl.name, aclNode(acl)] as const));
  const withAcls = syncSectionChecked(
    withDps,
    'acls',
    acls,
    (name) => name.startsWith(OWNED_ACL_PREFIX) && (acls.has(name) || kept?.acls.has(name) !== true),
  );
  return syncForeignPorts(withAcls, managed.foreignPorts ?? [], managed.owned, kept?.dps).text;
}

/**
 * `currentText` with exactly `desired` among the `acls:` entries `isOwned` accepts, every other
 * byte kept, and checked like dovesnap's own sections (verifySection). For ACLs that belong
 * to someone else than the daemon, e.g. a lab's (lab/faucet-acls.ts): `isOwned` must not
 * accept the daemon's `dovesnap-` names. The nodes' integers must be bigints, as in yamlMap.
 * Throws FaucetInvalid if the text cannot be edited safely (bad YAML, a flow-style `acls:`).
 */
export function syncAclEntries(
  currentText: string,
  desired: ReadonlyMap<string, Node>,
  isOwned: (name: string) => boolean,
): string {
  const owns = (name: string): boolean => !name.startsWith(OWNED_ACL_PREFIX) && isOwned(name);
  for (const name of desired.keys()) {
    if (!owns(name))
      throw new DovesnapError(ErrorCode.Internal, `bug: ACL '${name}' is desired but not owned by the caller`);
  }
  return syncSectionChecked({ text: currentText, doc: loadFaucetYaml(currentText) }, 'acls', desired, owns).text;
}
