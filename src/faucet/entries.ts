import { isNode, Pair, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';
import { PLACEHOLDER_DESCRIPTION, PLACEHOLDER_DP_ID, PLACEHOLDER_DP_NAME, PLACEHOLDER_VLAN } from './placeholder.js';
import {
  DEFAULT_HARDWARE,
  OWNED_ACL_PREFIX,
  type FaucetAclSpec,
  type FaucetDpSpec,
  type FaucetPortSpec,
  type FaucetVlanSpec,
} from './types.js';

/**
 * dovesnap's entries of faucet.yaml as YAML nodes, in a deterministic key order, and the names
 * of its `vlans:` keys.
 */

/** The `vlans:` key of a VLAN that DP `dpName` defines; see FaucetVlanSpec. */
export function managedVlanName(dpName: string, vid: number): string {
  return `${dpName}-vlan${vid}`;
}

/** The `vlans:` key of a VLAN entry of dovesnap's that belongs to no one DP (driver/vlan-capacity.ts). */
export function sharedVlanName(vid: number): string {
  return `${OWNED_ACL_PREFIX}vid${vid}`;
}

const SHARED_VLAN_KEY = new RegExp(`^${OWNED_ACL_PREFIX}vid(\\d+)$`);

/** Inverse of sharedVlanName. */
export function parseSharedVlanName(key: string): number | undefined {
  const match = SHARED_VLAN_KEY.exec(key);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Inverse of managedVlanName. Unambiguous: the suffix after the last "-vlan" is all digits. */
export function parseManagedVlanName(key: string): { dpName: string; vid: number } | undefined {
  const match = /^(.+)-vlan(\d+)$/.exec(key);
  if (match === null || match[1] === undefined || match[2] === undefined) return undefined;
  return { dpName: match[1], vid: Number(match[2]) };
}

/** Characters JSON leaves raw but YAML does not allow raw (C1 controls) or reads as line
 * breaks (NEL, LS, PS); only double-quoted scalars can hold them, escaped. */
export const YAML_UNSAFE_RAW = /[\u007f-\u009f\u2028\u2029]/g;

function str(value: string): Scalar {
  const node = new Scalar(value);
  // Double quotes (JSON style) for anything that would otherwise need a block scalar.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) node.type = Scalar.QUOTE_DOUBLE;
  return node;
}

function hex(value: bigint): Scalar {
  const node = new Scalar(value);
  node.format = 'HEX';
  return node;
}

/** Integers as bigint, as the parser (intAsBigInt) gives them back: see verifySection. */
function num(value: number): Scalar {
  return new Scalar(Number.isSafeInteger(value) ? BigInt(value) : value);
}

export function flowSeq(values: readonly (string | number)[]): YAMLSeq {
  const seq = new YAMLSeq();
  seq.flow = true;
  for (const value of values) seq.items.push(typeof value === 'string' ? str(value) : num(value));
  return seq;
}

export function yamlMap(
  entries: ReadonlyArray<readonly [string | number, Node | string | number | boolean | undefined]>,
): YAMLMap {
  const map = new YAMLMap();
  for (const [key, value] of entries) {
    if (value === undefined) continue;
    const node =
      typeof value === 'string'
        ? str(value)
        : typeof value === 'number'
          ? num(value)
          : isNode(value)
            ? value
            : new Scalar(value);
    map.items.push(new Pair(typeof key === 'string' ? str(key) : num(key), node));
  }
  return map;
}

/** Order-insensitive lists are sorted so that callers building them from sets cause no churn. */
function sortedNumbers(values: readonly number[] | undefined): number[] | undefined {
  if (values === undefined || values.length === 0) return undefined;
  return [...new Set(values)].sort((a, b) => a - b);
}

function nonEmpty<T>(values: readonly T[] | undefined): readonly T[] | undefined {
  return values !== undefined && values.length > 0 ? values : undefined;
}

export function portNode(port: FaucetPortSpec): YAMLMap {
  const tagged = sortedNumbers(port.taggedVlans);
  const mirror = sortedNumbers(port.mirror);
  const aclsIn = nonEmpty(port.aclsIn); // ACL order is meaningful: never sorted
  const coprocessor =
    port.coprocessor &&
    yamlMap([
      ['strategy', port.coprocessor.strategy],
      ['vlan_vid_base', port.coprocessor.vlanVidBase],
    ]);
  return yamlMap([
    ['name', port.name],
    ['description', port.description],
    ['native_vlan', port.nativeVlan],
    ['tagged_vlans', tagged && flowSeq(tagged)],
    ['acls_in', aclsIn && flowSeq(aclsIn)],
    ['mirror', mirror && flowSeq(mirror)],
    ['output_only', port.outputOnly],
    ['coprocessor', coprocessor],
    [
      'stack',
      port.stack &&
        yamlMap([
          ['dp', port.stack.dp],
          ['port', port.stack.port],
        ]),
    ],
    ['opstatus_reconf', port.opstatusReconf],
  ]);
}

export function dpNode(dp: FaucetDpSpec): YAMLMap {
  const ports = [...dp.ports].sort((a, b) => a.number - b.number);
  return yamlMap([
    ['dp_id', hex(dp.dpId)],
    ['description', dp.description],
    ['hardware', dp.hardware ?? DEFAULT_HARDWARE],
    ['stack', dp.stackPriority === undefined ? undefined : yamlMap([['priority', dp.stackPriority]])],
    ['egress_pipeline', dp.egressPipeline],
    ['interfaces', yamlMap(ports.map((port) => [port.number, portNode(port)] as const))],
  ]);
}

export function vlanNode(vlan: FaucetVlanSpec): YAMLMap {
  const aclsIn = nonEmpty(vlan.aclsIn);
  const aclsOut = nonEmpty(vlan.aclsOut);
  return yamlMap([
    ['vid', vlan.vid],
    ['description', vlan.description],
    ['acls_in', aclsIn && flowSeq(aclsIn)],
    ['acls_out', aclsOut && flowSeq(aclsOut)],
    ['max_hosts', vlan.maxHosts],
  ]);
}

/** A plain JS value (the rules of an ACL dovesnap writes) as nodes, maps in insertion order. */
function plainNode(value: unknown): Node {
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    for (const item of value) seq.items.push(plainNode(item));
    return seq;
  }
  if (typeof value === 'object' && value !== null) {
    return yamlMap(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, plainNode(v)] as const));
  }
  if (typeof value === 'string') return str(value);
  if (typeof value === 'number') return num(value);
  return new Scalar(value);
}

export function aclNode(acl: FaucetAclSpec): Node {
  return plainNode(acl.rules.map((rule) => ({ rule })));
}

export const PLACEHOLDER_SPEC: FaucetDpSpec = {
  name: PLACEHOLDER_DP_NAME,
  dpId: PLACEHOLDER_DP_ID,
  description: PLACEHOLDER_DESCRIPTION,
  ports: [{ number: 1, description: 'placeholder', nativeVlan: PLACEHOLDER_VLAN }],
};
