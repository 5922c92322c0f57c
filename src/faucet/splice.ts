import { isDeepStrictEqual } from 'node:util';
import { Document, isCollection, isMap, isNode, isPair, isScalar, type Pair, type YAMLMap, type Node } from 'yaml';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { YAML_UNSAFE_RAW, yamlMap } from './entries.js';
import { TO_STRING_OPTIONS, YAML_OPTIONS, faucetDocumentToJs, jsMap, parseFaucetDocument } from './yaml.js';

/**
 * Splicing: a top-level section of the operator's faucet.yaml made to hold exactly the desired
 * entries among those dovesnap owns. The parser only finds byte ranges; freshly rendered text
 * replaces exactly those, every other byte survives, and each result is re-parsed and compared
 * with the input to prove that nothing else changed.
 */
export interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

export function applyEdits(text: string, edits: readonly Edit[]): string {
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

export function column(text: string, offset: number): number {
  return offset - lineStart(text, offset);
}

export function unsupported(message: string): DovesnapError {
  return new DovesnapError(ErrorCode.FaucetInvalid, `cannot edit faucet.yaml: ${message}`);
}

/** Offset just past the last character of content (not comments) that belongs to `node`. */
export function contentEnd(node: unknown): number {
  if (isPair(node)) return Math.max(contentEnd(node.key), contentEnd(node.value));
  if (isCollection(node) && !node.flow) return Math.max(-1, ...node.items.map(contentEnd));
  if (isNode(node) && node.range) return node.range[1];
  return -1;
}

/** The end of the line holding offset-1, past its newline; only a comment may follow offset. */
export function endOfLine(text: string, offset: number, what: string): number {
  if (offset > 0 && text[offset - 1] === '\n') return offset;
  const newline = text.indexOf('\n', offset);
  const end = newline === -1 ? text.length : newline + 1;
  if (!/^[ \t]*(#.*)?\r?\n?$/.test(text.slice(offset, end))) {
    throw unsupported(`${what} is followed by more content on the same line`);
  }
  return end;
}

export function keyOffset(pair: Pair): number {
  if (!isNode(pair.key) || !pair.key.range) throw unsupported('a mapping key has no position');
  return pair.key.range[0];
}

/** The whole lines of a block-mapping entry, from its key's line to its last content line. */
export function entryRegion(text: string, pair: Pair, what: string): { start: number; end: number } {
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

export function keyName(pair: Pair): string | undefined {
  if (!isScalar(pair.key)) return undefined;
  const value = pair.key.value;
  return typeof value === 'string' || typeof value === 'bigint' || typeof value === 'number'
    ? String(value)
    : undefined;
}

export function indentLines(rendered: string, indent: number): string {
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

/** The section's entries as JS values, by key name. */
function currentEntries(doc: Document.Parsed, sectionName: string): Map<string, unknown> {
  const section = jsMap(jsMap(faucetDocumentToJs(doc))?.get(sectionName));
  return new Map([...(section ?? new Map<unknown, unknown>())].map(([key, value]) => [String(key), value]));
}

/** Whether an entry's parsed value equals what the desired node renders to. */
function sameValue(current: unknown, desired: Node): boolean {
  // Integers are built as bigints, so the nodes' JS equals what parsing gives back.
  return current !== undefined && isDeepStrictEqual(current, desiredJs(desired));
}

function desiredJs(node: Node): unknown {
  return new Document(node, YAML_OPTIONS).toJS({ mapAsMap: true });
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
      // The blanks before `{}` or `~` go with it: `dps: {}` becomes `dps:`, not `dps: `.
      let start = value.range[0];
      if (value.range[1] > start)
        while (start > after && (text[start - 1] === ' ' || text[start - 1] === '\t')) start -= 1;
      edits.push({ start, end: value.range[1], text: '' });
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
  const current = currentEntries(doc, sectionName);
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
    // An entry that already says what is wanted keeps its bytes, whatever its spelling
    // (`dp_id: 7` for `0x7`, another key order), so a file another writer (faucetconfrpc)
    // dumped is not rewritten for nothing.
    if (node !== undefined && sameValue(current.get(name), node)) continue;
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
    if (!isDeepStrictEqual(newSection.get(name), desiredJs(node))) fail(`did not write entry '${name}' as rendered`);
  }
}

export interface Rendered {
  readonly text: string;
  readonly doc: Document.Parsed;
}

export function syncSectionChecked(
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
