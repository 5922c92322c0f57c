/**
 * `dovesnap lab` on the real stack: how long a lab takes to come up, to converge and to go.
 *
 *   node dist/bench/lab.js [--rounds 3] [--chain 2,4,8] [--images] [--poll 250] [--json FILE]
 *
 * 1. The OSPF example (examples/ospf-lab.yaml, renamed `bench-ospf`), --rounds times: `lab up`
 *    from nothing (images cached), then, from `up` returning: both routers' OSPF neighbour Full,
 *    R2's default route from OSPF, H1's first echo reply from and first TCP exchange with the
 *    host's uplink address 192.168.101.1 (a listener in this process); `lab up` again unchanged;
 *    an edit adding one host, `up` again; `lab down`. With --images, `lab image build --force frr`
 *    is timed once first.
 * 2. Chains of K routers (--chain), one lab each (`bench-chainK`, 10.238.0.0/16, written to a
 *    temporary directory by bench/lab-chain.ts): `up`; full convergence (every router Full with
 *    all its neighbours, h1 reaching the uplink address by TCP); each FRR container's memory;
 *    the daemon's RSS before, converged and after `down`; `down`.
 *
 * Every command is this build's CLI (`dist/src/cli/main.js lab …`), timed as the user sees it
 * (Node's start included) and as it reports itself; `up`'s progress lines split its time into
 * Docker, the nodes' set-up and waiting for FAUCET (bench/lab-parse.ts). Every lab it made is
 * taken down at the end, also on failure and on Ctrl-C.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseLab } from '../src/lab/load.js';
import { chainAddresses, chainLab, chainNeighbours } from './lab-chain.js';
import {
  allFull,
  ospfNeighbourStates,
  ospfSelectedPrefixes,
  parseProgress,
  reportedSeconds,
  upPhases,
  UP_PHASES,
  type UpPhase,
} from './lab-parse.js';
import { containerMemory, firstSuccess, inNode, type ContainerMemory } from './lab-probe.js';
import { exec, must, waitFor } from './proc.js';
import { median } from './stats.js';

const DOCKER = process.env['DOCKER'] ?? '/usr/bin/docker';
const PIDFILE = process.env['DOVESNAP_PIDFILE'] ?? '/run/dovesnap/dovesnap.pid';
const REPO = new URL('../..', import.meta.url).pathname;
const CLI = join(REPO, 'dist/src/cli/main.js');
const EXAMPLE = join(REPO, 'examples/ospf-lab.yaml');
const OSPF_LAB = 'bench-ospf';
const UPLINK = '192.168.101.1';
/** Convergence that takes longer than this is a failure, not a figure. */
const CONVERGE_MS = 90_000;

const log = (msg: string): void =>
  void process.stderr.write(`[lab ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

interface Timed {
  readonly ms: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `dovesnap lab ARGS` of this build, timed from spawn to exit; a failure throws with its output. */
async function lab(args: readonly string[]): Promise<Timed> {
  const t0 = performance.now();
  const r = await exec(process.execPath, [CLI, 'lab', ...args], 600_000);
  const ms = Math.round(performance.now() - t0);
  if (r.code !== 0) throw new Error(`dovesnap lab ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

function daemonRssMb(): number {
  const pid = readFileSync(PIDFILE, 'utf8').trim();
  return (
    Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 102.4) / 10
  );
}

async function pidOf(container: string): Promise<number> {
  return Number(await must(DOCKER, ['inspect', '-f', '{{.State.Pid}}', container]));
}

/** A TCP listener on one of the host's addresses; it answers every connection with `hello <client>`. */
function listen(address: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => s.end(`hello ${s.remoteAddress ?? '?'}\n`));
    server.on('error', reject);
    server.listen(0, address, () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0 });
    });
  });
}

/** When (epoch ms) the router first has `expected` neighbours, all Full. */
function whenFull(pid: number, expected: number, pollMs: number): Promise<number> {
  return waitFor(
    'OSPF Full',
    async () => {
      const r = await inNode(pid, ['vtysh', '-c', 'show ip ospf neighbor json'], 5000);
      return r.code === 0 && allFull(ospfNeighbourStates(r.stdout), expected) ? Date.now() : undefined;
    },
    CONVERGE_MS,
    pollMs,
  );
}

function whenOspfRoute(pid: number, prefix: string, pollMs: number): Promise<number> {
  return waitFor(
    `an OSPF route to ${prefix}`,
    async () => {
      const r = await inNode(pid, ['vtysh', '-c', 'show ip route ospf json'], 5000);
      return r.code === 0 && ospfSelectedPrefixes(r.stdout).includes(prefix) ? Date.now() : undefined;
    },
    CONVERGE_MS,
    pollMs,
  );
}

