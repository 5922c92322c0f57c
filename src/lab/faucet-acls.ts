/**
 * A lab's own FAUCET ACLs, put into the shared faucet.yaml the way an operator would add theirs,
 * so that the lab's networks (`ovs.bridge.default_acl`, `nat_acl`) and nodes
 * (`dovesnap.faucet.portacl`) can name them: the daemon checks that a named ACL exists in the
 * file when a network is created or a container starts.
 *
 * Naming: the lab file's `acls: {NAME: [rules]}` becomes `lab-<lab>.<NAME>` in faucet.yaml
 * (labAclName). The dot separates because a lab name cannot hold one, while it can hold '-':
 * with `lab-<lab>-<NAME>`, lab `a`'s ACL `b-c` and lab `a-b`'s ACL `c` would both be `lab-a-b-c`.
 * Every `acls:` key that starts with `lab-<lab>.` is that lab's: `syncLabAcls` and
 * `removeLabAcls` add, change and remove exactly those, and never another key.
 *
 * The file is shared with the operator and the daemon, so every edit is a splice of the lab's
 * entries (render.ts syncAclEntries: every other byte, comments and order kept) made by a
 * FaucetConfigStore: re-read and re-checked right before the rename (the daemon's writes do the
 * same, so neither loses the other's change), then FAUCET is asked to reload and its metrics
 * must show the new file's hash; a file FAUCET refuses is replaced by the previous one (unless
 * someone changed it since). Two labs at once take turns on a lock file beside faucet.yaml.
 */
import { isDeepStrictEqual } from 'node:util';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Document, Scalar, YAMLSeq, type Node } from 'yaml';

import { faucetChecker, findFaucetChecker, withoutKnownTypes, type FaucetChecker } from '../faucet/check.js';
import { readFaucetConfigState, type FaucetConfigState } from '../faucet/metrics.js';
import { yamlMap } from '../faucet/entries.js';
import { syncAclEntries } from '../faucet/render.js';
import { faucetDocumentToJs, parseFaucetDocument } from '../faucet/yaml.js';
import { FaucetConfigStore, signalFromPidfile } from '../faucet/store.js';
import { validateFaucetConfig, type ConfigProblem } from '../faucet/validate.js';
import { faucetDirFor } from '../config/settings.js';
import { faucetTimeoutMs, type Environment } from '../config/environment.js';
import { faucetEndpoints } from '../config/daemon-env.js';
import { DovesnapError, ErrorCode, errorMessage, isDovesnapError } from '../util/errors.js';
import { withLockFile } from '../util/lock-file.js';
import type { Logger } from '../util/log.js';
// 1-20 of a-z 0-9 '-', no '-' at either end: never a '.', which the names below rely on.
import { LAB_NAME } from './spec.js';

/** The lab file's `acls:`: NAME -> FAUCET rules, each `{rule: {...}}`, as FAUCET's own `acls:` has them. */
export type LabAcls = ReadonlyMap<string, readonly unknown[]>;

export interface LabAclChanges {
  /** Full faucet.yaml names (`lab-<lab>.<NAME>`), sorted. */
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
}

/** The start of every faucet.yaml ACL name a lab owns. */
export const LAB_ACL_PREFIX = 'lab-';
/** Longest ACL name dovesnap's options and labels accept (model/options.ts parseAclName). */
export const MAX_ACL_NAME = 64;

/** The characters parseAclName accepts. */
const ACL_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const ETHER_TYPE_KEYS = new Set(['dl_type', 'eth_type']);

function checkLabName(lab: string): void {
  if (!LAB_NAME.test(lab))
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid lab name ${JSON.stringify(lab)}: expected 1 to 20 of a-z, 0-9 and '-', not starting or ending with '-'`,
    );
}

/** `lab-<lab>.`: every faucet.yaml ACL whose name starts with it is the lab's. */
export function labAclPrefix(lab: string): string {
  checkLabName(lab);
  return `${LAB_ACL_PREFIX}${lab}.`;
}

/** The name in faucet.yaml of the lab's ACL `name` (a key of the lab file's `acls:`): `lab-<lab>.<name>`. */
export function labAclName(lab: string, name: string): string {
  const full = `${labAclPrefix(lab)}${name}`;
  if (!ACL_KEY.test(name)) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid ACL name ${JSON.stringify(name)} in lab ${lab}'s acls: expected letters, digits, '_', '.' and '-', starting with a letter, digit or '_'`,
    );
  }
  if (full.length > MAX_ACL_NAME) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `ACL name ${JSON.stringify(name)} in lab ${lab}'s acls is too long: faucet.yaml's name ${full} has ${full.length} characters, at most ${MAX_ACL_NAME} are allowed (${MAX_ACL_NAME - full.length + name.length} for the name in this lab)`,
    );
  }
  return full;
}

