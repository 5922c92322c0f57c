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
 */
import { isDeepStrictEqual } from 'node:util';
import {
  Document,
  isCollection,
  isMap,
  isNode,
  isPair,
  isScalar,
  Pair,
  parseDocument,
  Scalar,
  YAMLMap,
  YAMLSeq,
  type DocumentOptions,
  type Node,
  type ParseOptions,
  type SchemaOptions,
  type ScalarTag,
  type ToStringOptions,
} from 'yaml';

import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { PLACEHOLDER_DESCRIPTION, PLACEHOLDER_DP_ID, PLACEHOLDER_DP_NAME, PLACEHOLDER_VLAN } from './placeholder.js';
import {
  DEFAULT_HARDWARE,
  FOREIGN_PORT_MARK,
  OWNED_ACL_PREFIX,
  type FaucetAclSpec,
  type FaucetForeignPortSpec,
  type FaucetDpSpec,
  type FaucetPortSpec,
  type FaucetVlanSpec,
  type ManagedFaucetState,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// Parsing the way FAUCET does

/**
 * FAUCET reads YAML with ruamel's safe loader (YAML 1.2), which also reads `0b101` and `1_000`
 * as integers where YAML 1.2's core schema sees strings. Teaching `yaml` the same reading makes
 * the validator see what FAUCET sees, and makes the stringifier quote a string such as "1_000"
 * (a legal Docker network name) that FAUCET would otherwise turn into a number.
 */
const RUAMEL_EXTRA_INT: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  identify: () => false, // only for reading; numbers are written by the core int tags
  test: /^[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$/,
  resolve(source, _onError, options) {
    const negative = source.startsWith('-');
    const magnitude = BigInt(source.replace(/^[-+]/, '').replace(/_/g, ''));
    const value = negative ? -magnitude : magnitude;
    return options.intAsBigInt ? value : Number(value);
  },
};

/** Integers as bigint (64-bit DPIDs), `<<` merge keys and duplicate-key errors, like ruamel. */
const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.2',
  intAsBigInt: true,
  merge: true,
  uniqueKeys: true,
  customTags: (tags) => [...tags, RUAMEL_EXTRA_INT],
};

/** No folding: every scalar stays on one line, so entries can be spliced and re-indented by
 * line. Double-quoted strings as JSON: escapes instead of line breaks. */
export const TO_STRING_OPTIONS: ToStringOptions = {
  lineWidth: 0,
  flowCollectionPadding: false,
  doubleQuotedAsJSON: true,
};

/** Parse without throwing; callers decide what `doc.errors` means to them. */
export function parseFaucetDocument(text: string): Document.Parsed {
  return parseDocument(text, YAML_OPTIONS);
}

/**
 * The document as plain JS: maps are `Map`s (so that the int key 1 and the string key "1",
 * which FAUCET tells apart, stay apart) and integers are bigints.
 */
export function faucetDocumentToJs(doc: Document): unknown {
  try {
    return doc.toJS({ mapAsMap: true, maxAliasCount: 1000 });
  } catch (err) {
    // The yaml library parses an alias to an anchor that is never set, or an alias bomb,
    // without an error, and throws a plain ReferenceError only here.
    throw new DovesnapError(ErrorCode.FaucetInvalid, `faucet.yaml is not valid YAML: ${errorMessage(err)}`);
  }
}

function loadFaucetYaml(text: string): Document.Parsed {
  const doc = parseFaucetDocument(text);
  const [first] = doc.errors;
  if (first !== undefined) {
    throw new DovesnapError(ErrorCode.FaucetInvalid, `faucet.yaml is not valid YAML: ${first.message}`);
  }
  return doc;
}

function jsMap(value: unknown): Map<unknown, unknown> | undefined {
  return value instanceof Map ? value : undefined;
}

function section(text: string, name: string): Map<unknown, unknown> | undefined {
  return jsMap(jsMap(faucetDocumentToJs(loadFaucetYaml(text)))?.get(name));
}

// ---------------------------------------------------------------------------------------------
// Readers (each throws FaucetInvalid if the text is not valid YAML)

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

// ---------------------------------------------------------------------------------------------
// Nodes for dovesnap's entries (deterministic key order)

/** The `vlans:` key of a VLAN that DP `dpName` defines; see FaucetVlanSpec. */
export function managedVlanName(dpName: string, vid: number): string {
  return `${dpName}-vlan${vid}`;
}