function whenPing(pid: number, address: string, pollMs: number): Promise<number> {
  return firstSuccess(async () => (await inNode(pid, ['ping', '-c', '1', '-W', '2', address], 5000)).code === 0, {
    intervalMs: pollMs,
    timeoutMs: CONVERGE_MS,
    maxInFlight: 8,
  });
}

function whenTcp(pid: number, address: string, port: number, pollMs: number): Promise<number> {
  return firstSuccess(
    async () =>
      (await inNode(pid, ['sh', '-c', `timeout 3 nc ${address} ${port} </dev/null`], 5000)).stdout.includes('hello'),
    { intervalMs: pollMs, timeoutMs: CONVERGE_MS, maxInFlight: 8 },
  );
}

/** Whether every router still has all its neighbours Full (a dead timer firing under load would show here). */
async function stillFull(pids: ReadonlyMap<string, number>, expected: ReadonlyMap<string, number>): Promise<boolean> {
  for (const [r, pid] of pids) {
    const out = await inNode(pid, ['vtysh', '-c', 'show ip ospf neighbor json'], 5000);
    if (out.code !== 0 || !allFull(ospfNeighbourStates(out.stdout), expected.get(r) ?? 0)) return false;
  }
  return true;
}

interface UpFigures {
  readonly wallMs: number;
  readonly reportedS: number | undefined;
  readonly phasesS: Record<UpPhase, number>;
}

function upFigures(t: Timed): UpFigures {
  const reported = reportedSeconds(t.stdout);
  return { wallMs: t.ms, reportedS: reported, phasesS: upPhases(parseProgress(t.stderr), reported ?? t.ms / 1000) };
}

interface OspfRound {
  readonly up: UpFigures;
  /** From `up` returning, ms. */
  readonly fullR1Ms: number;
  readonly fullR2Ms: number;
  readonly r2DefaultMs: number;
  readonly h1PingMs: number;
  readonly h1TcpMs: number;
  readonly noopMs: number;
  readonly editMs: number;
  readonly edit: UpFigures;
  readonly downMs: number;
}

