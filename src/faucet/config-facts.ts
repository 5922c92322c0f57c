import { faucetDocumentToJs, parseFaucetDocument } from './render.js';
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
}

export interface FaucetConfigFacts {
  /** False if the text does not parse (then every set below is empty). */
  readonly parsed: boolean;
  readonly dps: ReadonlyMap<string, DpFacts>;
  readonly acls: ReadonlySet<string>;
  readonly aclUsage: AclUsage;
}

function asMap(v: unknown): Map<unknown, unknown> | undefined {
  return v instanceof Map ? v : undefined;
}

function names(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function mapValues(v: unknown): Map<unknown, unknown>[] {
  return [...(asMap(v)?.values() ?? [])].map(asMap).filter((m): m is Map<unknown, unknown> => m !== undefined);
}

export function readFaucetConfigFacts(text: string): FaucetConfigFacts {
  const input = new Set<string>();
  const output = new Set<string>();
  const dps = new Map<string, DpFacts>();
  const acls = new Set<string>();
  const doc = parseFaucetDocument(text);
  if (doc.errors.length > 0) return { parsed: false, dps, acls, aclUsage: { input, output } };
  let top: Map<unknown, unknown> | undefined;
  try {
    top = asMap(faucetDocumentToJs(doc));
  } catch (err) {
    if (isDovesnapError(err, ErrorCode.FaucetInvalid)) return { parsed: false, dps, acls, aclUsage: { input, output } };
    throw err;
  }
  for (const key of asMap(top?.get('acls'))?.keys() ?? []) acls.add(String(key));
  for (const vlan of mapValues(top?.get('vlans'))) {
    for (const a of [...names(vlan.get('acls_in')), ...names(vlan.get('acl_in'))]) input.add(a);
    for (const a of [...names(vlan.get('acls_out')), ...names(vlan.get('acl_out'))]) output.add(a);
  }
  for (const [name, conf] of asMap(top?.get('dps')) ?? []) {
    const dp = asMap(conf);
    const dpId = dp?.get('dp_id');
    const description = dp?.get('description');
    dps.set(String(name), { dpId: typeof dpId === 'bigint' ? dpId : undefined, description: typeof description === 'string' ? description : undefined });
    for (const a of names(dp?.get('dp_acls'))) input.add(a);
    for (const port of mapValues(dp?.get('interfaces'))) for (const a of [...names(port.get('acls_in')), ...names(port.get('acl_in'))]) input.add(a);
  }
  return { parsed: true, dps, acls, aclUsage: { input, output } };
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
