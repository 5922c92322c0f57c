/**
 * RFC 7047 OVSDB descriptors: the JSON value forms, the transaction operations as a
 * discriminated union, and the decoders that narrow what the server sends. Pure: no I/O.
 *
 * Encoding is strict (callers can only build well-formed values); decoding takes `unknown`
 * and throws DovesnapError(Ovsdb) on anything the RFC does not allow, so a schema surprise
 * is reported where it happens instead of surfacing later as `undefined`.
 */
import { DovesnapError, ErrorCode } from '../util/errors.js';

// ---------------------------------------------------------------------------------------------
// Values (RFC 7047 §5.1)

export type UuidAtom = readonly ['uuid', string];
export type NamedUuidAtom = readonly ['named-uuid', string];
export type Atom = string | number | boolean | UuidAtom | NamedUuidAtom;
export type SetValue = readonly ['set', readonly Atom[]];
export type MapValue = readonly ['map', readonly (readonly [Atom, Atom])[]];
export type Value = Atom | SetValue | MapValue;

/** A row we send: every column value already encoded. */
export type Row = Readonly<Record<string, Value>>;
/** A row the server sent: column values still to be narrowed with the decoders below. */
export type WireRow = Readonly<Record<string, unknown>>;

export function uuid(value: string): UuidAtom {
  return ['uuid', value];
}

/** Refers to a row inserted earlier in the same transaction under `uuid-name`. */
export function namedUuid(name: string): NamedUuidAtom {
  return ['named-uuid', name];
}

export function setOf(atoms: readonly Atom[]): SetValue {
  return ['set', atoms];
}

export function mapOf(entries: Readonly<Record<string, string>>): MapValue {
  return ['map', Object.entries(entries)];
}

/** An optional column (min 0, max 1): the empty set stands for "no value". */
export function optional(atom: Atom | undefined): Value {
  return atom === undefined ? setOf([]) : atom;
}

// ---------------------------------------------------------------------------------------------
// Conditions, mutations and operations (RFC 7047 §5.1, §5.2)

export type ConditionFunction = '<' | '<=' | '==' | '!=' | '>=' | '>' | 'includes' | 'excludes';
export type Condition = readonly [column: string, fn: ConditionFunction, value: Value];
export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
export type Mutation = readonly [column: string, mutator: Mutator, value: Value];

export function eq(column: string, value: Value): Condition {
  return [column, '==', value];
}

/** The row whose `_uuid` is `id`. */
export function byUuid(id: string): readonly Condition[] {
  return [eq('_uuid', uuid(id))];
}

export interface InsertOp {
  readonly op: 'insert';
  readonly table: string;
  readonly row: Row;
  readonly 'uuid-name'?: string;
}
export interface SelectOp {
  readonly op: 'select';
  readonly table: string;
  readonly where: readonly Condition[];
  readonly columns?: readonly string[];
}
export interface UpdateOp {
  readonly op: 'update';
  readonly table: string;
  readonly where: readonly Condition[];
  readonly row: Row;
}
export interface MutateOp {
  readonly op: 'mutate';
  readonly table: string;
  readonly where: readonly Condition[];
  readonly mutations: readonly Mutation[];
}
export interface DeleteOp {
  readonly op: 'delete';
  readonly table: string;
  readonly where: readonly Condition[];
}
/** Fails the whole transaction (error "timed out") unless the selected rows compare as `until`. */
export interface WaitOp {
  readonly op: 'wait';
  readonly table: string;
  readonly where: readonly Condition[];
  readonly columns: readonly string[];
  readonly until: '==' | '!=';
  readonly rows: readonly Row[];
  readonly timeout?: number;
}
/** Recorded in the database log: shows who changed what in `ovsdb-tool show-log`. */
export interface CommentOp {
  readonly op: 'comment';
  readonly comment: string;
}
export interface AbortOp {
  readonly op: 'abort';
}

export type Operation = InsertOp | SelectOp | UpdateOp | MutateOp | DeleteOp | WaitOp | CommentOp | AbortOp;

export const Op = {
  insert: (table: string, row: Row, uuidName?: string): InsertOp =>
    uuidName === undefined ? { op: 'insert', table, row } : { op: 'insert', table, row, 'uuid-name': uuidName },
  select: (table: string, where: readonly Condition[], columns?: readonly string[]): SelectOp =>
    columns === undefined ? { op: 'select', table, where } : { op: 'select', table, where, columns },
  update: (table: string, where: readonly Condition[], row: Row): UpdateOp => ({ op: 'update', table, where, row }),
  mutate: (table: string, where: readonly Condition[], mutations: readonly Mutation[]): MutateOp => ({
    op: 'mutate',
    table,
    where,
    mutations,
  }),
  delete: (table: string, where: readonly Condition[]): DeleteOp => ({ op: 'delete', table, where }),
  /** timeout 0 (the default here) makes the wait an immediate assertion, not a blocking wait. */
  wait: (
    table: string,
    where: readonly Condition[],
    columns: readonly string[],
    until: '==' | '!=',
    rows: readonly Row[],
    timeoutMs = 0,
  ): WaitOp => ({ op: 'wait', table, where, columns, until, rows, timeout: timeoutMs }),
  comment: (comment: string): CommentOp => ({ op: 'comment', comment }),
  abort: (): AbortOp => ({ op: 'abort' }),
} as const;

