import { isDeepStrictEqual } from 'node:util';
import { Document, type Node, Scalar, visit } from 'yaml';
import type { DpYaml, InterfaceNumbers, InterfacesYaml } from '../confrpc/api.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import {
  aclNode,
  dpNode,
  managedVlanName,
  parseManagedVlanName,
  portNode,
  sharedVlanName,
  vlanNode,
} from './entries.js';
import { PLACEHOLDER_DP_NAME } from './placeholder.js';
import { checkManagedState } from './render.js';
import { FOREIGN_PORT_MARK, OWNED_ACL_PREFIX, type ManagedFaucetState, stackSettleAclName } from './types.js';
import { YAML_OPTIONS, faucetDocumentToJs, jsMap, loadFaucetYaml } from './yaml.js';

/**
 * What one host's daemon sends to faucetconfrpc to make FAUCET's shared configuration hold its
 * entries: pure, from the server's current text, the desired state and what this host claimed
 * before. Only this host's entries are looked at (its DPs, their VLAN entries, its `dovesnap-`
 * ACLs and VLANs, its stack links' far ends in other DPs); other hosts' and the operator's are
 * never in a call. Entries are built by the local renderer's own builders (entries.ts).
 *
 * The server validates the whole configuration after every call and merges as FAUCET's YAML
 * does (dicts key by key, lists and scalars replaced), so the calls come in an order in which
 * every intermediate configuration is valid: one merge with every new entry and every change a
 * merge can make exactly (definitions before use, and both ends of a new stack link at once),
 * then removed DPs (the server drops their stack links' far ends with them), removed interfaces
 * (both ends of a link in one call), whole DPs and interfaces a merge cannot make, VLAN and ACL
 * entries replaced, and last the VLAN and ACL entries no longer used.
 */

/** Names this host's daemon wrote or adopted: the entries it may change or remove later. */
export interface Claims {
  readonly dps: ReadonlySet<string>;
  /** Shared `dovesnap-vid…` VLAN entries (DP-named ones follow their DP). */
  readonly vlans: ReadonlySet<string>;
  readonly acls: ReadonlySet<string>;
}

export const NO_CLAIMS: Claims = { dps: new Set(), vlans: new Set(), acls: new Set() };

export type Section = 'vlans' | 'acls';

export type RemoteCall =
  /** SetConfigFile, merge: new entries and changes a merge makes exactly; `what` names them. */
  | { readonly kind: 'merge'; readonly yaml: string; readonly what: readonly string[] }
  | { readonly kind: 'delDps'; readonly names: readonly string[] }
  | { readonly kind: 'delInterfaces'; readonly dps: readonly InterfaceNumbers[] }
  | { readonly kind: 'setDps'; readonly dps: readonly DpYaml[] }
  | { readonly kind: 'setInterfaces'; readonly dps: readonly InterfacesYaml[] }
  /** SetConfigFile, merge after deleting the entry: a change a merge cannot make (a key dropped). */
  | { readonly kind: 'replace'; readonly section: Section; readonly key: string; readonly yaml: string }
  /** SetConfigFile deleting the entry, merging nothing. */
  | { readonly kind: 'remove'; readonly section: Section; readonly key: string }
  /**
   * SetConfigFile deleting a whole section whose every entry is to go: removing them one by one
   * leaves `acls: {}` behind in the server's dump, where the operator's file had no such line.
   */
  | { readonly kind: 'removeSection'; readonly section: Section };

export interface RemotePlan {
  readonly calls: readonly RemoteCall[];
  /** What this host claims once every call went through. */
  readonly claims: Claims;
}

type Js = unknown;

function toJs(node: Node): Js {
  return new Document(node, YAML_OPTIONS).toJS({ mapAsMap: true });
}

/**
 * YAML text for the server, which reads it with PyYAML (YAML 1.1): every string double-quoted,
 * so that none (`yes`, `on`, `1:30`, `0777`) is read as anything else.
 */
export function yamlText(value: Js): string {
  const doc = new Document(value, YAML_OPTIONS);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string') node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString({ lineWidth: 0, doubleQuotedAsJSON: true });
}

function isMapValue(value: Js): value is Map<unknown, unknown> {
  return value instanceof Map;
}