/** The lab and NAME of a faucet.yaml ACL name labAclName made; undefined for any other name. */
export function parseLabAclName(acl: string): { lab: string; name: string } | undefined {
  const m = /^lab-([a-z0-9-]+)\.(.+)$/.exec(acl);
  if (m === null || m[1] === undefined || m[2] === undefined || !LAB_NAME.test(m[1]) || !ACL_KEY.test(m[2]))
    return undefined;
  return { lab: m[1], name: m[2] };
}

/**
 * What a network's `default_acl`/`nat_acl` or a node's `portacl` names in faucet.yaml: one of
 * the lab's own ACLs (a key of its `acls:`) becomes labAclName; anything else is the
 * operator's own ACL and is taken verbatim.
 */
export function resolveAclRef(lab: string, labAclNames: Iterable<string>, ref: string): string {
  const trimmed = ref.trim();
  return new Set(labAclNames).has(trimmed) ? labAclName(lab, trimmed) : trimmed;
}

/**
 * resolveAclRef over a `dovesnap.faucet.portacl` value: `a,b`, or per network
 * `NET:a,b/NET2:c` (the label's own syntax, model/labels.ts).
 */
export function resolvePortAclLabel(lab: string, labAclNames: Iterable<string>, value: string): string {
  const names = new Set(labAclNames);
  const list = (v: string): string =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((s) => resolveAclRef(lab, names, s))
      .join(',');
  if (!value.includes(':')) return list(value);
  return value
    .split('/')
    .map((part) => {
      const at = part.indexOf(':');
      return at < 0 ? list(part) : `${part.slice(0, at).trim()}:${list(part.slice(at + 1))}`;
    })
    .join('/');
}

// ---------------------------------------------------------------------------------------------
// The rules as YAML nodes

function entriesOf(value: unknown): Array<[unknown, unknown]> | undefined {
  if (value instanceof Map) return [...value.entries()];
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)) {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto === Object.prototype || proto === null) return Object.entries(value);
  }
  return undefined;
}

/**
 * A rule value as a node: mappings in their order, lists of scalars in flow style, integers as
 * bigints (as the parser gives them back, which verifySection compares with) and EtherTypes in
 * hex, as people write them. Anything YAML or FAUCET cannot take is a problem at `path`.
 */
function valueNode(value: unknown, path: string, key: string | undefined, problems: string[]): Node {
  if (value === null || typeof value === 'boolean') return new Scalar(value);
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && !Number.isFinite(value))
      problems.push(`${path}: ${value} is not a number FAUCET takes`);
    const integer = typeof value === 'bigint' ? value : Number.isSafeInteger(value) ? BigInt(value) : undefined;
    const node = new Scalar(integer ?? value);
    if (integer !== undefined && integer >= 0n && key !== undefined && ETHER_TYPE_KEYS.has(key)) node.format = 'HEX';
    return node;
  }
  if (typeof value === 'string') {
    // Nothing in a FAUCET rule needs a control character; rejecting them keeps every scalar on its line.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value))
      problems.push(`${path}: ${JSON.stringify(value)} holds a control character`);
    return new Scalar(value);
  }
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    for (const [i, item] of value.entries()) seq.items.push(valueNode(item, `${path}[${i}]`, undefined, problems));
    seq.flow = value.length > 0 && seq.items.every((item) => item instanceof Scalar);
    return seq;
  }
  const entries = entriesOf(value);
  if (entries === undefined) {
    problems.push(`${path}: a ${value instanceof Date ? 'date' : typeof value} is not a value FAUCET takes`);
    return new Scalar(null);
  }
  const pairs: Array<[string, Node]> = [];
  for (const [k, v] of entries) {
    if (typeof k !== 'string' || k === '') {
      problems.push(`${path}: key ${JSON.stringify(String(k))} must be a non-empty string`);
      continue;
    }
    pairs.push([k, valueNode(v, `${path}.${k}`, k, problems)]);
  }
  return yamlMap(pairs);
}