// ---------------------------------------------------------------------------------------------
// Results

export interface InsertResult {
  readonly uuid: string;
}
export interface SelectResult {
  readonly rows: readonly WireRow[];
}
export interface CountResult {
  readonly count: number;
}
export type EmptyResult = Readonly<Record<string, never>>;
export type OperationResult = InsertResult | SelectResult | CountResult | EmptyResult;

export type ResultOf<O extends Operation> = O extends InsertOp
  ? InsertResult
  : O extends SelectOp
    ? SelectResult
    : O extends UpdateOp | MutateOp | DeleteOp
      ? CountResult
      : EmptyResult;

/** Maps a tuple of operations to the tuple of their results, so reads are typed at the call site. */
export type ResultsOf<Ops extends readonly Operation[]> = { -readonly [K in keyof Ops]: ResultOf<Ops[K]> };

/** Where and why a transaction failed, as OVSDB reported it. */
export interface TransactFailure {
  /** Index of the failing operation, or `ops.length` when the commit itself failed. */
  readonly index: number;
  readonly error: string;
  readonly details: string | undefined;
}

export type TransactOutcome =
  | { readonly ok: true; readonly results: OperationResult[] }
  | { readonly ok: false; readonly failure: TransactFailure };

/**
 * OVSDB answers a transaction with one entry per operation; a failed operation carries
 * `error` and the ones after it are null; a failed commit adds one trailing error entry.
 */
export function decodeTransactResults(ops: readonly Operation[], raw: unknown): TransactOutcome {
  if (!Array.isArray(raw)) throw malformed('transact result array', raw);
  for (const [index, entry] of raw.entries()) {
    if (isObject(entry) && entry['error'] !== undefined && entry['error'] !== null) {
      const details = entry['details'];
      return {
        ok: false,
        failure: {
          index,
          error: String(entry['error']),
          details: typeof details === 'string' ? details : undefined,
        },
      };
    }
  }
  if (raw.length < ops.length) throw malformed(`${ops.length} transact results`, raw);
  return { ok: true, results: ops.map((op, i) => decodeOperationResult(op, raw[i])) };
}