/** faucetconfrpc's `_yaml_merge` (dicts key by key, lists and scalars replaced), on a copy; throws where it would. */
export function serverMerge(a: Js, b: Js): Js {
  if (a === null || a === undefined || typeof a !== 'object') return structuredClone(b);
  if (isDeepStrictEqual(a, b)) return structuredClone(a);
  if (Array.isArray(a) && Array.isArray(b)) return structuredClone(b);
  if (isMapValue(a) && isMapValue(b)) {
    const out = new Map(a);
    for (const [k, v] of b) out.set(k, out.has(k) ? serverMerge(out.get(k), v) : structuredClone(v));
    return out;
  }
  throw new Error('cannot merge');
}

/** Whether merging `to` into `from` gives exactly `to`. */
function mergeMakes(from: Js, to: Js): boolean {
  try {
    return isDeepStrictEqual(serverMerge(from, to), to);
  } catch {
    return false;
  }
}

function setIn(root: Map<unknown, unknown>, keys: readonly unknown[], value: Js): void {
  let at = root;
  for (const key of keys.slice(0, -1)) {
    const found = at.get(key);
    const next = isMapValue(found) ? found : new Map<unknown, unknown>();
    at.set(key, next);
    at = next;
  }
  at.set(keys[keys.length - 1], value);
}

function interfacesOf(dp: Js): Map<unknown, unknown> {
  return (isMapValue(dp) ? jsMap(dp.get('interfaces')) : undefined) ?? new Map();
}

function stackDpOf(port: Js): string | undefined {
  const dp = jsMap(jsMap(port)?.get('stack'))?.get('dp');
  return typeof dp === 'string' ? dp : undefined;
}

function isMarked(port: Js): boolean {
  const description = jsMap(port)?.get('description');
  return typeof description === 'string' && description.startsWith(FOREIGN_PORT_MARK);
}

function portNumber(key: unknown): number | undefined {
  return typeof key === 'bigint' || typeof key === 'number' ? Number(key) : undefined;
}

/** Whether `value` holds `needle` as a string anywhere (a reference to an ACL or VLAN by name). */
function mentions(value: Js, needle: string | bigint): boolean {
  if (value === needle) return true;
  if (Array.isArray(value)) return value.some((v) => mentions(v, needle));
  if (isMapValue(value)) return [...value.values()].some((v) => mentions(v, needle));
  return false;
}

function usesVid(dp: Js, vid: bigint, key: string): boolean {
  for (const port of interfacesOf(dp).values()) {
    const p = jsMap(port);
    if (p === undefined) continue;
    if (mentions(p.get('native_vlan'), vid) || mentions(p.get('native_vlan'), key)) return true;
    if (mentions(p.get('tagged_vlans'), vid) || mentions(p.get('tagged_vlans'), key)) return true;
  }
  return false;
}

/**
 * `want` plus the far ends of other hosts' stack links that are in `have` (interfaces marked
 * FOREIGN_PORT_MARK whose stack peer is not one of `ours`): another host's entries in this
 * host's DP stay when this host rewrites it.
 */
function withOthersLinks(want: Js, have: Js, ours: ReadonlySet<string>): Js {
  const wantIfs = interfacesOf(want);
  const theirs = [...interfacesOf(have)].filter(([key, port]) => {
    const peer = stackDpOf(port);
    return !wantIfs.has(key) && isMarked(port) && peer !== undefined && !ours.has(peer);
  });
  if (theirs.length === 0 || !isMapValue(want)) return want;
  const out = new Map(want);
  out.set('interfaces', new Map([...wantIfs, ...theirs]));
  return out;
}

/** The server's text as plain values; '' or a document without a mapping is an empty one. */
export function parseServerText(text: string): Map<unknown, unknown> {
  return jsMap(faucetDocumentToJs(loadFaucetYaml(text))) ?? new Map();
}

