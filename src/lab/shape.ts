/**
 * The shape check: the file's data against `LabFileSpec`, zod's issues turned into errors a
 * person can act on, each at its place in the file.
 */
import { z } from 'zod';
import { LabFileSpec, type LabFileInput } from './spec.js';
import type { Errors, Path, PathSegment } from './positions.js';
import { didYouMean } from './suggest.js';

type Issue = z.core.$ZodIssue;

interface Placed {
  readonly issue: Issue;
  readonly path: Path;
}

function toPath(p: readonly PropertyKey[]): PathSegment[] {
  return p.map((s) => (typeof s === 'number' ? s : String(s)));
}

/**
 * zod reports a failed union as one issue holding every branch's issues. The branch worth
 * reporting is the one the value's type fits (a map given for `string | map` went wrong inside
 * the map); when none fits, one "expected A or B" says it all.
 */
function flatten(issue: Issue, prefix: Path): Placed[] {
  const path = [...prefix, ...toPath(issue.path)];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const fits = issue.errors.filter(
      (branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0),
    );
    const first = fits[0];
    if (first !== undefined) return first.flatMap((i) => flatten(i, path));
    const expected = [...new Set(issue.errors.flat().flatMap((i) => (i.code === 'invalid_type' ? [i.expected] : [])))];
    return [
      { issue: { ...issue, code: 'invalid_type', expected: expected.join('|'), path: [] } as unknown as Issue, path },
    ];
  }
  return [{ issue, path }];
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a map',
  record: 'a map',
  array: 'a list',
};

function expectedText(expected: string): string {
  const names = [...new Set(expected.split('|').map((e) => EXPECTED[e] ?? e))];
  return names.length <= 1
    ? (names[0] ?? 'something else')
    : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** How a value found in the file reads in a message. */
export function got(v: unknown): string {
  if (v === undefined || v === null) return 'nothing';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

function valueAt(data: unknown, path: Path): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** The keys an object at `path` of the spec may have (for "did you mean"). */
function keysAt(path: Path): string[] {
  let schemas: z.ZodType[] = [LabFileSpec];
  const expand = (s: z.ZodType): z.ZodType[] => {
    if (s instanceof z.ZodOptional) return expand(s.unwrap() as z.ZodType);
    if (s instanceof z.ZodUnion) return (s.options as z.ZodType[]).flatMap(expand);
    return [s];
  };
  for (const seg of path) {
    schemas = schemas.flatMap(expand).flatMap((s): z.ZodType[] => {
      if (s instanceof z.ZodObject && typeof seg === 'string') {
        const child = (s.shape as Record<string, z.ZodType>)[seg];
        return child === undefined ? [] : [child];
      }
      if (s instanceof z.ZodRecord) return [s.valueType as z.ZodType];
      if (s instanceof z.ZodArray) return [s.element as z.ZodType];
      return [];
    });
  }
  return schemas.flatMap(expand).flatMap((s) => (s instanceof z.ZodObject ? Object.keys(s.shape as object) : []));
}

function report(p: Placed, data: unknown, errors: Errors): void {
  const { issue, path } = p;
  const value = valueAt(data, path);
  switch (issue.code) {
    case 'unrecognized_keys':
      for (const key of issue.keys)
        errors.add([...path, key], `unknown key ${JSON.stringify(key)}${didYouMean(key, keysAt(path))}`, 'key');
      return;
    case 'invalid_key': {
      const inner = issue.issues[0]?.message ?? 'invalid name';
      errors.add(path, `${inner}, got ${got(path[path.length - 1])}`, 'key');
      return;
    }
    case 'invalid_type':
      if (value === undefined) {
        errors.add(path, `missing required key ${JSON.stringify(String(path[path.length - 1]))}`);
      } else if (issue.expected === 'int' || (issue.expected === 'number' && typeof value === 'number')) {
        errors.add(path, `${issue.message}, got ${got(value)}`);
      } else {
        errors.add(path, `expected ${expectedText(issue.expected)}, got ${got(value)}`);
      }
      return;
    case 'invalid_value': {
      const values = issue.values.map(String);
      const hint = typeof value === 'string' ? didYouMean(value, values) : '';
      errors.add(path, `expected one of ${values.join(', ')}, got ${got(value)}${hint}`);
      return;
    }
    case 'custom':
      errors.add(path, issue.message);
      return;
    default:
      errors.add(path, `${issue.message}, got ${got(value)}`);
  }
}

/** The data as the spec types it, or undefined after reporting every way it is not. */
export function checkShape(data: unknown, errors: Errors): LabFileInput | undefined {
  if (data === null || data === undefined) {
    errors.add([], 'the file is empty: a lab needs at least name: and nodes:');
    return undefined;
  }
  const r = LabFileSpec.safeParse(data);
  if (r.success) return r.data;
  for (const issue of r.error.issues) for (const p of flatten(issue, [])) report(p, data, errors);
  return undefined;
}
