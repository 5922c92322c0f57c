/**
 * Reading a lab file: YAML (with positions) → shape (spec.ts) → inheritance (inherit.ts) →
 * meaning (check.ts) → the `Lab` (resolve.ts). Every stage reports all it finds; a stage runs
 * only when the ones before it found nothing (a check of meaning on a file of the wrong shape
 * would mostly repeat the shape's errors), except that duplicate keys, which leave a readable
 * document behind, are reported together with the shape's errors.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { isScalar, LineCounter, parseDocument, visit } from 'yaml';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { check } from './check.js';
import { inherit } from './inherit.js';
import type { Lab, LabFileError } from './model.js';
import { Errors, formatError, formatPath, Positions } from './positions.js';
import { resolve } from './resolve.js';
import { checkShape } from './shape.js';

/** Thrown for a lab file with any problem; `errors` holds each one, the message lists them one a line. */
export class LabFileInvalid extends DovesnapError {
  readonly errors: readonly LabFileError[];

  constructor(errors: readonly LabFileError[]) {
    super(ErrorCode.LabInvalid, errors.map(formatError).join('\n'));
    this.name = 'LabFileInvalid';
    this.errors = errors;
  }
}

export interface ParseLabOptions {
  /** Reads a `source:` or `config:` file (an absolute path); default: fs.readFileSync as UTF-8. */
  readonly readFile?: (path: string) => string;
}

const YAML_MESSAGES: Readonly<Record<string, string>> = {
  DUPLICATE_KEY: 'duplicate key',
  MULTIPLE_DOCS: 'a lab file holds one YAML document (remove the ---)',
};

/**
 * The lab in `text`, read as the file `file` (the name errors carry, and the directory
 * `source:`, `config:` and binds are relative to). Throws `LabFileInvalid`.
 */
export function parseLab(text: string, file: string, opts: ParseLabOptions = {}): Lab {
  const errors = new Errors(file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const pos = new Positions(doc, lines);
  errors.setPositions(pos);
  let fatal = false;
  for (const e of doc.errors) {
    const { line, col } = pos.at(e.pos[0]);
    const path = pos.pathAt(e.pos[0]);
    if (e.code === 'DUPLICATE_KEY') {
      // The path ends in the second of the equal keys, the one the error is at.
      const key = path[path.length - 1];
      errors.addAt(
        line,
        col,
        formatPath(path),
        `duplicate key ${JSON.stringify(String(key ?? text.slice(e.pos[0], e.pos[1])))}`,
      );
    } else {
      // A syntax error has no trustworthy key path: the structure around it is broken.
      fatal = true;
      errors.addAt(line, col, '', YAML_MESSAGES[e.code] ?? `YAML: ${e.message}`);
    }
  }
  // An alias without its anchor is found only when the document is converted, without a place.
  // A key __proto__ would become the prototype of the map it is in, not a key of it.
  visit(doc, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || pair.key.value !== '__proto__') return;
      fatal = true;
      const { line, col } = pos.at(pair.key.range?.[0] ?? 0);
      errors.addAt(line, col, '', 'a key cannot be __proto__');
    },
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return;
      fatal = true;
      const { line, col } = pos.at(alias.range?.[0] ?? 0);
      errors.addAt(line, col, '', `YAML: alias *${alias.source} has no anchor &${alias.source} before it`);
    },
  });
  if (fatal) throw new LabFileInvalid(errors.sorted());
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    errors.add([], `YAML: ${err instanceof Error ? err.message : String(err)}`);
    throw new LabFileInvalid(errors.sorted());
  }
  const input = checkShape(data, errors);
  if (input === undefined || errors.count > 0) throw new LabFileInvalid(errors.sorted());
  const source = (p: readonly (string | number)[]): string | undefined => pos.source(p);
  const merged = inherit(input, errors);
  const ctx = { file: input, errors, source };
  const checked = check(ctx, merged);
  if (errors.count > 0) throw new LabFileInvalid(errors.sorted());
  const lab = resolve(
    { ...ctx, path: resolvePath(file), readFile: opts.readFile ?? ((p) => readFileSync(p, 'utf8')) },
    checked,
  );
  if (errors.count > 0) throw new LabFileInvalid(errors.sorted());
  return lab;
}

/** Reads and parses the lab file at `path`. Throws `LabFileInvalid` (an unreadable file too). */
export async function loadLabFile(path: string): Promise<Lab> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err);
    throw new LabFileInvalid([{ file: path, line: 1, col: 1, path: '', message: `cannot read the lab file: ${why}` }]);
  }
  return parseLab(text, path);
}