/** One ACL's node; `where` is how the lab file spells it (`acls.web`). */
function aclNode(rules: readonly unknown[], where: string, problems: string[]): Node {
  if (!Array.isArray(rules) || rules.length === 0) {
    problems.push(`${where}: expected a list of at least one '- rule: {...}'`);
    return new YAMLSeq();
  }
  rules.forEach((entry, i) => {
    const keys = entriesOf(entry)?.map(([k]) => k);
    const rule = entriesOf(entry)?.find(([k]) => k === 'rule')?.[1];
    if (keys === undefined || keys.length !== 1 || keys[0] !== 'rule' || entriesOf(rule) === undefined) {
      problems.push(
        `${where}[${i}]: expected '- rule: {...}' (a mapping with only the key 'rule', whose value is a mapping of FAUCET match fields and 'actions')`,
      );
    }
  });
  return valueNode(rules, where, undefined, problems);
}

/** The lab's ACLs as faucet.yaml entries (full name -> node), sorted by name; throws BadOption naming every problem. */
export function labAclNodes(lab: string, acls: LabAcls): Map<string, Node> {
  const problems: string[] = [];
  const nodes: Array<[string, Node]> = [];
  for (const [name, rules] of acls) {
    let full: string;
    try {
      full = labAclName(lab, name);
    } catch (err) {
      problems.push(errorMessage(err));
      continue;
    }
    nodes.push([full, aclNode(rules, `acls.${name}`, problems)]);
  }
  if (problems.length > 0) {
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    throw new DovesnapError(ErrorCode.BadOption, `lab ${lab}'s acls: ${problems.slice(0, 5).join('; ')}${more}`);
  }
  return new Map(nodes.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---------------------------------------------------------------------------------------------
// The edit (pure)

function asMap(v: unknown): Map<unknown, unknown> | undefined {
  return v instanceof Map ? v : undefined;
}

function parseRoot(text: string): Map<unknown, unknown> {
  const doc = parseFaucetDocument(text);
  const [first] = doc.errors;
  if (first !== undefined)
    throw new DovesnapError(ErrorCode.FaucetInvalid, `faucet.yaml is not valid YAML: ${first.message}`);
  return asMap(faucetDocumentToJs(doc)) ?? new Map<unknown, unknown>();
}

/**
 * Where in the file each of `names` is referenced: any string value equal to it, outside the
 * entries of `names` themselves (ports' and VLANs' acls_in/acl_in/acls_out, dp_acls,
 * interface_ranges, dot1x's ACLs, ...), as key paths like `dps.net.interfaces.3.acls_in`.
 * Files named by `include:` are not read.
 */
export function aclReferences(text: string, names: ReadonlySet<string>): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'string') {
      if (names.has(value)) found.set(value, [...(found.get(value) ?? []), path]);
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, path);
    } else if (value instanceof Map) {
      for (const [k, v] of value) walk(v, path === '' ? String(k) : `${path}.${String(k)}`);
    }
  };
  for (const [key, value] of parseRoot(text)) {
    if (key !== 'acls') walk(value, String(key));
    else for (const [name, acl] of asMap(value) ?? []) if (!names.has(String(name))) walk(acl, `acls.${String(name)}`);
  }
  return found;
}

/** Conflict: ACLs the edit would remove are still used; FAUCET 1.10 stops on a port or VLAN naming a missing ACL. */
export class AclStillUsedError extends DovesnapError {
  constructor(
    readonly lab: string,
    readonly references: ReadonlyMap<string, readonly string[]>,
  ) {
    const list = [...references].map(
      ([name, paths]) =>
        `${name} (used by ${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ` and ${paths.length - 3} more` : ''})`,
    );
    super(
      ErrorCode.Conflict,
      `lab ${lab} cannot remove its ACL${list.length === 1 ? '' : 's'} ${list.join('; ')} from faucet.yaml: FAUCET stops on a port or VLAN that names a missing ACL; remove the networks and containers that use ${list.length === 1 ? 'it' : 'them'} first`,
    );
    this.name = 'AclStillUsedError';
  }
}

