import { faucetDocumentToJs, parseFaucetDocument } from './yaml.js';
import { ErrorCode, isDovesnapError } from '../util/errors.js';

/**
 * What dovesnap asks of the operator's faucet.yaml, answered from ONE parse made the way FAUCET
 * reads the file (YAML 1.2 with ruamel's integers, `<<` merge keys, duplicate keys refused:
 * see render.ts). Anything FAUCET would see, merged in from an anchor included, is seen here.
 */

export interface AclUsage {
  /** ACLs used on input: ports' and VLANs' acls_in/acl_in, DPs' dp_acls. */
  readonly input: Set<string>;
  /** ACLs used on output: VLANs' acls_out/acl_out. */
  readonly output: Set<string>;
}

export interface DpFacts {
  readonly dpId: bigint | undefined;
  readonly description: string | undefined;
  /** Each interface's description, by port number (interfaces keyed by name are left out). */
  readonly interfaceDescriptions: ReadonlyMap<number, string>;
  /** The VLANs its interfaces name (`native_vlan`, `tagged_vlans`): VIDs, or keys of `vlans:`. */
  readonly vlanRefs: ReadonlySet<number | string>;
  /** The ACLs it names (`dp_acls`, its interfaces' `acls_in`). */
  readonly aclRefs: ReadonlySet<string>;
  /** Its stack ports' far ends (`stack: {dp, port}`), by port number. */
  readonly stackLinks: ReadonlyMap<number, { readonly dp: string; readonly port: number }>;
}

export interface FaucetConfigFacts {
  /** False if the text does not parse (then every set below is empty). */
  readonly parsed: boolean;
  readonly dps: ReadonlyMap<string, DpFacts>;
  readonly acls: ReadonlySet<string>;
  /**
   * Each ACL's rules (what is under `rule:`), as plain objects with numbers where they fit:
   * what dovesnap's anti-spoofing ACLs copy (driver/antispoof.ts). An entry that is not a rule is left out.
   */
  readonly aclRules: ReadonlyMap<string, readonly Readonly<Record<string, unknown>>[]>;
  readonly aclUsage: AclUsage;
  /** Each `vlans:` entry's key and VID (its `vid`, or its key when that is a number). */
  readonly vlans: ReadonlyMap<string, number>;
}

function asMap(v: unknown): Map<unknown, unknown> | undefined {
  return v instanceof Map ? v : undefined;
}

function names(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** A parsed YAML value as plain JS: maps as objects (string keys), integers as numbers where safe. */
function plain(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER))
    return Number(v);
  return v;
}

/** An ACL's rules: FAUCET takes a list of `- rule: {…}` or a map with such a list under `rules`. */
function aclRulesOf(acl: unknown): Readonly<Record<string, unknown>>[] {
  const list = asMap(acl)?.get('rules') ?? acl;
  if (!Array.isArray(list)) return [];
  return list
    .map((entry) => asMap(asMap(entry)?.get('rule')))
    .filter((r): r is Map<unknown, unknown> => r !== undefined)
    .map((r) => plain(r) as Record<string, unknown>);
}

function mapValues(v: unknown): Map<unknown, unknown>[] {
  return [...(asMap(v)?.values() ?? [])].map(asMap).filter((m): m is Map<unknown, unknown> => m !== undefined);
}

export function readFaucetConfigFacts(text: string): FaucetConfigFacts {
  const input = new Set<string>();
  const output = new Set<string>();
  const dps = new Map<string, DpFacts>();
  const acls = new Set<string>();
  const aclRules = new Map<string, Readonly<Record<string, unknown>>[]>();
  const vlans = new Map<string, number>();
  const doc = parseFaucetDocument(text);
  if (doc.errors.length > 0) return { parsed: false, dps, acls, aclRules, aclUsage: { input, output }, vlans };
  let top: Map<unknown, unknown> | undefined;
  try {
    top = asMap(faucetDocumentToJs(doc));
  } catch (err) {
    if (isDovesnapError(err, ErrorCode.FaucetInvalid))
      return { parsed: false, dps, acls, aclRules, aclUsage: { input, output }, vlans };
    throw err;
  }
  for (const [key, acl] of asMap(top?.get('acls')) ?? []) {
    acls.add(String(key));
    aclRules.set(String(key), aclRulesOf(acl));
  }
  for (const [key, conf] of asMap(top?.get('vlans')) ?? []) {
    const vlan = asMap(conf);
    const vid = vlan?.get('vid') ?? key;
    if (typeof vid === 'bigint' || typeof vid === 'number') vlans.set(String(key), Number(vid));
    if (vlan === undefined) continue;
    for (const a of [...names(vlan.get('acls_in')), ...names(vlan.get('acl_in'))]) input.add(a);
    for (const a of [...names(vlan.get('acls_out')), ...names(vlan.get('acl_out'))]) output.add(a);
  }
  for (const [name, conf] of asMap(top?.get('dps')) ?? []) {
    const dp = asMap(conf);
    const dpId = dp?.get('dp_id');
    const description = dp?.get('description');
    const interfaceDescriptions = new Map<number, string>();
    const vlanRefs = new Set<number | string>();
    const stackLinks = new Map<number, { dp: string; port: number }>();
    for (const [key, port] of asMap(dp?.get('interfaces')) ?? []) {
      const native = asMap(port)?.get('native_vlan');
      const tagged = asMap(port)?.get('tagged_vlans');
      for (const v of [native, ...(Array.isArray(tagged) ? tagged : [])]) {
        if (typeof v === 'bigint' || typeof v === 'number') vlanRefs.add(Number(v));
        else if (typeof v === 'string') vlanRefs.add(v);
      }
      const d = asMap(port)?.get('description');
      if ((typeof key === 'bigint' || typeof key === 'number') && typeof d === 'string')
        interfaceDescriptions.set(Number(key), d);
      const stack = asMap(asMap(port)?.get('stack'));
      const far = { dp: stack?.get('dp'), port: stack?.get('port') };
      if (
        (typeof key === 'bigint' || typeof key === 'number') &&
        typeof far.dp === 'string' &&
        (typeof far.port === 'bigint' || typeof far.port === 'number')
      )
        stackLinks.set(Number(key), { dp: far.dp, port: Number(far.port) });
    }
    const aclRefs = new Set(names(dp?.get('dp_acls')));
    for (const port of mapValues(dp?.get('interfaces')))
      for (const a of [...names(port.get('acls_in')), ...names(port.get('acl_in'))]) aclRefs.add(a);
    dps.set(String(name), {
      dpId: typeof dpId === 'bigint' ? dpId : undefined,
      description: typeof description === 'string' ? description : undefined,
      interfaceDescriptions,
      vlanRefs,
      aclRefs,
      stackLinks,
    });
    for (const a of aclRefs) input.add(a);
  }
  return { parsed: true, dps, acls, aclRules, aclUsage: { input, output }, vlans };
}

/**
 * Reads facts, remembering the last text: one sync asks several questions of the same file.
 * One per owner (no module-global cache), so that tests and callers never share state.
 */
export class FaucetConfigReader {
  private last: { text: string; facts: FaucetConfigFacts } | undefined;

  facts(text: string): FaucetConfigFacts {
    if (this.last?.text !== text) this.last = { text, facts: readFaucetConfigFacts(text) };
    return this.last.facts;
  }
}
