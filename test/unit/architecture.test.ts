import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The shape of src/ (issue 23): no import circles, and no import from a lower layer to a higher
 * one. Read from the TypeScript sources (type-only imports count: a circle through types is
 * still a circle for whoever reads the code), so it holds without a build of src/.
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/**
 * Low to high; a module may import from its own layer and the layers below. The names are the
 * folders under src/ (`daemon` is src/daemon.ts and src/daemon/). dhcp (the DHCP clients the
 * OVS driver and attach run) sits with the host libraries it builds on; confrpc (faucetconfrpc's
 * keys, and the client the FAUCET store uses) beside faucet, whose configuration it carries.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['model'],
  ['config'],
  ['ovs', 'net', 'engine', 'faucet', 'dhcp', 'confrpc'],
  ['driver'],
  ['status', 'graph', 'monitoring'],
  ['reconcile'],
  ['plugin'],
  ['narwhal', 'attach', 'lab'],
  ['daemon'],
  ['cli'],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** src-relative path of a file -> the src-relative paths of the files under src/ it imports. */
function importGraph(srcDir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(srcDir)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = info.importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(srcDir, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    graph.set(relative(srcDir, file), [...new Set(targets)]);
  }
  return graph;
}

/** The layer a src-relative path is in, by its first folder; undefined for a folder with no place. */
function layerOf(path: string): number | undefined {
  const top = (path.split('/')[0] ?? '').replace(/\.ts$/, '');
  const i = LAYERS.findIndex((names) => names.includes(top));
  return i < 0 ? undefined : i;
}

/** Imports that point from a lower layer to a higher one, as "from -> to". */
function upwardImports(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const a = layerOf(from);
      const b = layerOf(to);
      if (a !== undefined && b !== undefined && b > a) out.push(`${from} -> ${to}`);
    }
  }
  return out.sort();
}

/** Every import circle: the strongly connected components of more than one file, and files importing themselves. */
function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  // Tarjan's algorithm, iterative so a long chain of imports cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; edge: number }[] = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1] as { node: string; edge: number };
      const edges = graph.get(top.node) ?? [];
      if (top.edge < edges.length) {
        const to = edges[top.edge++] as string;
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(top.node, Math.min(low.get(top.node) as number, index.get(to) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined)
        low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(top.node) as number));
      if (low.get(top.node) !== index.get(top.node)) continue;
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== top.node);
      if (component.length > 1 || edges.includes(top.node)) found.push(component.sort());
    }
  }
  return found;
}

describe('architecture of src/', () => {
  const graph = importGraph(SRC);

  it('reads the import graph (every file of src/, its relative imports resolved to files that exist)', () => {
    assert.ok(graph.size > 100, `only ${graph.size} files read from ${SRC}`);
    const missing = [...graph].flatMap(([from, targets]) =>
      targets.filter((t) => !graph.has(t)).map((t) => `${from} -> ${t}`),
    );
    assert.deepEqual(missing, []);
  });

  it('places every folder of src/ in a layer', () => {
    const unplaced = [
      ...new Set([...graph.keys()].filter((p) => layerOf(p) === undefined).map((p) => p.split('/')[0])),
    ];
    assert.deepEqual(unplaced, [], 'add the folder to LAYERS in test/unit/architecture.test.ts');
  });

  it('has no import circles', () => {
    assert.deepEqual(circles(graph), []);
  });

  it('has no import from a lower layer to a higher one', () => {
    assert.deepEqual(upwardImports(graph), []);
  });

  it('reads environment variables only in src/config/ (config/environment.ts names each one)', () => {
    const readers = [...graph.keys()].filter(
      (p) => !p.startsWith('config/') && /\bprocess\.env\b/.test(readFileSync(join(SRC, p), 'utf8')),
    );
    assert.deepEqual(readers, []);
  });

  it('finds a circle and an upward import when there is one (the checks can fail)', () => {
    const bad = new Map<string, string[]>([
      ['util/a.ts', ['driver/b.ts']],
      ['driver/b.ts', ['driver/c.ts']],
      ['driver/c.ts', ['driver/b.ts']],
      ['driver/d.ts', ['driver/d.ts']],
    ]);
    assert.deepEqual(upwardImports(bad), ['util/a.ts -> driver/b.ts']);
    assert.deepEqual(circles(bad), [['driver/b.ts', 'driver/c.ts'], ['driver/d.ts']]);
  });
});