export interface LabAclEdit extends LabAclChanges {
  /** The file's text after the edit; the input itself when nothing changes. */
  readonly text: string;
}

/** The names of the lab's ACLs in `text`, in the file's order. */
export function labAclsIn(text: string, lab: string): string[] {
  const prefix = labAclPrefix(lab);
  return [...(asMap(parseRoot(text).get('acls'))?.keys() ?? [])].map(String).filter((name) => name.startsWith(prefix));
}

/**
 * `text` with its `acls:` holding exactly the lab's `acls` among the lab's names, every other
 * byte kept. Throws BadOption for a bad definition, AclStillUsedError if an ACL to remove is
 * still referenced, FaucetInvalid if the file cannot be edited safely.
 */
export function editLabAcls(text: string, lab: string, acls: LabAcls): LabAclEdit {
  const prefix = labAclPrefix(lab);
  const desired = labAclNodes(lab, acls);
  const existing = new Map(
    [...(asMap(parseRoot(text).get('acls')) ?? [])]
      .filter(([k]) => String(k).startsWith(prefix))
      .map(([k, v]) => [String(k), v] as const),
  );
  const added: string[] = [];
  const changed: string[] = [];
  for (const [name, node] of desired) {
    if (!existing.has(name)) added.push(name);
    else if (!isDeepStrictEqual(existing.get(name), new Document(node).toJS({ mapAsMap: true }))) changed.push(name);
  }
  const removed = [...existing.keys()].filter((name) => !desired.has(name)).sort();
  if (removed.length > 0) {
    const refs = aclReferences(text, new Set(removed));
    if (refs.size > 0) throw new AclStillUsedError(lab, refs);
  }
  if (added.length + changed.length + removed.length === 0) return { text, added, changed, removed };
  return { text: syncAclEntries(text, desired, (name) => name.startsWith(prefix)), added, changed, removed };
}

