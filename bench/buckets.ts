/**
 * The tables of docs/benchmarks.md from a startup benchmark run: per bucket of containers
 * already running, the medians of (a) `docker run -d` ms and (b) run return -> first ping
 * reply ms, and how many lost their first ARP (first reply 1 s or more late); then each kind's
 * first ten against its last bucket, the ratio the issue's 1.3x target is about.
 *
 *   node dist/bench/buckets.js FILE.json [--size 100]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { median } from './stats.js';

interface Sample {
  readonly kind: string;
  readonly index: number;
  readonly runMs: number;
  readonly pingMs: number | null;
}

/** A first reply this late waited for the kernel's 1 s ARP retransmission. */
const ARP_LOST_MS = 1000;

function cell(group: readonly Sample[]): string {
  const pings = group.flatMap((s) => (s.pingMs === null ? [] : [s.pingMs]));
  const lost = group.filter((s) => s.pingMs === null || s.pingMs >= ARP_LOST_MS).length;
  return `${Math.round(median(group.map((s) => s.runMs)))} / ${Math.round(median(pings))} / ${lost}`;
}

function main(): void {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { size: { type: 'string', default: '100' } },
    allowPositionals: true,
  });
  const size = Number(values.size);
  const file = positionals[0];
  if (file === undefined || !Number.isInteger(size) || size < 1)
    throw new Error('usage: node dist/bench/buckets.js FILE.json [--size 100]');
  const samples = (JSON.parse(readFileSync(file, 'utf8')) as { samples: Sample[] }).samples;
  const kinds = [...new Set(samples.map((s) => s.kind))];
  const max = Math.max(...samples.map((s) => s.index));
  const starts: number[] = [];
  // A last bucket of a few samples (the run's N+1-th index) joins the one before it.
  for (let x = 0; x <= max; x += size) if (x === 0 || max - x + 1 >= size / 2) starts.push(x);
  const out: string[] = [];
  const end = (i: number): number => (starts[i + 1] ?? max + 1) - 1;
  out.push(`| containers already running | ${starts.map((x, i) => `${x}–${end(i)}`).join(' | ')} |`);
  out.push(`|---|${starts.map(() => '---').join('|')}|`);
  for (const k of kinds) {
    const of = samples.filter((s) => s.kind === k);
    out.push(
      `| ${k} | ${starts.map((x, i) => cell(of.filter((s) => s.index >= x && s.index <= end(i)))).join(' | ')} |`,
    );
  }
  out.push('');
  for (const k of kinds) {
    const of = samples.filter((s) => s.kind === k);
    const first = of.filter((s) => s.index < 10);
    const last = of.filter((s) => s.index >= (starts.at(-1) ?? 0));
    const m = (g: readonly Sample[], f: (s: Sample) => number | null): number =>
      median(
        g.flatMap((s) => {
          const v = f(s);
          return v === null ? [] : [v];
        }),
      );
    const ra = m(last, (s) => s.runMs) / m(first, (s) => s.runMs);
    const rb = m(last, (s) => s.pingMs) / m(first, (s) => s.pingMs);
    out.push(
      `${k}: first ten (a) ${Math.round(m(first, (s) => s.runMs))} ms (b) ${Math.round(m(first, (s) => s.pingMs))} ms; last bucket (a) ${Math.round(m(last, (s) => s.runMs))} ms (b) ${Math.round(m(last, (s) => s.pingMs))} ms; ratios (a) ${ra.toFixed(2)}x (b) ${rb.toFixed(2)}x`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
