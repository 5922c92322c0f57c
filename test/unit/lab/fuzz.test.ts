/**
 * Property-based fuzzing of the lab file loader, as test/unit/fuzz/parsers.test.ts does for the
 * other parsers of outside input: whatever the file, parseLab returns a Lab or throws
 * LabFileInvalid (never a TypeError or a RangeError), and every error has a place in the file.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseYaml, stringify } from 'yaml';
import { LabFileInvalid, parseLab } from '../../../src/lab/load.js';

const FIXTURE = readFileSync(new URL('../../../../test/fixtures/lab/ospf.lab.yaml', import.meta.url), 'utf8');
const RUNS = { numRuns: 300 };

function expectOnlyLabErrors(text: string): void {
  try {
    parseLab(text, 'lab.yaml', { readFile: () => 'hostname x\n' });
  } catch (err) {
    assert.ok(
      err instanceof LabFileInvalid,
      `not a LabFileInvalid: ${err instanceof Error ? err.stack : String(err)}\n--- file:\n${text}`,
    );
    const lines = text.split('\n').length;
    for (const e of err.errors) {
      assert.ok(
        e.line >= 1 && e.line <= lines && e.col >= 1,
        `${e.line}:${e.col} is outside the file (${lines} lines): ${e.message}`,
      );
      assert.ok(e.message.length > 0);
    }
  }
}

/** Values a mutation puts somewhere: names from the lab, addresses, wrong types. */
const value = fc.oneof(
  fc.constantFrom<unknown>(
    'r1',
    'r2',
    'h1',
    'uplink',
    'inside',
    'r1:eth1',
    'r2:eth9',
    'eth1',
    'lo',
    'default via 192.168.101.1',
    '192.168.101.0/24 via r2',
    '10.0.0.0/8',
    '192.168.103.2/24',
    '192.168.103.0/24',
    '0x0d5a0000a96a16f3',
    'nat',
    'routed',
    'flat',
    'router',
    '0644',
    '/etc/x',
    '__proto__',
    'constructor',
  ),
  fc.constantFrom<unknown>(
    null,
    true,
    0,
    -1,
    4095,
    1e300,
    2 ** 60,
    [],
    {},
    ['r1'],
    { network: 'inside' },
    { prefix: '10.9.0.0/16', via: 'h1' },
    { dst: 'default', via: '192.168.103.1' },
  ),
  fc.string({ maxLength: 12 }),
);

type Tree = Record<string, unknown> | unknown[];

function paths(
  node: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Tree)) {
      const p = [...prefix, Array.isArray(node) ? Number(k) : k];
      out.push(p);
      paths(v, p, out);
    }
  }
  return out;
}

function mutate(doc: unknown, steps: readonly { pick: number; kind: number; v: unknown; key: string }[]): unknown {
  const copy = structuredClone(doc) as Record<string, unknown>;
  for (const step of steps) {
    // The values are shared by every run: placed as they are, a later step writing into one
    // (kind 2) would change it for all runs to come, and could make it contain itself (seen in
    // CI: `paths` then recursed without end). Each run places its own copy.
    const s = { ...step, v: structuredClone(step.v) };
    const all = paths(copy);
    const path = all[s.pick % Math.max(all.length, 1)];
    if (path === undefined) continue;
    const parent = path
      .slice(0, -1)
      .reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], copy) as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (s.kind === 0 && !Array.isArray(parent)) delete parent[last];
    else if (s.kind === 1) parent[last] = s.v;
    else if (parent[last] !== null && typeof parent[last] === 'object' && !Array.isArray(parent[last]))
      (parent[last] as Record<string, unknown>)[s.key] = s.v;
    else parent[last] = s.v;
  }
  return copy;
}

describe('lab file fuzzing', () => {
  it('any text: a Lab or LabFileInvalid', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (t) => expectOnlyLabErrors(t)),
      RUNS,
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (t) =>
        expectOnlyLabErrors(`name: t\nnodes:\n  a: ${t}\n`),
      ),
      RUNS,
    );
  });

  it('the OSPF lab with random changes: a Lab or LabFileInvalid, every error placed in the file', () => {
    const doc = parseYaml(FIXTURE) as unknown;
    const step = fc.record({
      pick: fc.nat(),
      kind: fc.nat({ max: 2 }),
      v: value,
      key: fc.constantFrom('address', 'network', 'via', 'kind', 'x', 'wait-for', 'group', 'dpid', 'mode'),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 4 }), (steps) => {
        expectOnlyLabErrors(stringify(mutate(doc, steps)));
      }),
      RUNS,
    );
  });
});
