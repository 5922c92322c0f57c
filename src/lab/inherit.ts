/**
 * Inheritance: `defaults:` < the node's group < the node, each value remembering where in the
 * file it was written, so that an error about an inherited value points at the line that gave
 * it (in `defaults:` or the group), not at a node that never mentions it.
 *
 * Scalars and lists: the highest level that gives one wins. Maps (`interfaces`, `labels`,
 * `sysctls`, `env`, `files`) merge entry by entry. `cap-add` is a union. A kind's built-ins sit
 * below all of these and are added by resolve.ts. `config:` is the file `/etc/frr/frr.conf`
 * written at its own level, so a node's `config:` replaces a group's `files:` entry for it.
 */
import type { Errors, Path } from './positions.js';
import type { FileInput, InterfaceInput, NodeFieldsInput, NodeInput, RouteInput, LabFileInput } from './spec.js';

/** A value and the path it was written at. */
export interface From<T> {
  readonly value: T;
  readonly at: Path;
}

export type Scalar = string | number | boolean;

export const FRR_CONF = '/etc/frr/frr.conf';

export interface MergedFile extends From<FileInput> {
  /** Written as `config:` (value is then the text or the path given there). */
  readonly config: boolean;
}

export interface MergedNode {
  readonly key: string;
  readonly at: Path;
  readonly kind?: From<'router' | 'host' | 'capture'>;
  readonly image?: From<string>;
  readonly group?: From<string>;
  readonly interfaces: ReadonlyMap<string, From<InterfaceInput>>;
  readonly routes?: From<readonly RouteInput[]>;
  readonly labels: ReadonlyMap<string, From<Scalar>>;
  readonly sysctls: ReadonlyMap<string, From<string | number>>;
  readonly env: ReadonlyMap<string, From<Scalar>>;
  readonly files: ReadonlyMap<string, MergedFile>;
  /** Every level's entries, lowest first (duplicates removed later). */
  readonly capAdd: readonly From<string>[];
  readonly binds?: From<readonly string[]>;
  readonly cmd?: From<string | readonly string[]>;
  readonly exec?: From<string | readonly string[]>;
  readonly waitFor?: From<readonly string[]>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function mergeMap<V>(into: Map<string, From<V>>, map: Readonly<Record<string, V>> | undefined, at: Path): void {
  for (const [k, v] of Object.entries(map ?? {})) into.set(k, { value: v, at: [...at, k] });
}

function apply(m: Mutable<MergedNode>, fields: NodeFieldsInput, at: Path, errors: Errors): void {
  const one = <T>(v: T | undefined, field: string): From<T> | undefined =>
    v === undefined ? undefined : { value: v, at: [...at, field] };
  m.kind = one(fields.kind, 'kind') ?? m.kind;
  m.image = one(fields.image, 'image') ?? m.image;
  m.routes = one(fields.routes, 'routes') ?? m.routes;
  m.binds = one(fields.binds, 'binds') ?? m.binds;
  m.cmd = one(fields.cmd, 'cmd') ?? m.cmd;
  m.exec = one(fields.exec, 'exec') ?? m.exec;
  m.waitFor = one(fields['wait-for'], 'wait-for') ?? m.waitFor;
  mergeMap(m.interfaces as Map<string, From<InterfaceInput>>, fields.interfaces, [...at, 'interfaces']);
  mergeMap(m.labels as Map<string, From<Scalar>>, fields.labels, [...at, 'labels']);
  mergeMap(m.sysctls as Map<string, From<string | number>>, fields.sysctls, [...at, 'sysctls']);
  mergeMap(m.env as Map<string, From<Scalar>>, fields.env, [...at, 'env']);
  const files = m.files as Map<string, MergedFile>;
  for (const [k, v] of Object.entries(fields.files ?? {}))
    files.set(k, { value: v, at: [...at, 'files', k], config: false });
  if (fields.config !== undefined) {
    if (fields.files?.[FRR_CONF] !== undefined) {
      errors.add([...at, 'config'], `config: and files: both give ${FRR_CONF}; keep one`, 'key');
    }
    files.set(FRR_CONF, { value: fields.config, at: [...at, 'config'], config: true });
  }
  for (const [i, c] of (fields['cap-add'] ?? []).entries())
    (m.capAdd as From<string>[]).push({ value: c, at: [...at, 'cap-add', i] });
}

/** Every node with its defaults and group folded in, in the file's order. */
export function inherit(file: LabFileInput, errors: Errors): MergedNode[] {
  return Object.entries(file.nodes).map(([key, node]: [string, NodeInput]) => {
    const at: Path = ['nodes', key];
    const m: Mutable<MergedNode> = {
      key,
      at,
      interfaces: new Map(),
      labels: new Map(),
      sysctls: new Map(),
      env: new Map(),
      files: new Map(),
      capAdd: [],
    };
    if (file.defaults !== undefined) apply(m, file.defaults, ['defaults'], errors);
    if (node.group !== undefined) {
      m.group = { value: node.group, at: [...at, 'group'] };
      const group = Object.hasOwn(file.groups ?? {}, node.group) ? file.groups?.[node.group] : undefined;
      // An unknown group is reported by check.ts, with the names there are.
      if (group !== undefined) apply(m, group, ['groups', node.group], errors);
    }
    apply(m, node, at, errors);
    return m;
  });
}