/** The `vlans:` key of a VLAN entry of dovesnap's that belongs to no one DP (core/vlan-capacity.ts). */
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
const YAML_UNSAFE_RAW = /[\u007f-\u009f\u2028\u2029]/g;

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

function portNode(port: FaucetPortSpec): YAMLMap {
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

function dpNode(dp: FaucetDpSpec): YAMLMap {
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

function vlanNode(vlan: FaucetVlanSpec): YAMLMap {
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

function aclNode(acl: FaucetAclSpec): Node {
  return plainNode(acl.rules.map((rule) => ({ rule })));
}

const PLACEHOLDER_SPEC: FaucetDpSpec = {
  name: PLACEHOLDER_DP_NAME,
  dpId: PLACEHOLDER_DP_ID,
  description: PLACEHOLDER_DESCRIPTION,
  ports: [{ number: 1, description: 'placeholder', nativeVlan: PLACEHOLDER_VLAN }],
};

// ---------------------------------------------------------------------------------------------
// Splicing

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

function applyEdits(text: string, edits: readonly Edit[]): string {
  // Back to front, so that the offsets of the edits still to apply stay valid. Edits never
  // overlap: each covers whole lines of a different entry, or an insertion point after them.
  let out = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start))
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  return out;
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function column(text: string, offset: number): number {
  return offset - lineStart(text, offset);
}

function unsupported(message: string): DovesnapError {
  return new DovesnapError(ErrorCode.FaucetInvalid, `cannot edit faucet.yaml: ${message}`);
}

/** Offset just past the last character of content (not comments) that belongs to `node`. */
function contentEnd(node: unknown): number {
  if (isPair(node)) return Math.max(contentEnd(node.key), contentEnd(node.value));
  if (isCollection(node) && !node.flow) return Math.max(-1, ...node.items.map(contentEnd));
  if (isNode(node) && node.range) return node.range[1];
  return -1;
}

/** The end of the line holding offset-1, past its newline; only a comment may follow offset. */
function endOfLine(text: string, offset: number, what: string): number {
  if (offset > 0 && text[offset - 1] === '\n') return offset;
  const newline = text.indexOf('\n', offset);
  const end = newline === -1 ? text.length : newline + 1;
  if (!/^[ \t]*(#.*)?\r?\n?$/.test(text.slice(offset, end))) {
    throw unsupported(`${what} is followed by more content on the same line`);
  }
  return end;
}

function keyOffset(pair: Pair): number {
  if (!isNode(pair.key) || !pair.key.range) throw unsupported('a mapping key has no position');
  return pair.key.range[0];
}

/** The whole lines of a block-mapping entry, from its key's line to its last content line. */
function entryRegion(text: string, pair: Pair, what: string): { start: number; end: number } {
  const key = keyOffset(pair);
  const start = lineStart(text, key);
  if (!/^ *$/.test(text.slice(start, key))) {
    throw unsupported(
      `${what} does not start its own line (anchors, tags and explicit keys are not supported on entries dovesnap manages)`,
    );
  }
  return { start, end: endOfLine(text, contentEnd(pair), what) };
}

/** Offset just past the ':' that follows `pair`'s key. */
function afterColon(text: string, pair: Pair, what: string): number {
  let at = contentEnd(pair.key);
  while (text[at] === ' ' || text[at] === '\t') at += 1;
  if (at < 0 || text[at] !== ':') throw unsupported(`${what} is not a plain 'key:' line`);
  return at + 1;
}

function keyName(pair: Pair): string | undefined {
  if (!isScalar(pair.key)) return undefined;
  const value = pair.key.value;
  return typeof value === 'string' || typeof value === 'bigint' || typeof value === 'number'
    ? String(value)
    : undefined;
}

function indentLines(rendered: string, indent: number): string {
  const pad = ' '.repeat(indent);
  return rendered
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => `${pad}${line}\n`)
    .join('');
}

function renderEntries(entries: ReadonlyMap<string, Node>, indent: number, step: number): string {
  let out = '';
  for (const [name, value] of entries) {
    const doc = new Document(null, YAML_OPTIONS);
    doc.contents = yamlMap([[name, value]]);
    const rendered = doc.toString({ ...TO_STRING_OPTIONS, indent: step });
    const escaped = rendered.replace(YAML_UNSAFE_RAW, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
    out += indentLines(escaped, indent);
  }
  return out;
}

/** The indentation step the operator uses, so that dovesnap's entries look like theirs. */
function indentStep(text: string, root: YAMLMap, rootColumn: number, preferred: string): number {
  const candidates = [...root.items].sort(
    (a, b) => Number(keyName(b) === preferred) - Number(keyName(a) === preferred),
  );
  for (const pair of candidates) {
    const value = pair.value;
    if (isMap(value) && !value.flow) {
      const [first] = value.items;
      if (first !== undefined) {
        const step = column(text, keyOffset(first)) - rootColumn;
        if (step > 0) return step;
      }
    }
  }
  return 2;
}

/**
 * Make the block mapping `sectionName` (a top-level key) hold exactly `desired` among the keys
 * `isOwned` accepts, leaving every other key and byte alone. Owned entries are replaced in
 * place, new ones appended after the section's last entry, and owned entries not desired are
 * removed; a section left empty is removed, since FAUCET rejects an empty one.
 */
function syncSection(
  text: string,
  doc: Document.Parsed,
  sectionName: string,
  desired: ReadonlyMap<string, Node>,
  isOwned: (key: string) => boolean,
): string {
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    if (desired.size === 0) return text;
    const separator = text === '' || text.endsWith('\n') ? '' : '\n';
    return `${text}${separator}${sectionName}:\n${renderEntries(desired, 2, 2)}`;
  }
  if (!isMap(root) || root.flow) throw unsupported('the top level must be a block mapping');
  const [firstRootPair] = root.items;
  const lastRootPair = root.items[root.items.length - 1];
  if (firstRootPair === undefined || lastRootPair === undefined) throw unsupported('the top level is empty');
  const rootColumn = column(text, keyOffset(firstRootPair));
  const step = indentStep(text, root, rootColumn, sectionName);
  const entryIndent = rootColumn + step;

  const pair = root.items.find((item) => keyName(item) === sectionName);
  if (pair === undefined) {
    if (desired.size === 0) return text;
    const at = endOfLine(text, contentEnd(lastRootPair), 'the last top-level entry');
    const separator = at === text.length && text !== '' && !text.endsWith('\n') ? '\n' : '';
    const header = `${' '.repeat(rootColumn)}${sectionName}:\n`;
    return applyEdits(text, [
      { start: at, end: at, text: separator + header + renderEntries(desired, entryIndent, step) },
    ]);
  }

  const value = pair.value;
  const emptyValue =
    value === null ||
    (isScalar(value) && value.value === null) ||
    (isMap(value) && value.flow === true && value.items.length === 0);
  if (emptyValue) {
    // `dps:`, `dps: ~` or `dps: {}`: drop the empty value, put the entries under the key.
    if (desired.size === 0) return text;
    const edits: Edit[] = [];
    let after = afterColon(text, pair, `'${sectionName}:'`);
    if (isNode(value) && value.range) {
      edits.push({ start: value.range[0], end: value.range[1], text: '' });
      after = Math.max(after, value.range[1]);
    }
    const at = endOfLine(text, after, `'${sectionName}:'`);
    edits.push({ start: at, end: at, text: renderEntries(desired, entryIndent, step) });
    return applyEdits(text, edits);
  }
  if (!isMap(value) || value.flow) {
    throw unsupported(
      `'${sectionName}' must be a block mapping (one entry per line), not ${isMap(value) ? 'a flow mapping {...}' : 'a scalar or list'}`,
    );
  }

  const edits: Edit[] = [];
  const missing = new Map(desired);
  let kept = 0;
  const [firstEntry] = value.items;
  const indent = firstEntry === undefined ? entryIndent : column(text, keyOffset(firstEntry));
  for (const entry of value.items) {
    const name = keyName(entry);
    if (name === undefined || !isOwned(name)) {
      kept += 1;
      continue;
    }
    const region = entryRegion(text, entry, `${sectionName} entry '${name}'`);
    const node = missing.get(name);
    missing.delete(name);
    if (node !== undefined) kept += 1;
    edits.push({ ...region, text: node === undefined ? '' : renderEntries(new Map([[name, node]]), indent, step) });
  }
  if (missing.size > 0) {
    const lastEntry = value.items[value.items.length - 1];
    const at =
      lastEntry === undefined
        ? endOfLine(text, afterColon(text, pair, `'${sectionName}:'`), `'${sectionName}:'`)
        : endOfLine(text, contentEnd(lastEntry), `${sectionName} entry '${keyName(lastEntry) ?? '?'}'`);
    const separator = at === text.length && !text.endsWith('\n') ? '\n' : '';
    edits.push({ start: at, end: at, text: separator + renderEntries(missing, indent, step) });
  } else if (kept === 0) {
    // Every entry was dovesnap's and none is wanted: drop the `section:` line too.
    const start = lineStart(text, keyOffset(pair));
    edits.push({
      start,
      end: endOfLine(text, afterColon(text, pair, `'${sectionName}:'`), `'${sectionName}:'`),
      text: '',
    });
  }
  return applyEdits(text, edits);
}

/**
 * The guarantee the splicing must keep, checked on every render that changes something:
 * outside `sectionName`'s owned keys nothing changed, and the owned keys hold exactly what was
 * desired.
 */
function verifySection(
  beforeDoc: Document.Parsed,
  afterDoc: Document.Parsed,
  sectionName: string,
  desired: ReadonlyMap<string, Node>,
  isOwned: (key: string) => boolean,
): void {
  const fail = (why: string): never => {
    throw new DovesnapError(ErrorCode.Internal, `bug: rendering faucet.yaml section '${sectionName}' ${why}`);
  };
  if (afterDoc.errors.length > 0) fail(`produced invalid YAML: ${afterDoc.errors[0]?.message ?? ''}`);
  const oldRoot = jsMap(faucetDocumentToJs(beforeDoc)) ?? new Map<unknown, unknown>();
  const newRoot = jsMap(faucetDocumentToJs(afterDoc)) ?? new Map<unknown, unknown>();
  for (const key of new Set([...oldRoot.keys(), ...newRoot.keys()])) {
    if (key === sectionName) continue;
    if (!isDeepStrictEqual(oldRoot.get(key), newRoot.get(key))) fail(`changed top-level key '${String(key)}'`);
  }
  const oldSection = jsMap(oldRoot.get(sectionName)) ?? new Map<unknown, unknown>();
  const newSection = jsMap(newRoot.get(sectionName)) ?? new Map<unknown, unknown>();
  for (const key of new Set([...oldSection.keys(), ...newSection.keys()])) {
    const name = String(key);
    if (!isOwned(name)) {
      if (!isDeepStrictEqual(oldSection.get(key), newSection.get(key)))
        fail(`changed entry '${name}', which dovesnap does not own`);
    } else if (!desired.has(name) && newSection.has(key)) {
      fail(`left entry '${name}' behind`);
    }
  }
  for (const [name, node] of desired) {
    // Integers are built as bigints, so the nodes' JS equals what parsing gives back.
    const expected = new Document(node, YAML_OPTIONS).toJS({ mapAsMap: true });
    if (!isDeepStrictEqual(newSection.get(name), expected)) fail(`did not write entry '${name}' as rendered`);
  }
}

interface Rendered {
  readonly text: string;
  readonly doc: Document.Parsed;
}

function syncSectionChecked(
  current: Rendered,
  sectionName: string,
  desired: ReadonlyMap<string, Node>,
  isOwned: (key: string) => boolean,
): Rendered {
  const text = syncSection(current.text, current.doc, sectionName, desired, isOwned);
  if (text === current.text) return current;
  const doc = parseFaucetDocument(text);
  verifySection(current.doc, doc, sectionName, desired, isOwned);
  return { text, doc };
}

// ---------------------------------------------------------------------------------------------
// The renderer

function checkManagedState(managed: ManagedFaucetState): void {
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
  const ownsVlan = (key: string): boolean => {
    if (parseSharedVlanName(key) !== undefined) return true;
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
  const withAcls = syncSectionChecked(withDps, 'acls', acls, (name) => name.startsWith(OWNED_ACL_PREFIX));
  return syncForeignPorts(withAcls, managed.foreignPorts ?? [], managed.owned).text;
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

function isForeignMarked(value: unknown): boolean {
  const description = jsMap(value)?.get('description');
  return typeof description === 'string' && description.startsWith(FOREIGN_PORT_MARK);
}

/**
 * Interface entries dovesnap keeps inside DPs it does not own (see FaucetForeignPortSpec): in
 * each operator DP, exactly the desired ones among those carrying the mark, inserted after the
 * DP's last interface; every other byte stays. A DP that is not in the file gets nothing (its
 * switch is another FAUCET's); one whose interfaces are not a block mapping is refused.
 */
function syncForeignPorts(
  current: Rendered,
  wanted: readonly FaucetForeignPortSpec[],
  owned: ReadonlySet<string>,
): Rendered {
  let rendered = current;
  const dpsNode = rendered.doc.get('dps', true);
  if (!isMap(dpsNode)) return rendered;
  const byDp = new Map<string, FaucetForeignPortSpec[]>();
  for (const w of wanted) byDp.set(w.dp, [...(byDp.get(w.dp) ?? []), w]);
  const names = dpsNode.items
    .map((pair) => keyName(pair))
    .filter((n): n is string => n !== undefined && !owned.has(n) && n !== PLACEHOLDER_DP_NAME);
  for (const dpName of names) {
    const desired = new Map<number, YAMLMap>();
    for (const w of byDp.get(dpName) ?? []) desired.set(w.port.number, portNode(w.port));
    rendered = syncForeignDp(rendered, dpName, desired);
  }
  return rendered;
}

function syncForeignDp(current: Rendered, dpName: string, desired: ReadonlyMap<number, YAMLMap>): Rendered {
  const { text, doc } = current;
  const dp = (doc.get('dps', true) as YAMLMap).items.find((pair) => keyName(pair) === dpName)?.value;
  if (!isMap(dp)) return current;
  const interfaces = dp.items.find((pair) => keyName(pair) === 'interfaces');
  const map = interfaces?.value;
  const hasMarked =
    isMap(map) &&
    map.items.some((entry) => isForeignMarked(faucetDocumentToJs(new Document(entry.value, YAML_OPTIONS))));
  if (desired.size === 0 && !hasMarked) return current;
  if (interfaces === undefined || !isMap(map) || map.flow || map.items.length === 0) {
    throw unsupported(
      `the interfaces of DP '${dpName}' must be a block mapping (one entry per line) for dovesnap to add its stack link there`,
    );
  }
  const [first] = map.items;
  const indent = column(text, keyOffset(first as Pair));
  const step = Math.max(2, indent - column(text, keyOffset(interfaces)));
  const edits: Edit[] = [];
  const missing = new Map(desired);
  for (const entry of map.items) {
    const name = keyName(entry);
    const number = name === undefined ? NaN : Number(name);
    const marked = isForeignMarked(faucetDocumentToJs(new Document(entry.value, YAML_OPTIONS)));
    if (!marked) {
      // The operator's own entry for that number wins; dovesnap does not write over it.
      if (missing.has(number)) missing.delete(number);
      continue;
    }
    const node = missing.get(number);
    missing.delete(number);
    edits.push({
      ...entryRegion(text, entry, `DP '${dpName}' interface ${name ?? '?'}`),
      text: node === undefined ? '' : renderNumbered(number, node, indent, step),
    });
  }
  if (missing.size > 0) {
    const last = map.items[map.items.length - 1] as Pair;
    const at = endOfLine(text, contentEnd(last), `DP '${dpName}' interface ${keyName(last) ?? '?'}`);
    const separator = at === text.length && !text.endsWith('\n') ? '\n' : '';
    edits.push({
      start: at,
      end: at,
      text: separator + [...missing].map(([n, node]) => renderNumbered(n, node, indent, step)).join(''),
    });
  }
  const next = applyEdits(text, edits);
  if (next === text) return current;
  const nextDoc = parseFaucetDocument(next);
  verifyForeignDp(doc, nextDoc, dpName, desired);
  return { text: next, doc: nextDoc };
}

function renderNumbered(number: number, node: YAMLMap, indent: number, step: number): string {
  const doc = new Document(null, YAML_OPTIONS);
  doc.contents = yamlMap([[number, node]]);
  return indentLines(doc.toString({ ...TO_STRING_OPTIONS, indent: step }), indent);
}

/** Outside the marked entries of one DP's interfaces nothing changed; those hold what was desired. */
function verifyForeignDp(
  beforeDoc: Document.Parsed,
  afterDoc: Document.Parsed,
  dpName: string,
  desired: ReadonlyMap<number, YAMLMap>,
): void {
  const fail = (why: string): never => {
    throw new DovesnapError(ErrorCode.Internal, `bug: rendering the stack links of DP '${dpName}' ${why}`);
  };
  if (afterDoc.errors.length > 0) fail(`produced invalid YAML: ${afterDoc.errors[0]?.message ?? ''}`);
  const strip = (doc: Document.Parsed): unknown => {
    const root = jsMap(faucetDocumentToJs(doc));
    const ifaces = jsMap(jsMap(jsMap(root?.get('dps'))?.get(dpName))?.get('interfaces'));
    for (const [key, value] of [...(ifaces?.entries() ?? [])]) if (isForeignMarked(value)) ifaces?.delete(key);
    return root;
  };
  const after = jsMap(jsMap(jsMap(jsMap(faucetDocumentToJs(afterDoc))?.get('dps'))?.get(dpName))?.get('interfaces'));
  for (const [number, node] of desired) {
    const got = after?.get(BigInt(number));
    if (isForeignMarked(got) && !isDeepStrictEqual(got, new Document(node, YAML_OPTIONS).toJS({ mapAsMap: true })))
      fail(`did not write interface ${number} as rendered`);
  }
  if (!isDeepStrictEqual(strip(beforeDoc), strip(afterDoc))) fail('changed something besides its own entries');
}

const INITIAL_HEADER = `# FAUCET configuration, shared by the operator and dovesnap.
#
# Add your own ACLs, meters, VLANs, routers and DPs here: dovesnap keeps every byte of them,
# comments included. dovesnap adds, updates and removes only the DPs of its Docker networks
# (one DP per network, named after it), the VLANs named <network>-vlan<vid> and
# dovesnap-vid<vid>, and the placeholder DP below, which exists only because FAUCET refuses a
# file without a DP and is removed as soon as another DP exists.
`;

/** A minimal, valid, commented faucet.yaml holding only the placeholder DP. */
export function initialFaucetConfig(): string {
  return renderFaucetConfig(INITIAL_HEADER, { dps: [], owned: new Set() });
}

export interface GaugeConfigOptions {
  /** The faucet.yaml whose DPs Gauge watches; absolute, as Gauge resolves it from its cwd. */
  readonly faucetConfigPath: string;
  readonly prometheusPort: number;
  /** Gauge's default is 0.0.0.0. */
  readonly prometheusAddr?: string;
}

/** How often Gauge polls port counters (seconds): the watchers dovesnap writes into gauge.yaml. */
export const PORT_STATS_INTERVAL_S = 30;

/** gauge.yaml: port state, port stats and flow tables of every DP, exported to Prometheus. */
export function gaugeConfig(opts: GaugeConfigOptions): string {
  const { faucetConfigPath, prometheusPort, prometheusAddr } = opts;
  if (!faucetConfigPath.startsWith('/')) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `Gauge needs an absolute FAUCET config path, got '${faucetConfigPath}'`,
    );
  }
  if (!Number.isInteger(prometheusPort) || prometheusPort < 1 || prometheusPort > 65535) {
    throw new DovesnapError(ErrorCode.BadOption, `Gauge Prometheus port must be 1..65535, got ${prometheusPort}`);
  }
  const watcher = (type: string, interval?: number): YAMLMap =>
    yamlMap([
      ['type', type],
      ['all_dps', true],
      ['interval', interval],
      ['db', 'prometheus'],
    ]);
  const doc = new Document(null, YAML_OPTIONS);
  doc.contents = yamlMap([
    ['faucet_configs', flowSeq([faucetConfigPath])],
    [
      'watchers',
      yamlMap([
        ['port_status_poller', watcher('port_state')],
        ['port_stats_poller', watcher('port_stats', PORT_STATS_INTERVAL_S)],
        ['flow_table_poller', watcher('flow_table', 60)],
      ]),
    ],
    [
      'dbs',
      yamlMap([
        [
          'prometheus',
          yamlMap([
            ['type', 'prometheus'],
            ['prometheus_port', prometheusPort],
            ['prometheus_addr', prometheusAddr],
          ]),
        ],
      ]),
    ],
  ]);
  doc.commentBefore =
    ' Gauge configuration, written by dovesnap (`dovesnap setup-config`). Yours to edit: dovesnap\n only makes sure, at every start, that the ports of every switch are watched (README: Your FAUCET configuration).';
  return doc.toString({ ...TO_STRING_OPTIONS, indent: 2 });
}