export function planRemote(currentText: string, desired: ManagedFaucetState, claims: Claims): RemotePlan {
  checkManagedState(desired);
  const root = parseServerText(currentText);
  const curDps = jsMap(root.get('dps')) ?? new Map<unknown, unknown>();
  const curVlans = jsMap(root.get('vlans')) ?? new Map<unknown, unknown>();
  const curAcls = jsMap(root.get('acls')) ?? new Map<unknown, unknown>();

  const wantDps = new Map(desired.dps.map((dp) => [dp.name, toJs(dpNode(dp))] as const));
  const gone = [...claims.dps].filter(
    (n) => !wantDps.has(n) && desired.owned.has(n) && curDps.has(n) && n !== PLACEHOLDER_DP_NAME,
  );
  const ours = new Set([...wantDps.keys(), ...gone]);
  /** DPs whose stack links' far ends (in other DPs) are this host's. */
  const linkedTo = new Set([...ours, ...claims.dps]);

  for (const dp of desired.dps) {
    const there = jsMap(curDps.get(dp.name));
    const id = there?.get('dp_id');
    if (there !== undefined && !claims.dps.has(dp.name) && id !== undefined && id !== dp.dpId)
      throw new DovesnapError(
        ErrorCode.FaucetRejected,
        `FAUCET's configuration (on the faucetconfrpc server) already has a DP named ${dp.name} with dp_id ${String(id)}, not this host's (dp_id 0x${dp.dpId.toString(16)}): another host's network has that name; dovesnap leaves it alone`,
      );
  }

  const merge = new Map<unknown, unknown>();
  const mergeWhat: string[] = [];
  const addMerge = (keys: readonly unknown[], value: Js, what: string): void => {
    setIn(merge, keys, value);
    mergeWhat.push(what);
  };
  const delInterfaces = new Map<string, number[]>();
  const setDps: DpYaml[] = [];
  const setInterfaces = new Map<string, { number: number; yaml: string }[]>();
  const replaces: RemoteCall[] = [];
  const removes: Extract<RemoteCall, { kind: 'remove' }>[] = [];

  // This host's DPs.
  for (const [name, own] of wantDps) {
    const have = curDps.get(name);
    if (have === undefined || have === null) {
      addMerge(['dps', name], own, `DP ${name}`);
      continue;
    }
    const want = withOthersLinks(own, have, linkedTo);
    if (isDeepStrictEqual(have, want)) continue;
    const kept = new Map(jsMap(have) ?? []);
    const wantIfs = interfacesOf(want);
    const keptIfs = new Map(interfacesOf(have));
    for (const key of [...keptIfs.keys()]) {
      if (wantIfs.has(key)) continue;
      keptIfs.delete(key);
      const number = portNumber(key);
      const peer = stackDpOf(interfacesOf(have).get(key));
      // A link to a removed DP goes with that DP (DelDps removes both ends).
      if (number !== undefined && !(peer !== undefined && gone.includes(peer)))
        delInterfaces.set(name, [...(delInterfaces.get(name) ?? []), number]);
    }
    if (jsMap(have)?.has('interfaces')) kept.set('interfaces', keptIfs);
    if (isDeepStrictEqual(kept, want)) continue;
    if (mergeMakes(kept, want)) addMerge(['dps', name], want, `DP ${name}`);
    else setDps.push({ name, yaml: yamlText(want) });
  }

  // Stack links' far ends in DPs that are not this host's.
  const wantForeign = new Map<string, Map<number, Js>>();
  for (const f of desired.foreignPorts ?? []) {
    if (ours.has(f.dp) || f.dp === PLACEHOLDER_DP_NAME || !isMapValue(curDps.get(f.dp))) continue;
    const theirs = interfacesOf(curDps.get(f.dp)).get(BigInt(f.port.number));
    if (theirs !== undefined && !isMarked(theirs)) continue; // the operator's own entry wins
    const ports = wantForeign.get(f.dp) ?? new Map<number, Js>();
    ports.set(f.port.number, toJs(portNode(f.port)));
    wantForeign.set(f.dp, ports);
  }
  for (const [dpKey, dpValue] of curDps) {
    const dpName = typeof dpKey === 'string' ? dpKey : String(dpKey);
    if (ours.has(dpName) || dpName === PLACEHOLDER_DP_NAME || !isMapValue(dpValue)) continue;
    const want = wantForeign.get(dpName) ?? new Map<number, Js>();
    const have = new Map<number, Js>();
    for (const [key, port] of interfacesOf(dpValue)) {
      const number = portNumber(key);
      const peer = stackDpOf(port);
      if (number !== undefined && isMarked(port) && ((peer !== undefined && linkedTo.has(peer)) || want.has(number)))
        have.set(number, port);
    }
    for (const [number, port] of want) {
      const before = have.get(number);
      if (before === undefined)
        addMerge(['dps', dpName, 'interfaces', BigInt(number)], port, `stack link end ${dpName}:${number}`);
      else if (isDeepStrictEqual(before, port)) continue;
      else if (mergeMakes(before, port))
        addMerge(['dps', dpName, 'interfaces', BigInt(number)], port, `stack link end ${dpName}:${number}`);
      else setInterfaces.set(dpName, [...(setInterfaces.get(dpName) ?? []), { number, yaml: yamlText(port) }]);
    }
    for (const [number, port] of have) {
      if (want.has(number)) continue;
      const peer = stackDpOf(port);
      if (peer !== undefined && gone.includes(peer)) continue; // DelDps removes it with its DP
      delInterfaces.set(dpName, [...(delInterfaces.get(dpName) ?? []), number]);
    }
  }

  // VLAN and ACL entries: new and changed ones, then the ones no longer wanted.
  const wantVlans = new Map<string, Js>([
    ...desired.dps.flatMap((dp) =>
      (dp.vlans ?? []).map((v) => [managedVlanName(dp.name, v.vid), toJs(vlanNode(v))] as const),
    ),
    ...(desired.vlans ?? []).map((v) => [sharedVlanName(v.vid), toJs(vlanNode(v))] as const),
  ]);
  const wantAcls = new Map<string, Js>((desired.acls ?? []).map((a) => [a.name, toJs(aclNode(a))] as const));
  const ourVlan = (key: string): boolean =>
    wantVlans.has(key) || claims.vlans.has(key) || ours.has(parseManagedVlanName(key)?.dpName ?? '');
  /** Entries that are not this host's (its own are changed before anything is removed). */
  const others = (section: Section, key: string): Js[] => {
    const out: Js[] = [];
    for (const [name, dp] of curDps) if (!ours.has(String(name))) out.push(dp);
    for (const [name, vlan] of curVlans)
      if (!ourVlan(String(name)) && !(section === 'vlans' && name === key)) out.push(vlan);
    if (section === 'acls') for (const [name, acl] of curAcls) if (name !== key) out.push(acl);
    return out;
  };
  const keptClaims = { vlans: new Set<string>(), acls: new Set<string>() };
  const syncEntries = (
    section: Section,
    current: Map<unknown, unknown>,
    want: ReadonlyMap<string, Js>,
    isOurs: (key: string) => boolean,
    inUse: (key: string, value: Js) => boolean,
  ): void => {
    for (const [key, value] of want) {
      const have = current.get(key);
      if (have === undefined) addMerge([section, key], value, `${section} ${key}`);
      else if (isDeepStrictEqual(have, value)) continue;
      else if (mergeMakes(have, value)) addMerge([section, key], value, `${section} ${key}`);
      else
        replaces.push({ kind: 'replace', section, key, yaml: yamlText(new Map([[section, new Map([[key, value]])]])) });
    }
    for (const [k, value] of current) {
      const key = String(k);
      if (want.has(key) || !isOurs(key)) continue;
      if (inUse(key, value)) {
        if (section === 'vlans') keptClaims.vlans.add(key);
        else keptClaims.acls.add(key);
        continue;
      }
      removes.push({ kind: 'remove', section, key });
    }
  };
  syncEntries(
    'vlans',
    curVlans,
    wantVlans,
    (key) => claims.vlans.has(key) || ours.has(parseManagedVlanName(key)?.dpName ?? ''),
    (key, value) => {
      const vid = jsMap(value)?.get('vid');
      return (
        !ours.has(parseManagedVlanName(key)?.dpName ?? '') &&
        typeof vid === 'bigint' &&
        others('vlans', key).some((dp) => usesVid(dp, vid, key))
      );
    },
  );
  // Anti-spoofing ACLs are named after their DP (driver/antispoof.ts): those of this host's DPs are its own.
  const antispoofOf = [...ours].map((dp) => `${OWNED_ACL_PREFIX}antispoof-${dp}-`);
  syncEntries(
    'acls',
    curAcls,
    wantAcls,
    (key) => claims.acls.has(key) || antispoofOf.some((prefix) => key.startsWith(prefix)),
    (key) => others('acls', key).some((entry) => mentions(entry, key)),
  );

  const calls: RemoteCall[] = [];
  if (mergeWhat.length > 0) calls.push({ kind: 'merge', yaml: yamlText(merge), what: mergeWhat });
  if (gone.length > 0) calls.push({ kind: 'delDps', names: gone });
  if (delInterfaces.size > 0)
    calls.push({ kind: 'delInterfaces', dps: [...delInterfaces].map(([dp, ports]) => ({ dp, ports })) });
  if (setDps.length > 0) calls.push({ kind: 'setDps', dps: setDps });
  if (setInterfaces.size > 0)
    calls.push({ kind: 'setInterfaces', dps: [...setInterfaces].map(([dp, ports]) => ({ dp, ports })) });
  calls.push(...replaces, ...wholeSections(removes, { vlans: curVlans, acls: curAcls }));
  return {
    calls,
    claims: {
      dps: new Set(wantDps.keys()),
      vlans: new Set([...(desired.vlans ?? []).map((v) => sharedVlanName(v.vid)), ...keptClaims.vlans]),
      acls: new Set([...wantAcls.keys(), ...keptClaims.acls]),
    },
  };
}

