import { parse } from 'yaml';
import { canonicalJson } from '../util/canonical-json.js';
import { labAclPrefix } from './faucet-acls.js';
import type { Lab, LabFileError } from './model.js';

/**
 * What `up` will change of the lab's own ACLs in faucet.yaml (compared by content), and which
 * ACLs the lab names that faucet.yaml must already have (the operator's): a port naming a
 * missing ACL would be kept closed by the daemon, so `up` refuses before making anything.
 */

export interface AclPlan {
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

function faucetAcls(faucetText: string): Record<string, unknown> {
  try {
    const doc = parse(faucetText) as { acls?: Record<string, unknown> } | null;
    return doc?.acls !== null && typeof doc?.acls === 'object' ? doc.acls : {};
  } catch {
    return {};
  }
}

export function planAcls(faucetText: string, lab: Lab): AclPlan {
  const have = faucetAcls(faucetText);
  const prefix = labAclPrefix(lab.name);
  const wanted = new Map(lab.acls.map((a) => [a.faucetName, a.rules]));
  const added: string[] = [];
  const changed: string[] = [];
  for (const [name, rules] of wanted) {
    if (!Object.hasOwn(have, name)) added.push(name);
    else if (canonicalJson(have[name]) !== canonicalJson(rules)) changed.push(name);
  }
  const removed = Object.keys(have).filter((n) => n.startsWith(prefix) && !wanted.has(n));
  return { added: added.sort(), changed: changed.sort(), removed: removed.sort() };
}

/** Every ACL the lab's networks and ports name, in faucet.yaml's names. */
export function aclsNamed(lab: Lab): string[] {
  const out = new Set<string>();
  for (const n of lab.networks) {
    for (const k of ['ovs.bridge.default_acl', 'ovs.bridge.nat_acl']) {
      const v = n.options[k];
      if (v !== undefined) out.add(v);
    }
  }
  for (const node of lab.nodes) {
    const label = node.labels['dovesnap.faucet.portacl'];
    if (label === undefined) continue;
    for (const part of label.split('/')) {
      const list = part.includes(':') ? part.slice(part.indexOf(':') + 1) : part;
      for (const a of list.split(',')) if (a.trim() !== '') out.add(a.trim());
    }
  }
  return [...out].sort();
}

/** The ACLs the lab names that are neither its own nor in faucet.yaml. */
export function missingAcls(faucetText: string, lab: Lab): string[] {
  const have = faucetAcls(faucetText);
  const own = new Set(lab.acls.map((a) => a.faucetName));
  return aclsNamed(lab).filter((a) => !own.has(a) && !Object.hasOwn(have, a));
}

/**
 * The missing ACLs as errors at the places the file names them (one per place), for a lab whose
 * loader recorded them; a lab without places (built by hand) gets one error at the file.
 */
export function missingAclErrors(faucetText: string, lab: Lab): LabFileError[] {
  const missing = new Set(missingAcls(faucetText, lab));
  if (missing.size === 0) return [];
  const why = (acl: string): string =>
    `ACL ${JSON.stringify(acl)} is neither in the lab's acls: nor in faucet.yaml (a port naming a missing ACL stays closed)`;
  const placed = (lab.aclUses ?? []).filter((u) => missing.has(u.acl)).map((u) => ({ ...u.at, message: why(u.acl) }));
  const unplaced = [...missing].filter((a) => !placed.some((e) => e.message === why(a)));
  return [...placed, ...unplaced.map((a) => ({ file: lab.file, line: 1, col: 1, path: '', message: why(a) }))].sort(
    (a, b) => a.line - b.line || a.col - b.col,
  );
}
