import {
  type Document,
  parseDocument,
  type DocumentOptions,
  type ParseOptions,
  type SchemaOptions,
  type ScalarTag,
  type ToStringOptions,
} from 'yaml';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';

/**
 * faucet.yaml read the way FAUCET reads it (ruamel's safe loader, YAML 1.2): the parser options
 * every other module of faucet/ parses with, and the document as plain values.
 */

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
export const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
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

export function loadFaucetYaml(text: string): Document.Parsed {
  const doc = parseFaucetDocument(text);
  const [first] = doc.errors;
  if (first !== undefined) {
    throw new DovesnapError(ErrorCode.FaucetInvalid, `faucet.yaml is not valid YAML: ${first.message}`);
  }
  return doc;
}

export function jsMap(value: unknown): Map<unknown, unknown> | undefined {
  return value instanceof Map ? value : undefined;
}

export function section(text: string, name: string): Map<unknown, unknown> | undefined {
  return jsMap(jsMap(faucetDocumentToJs(loadFaucetYaml(text)))?.get(name));
}