/** `removes`, with those that empty a section (every key of it in `current`) made one removeSection. */
function wholeSections(
  removes: readonly Extract<RemoteCall, { kind: 'remove' }>[],
  current: Readonly<Record<Section, Map<unknown, unknown>>>,
): RemoteCall[] {
  const out: RemoteCall[] = [];
  for (const section of ['vlans', 'acls'] as const) {
    const mine = removes.filter((r) => r.section === section);
    const all = [...current[section].keys()].map(String);
    if (mine.length > 0 && all.every((k) => mine.some((r) => r.key === k)))
      out.push({ kind: 'removeSection', section });
    else out.push(...mine);
  }
  return out;
}

/**
 * The calls that take a host out of the shared configuration (`dovesnap confrpc leave`, run by
 * `make down-all` with FAUCETCONFRPC_ADDR): its DPs, told by their names alone (`isOwn`: the
 * `<network>@<host>` DPs and its stack switch, driver/dp-naming.ts), so that it works with the
 * daemon stopped and after a restart. DelDps removes the far ends of their stack links with
 * them (FAUCET holds every link in both directions). VLAN entries named after a removed DP
 * (`<dp>-vlan<vid>`) and its anti-spoofing ACLs go last; shared `dovesnap-` entries stay
 * (another host's network may use them).
 */
