/**
 * From a key path in the lab file (`['nodes', 'r1', 'interfaces', 'eth1']`) to where it is
 * written, and the collection of errors that every stage of the loader reports into.
 *
 * Positions come from the `yaml` document (its nodes keep their offsets) and a `LineCounter`
 * (offsets to 1-based line and column). An error is put on the key when the key itself is wrong
 * (unknown, duplicate, a bad name), on the value otherwise; a path that does not exist in the
 * file (a missing key, or a value the lab derives) falls back to the nearest enclosing node that
 * does, so every error has a place an editor can jump to.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { LabFileError } from './model.js';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/** Where on the node an error goes. */
export type Where = 'key' | 'value';

/** `nodes.r1.interfaces.eth1`, `links[0].endpoints[1]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

export class Positions {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** The map entry a path ends in (undefined for list items and paths not in the file). */
  pair(path: Path): Pair | undefined {
    const last = path[path.length - 1];
    if (last === undefined || typeof last === 'number') return undefined;
    const parent = this.node(path.slice(0, -1));
    if (!isMap(parent)) return undefined;
    // The last of equal keys: toJS keeps the last one's value, so that is what was checked.
    let found: Pair | undefined;
    for (const item of parent.items) if (keyText(item.key) === last) found = item;
    return found;
  }

  /** The value node at a path (aliases resolved), or undefined. */
  node(path: Path): Node | undefined {
    let cur: unknown = this.doc.contents;
    for (const seg of path) {
      if (isAlias(cur)) cur = cur.resolve(this.doc);
      if (typeof seg === 'number') {
        if (!isSeq(cur)) return undefined;
        cur = cur.items[seg];
      } else {
        if (!isMap(cur)) return undefined;
        let next: unknown;
        for (const item of cur.items) if (keyText(item.key) === seg) next = item.value;
        cur = next;
      }
      if (cur === undefined || cur === null) return undefined;
    }
    if (isAlias(cur)) return cur as Node;
    return cur as Node | undefined;
  }

  /** The original text of a scalar (`0x0d5a…`, `0644`), where the parsed number would lose it. */
  source(path: Path): string | undefined {
    const n = this.node(path);
    return isScalar(n) && typeof n.source === 'string' ? n.source : undefined;
  }

  /** 1-based line and column of a path's key or value, falling back to its nearest ancestor in the file. */
  locate(path: Path, where: Where): { line: number; col: number } {
    if (where === 'key') {
      const key = this.pair(path)?.key;
      const range = (key as Node | null | undefined)?.range;
      if (range) return this.lines.linePos(range[0]);
    }
    for (let n = path.length; n >= 0; n--) {
      const node = this.node(path.slice(0, n));
      if (node?.range) return this.lines.linePos(node.range[0]);
    }
    return { line: 1, col: 1 };
  }

  /** The key path of the innermost map entry or list item whose text covers `offset` (for YAML's own errors). */
  pathAt(offset: number): Path {
    const path: PathSegment[] = [];
    let cur: unknown = this.doc.contents;
    for (;;) {
      if (isMap(cur)) {
        const hit = cur.items.find((p) => {
          const k = (p.key as Node | null)?.range;
          const v = (p.value as Node | null)?.range;
          const start = k?.[0] ?? v?.[0];
          const end = v?.[2] ?? k?.[2];
          return start !== undefined && end !== undefined && offset >= start && offset < end;
        });
        const k = hit === undefined ? undefined : keyText(hit.key);
        if (hit === undefined || k === undefined) return path;
        path.push(k);
        cur = hit.value;
      } else if (isSeq(cur)) {
        const i = cur.items.findIndex((n) => {
          const r = (n as Node | null)?.range;
          return r != null && offset >= r[0] && offset < r[2];
        });
        if (i < 0) return path;
        path.push(i);
        cur = cur.items[i];
      } else return path;
    }
  }

  /** A line and column from a character offset, for errors YAML reports by offset. */
  at(offset: number): { line: number; col: number } {
    return this.lines.linePos(offset);
  }
}

/** Collects errors from every stage; `sorted()` orders them as an editor lists them. */
export class Errors {
  private readonly list: LabFileError[] = [];
  private readonly seen = new Set<string>();

  constructor(
    readonly file: string,
    private positions?: Positions,
  ) {}

  setPositions(p: Positions): void {
    this.positions = p;
  }

  get count(): number {
    return this.list.length;
  }

  /** An error about the thing at `path`, placed on its key or its value. */
  add(path: Path, message: string, where: Where = 'value'): void {
    const { line, col } = this.positions?.locate(path, where) ?? { line: 1, col: 1 };
    this.addAt(line, col, formatPath(path), message);
  }

  /** Where an error about `path` would be placed, without adding one. */
  place(path: Path, where: Where = 'value'): LabFileError {
    const { line, col } = this.positions?.locate(path, where) ?? { line: 1, col: 1 };
    return { file: this.file, line, col, path: formatPath(path), message: '' };
  }

  addAt(line: number, col: number, path: string, message: string): void {
    const id = `${line}:${col}:${path}:${message}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.list.push({ file: this.file, line, col, path, message });
  }

  sorted(): LabFileError[] {
    return [...this.list].sort(
      (a, b) => a.line - b.line || a.col - b.col || a.path.localeCompare(b.path) || a.message.localeCompare(b.message),
    );
  }
}

/** `lab.yaml:10:24: nodes.r1.x: message`, as compilers print it. */
export function formatError(e: LabFileError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.path === '' ? '' : `${e.path}: `}${e.message}`;
}
