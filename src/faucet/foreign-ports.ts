import { isDeepStrictEqual } from 'node:util';
import { Document, isMap, type Pair, type YAMLMap } from 'yaml';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { PLACEHOLDER_DP_NAME } from './placeholder.js';
import { FOREIGN_PORT_MARK, type FaucetForeignPortSpec } from './types.js';
import { portNode, yamlMap } from './entries.js';
import {
  type Edit,
  type Rendered,
  applyEdits,
  column,
  contentEnd,
  endOfLine,
  entryRegion,
  indentLines,
  keyName,
  keyOffset,
  unsupported,
} from './splice.js';
import { TO_STRING_OPTIONS, YAML_OPTIONS, faucetDocumentToJs, jsMap, parseFaucetDocument } from './yaml.js';

/**
 * Stack links inside DPs dovesnap does not own: the interface entries carrying FOREIGN_PORT_MARK,
 * spliced into the operator's DP and checked like dovesnap's own sections.
 */
function isForeignMarked(value: unknown): boolean {
  const description = jsMap(value)?.get('description');
  return typeof description === 'string' && description.startsWith(FOREIGN_PORT_MARK);
}

/**
 * Interface entries dovesnap keeps inside DPs it does not own (see FaucetForeignPortSpec): in
 * each operator DP, exactly the desired ones among those carrying the mark, inserted after the
 * DP's last interface; every other byte stays. A DP that is not in the file gets nothing (its
 * switch is another FAUCET's); one whose interfaces are not a block mapping is refused. Other
 * hosts' DPs (`othersDps`) are left as they are unless a stack link of this host's goes there.
 */
export function syncForeignPorts(
  current: Rendered,
  wanted: readonly FaucetForeignPortSpec[],
  owned: ReadonlySet<string>,
  othersDps: ReadonlySet<string> = new Set(),
): Rendered {
  let rendered = current;
  const dpsNode = rendered.doc.get('dps', true);
  if (!isMap(dpsNode)) return rendered;
  const byDp = new Map<string, FaucetForeignPortSpec[]>();
  for (const w of wanted) byDp.set(w.dp, [...(byDp.get(w.dp) ?? []), w]);
  const names = dpsNode.items
    .map((pair) => keyName(pair))
    .filter((n): n is string => n !== undefined && !owned.has(n) && n !== PLACEHOLDER_DP_NAME)
    .filter((n) => !othersDps.has(n) || byDp.has(n));
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
