import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { LabFileInvalid, parseLab, type ParseLabOptions } from '../../../src/lab/load.js';
import type { Lab, LabFileError } from '../../../src/lab/model.js';

/** The lab file name errors carry in these tests. */
export const FILE = 'lab.yaml';

/** Files a test's `source:` and `config:` paths read, relative to /labs (where FILE is taken to be). */
export function readerOf(
  files: Readonly<Record<string, string>>,
  root = '/labs/',
): NonNullable<ParseLabOptions['readFile']> {
  return (p: string) => {
    const rel = p.startsWith(root) ? p.slice(root.length) : p;
    const text = files[rel];
    if (text === undefined)
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
    return text;
  };
}

export function parse(text: string, files: Readonly<Record<string, string>> = {}): Lab {
  return parseLab(text, `/labs/${FILE}`, { readFile: readerOf(files) });
}

/** The errors parsing `text` reports (it must fail). */
export function errorsOf(text: string, files: Readonly<Record<string, string>> = {}): LabFileError[] {
  try {
    // FILE is relative: its directory, and so the sources', is the current one.
    parseLab(text, FILE, { readFile: readerOf(files, `${resolve('.')}/`) });
  } catch (err) {
    assert.ok(err instanceof LabFileInvalid, `expected LabFileInvalid, got ${String(err)}`);
    return [...err.errors];
  }
  assert.fail('the lab was accepted');
}

/** 1-based line and column of the `nth` occurrence of `needle` in `text`. */
export function posOf(text: string, needle: string, nth = 0): { line: number; col: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    assert.ok(at >= 0, `${JSON.stringify(needle)} (#${nth}) is not in the text`);
  }
  const before = text.slice(0, at).split('\n');
  return { line: before.length, col: (before[before.length - 1] ?? '').length + 1 };
}

/**
 * Exactly one error in `errors` has `path` and a message containing `fragment`, at the place
 * of `needle` in `text`.
 */
export function expectError(
  text: string,
  errors: readonly LabFileError[],
  path: string,
  fragment: string,
  needle: string,
  nth = 0,
): void {
  const hits = errors.filter((e) => e.path === path && e.message.includes(fragment));
  assert.equal(
    hits.length,
    1,
    `one error at ${path} with ${JSON.stringify(fragment)} among:\n${errors.map((e) => `${e.line}:${e.col}: ${e.path}: ${e.message}`).join('\n')}`,
  );
  const want = posOf(text, needle, nth);
  assert.deepEqual({ line: hits[0]!.line, col: hits[0]!.col }, want, `position of ${path}: ${hits[0]!.message}`);
}

/** A small valid lab that tests change one piece of. */
export const BASE = `name: t
networks:
  uplink:
    mode: nat
    subnet: 192.168.101.0/24
nodes:
  r1:
    kind: router
    interfaces:
      eth1: { network: uplink, address: 192.168.101.2/24 }
`;