function decodeOperationResult(op: Operation, raw: unknown): OperationResult {
  if (!isObject(raw)) throw malformed(`result of ${op.op}`, raw);
  switch (op.op) {
    case 'insert':
      return { uuid: decodeUuid(raw['uuid']) };
    case 'select': {
      const rows = raw['rows'];
      if (!Array.isArray(rows) || !rows.every(isObject)) throw malformed('select rows', rows);
      return { rows };
    }
    case 'update':
    case 'mutate':
    case 'delete': {
      const count = raw['count'];
      if (typeof count !== 'number') throw malformed('row count', count);
      return { count };
    }
    default:
      return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Monitor (RFC 7047 §4.1.5, §4.1.6)

export interface MonitorSelect {
  readonly initial?: boolean;
  readonly insert?: boolean;
  readonly delete?: boolean;
  readonly modify?: boolean;
}
export interface MonitorRequest {
  readonly columns?: readonly string[];
  readonly select?: MonitorSelect;
}
export type MonitorRequests = Readonly<Record<string, MonitorRequest>>;

/** `old` is absent for inserts, `new` for deletes; on modify `old` holds only changed columns. */
export interface RowUpdate {
  readonly old?: WireRow;
  readonly new?: WireRow;
}
/** table name -> row uuid -> change */
export type TableUpdates = Readonly<Record<string, Readonly<Record<string, RowUpdate>>>>;

export function decodeTableUpdates(raw: unknown): TableUpdates {
  if (!isObject(raw)) throw malformed('table updates', raw);
  const tables: Record<string, Record<string, RowUpdate>> = {};
  for (const [table, rows] of Object.entries(raw)) {
    if (!isObject(rows)) throw malformed(`updates of table ${table}`, rows);
    const decoded: Record<string, RowUpdate> = {};
    for (const [rowUuid, change] of Object.entries(rows)) {
      if (!isObject(change)) throw malformed(`row update ${rowUuid}`, change);
      const before = change['old'];
      const after = change['new'];
      if ((before !== undefined && !isObject(before)) || (after !== undefined && !isObject(after))) {
        throw malformed(`row update ${rowUuid}`, change);
      }
      decoded[rowUuid] = {
        ...(before === undefined ? {} : { old: before }),
        ...(after === undefined ? {} : { new: after }),
      };
    }
    tables[table] = decoded;
  }
  return tables;
}

// ---------------------------------------------------------------------------------------------
// Method descriptors: the literal name travels with the decoder of its result.

export interface MethodDescriptor<P extends readonly unknown[], R> {
  readonly method: string;
  readonly encodeParams: (...params: P) => readonly unknown[];
  readonly decodeResult: (raw: unknown) => R;
}

const asIs = <P extends readonly unknown[]>(...params: P): readonly unknown[] => params;

/** The result stays raw here because decoding it needs the operations (decodeTransactResults). */
export const Transact: MethodDescriptor<[db: string, ...ops: Operation[]], unknown> = {
  method: 'transact',
  encodeParams: asIs,
  decodeResult: (raw) => raw,
};

export const Monitor: MethodDescriptor<[db: string, monitorId: string, requests: MonitorRequests], TableUpdates> = {
  method: 'monitor',
  encodeParams: asIs,
  decodeResult: decodeTableUpdates,
};

export const MonitorCancel: MethodDescriptor<[monitorId: string], unknown> = {
  method: 'monitor_cancel',
  encodeParams: asIs,
  decodeResult: (raw) => raw,
};

/** The server's notification for a monitor: params are [monitorId, tableUpdates]. */
export const UPDATE_NOTIFICATION = 'update';

export function decodeUpdateParams(raw: unknown): { monitorId: unknown; updates: TableUpdates } {
  if (!Array.isArray(raw) || raw.length !== 2) throw malformed('update notification params', raw);
  return { monitorId: raw[0], updates: decodeTableUpdates(raw[1]) };
}

// ---------------------------------------------------------------------------------------------
// Decoders for column values

/** The members of a set column. A set of exactly one element is sent as the bare atom. */
export function decodeSet(value: unknown): unknown[] {
  if (Array.isArray(value) && value[0] === 'set') {
    const members: unknown = value[1];
    if (value.length !== 2 || !Array.isArray(members)) throw malformed('set', value);
    return members;
  }
  if (Array.isArray(value) && value[0] !== 'uuid' && value[0] !== 'named-uuid') throw malformed('atom or set', value);
  return [value];
}

export function decodeUuid(value: unknown): string {
  if (Array.isArray(value) && value.length === 2 && value[0] === 'uuid' && typeof value[1] === 'string') {
    return value[1];
  }
  throw malformed('uuid', value);
}

export function decodeUuidSet(value: unknown): string[] {
  return decodeSet(value).map(decodeUuid);
}

export function decodeString(value: unknown): string {
  if (typeof value !== 'string') throw malformed('string', value);
  return value;
}

export function decodeStringSet(value: unknown): string[] {
  return decodeSet(value).map(decodeString);
}

/** A column with min 0, max 1 of strings. */
export function decodeOptionalString(value: unknown): string | undefined {
  const members = decodeSet(value);
  if (members.length > 1) throw malformed('at most one string', value);
  return members.length === 0 ? undefined : decodeString(members[0]);
}

/** A column with min 0, max 1 of integers. */
export function decodeOptionalInteger(value: unknown): number | undefined {
  const members = decodeSet(value);
  if (members.length > 1) throw malformed('at most one integer', value);
  const [member] = members;
  if (member === undefined) return undefined;
  if (typeof member !== 'number' || !Number.isInteger(member)) throw malformed('integer', value);
  return member;
}

export function decodeStringMap(value: unknown): Record<string, string> {
  if (!Array.isArray(value) || value.length !== 2 || value[0] !== 'map' || !Array.isArray(value[1])) {
    throw malformed('map', value);
  }
  const out: Record<string, string> = {};
  for (const pair of value[1] as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw malformed('string:string map entry', pair);
    }
    out[pair[0]] = pair[1];
  }
  return out;
}

export function decodeIntegerMap(value: unknown): Record<string, number> {
  if (!Array.isArray(value) || value.length !== 2 || value[0] !== 'map' || !Array.isArray(value[1])) {
    throw malformed('map', value);
  }
  const out: Record<string, number> = {};
  for (const pair of value[1] as unknown[]) {
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      typeof pair[0] !== 'string' ||
      typeof pair[1] !== 'number' ||
      !Number.isInteger(pair[1])
    ) {
      throw malformed('string:integer map entry', pair);
    }
    out[pair[0]] = pair[1];
  }
  return out;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(expected: string, got: unknown): DovesnapError {
  let shown: string;
  try {
    shown = JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  if (shown.length > 120) shown = `${shown.slice(0, 120)}…`;
  return new DovesnapError(ErrorCode.Ovsdb, `malformed OVSDB data: expected ${expected}, got ${shown}`);
}