export function planLeave(currentText: string, isOwn: (dpName: string) => boolean): RemoteCall[] {
  const root = parseServerText(currentText);
  const curDps = jsMap(root.get('dps')) ?? new Map<unknown, unknown>();
  const gone = [...curDps.keys()].map(String).filter((n) => n !== PLACEHOLDER_DP_NAME && isOwn(n));
  if (gone.length === 0) return [];
  const removes: Extract<RemoteCall, { kind: 'remove' }>[] = [];
  const vlans = jsMap(root.get('vlans')) ?? new Map<unknown, unknown>();
  const acls = jsMap(root.get('acls')) ?? new Map<unknown, unknown>();
  for (const key of vlans.keys()) {
    const dp = parseManagedVlanName(String(key))?.dpName;
    if (dp !== undefined && gone.includes(dp)) removes.push({ kind: 'remove', section: 'vlans', key: String(key) });
  }
  const antispoof = gone.map((dp) => `${OWNED_ACL_PREFIX}antispoof-${dp}-`);
  const settle = new Set(gone.map(stackSettleAclName));
  for (const key of acls.keys())
    if (settle.has(String(key)) || antispoof.some((prefix) => String(key).startsWith(prefix)))
      removes.push({ kind: 'remove', section: 'acls', key: String(key) });
  return [{ kind: 'delDps', names: gone }, ...wholeSections(removes, { vlans, acls })];
}

/** Short words for a log line: what a call does. */
function describeCall(c: RemoteCall): string {
  switch (c.kind) {
    case 'merge':
      return `merge ${c.what.join(', ')}`;
    case 'delDps':
      return `DelDps ${c.names.join(', ')}`;
    case 'delInterfaces':
      return `DelDpInterfaces ${c.dps.map((d) => `${d.dp}:${d.ports.join('/')}`).join(', ')}`;
    case 'setDps':
      return `SetDps ${c.dps.map((d) => d.name).join(', ')}`;
    case 'setInterfaces':
      return `SetDpInterfaces ${c.dps.map((d) => `${d.dp}:${d.ports.map((p) => p.number).join('/')}`).join(', ')}`;
    case 'replace':
      return `replace ${c.section} ${c.key}`;
    case 'remove':
      return `remove ${c.section} ${c.key}`;
    case 'removeSection':
      return `remove ${c.section} (its last entries)`;
  }
}

export function describeCalls(calls: readonly RemoteCall[]): string[] {
  return calls.map(describeCall);
}