async function ospfRound(file: string, edited: string, pollMs: number): Promise<OspfRound> {
  await lab(['down', OSPF_LAB]);
  const upT = await lab(['up', file]);
  const t1 = Date.now();
  if (!/is up \(/.test(upT.stdout)) throw new Error(`lab up did not make the lab:\n${upT.stdout}`);
  const [r1, r2, h1] = await Promise.all(['r1', 'r2', 'h1'].map((n) => pidOf(`${OSPF_LAB}-${n}`)));
  const { server, port } = await listen(UPLINK);
  try {
    const [fullR1, fullR2, r2Default, ping, tcp] = await Promise.all([
      whenFull(r1 ?? 0, 1, pollMs),
      whenFull(r2 ?? 0, 1, pollMs),
      whenOspfRoute(r2 ?? 0, '0.0.0.0/0', pollMs),
      whenPing(h1 ?? 0, UPLINK, pollMs),
      whenTcp(h1 ?? 0, UPLINK, port, pollMs),
    ]);
    const noop = await lab(['up', file]);
    if (!/up to date: nothing to change/.test(noop.stdout))
      throw new Error(`lab up unchanged changed something:\n${noop.stdout}`);
    const edit = await lab(['up', edited]);
    if (!/1 node created, 6 unchanged/.test(edit.stdout))
      throw new Error(`lab up after adding h2 did more or less than that:\n${edit.stdout}`);
    const down = await lab(['down', OSPF_LAB]);
    return {
      up: upFigures(upT),
      fullR1Ms: fullR1 - t1,
      fullR2Ms: fullR2 - t1,
      r2DefaultMs: r2Default - t1,
      h1PingMs: ping - t1,
      h1TcpMs: tcp - t1,
      noopMs: noop.ms,
      editMs: edit.ms,
      edit: upFigures(edit),
      downMs: down.ms,
    };
  } finally {
    server.close();
  }
}

interface ChainResult {
  readonly routers: number;
  readonly containers: number;
  readonly networks: number;
  readonly up: UpFigures;
  /** From `up` returning, ms: the last router to have all its neighbours Full, and h1's first TCP exchange. */
  readonly allFullMs: number;
  readonly h1TcpMs: number;
  readonly convergedMs: number;
  readonly stillFull: boolean;
  readonly downMs: number;
  readonly frr: Record<string, ContainerMemory>;
  readonly daemonRssMb: { readonly before: number; readonly converged: number; readonly afterDown: number };
}

async function chainRun(k: number, third: number, dir: string, pollMs: number): Promise<ChainResult> {
  const name = `bench-chain${k}`;
  const file = join(dir, `${name}.yaml`);
  const text = chainLab({ routers: k, name, third });
  parseLab(text, file); // a generator bug shows here, not half-way through `up`
  writeFileSync(file, text);
  const addr = chainAddresses({ routers: k, name, third });
  const expected = chainNeighbours(k);
  await lab(['down', name]);
  const before = daemonRssMb();
  log(`chain of ${k}: up (${addr.uplinkSubnet} …)`);
  const upT = await lab(['up', file]);
  const t1 = Date.now();
  const pids = new Map<string, number>();
  for (const r of expected.keys()) pids.set(r, await pidOf(`${name}-${r}`));
  const h1 = await pidOf(`${name}-h1`);
  const { server, port } = await listen(addr.uplinkGateway);
  let full: number[];
  let tcp: number;
  try {
    [full, tcp] = await Promise.all([
      Promise.all([...expected].map(([r, n]) => whenFull(pids.get(r) ?? 0, n, pollMs))),
      whenTcp(h1, addr.uplinkGateway, port, pollMs),
    ]);
  } finally {
    server.close();
  }
  const allFullAt = Math.max(...full);
  const frr: Record<string, ContainerMemory> = {};
  for (const [r, pid] of pids) frr[r] = containerMemory(pid);
  const converged = daemonRssMb();
  const still = await stillFull(pids, expected);
  const down = await lab(['down', name]);
  return {
    routers: k,
    containers: k + 1,
    networks: k + 1,
    up: upFigures(upT),
    allFullMs: allFullAt - t1,
    h1TcpMs: tcp - t1,
    convergedMs: Math.max(allFullAt, tcp) - t1,
    stillFull: still,
    downMs: down.ms,
    frr,
    daemonRssMb: { before, converged, afterDown: daemonRssMb() },
  };
}

const s = (ms: number): string => (ms / 1000).toFixed(1);
const mb = (kb: number | undefined): string => (kb === undefined ? '–' : (kb / 1024).toFixed(1));

function ospfTable(rounds: readonly OspfRound[]): string {
  const rows = rounds.map((r, i) => ({ label: String(i + 1), r }));
  const cols: [string, (r: OspfRound) => number][] = [
    ['up', (r) => r.up.wallMs],
    ['R1 Full', (r) => r.fullR1Ms],
    ['R2 Full', (r) => r.fullR2Ms],
    ['R2 default', (r) => r.r2DefaultMs],
    ['H1 ping', (r) => r.h1PingMs],
    ['H1 TCP', (r) => r.h1TcpMs],
    ['no-op up', (r) => r.noopMs],
    ['edit up', (r) => r.editMs],
    ['down', (r) => r.downMs],
  ];
  const lines = [
    `| round | ${cols.map(([c]) => c).join(' | ')} |`,
    `|--:|${cols.map(() => '--:').join('|')}|`,
    ...rows.map(({ label, r }) => `| ${label} | ${cols.map(([, f]) => s(f(r))).join(' | ')} |`),
    `| median | ${cols.map(([, f]) => s(median(rounds.map(f)))).join(' | ')} |`,
  ];
  const phases = UP_PHASES.filter((p) => rounds.some((r) => r.up.phasesS[p] > 0));
  lines.push(
    '',
    `\`up\` from nothing, by phase (s; the CLI's own time, without Node's start):`,
    '',
    `| round | reported | ${phases.join(' | ')} |`,
    `|--:|--:|${phases.map(() => '--:').join('|')}|`,
    ...rounds.map(
      (r, i) =>
        `| ${i + 1} | ${r.up.reportedS?.toFixed(1) ?? '–'} | ${phases.map((p) => r.up.phasesS[p].toFixed(1)).join(' | ')} |`,
    ),
  );
  return lines.join('\n');
}

function chainTable(chains: readonly ChainResult[]): string {
  const phases = UP_PHASES.filter((p) => chains.some((c) => c.up.phasesS[p] > 0));
  const memOf = (c: ChainResult, f: (m: ContainerMemory) => number | undefined): string => {
    const xs = Object.values(c.frr)
      .map(f)
      .filter((x): x is number => x !== undefined);
    return xs.length === 0 ? '–' : mb(median(xs));
  };
  return [
    '| routers | containers / networks | up | all Full | H1 TCP | converged | still Full | down | FRR container RSS / PSS / cgroup (MB, median) | daemon RSS before / converged / after down (MB) |',
    '|--:|--:|--:|--:|--:|--:|:-:|--:|--:|--:|',
    ...chains.map(
      (c) =>
        `| ${c.routers} | ${c.containers} / ${c.networks} | ${s(c.up.wallMs)} | ${s(c.allFullMs)} | ${s(c.h1TcpMs)} | ${s(c.convergedMs)} | ${c.stillFull ? 'yes' : 'NO'} | ${s(c.downMs)} | ` +
        `${memOf(c, (m) => m.rssKb)} / ${memOf(c, (m) => m.pssKb)} / ${memOf(c, (m) => m.cgroupKb)} | ${c.daemonRssMb.before} / ${c.daemonRssMb.converged} / ${c.daemonRssMb.afterDown} |`,
    ),
    '',
    '`up` by phase (s):',
    '',
    `| routers | reported | ${phases.join(' | ')} |`,
    `|--:|--:|${phases.map(() => '--:').join('|')}|`,
    ...chains.map(
      (c) =>
        `| ${c.routers} | ${c.up.reportedS?.toFixed(1) ?? '–'} | ${phases.map((p) => c.up.phasesS[p].toFixed(1)).join(' | ')} |`,
    ),
  ].join('\n');
}

function parseChain(text: string): number[] {
  const ks = text.split(',').map((x) => Number(x.trim()));
  for (const k of ks)
    if (!Number.isInteger(k) || k < 2 || k > 64)
      throw new Error(`--chain: router counts 2..64, comma-separated, got ${JSON.stringify(text)}`);
  return ks;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      chain: { type: 'string', default: '2,4,8' },
      images: { type: 'boolean', default: false },
      poll: { type: 'string', default: '250' },
      json: { type: 'string' },
    },
  });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 0 || rounds > 20) throw new Error(`--rounds: 0..20, got ${values.rounds}`);
  const ks = values.chain === '' ? [] : parseChain(values.chain);
  const pollMs = Number(values.poll);
  if (!(pollMs >= 50 && pollMs <= 5000)) throw new Error(`--poll: 50..5000 ms, got ${values.poll}`);
  // The example's subnets are fixed: a lab already using them (the example itself, as `ospf`) would collide.
  const taken = await must(DOCKER, ['network', 'ls', '--filter', 'label=dovesnap.lab=ospf', '-q']);
  if (rounds > 0 && taken !== '')
    throw new Error(
      'lab ospf is up on this host and holds 192.168.101.0/24: take it down first (dovesnap lab down ospf)',
    );

  const dir = mkdtempSync(join(tmpdir(), 'dovesnap-lab-bench-'));
  const made = new Set<string>();
  const cleanUp = async (): Promise<void> => {
    for (const name of made) {
      const r = await exec(process.execPath, [CLI, 'lab', 'down', name]);
      if (r.code !== 0) log(`lab down ${name} failed: ${r.stderr}`);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let interrupted = false;
  const onSignal = (sig: string): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: taking the labs down (again to exit at once)`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const result: { imageBuild?: { wallMs: number; line: string }; ospf: OspfRound[]; chains: ChainResult[] } = {
    ospf: [],
    chains: [],
  };
  try {
    if (values.images) {
      log('lab image build --force frr');
      const b = await lab(['image', 'build', '--force', 'frr']);
      result.imageBuild = { wallMs: b.ms, line: b.stdout.split('\n').find((l) => l.startsWith('frr')) ?? b.stdout };
    }
    if (rounds > 0) {
      const file = join(dir, 'ospf-lab.yaml');
      const text = readFileSync(EXAMPLE, 'utf8').replace(/^name: ospf$/m, `name: ${OSPF_LAB}`);
      if (!text.includes(`name: ${OSPF_LAB}`)) throw new Error(`${EXAMPLE}: no "name: ospf" line to rename`);
      writeFileSync(file, text);
      const edited = join(dir, 'ospf-lab-h2.yaml');
      writeFileSync(
        edited,
        `${text}${['  h2:', '    kind: host', '    interfaces:', '      eth1: { network: inside, address: 192.168.103.3/24 }', '    routes: [default via 192.168.103.1]', ''].join('\n')}`,
      );
      made.add(OSPF_LAB);
      for (let i = 0; i < rounds; i++) {
        log(`OSPF example, round ${i + 1} of ${rounds}`);
        result.ospf.push(await ospfRound(file, edited, pollMs));
      }
    }
    for (const [j, k] of ks.entries()) {
      made.add(`bench-chain${k}`);
      result.chains.push(await chainRun(k, 4 * j, dir, pollMs));
    }
  } finally {
    if (!interrupted) await cleanUp();
  }

  const out: string[] = [];
  if (result.imageBuild !== undefined)
    out.push(
      `lab image build --force frr: ${s(result.imageBuild.wallMs)} s (${result.imageBuild.line.replace(/\s+/g, ' ')})`,
      '',
    );
  if (result.ospf.length > 0)
    out.push(
      'OSPF example (s; up, no-op, edit and down as the user waits for them; the rest from up returning):',
      '',
      ospfTable(result.ospf),
      '',
    );
  if (result.chains.length > 0)
    out.push('Chains (s from up returning, except up and down):', '', chainTable(result.chains), '');
  process.stdout.write(`\n${out.join('\n')}`);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ pollMs, ...result }, null, 2));
}

main().catch((err: unknown) => {
  log(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