/** `actions: {meter: M}` in the lab's ACLs must name a meter of the file (FAUCET checks it only once a port uses the ACL). */
function meterProblems(text: string, lab: string, names: readonly string[]): ConfigProblem[] {
  const root = parseRoot(text);
  const meters = asMap(root.get('meters')) ?? new Map<unknown, unknown>();
  const acls = asMap(root.get('acls'));
  const problems: ConfigProblem[] = [];
  for (const name of names) {
    const rules = acls?.get(name);
    for (const entry of Array.isArray(rules) ? rules : []) {
      const meter = asMap(asMap(asMap(entry)?.get('rule'))?.get('actions'))?.get('meter');
      if (meter !== undefined && !meters.has(meter)) {
        problems.push({
          severity: 'error',
          code: 'bad-value',
          path: `acls.${name}`,
          message: `lab ${lab}'s ACL ${name} uses meter ${JSON.stringify(meter)}, which faucet.yaml's meters: does not define`,
        });
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Writing it

export interface LabAclOptions {
  /** Default `${FAUCET_PREFIX}/etc/faucet/faucet.yaml`, as the daemon finds it. */
  readonly configPath?: string;
  /** Asks FAUCET to reload. Default: SIGHUP to the pid in $DOVESNAP_FAUCET_PIDFILE (default /run/dovesnap/faucet.pid). */
  readonly reload?: () => Promise<void>;
  /** FAUCET's metrics. Default $DOVESNAP_FAUCET_METRICS, else http://127.0.0.1:9302/metrics; null: writes are not confirmed. */
  readonly metricsUrl?: string | null;
  /** Overrides how FAUCET's configuration state is read (tests). */
  readonly readState?: () => Promise<FaucetConfigState>;
  /** FAUCET's check of the whole new file. Default: check_faucet_config when installed (faucet/check.ts); null: none. */
  readonly check?: FaucetChecker | null;
  /** How long FAUCET has to load the file: default $DOVESNAP_FAUCET_TIMEOUT_MS, else 30 s. */
  readonly confirmTimeoutMs?: number;
  readonly pollIntervalMs?: number;
  /** How long to wait for another lab's edit (the lock): default 120 s. */
  readonly lockTimeoutMs?: number;
  /**
   * How long an ACL to remove may stay referenced before the edit gives up (default 20 s): the
   * daemon drops a deleted network's DP from the file a moment after `docker network rm` returns.
   */
  readonly referenceWaitMs?: number;
  readonly env?: Environment;
  readonly logger?: Logger;
}

export interface LabAclSettings {
  readonly configPath: string;
  readonly faucetPidfile: string;
  readonly metricsUrl: string | undefined;
  readonly confirmTimeoutMs: number;
}

/** Where faucet.yaml, FAUCET's pidfile and metrics are, from `opts` and the environment. */
export function labAclSettings(opts: LabAclOptions = {}): LabAclSettings {
  const env = opts.env;
  // A bad timeout is reported before a bad metrics URL.
  const timeoutMs = faucetTimeoutMs(env);
  const faucet = faucetEndpoints(env);
  return {
    configPath: opts.configPath ?? join(faucetDirFor(env), 'faucet.yaml'),
    faucetPidfile: faucet.pidfile,
    metricsUrl: opts.metricsUrl === null ? undefined : (opts.metricsUrl ?? faucet.metricsUrl),
    confirmTimeoutMs: opts.confirmTimeoutMs ?? timeoutMs ?? 30_000,
  };
}

/** The lock two labs take turns on: beside faucet.yaml, since it guards that one file. */
export function labAclLockPath(configPath: string): string {
  return join(dirname(configPath), `.${basename(configPath)}.lab-acls.lock`);
}

async function readConfig(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DovesnapError(
        ErrorCode.NotFound,
        `${path} does not exist: set up FAUCET and dovesnap first (make up, or dovesnap setup-config), or set FAUCET_PREFIX`,
      );
    }
    throw err;
  }
}

function list(names: readonly string[]): string {
  return names.length === 1 ? `ACL ${names[0] ?? ''}` : `ACLs ${names.join(', ')}`;
}

const NO_CHANGES: LabAclChanges = Object.freeze({ added: [], changed: [], removed: [] });

/**
 * Makes faucet.yaml's `acls:` hold exactly `acls` (NAME -> rules) among the lab's ACLs: adds,
 * updates and removes `lab-<lab>.*` entries, keeps every other byte, and returns once FAUCET
 * runs the new file. Unchanged: no write, no reload. Validates first (validate.ts over the
 * whole file, the meters the rules use, and FAUCET's check_faucet_config when installed);
 * FAUCET refusing the file puts the previous text back (unless the file changed since) and
 * throws FaucetRejected naming the ACLs. An ACL to remove that is still used throws
 * AclStillUsedError (after `referenceWaitMs`).
 */
export async function syncLabAcls(lab: string, acls: LabAcls, opts: LabAclOptions = {}): Promise<LabAclChanges> {
  labAclNodes(lab, acls); // a bad definition fails before any lock or read
  const settings = labAclSettings(opts);
  const waitUntil = Date.now() + (opts.referenceWaitMs ?? 20_000);
  for (;;) {
    try {
      return await syncOnce(lab, acls, settings, opts);
    } catch (err) {
      if (!(err instanceof AclStillUsedError) || Date.now() >= waitUntil) throw err;
      opts.logger?.info({ lab, err: err.message }, 'waiting for faucet.yaml to stop using the lab ACLs to remove');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Removes every ACL of the lab from faucet.yaml (for `lab down`, once its networks and containers are gone); returns their names. */
export async function removeLabAcls(lab: string, opts: LabAclOptions = {}): Promise<string[]> {
  return (await syncLabAcls(lab, new Map(), opts)).removed;
}

async function syncOnce(
  lab: string,
  acls: LabAcls,
  settings: LabAclSettings,
  opts: LabAclOptions,
): Promise<LabAclChanges> {
  const { configPath } = settings;
  const lockOpts = { timeoutMs: opts.lockTimeoutMs ?? 120_000, what: `${configPath} (lab ACLs)` };
  return withLockFile(labAclLockPath(configPath), lockOpts, async () => {
    const first = await readConfig(configPath);
    if (editLabAcls(first, lab, acls).text === first) return NO_CHANGES;

    // What the store rendered last (it renders again when the file changed under it): what
    // the validation and the errors speak of.
    const rendered: { last?: RenderedEdit } = {};
    const check =
      opts.check === null
        ? undefined
        : (opts.check ??
          (() => {
            const binary = findFaucetChecker(opts.env);
            return binary === undefined ? undefined : faucetChecker(binary);
          })());
    const metricsUrl = settings.metricsUrl;
    const readState =
      opts.readState ?? (metricsUrl === undefined ? undefined : () => readFaucetConfigState(metricsUrl));
    const store = new FaucetConfigStore<{ readonly lab: string; readonly acls: LabAcls }>({
      configPath,
      reload: opts.reload ?? (async () => void (await signalFromPidfile(settings.faucetPidfile))),
      ...(readState === undefined ? {} : { readState }),
      confirmTimeoutMs: settings.confirmTimeoutMs,
      ...(opts.pollIntervalMs === undefined ? {} : { pollIntervalMs: opts.pollIntervalMs }),
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
      render: (current, desired) => {
        const edit = editLabAcls(current, desired.lab, desired.acls);
        rendered.last = { before: current, edit };
        return edit.text;
      },
      validate: (text) => validateLabEdit(text, lab, rendered.last, check, configPath),
      // Between the daemon's re-check and its rename, nobody renames (it takes this lock too).
      lockRenames: true,
      // The daemon may write the file again (its own change, our ACLs kept) before FAUCET loads
      // ours; an editor's save may drop them (then the store edits the new text again).
      carries: (later, desired) => {
        try {
          return editLabAcls(later, desired.lab, desired.acls).text === later;
        } catch {
          return undefined; // not valid YAML (a save in progress?), or our ACLs still in use: cannot tell
        }
      },
    });
    let written: boolean;
    try {
      written = (await store.apply({ lab, acls })).written;
    } catch (err) {
      throw nameAcls(err, lab, rendered.last?.edit);
    }
    const last = rendered.last;
    if (!written || last === undefined) return NO_CHANGES; // someone else made the file so meanwhile
    const { added, changed, removed } = last.edit;
    opts.logger?.info({ lab, added, changed, removed }, 'lab ACLs in faucet.yaml loaded by FAUCET');
    return { added, changed, removed };
  });
}

interface RenderedEdit {
  /** The file's text the edit was made from. */
  readonly before: string;
  readonly edit: LabAclEdit;
}

async function validateLabEdit(
  text: string,
  lab: string,
  last: RenderedEdit | undefined,
  check: FaucetChecker | undefined,
  configPath: string,
): Promise<ConfigProblem[]> {
  const touched = last === undefined ? [] : [...last.edit.added, ...last.edit.changed];
  const fast = [
    ...validateFaucetConfig(text).filter((p) => p.severity === 'error'),
    ...meterProblems(text, lab, touched),
  ];
  if (fast.length > 0 || check === undefined || touched.length === 0) return fast;
  const verdict = await check(text, configPath);
  if (verdict === undefined) return [];
  const named = touched.filter((name) => verdict.includes(name));
  if (named.length === 0 && last !== undefined && (await check(last.before, configPath)) !== undefined) {
    return [
      {
        severity: 'error',
        code: 'bad-value',
        path: 'acls',
        message: `FAUCET's check_faucet_config refuses faucet.yaml even without lab ${lab}'s changes, so they were not written: ${verdict}`,
      },
    ];
  }
  const blamed = named.length > 0 ? named : touched;
  return [
    {
      severity: 'error',
      code: 'bad-value',
      path: `acls.${blamed[0] ?? ''}`,
      message: `FAUCET's check_faucet_config refuses lab ${lab}'s ${list(blamed)}: ${verdict}`,
    },
  ];
}

/** The store's errors, with the lab and its ACLs in front (codes kept). */
function nameAcls(err: unknown, lab: string, edit: LabAclEdit | undefined): unknown {
  if (
    edit === undefined ||
    !isDovesnapError(err) ||
    !(err.code === ErrorCode.FaucetRejected || err.code === ErrorCode.FaucetTimeout)
  )
    return err;
  const message = withoutKnownTypes(err.message);
  const touched = [...edit.added, ...edit.changed];
  const named = touched.filter((name) => message.includes(name));
  const names = named.length > 0 ? named : touched.length > 0 ? touched : edit.removed;
  const what =
    err.code === ErrorCode.FaucetRejected
      ? 'FAUCET refused faucet.yaml with'
      : 'FAUCET did not confirm faucet.yaml with';
  return new DovesnapError(err.code, `lab ${lab}: ${what} its ${list(names)}: ${message}`, { cause: err });
}
