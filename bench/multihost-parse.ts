/**
 * The pure half of bench/multihost.ts: the daemons' "FAUCET configuration applied" log lines,
 * sorted by what caused the write, and the order statistics the benchmark reports (median and
 * p90). No I/O.
 */
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { percentile, summarize } from './stats.js';

/** One FAUCET configuration write, as the daemon logged it when FAUCET had it (or gave up confirming). */
export interface AppliedWrite {
  /** Epoch ms of the log line: when the write was over. */
  readonly time: number;
  readonly reason: string;
  /** What caused it, with the names taken out (classifyReason). */
  readonly kind: string;
  /** The daemon's own clock from the start of the sync to FAUCET confirming: render, send or write, confirm. */
  readonly ms: number;
  /** FAUCET was seen running the written configuration (its metrics' hash) within the confirm window. */
  readonly confirmed: boolean;
}

/** One cause, without the names in it: "container /x joined net" -> "container joined". */
function classifyOne(reason: string): string {
  if (/^container \S+ joined \S+$/.test(reason)) return 'container joined';
  if (/^port \S+ removed$/.test(reason)) return 'port removed';
  if (reason.startsWith('port descriptions')) return 'port descriptions';
  const net = /^network \S+ (named|deleted)$/.exec(reason);
  if (net !== null) return `network ${net[1]}`;
  if (/^\d+ ready ports? added to \S+$/.test(reason)) return 'ready ports added';
  // Anything else keeps its words; numbers and hex ids would make every line a kind of its own.
  return reason.replace(/\b[0-9a-f]{6,}\b/g, 'X').replace(/\b\d+\b/g, 'N');
}

/**
 * What caused a write, without the names in it, so that writes of the same kind from different
 * containers and hosts group together. One write can carry several causes (the daemon coalesces
 * what arrives while a write is in flight: "a; b; c and 2 more"): their kinds, each once, in
 * order, joined by " + ", and "…" for the ones the log line left out.
 */
export function classifyReason(reason: string): string {
  const more = / and \d+ more$/.exec(reason);
  const parts = (more === null ? reason : reason.slice(0, more.index)).split('; ');
  const kinds = [...new Set(parts.map(classifyOne))];
  return `${kinds.join(' + ')}${more === null ? '' : ' + …'}`;
}

/**
 * The "FAUCET configuration applied" lines of a dovesnap log (pino's JSON, one object a line)
 * logged at or after `since` (epoch ms) and before `until`; lines of any other kind, and lines
 * that are not JSON (a torn last line), are skipped.
 */
export function parseAppliedWrites(text: string, since = 0, until = Number.POSITIVE_INFINITY): AppliedWrite[] {
  const out: AppliedWrite[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"FAUCET configuration applied"')) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const { time, reason, ms, confirmed, msg } = e;
    if (msg !== 'FAUCET configuration applied') continue;
    if (typeof time !== 'number' || typeof reason !== 'string' || typeof ms !== 'number') continue;
    if (time < since || time >= until) continue;
    out.push({ time, reason, kind: classifyReason(reason), ms, confirmed: confirmed === true });
  }
  return out;
}

export interface Spread {
  readonly count: number;
  readonly median: number;
  readonly p90: number;
  readonly max: number;
}

/** Count, median, p90 and max (stats.ts's summary, p90 for p95: ten samples have no p95 worth the name). */
export function spread(values: readonly number[]): Spread {
  const { count, median, max } = summarize(values);
  return { count, median, p90: percentile(values, 90), max };
}

export interface WriteGroup extends Spread {
  readonly kind: string;
  readonly unconfirmed: number;
}

/** The writes grouped by kind (most frequent first, then by name), with their spread of `ms`. */
export function groupWrites(writes: readonly AppliedWrite[]): WriteGroup[] {
  const byKind = new Map<string, AppliedWrite[]>();
  for (const w of writes) byKind.set(w.kind, [...(byKind.get(w.kind) ?? []), w]);
  return [...byKind.entries()]
    .map(([kind, ws]) => ({
      kind,
      ...spread(ws.map((w) => w.ms)),
      unconfirmed: ws.filter((w) => !w.confirmed).length,
    }))
    .sort((a, b) => b.count - a.count || a.kind.localeCompare(b.kind));
}

/** A number for a table: rounded, or "–" when there is none. */
export function fmt(v: number, digits = 0): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '–';
}

/**
 * Whether two faucet.yaml texts hold the same entries: comments, layout and key order aside, and
 * an empty top-level section (`vlans: {}`, `acls:`) the same as none (the daemons write
 * `vlans: {}` once their last VLAN has gone; the operator's file may have had no `vlans` at all).
 */
export function sameFaucetEntries(a: string, b: string): boolean {
  const entries = (text: string): Record<string, unknown> => {
    const doc = (parse(text) ?? {}) as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries(doc).filter(
        ([, v]) => !(v === null || (typeof v === 'object' && Object.keys(v as object).length === 0)),
      ),
    );
  };
  return isDeepStrictEqual(entries(a), entries(b));
}

/** A whole-number command-line option within min..max; the error names the option and the value. */
export function wholeOption(flag: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`--${flag}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}
