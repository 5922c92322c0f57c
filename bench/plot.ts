/**
 * Draws the scale curve of startup benchmark runs as an SVG: per-container time against the
 * number of containers already running, medians over buckets of 10, one line per series.
 *
 *   node dist/bench/plot.js --out docs/scale-curve.svg LABEL=FILE.json[:kind] ...
 *
 * FILE.json is what `startup.js --json` wrote; `:kind` picks bridge or dovesnap (default
 * dovesnap). Two panels: (a) `docker run -d` wall time, (b) run return -> first ping reply.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Sample {
  readonly kind: string;
  readonly index: number;
  readonly runMs: number;
  readonly pingMs: number | null;
}

interface Series {
  readonly label: string;
  readonly points: { readonly x: number; readonly a: number; readonly b: number }[];
}

const BUCKET = 10;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

function median(xs: number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function load(spec: string): Series {
  const [label = '', rest = ''] = spec.split('=');
  const [file = '', kind = 'dovesnap'] = rest.split(':');
  const samples = (JSON.parse(readFileSync(file, 'utf8')) as { samples: Sample[] }).samples.filter(
    (s) => s.kind === kind,
  );
  const points: Series['points'] = [];
  const max = Math.max(...samples.map((s) => s.index));
  for (let x = 0; x <= max; x += BUCKET) {
    const group = samples.filter((s) => s.index >= x && s.index < x + BUCKET);
    if (group.length === 0) continue;
    points.push({
      x: x + BUCKET / 2,
      a: median(group.map((s) => s.runMs)),
      b: median(group.map((s) => s.pingMs ?? 30_000)),
    });
  }
  return { label, points };
}

function panel(series: readonly Series[], pick: 'a' | 'b', title: string, ox: number): string {
  const w = 440;
  const h = 260;
  const xMax = Math.max(...series.flatMap((s) => s.points.map((p) => p.x))) + BUCKET / 2;
  const yMax = Math.ceil(Math.max(...series.flatMap((s) => s.points.map((p) => p[pick]))) / 250) * 250;
  const px = (x: number): number => ox + 50 + (x / xMax) * (w - 60);
  const py = (y: number): number => 30 + h - (y / yMax) * h;
  const out: string[] = [`<text x="${ox + 50}" y="18" font-size="13" font-weight="bold">${title}</text>`];
  for (let y = 0; y <= yMax; y += yMax / 5) {
    out.push(
      `<line x1="${px(0)}" y1="${py(y)}" x2="${px(xMax)}" y2="${py(y)}" stroke="#ddd"/>`,
      `<text x="${ox + 45}" y="${py(y) + 4}" font-size="10" text-anchor="end">${Math.round(y)} ms</text>`,
    );
  }
  for (let x = 0; x <= xMax; x += Math.max(50, Math.round(xMax / 500) * 50))
    out.push(`<text x="${px(x)}" y="${py(0) + 14}" font-size="10" text-anchor="middle">${x}</text>`);
  out.push(
    `<text x="${px(xMax / 2)}" y="${py(0) + 30}" font-size="11" text-anchor="middle">containers already running</text>`,
  );
  series.forEach((s, i) => {
    const d = s.points.map((p) => `${px(p.x).toFixed(1)},${py(p[pick]).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${d}"/>`);
  });
  return out.join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { out: { type: 'string' } }, allowPositionals: true });
  if (values.out === undefined || positionals.length === 0)
    throw new Error('usage: plot.js --out FILE.svg LABEL=FILE.json[:kind] ...');
  const series = positionals.map(load);
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${60 + i * 220}" y="330" width="14" height="4" fill="${COLORS[i % COLORS.length]}"/><text x="${80 + i * 220}" y="336" font-size="11">${s.label}</text>`,
    )
    .join('\n');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="960" height="350" font-family="sans-serif">
<rect width="960" height="350" fill="white"/>
${panel(series, 'a', '(a) docker run -d, median per 10 containers', 0)}
${panel(series, 'b', '(b) run return -> first ping reply, median per 10', 480)}
${legend}
</svg>
`;
  writeFileSync(values.out, svg);
}

main();
