/**
 * Container start-up benchmark: dovesnap against Docker's own bridge driver, in the same run.
 *
 *   node dist/bench/startup.js [--n 1,10,50] [--rounds R] [--json out.json] [--probe stream|poll]
 *
 * For each round, each N and each network kind (the kind that goes first alternates between
 * rounds, so that drift on the machine hits both alike): create a network on a private subnet in
 * 10.232.0.0/16 (a /24, or a /22 past 253 containers), start a peer container and a warm-up
 * container and wait until the warm-up one reaches the peer (so the network is fully up before
 * anything is timed), then start N
 * containers one after another and measure for each
 *   (a) the wall time of `docker run -d`, and
 *   (b) the time from `docker run` returning to the first ICMP echo reply from the peer,
 * while the dovesnap daemon's VmRSS is sampled every 200 ms. Afterwards the daemon's log is read
 * for the same containers to show where dovesnap's time went. Everything made is removed at the
 * end, also on failure and on Ctrl-C. See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { parseArgs } from 'node:util';
import { parseReply, type Reply, streamFirstReply } from './ping.js';
import { Interrupted, progressLog, throwIfAborted } from './interrupt.js';
import { execAbortable, type Result, sleeperRunArgs } from './proc.js';
import { ratio, summarize, type Summary } from './stats.js';
import { benchSubnet } from './subnets.js';

const DOCKER = process.env['DOCKER'] ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
const IMAGE = process.env['DOVESNAP_TEST_IMAGE'] ?? 'dovesnap-busybox:latest';
const PIDFILE = process.env['DOVESNAP_PIDFILE'] ?? '/run/dovesnap/dovesnap.pid';
const DAEMON_LOG = process.env['DOVESNAP_LOG'] ?? '/var/log/dovesnap/dovesnap.log';
const FAUCET_METRICS = process.env['DOVESNAP_FAUCET_METRICS'] ?? 'http://127.0.0.1:9302/metrics';
const LABEL = 'org.dovesnap.bench.run';
const RSS_INTERVAL_MS = 200;

type Kind = 'bridge' | 'dovesnap';
type Probe = 'stream' | 'poll';

interface Options {
  readonly ns: readonly number[];
  readonly rounds: number;
  readonly json: string | undefined;
  readonly probe: Probe;
  readonly pingTimeoutS: number;
  readonly settleMs: number;
  /** Extra `docker run` arguments for the N timed containers (diagnosis, e.g. a --sysctl). */
  readonly runOpts: readonly string[];
  /** `--networks K`: the N containers go round-robin onto K networks (each with its own peer). */
  readonly networks: number;
  /** `--quick-start`: the N containers start within a second of the network's create (quickStartTrial). */
  readonly quickStart: boolean;
}

interface Sample {
  readonly kind: Kind;
  readonly n: number;
  readonly round: number;
  readonly index: number;
  readonly container: string;
  /** (a): wall time of `docker run -d`, ms. */
  readonly runMs: number;
  readonly runOk: boolean;
  /** (b): `docker run` returned -> first echo reply, ms; null if none within the time limit. */
  readonly pingMs: number | null;
  /** seq and RTT of that first reply (stream probe): seq 0 with an RTT near 1000 ms means the
   * first echo request sat in the ARP queue until the kernel's 1 s ARP retransmission. */
  readonly replySeq: number | undefined;
  readonly replyRttMs: number | undefined;
  /** Epoch ms, to line the sample up with the daemon's log. */
  readonly startedAt: number;
  readonly returnedAt: number;
  /** `--quick-start`: the network's create returned -> this `docker run` started, ms. */
  readonly afterCreateMs?: number;
}

interface FailedTrial {
  readonly kind: Kind;
  readonly n: number;
  readonly round: number;
  readonly error: string;
}

interface RssSample {
  readonly t: number;
  readonly pid: number;
  readonly kb: number;
  readonly kind: Kind | undefined;
  readonly n: number | undefined;
}

// ---------------------------------------------------------------------------------- plumbing

const abort = new AbortController();
const runId = randomBytes(3).toString('hex');
const log = progressLog('bench');
const checkAborted = (): void => throwIfAborted(abort.signal);

/** Runs docker (or another command); never rejects. `interruptible` ones are killed on Ctrl-C. */
function exec(
  file: string,
  args: readonly string[],
  { timeoutMs = 120_000, interruptible = true } = {},
): Promise<Result> {
  return execAbortable(file, args, { timeoutMs, ...(interruptible ? { signal: abort.signal } : {}) });
}
const docker = (...args: string[]): Promise<Result> => exec(DOCKER, args);

async function mustDocker(...args: string[]): Promise<string> {
  const r = await docker(...args);
  checkAborted();
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

// ------------------------------------------------------------------- what we made, and clean-up

const madeContainers = new Set<string>();
const madeNetworks = new Set<string>();

async function removeContainers(names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 50) {
    const batch = names.slice(i, i + 50);
    await exec(DOCKER, ['rm', '-f', ...batch], { interruptible: false, timeoutMs: 300_000 });
    for (const n of batch) madeContainers.delete(n);
  }
}

async function removeNetwork(name: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await exec(DOCKER, ['network', 'rm', name], { interruptible: false });
    if (r.code === 0 || /not found|No such network/i.test(r.stderr)) {
      madeNetworks.delete(name);
      return;
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
  log(`WARNING: could not remove network ${name}`);
}

/** Removes everything this run made: known names, plus any container labelled with the run id. */
async function cleanupAll(): Promise<void> {
  const labelled = await exec(DOCKER, ['ps', '-aq', '--filter', `label=${LABEL}=${runId}`], { interruptible: false });
  const ids = labelled.code === 0 ? labelled.stdout.split('\n').filter((s) => s !== '') : [];
  await removeContainers([...new Set([...madeContainers, ...ids])]);
  for (const net of [...madeNetworks]) await removeNetwork(net);
}

// ------------------------------------------------------------------------------- the network

let subnetCursor = randomBytes(1)[0]! % 250;
/** `--net-opt`: more `-o` options for the dovesnap networks (e.g. ovs.bridge.preallocate_ports=50). */
let netOpts: string[] = [];
let dpidCursor = 0xd5b0000 + (randomBytes(2).readUInt16BE(0) << 4);

/** `hosts`: the containers the network will hold (a /24 holds 253; more get a /22 or a /20). */
async function createNetwork(kind: Kind, name: string, hosts: number): Promise<string> {
  let last = '';
  for (let attempt = 0; attempt < 8; attempt++) {
    subnetCursor = (subnetCursor + 1) % 250;
    dpidCursor += 1;
    const subnet = benchSubnet(subnetCursor, hosts);
    const args = ['network', 'create', '-d', kind, '--subnet', subnet];
    if (kind === 'dovesnap')
      args.push('-o', `ovs.bridge.dpid=0x${dpidCursor.toString(16)}`, ...netOpts.flatMap((o) => ['-o', o]));
    madeNetworks.add(name);
    const r = await docker(...args, name);
    checkAborted();
    if (r.code === 0) return subnet;
    madeNetworks.delete(name);
    last = r.stderr;
    // Another network owns the subnet or the DPID: try the next ones.
    if (!/overlap|already used|already exists|dp_id|in use/i.test(last)) break;
  }
  throw new Error(`cannot create ${kind} network ${name}: ${last}`);
}

/**
 * Waits until FAUCET runs the new network's DP (its `dp_status` metric is 1). A container whose
 * switch port comes up while FAUCET is still connecting to and cold-starting a brand-new DP can
 * stay "down" in FAUCET for good (see docs/benchmarks.md); waiting here keeps that start-up race
 * out of the timings, which are about containers on a network that already works.
 */
async function waitDpRunning(network: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const pattern = new RegExp(`^dp_status\\{[^}]*dp_name="${network}"[^}]*\\} 1(\\.0)?$`, 'm');
  // Only the one metric: FAUCET's full exposition is ~1 MB on a busy host and costs it ~100 ms.
  const url = new URL(FAUCET_METRICS);
  url.searchParams.append('name[]', 'dp_status');
  while (performance.now() - started < timeoutMs) {
    checkAborted();
    try {
      const res = await fetch(url, { signal: AbortSignal.any([abort.signal, AbortSignal.timeout(5000)]) });
      if (pattern.test(await res.text())) return performance.now() - started;
    } catch {
      // FAUCET busy or reloading: ask again.
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(
    `FAUCET did not bring up the DP of network ${network} within ${timeoutMs / 1000} s (${FAUCET_METRICS})`,
  );
}

const STATUS = process.env['DOVESNAP_STATUS_URL'] ?? 'http://127.0.0.1:9401';

/** The `ovs.bridge.preallocate_ports` given with `--net-opt`, or 0. */
function preallocated(): number {
  const o = netOpts.find((x) => x.startsWith('ovs.bridge.preallocate_ports='));
  return o === undefined ? 0 : Number(o.split('=')[1]);
}

/**
 * With `--net-opt ovs.bridge.preallocate_ports=N`: waits until the network has its N ready
 * ports and FAUCET has finished programming them (its CPU time stops growing), so that the
 * timings are of containers on a network that is ready, as an operator's would be.
 */
async function waitPreallocated(network: string, want: number, timeoutMs: number): Promise<void> {
  const started = performance.now();
  for (;;) {
    checkAborted();
    const doc = (await (await fetch(`${STATUS}/networks`)).json()) as Record<
      string,
      { NetworkName: string; ReadyPorts?: number }
    >;
    const have = Object.values(doc).find((x) => x.NetworkName === network)?.ReadyPorts ?? 0;
    if (have >= want) break;
    if (performance.now() - started > timeoutMs)
      throw new Error(`network ${network} has ${have} of its ${want} ready ports after ${timeoutMs / 1000} s`);
    await new Promise((res) => setTimeout(res, 1000));
  }
  const faucetPid = readFileSync('/run/dovesnap/faucet.pid', 'utf8').trim();
  const cpu = (): number => {
    const f = readFileSync(`/proc/${faucetPid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return Number(f[11]) + Number(f[12]);
  };
  let last = cpu();
  for (;;) {
    await new Promise((res) => setTimeout(res, 3000));
    checkAborted();
    const now = cpu();
    // Under 10 % of a core over 3 s: FAUCET is answering keep-alives, not reloading.
    if (now - last < 30) break;
    last = now;
  }
  log(`${network}: ${want} ready ports, FAUCET quiet, after ${Math.round((performance.now() - started) / 1000)} s`);
}

async function startContainer(name: string, network: string, extra: readonly string[] = []): Promise<Result> {
  madeContainers.add(name);
  return docker(...sleeperRunArgs(name, network, `${LABEL}=${runId}`, IMAGE, extra));
}

async function containerIp(name: string, network: string): Promise<string> {
  const ip = await mustDocker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip))
    throw new Error(`container ${name} has no IPv4 address on ${network} (got "${ip}")`);
  return ip;
}

/**
 * The first echo reply the container got from `ip`, or null if none came in time.
 *
 * "stream": one `docker exec` running `ping -i 0.05 -w CAP ip | head -n 2`; the reply line is
 * seen on stdout as it is printed, and head's exit ends ping. Resolution: 50 ms.
 * "poll": `docker exec ping -c1 -W1 ip` again and again. Each miss costs a full second
 * (busybox's -W is whole seconds), so this quantises (b) to ~1 s steps.
 * Either way the promise settles only when the exec has ended, so nothing overlaps the next run.
 */
async function firstReply(container: string, ip: string, opts: Options): Promise<Reply | null> {
  const deadline = performance.now() + opts.pingTimeoutS * 1000;
  if (opts.probe === 'poll') {
    while (performance.now() < deadline) {
      const r = await docker('exec', container, 'ping', '-c', '1', '-W', '1', ip);
      checkAborted();
      if (r.code === 0) return { at: performance.now(), ...parseReply(r.stdout) };
    }
    return null;
  }
  return streamFirstReply(DOCKER, [], container, ip, opts.pingTimeoutS, abort.signal);
}

// ------------------------------------------------------------------------------ measurements

let phase: { kind: Kind; n: number } | undefined;
const rssSamples: RssSample[] = [];

function sampleRss(): void {
  try {
    const pid = Number(readFileSync(PIDFILE, 'utf8').trim());
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m?.[1] !== undefined) rssSamples.push({ t: Date.now(), pid, kb: Number(m[1]), kind: phase?.kind, n: phase?.n });
  } catch {
    // The daemon is between pids (restarting): skip this tick.
  }
}

/** One timed `docker run -d`: performance.now() around it (t0, t1), and epoch ms for the daemon's log. */
async function timedRun(
  name: string,
  net: string,
  opts: Options,
): Promise<{ r: Result; t0: number; t1: number; startedAt: number; returnedAt: number }> {
  const startedAt = Date.now();
  const t0 = performance.now();
  const r = await startContainer(name, net, opts.runOpts);
  return { r, t0, t1: performance.now(), startedAt, returnedAt: Date.now() };
}

async function trial(kind: Kind, n: number, round: number, opts: Options): Promise<Sample[]> {
  if (opts.quickStart) return quickStartTrial(kind, n, round, opts);
  const base = `dsb-${runId}-${kind === 'dovesnap' ? 'ds' : 'br'}-n${n}-r${round}`;
  const nets = opts.networks === 1 ? [base] : Array.from({ length: opts.networks }, (_, k) => `${base}-k${k}`);
  const made: string[] = [];
  const names: string[] = [];
  const samples: Sample[] = [];
  try {
    const start = async (name: string, net: string): Promise<void> => {
      names.push(name);
      const r = await startContainer(name, net);
      checkAborted();
      if (r.code !== 0) throw new Error(`docker run ${name} failed: ${r.stderr}`);
    };
    const peers = new Map<string, string>();
    for (const net of nets) {
      // Its share of the timed containers, its peer and its warm-up container.
      await createNetwork(kind, net, Math.ceil(n / nets.length) + 2);
      made.push(net);
      if (kind === 'dovesnap') await waitDpRunning(net, opts.pingTimeoutS * 1000);
      if (kind === 'dovesnap' && preallocated() > 0) await waitPreallocated(net, preallocated(), 900_000);
      await start(`${net}-peer`, net);
      const peerIp = await containerIp(`${net}-peer`, net);
      await start(`${net}-warm`, net);
      if ((await firstReply(`${net}-warm`, peerIp, opts)) === null) {
        throw new Error(
          `network ${net} carries no traffic: ${net}-warm got no reply from the peer ${peerIp} in ${opts.pingTimeoutS} s`,
        );
      }
      peers.set(net, peerIp);
    }
    phase = { kind, n };
    for (let i = 1; i <= n; i++) {
      checkAborted();
      const net = nets[(i - 1) % nets.length] ?? base;
      const peerIp = peers.get(net) ?? '';
      const name = `${net}-c${i}`;
      names.push(name);
      const { r, t0, t1, startedAt, returnedAt } = await timedRun(name, net, opts);
      checkAborted();
      let reply: Reply | null = null;
      if (r.code === 0) {
        reply = await firstReply(name, peerIp, opts);
        checkAborted();
      } else {
        log(`docker run ${name} failed: ${r.stderr}`);
      }
      samples.push({
        kind,
        n,
        round,
        index: i,
        container: name,
        runMs: t1 - t0,
        runOk: r.code === 0,
        pingMs: reply === null ? null : reply.at - t1,
        replySeq: reply?.seq,
        replyRttMs: reply?.rttMs,
        startedAt,
        returnedAt,
      });
    }
  } finally {
    phase = undefined;
    await removeContainers(names);
    for (const net of made) await removeNetwork(net);
    // Let the daemon finish the FAUCET updates that the removals caused before timing anything else.
    if (!abort.signal.aborted) await new Promise((res) => setTimeout(res, opts.settleMs));
  }
  return samples;
}

/**
 * `--quick-start`: the README's quick start. The network is created and, waiting for nothing, a
 * peer is started, then the N timed containers, spread over the first second after the create
 * returned (the i-th not before (i-1)/(N-1) s; one: at once). Each pings the peer as soon as its
 * `docker run` returned, while the later ones start.
 */
async function quickStartTrial(kind: Kind, n: number, round: number, opts: Options): Promise<Sample[]> {
  const net = `dsb-${runId}-${kind === 'dovesnap' ? 'ds' : 'br'}-q${n}-r${round}`;
  const names: string[] = [];
  const samples: Sample[] = [];
  let made = false;
  try {
    await createNetwork(kind, net, n + 1);
    made = true;
    const created = performance.now();
    names.push(`${net}-peer`);
    const peer = await startContainer(`${net}-peer`, net);
    checkAborted();
    if (peer.code !== 0) throw new Error(`docker run ${net}-peer failed: ${peer.stderr}`);
    const peerIp = await containerIp(`${net}-peer`, net);
    phase = { kind, n };
    const pings: Promise<void>[] = [];
    for (let i = 1; i <= n; i++) {
      const due = created + (n === 1 ? 0 : ((i - 1) * 1000) / (n - 1));
      if (due > performance.now()) await new Promise((res) => setTimeout(res, due - performance.now()));
      checkAborted();
      const name = `${net}-c${i}`;
      names.push(name);
      const { r, t0, t1, startedAt, returnedAt } = await timedRun(name, net, opts);
      if (r.code !== 0) log(`docker run ${name} failed: ${r.stderr}`);
      const sample = { kind, n, round, index: i, container: name, runMs: t1 - t0, runOk: r.code === 0 };
      const timing = { startedAt, returnedAt, afterCreateMs: t0 - created };
      pings.push(
        (r.code === 0 ? firstReply(name, peerIp, opts) : Promise.resolve(null)).then((reply) => {
          samples.push({
            ...sample,
            ...timing,
            pingMs: reply === null ? null : reply.at - t1,
            replySeq: reply?.seq,
            replyRttMs: reply?.rttMs,
          });
        }),
      );
    }
    await Promise.all(pings);
    checkAborted();
  } finally {
    phase = undefined;
    await removeContainers(names);
    if (made) await removeNetwork(net);
    if (!abort.signal.aborted) await new Promise((res) => setTimeout(res, opts.settleMs));
  }
  return samples.sort((a, b) => a.index - b.index);
}

/** `--quick-start`: (b) of each container by its place in the start order, over the rounds. */
function quickStartTable(samples: readonly Sample[], opts: Options): string {
  const rows: string[][] = [];
  for (const n of opts.ns)
    for (const kind of ['bridge', 'dovesnap'] as const)
      for (let i = 1; i <= n; i++) {
        const mine = samples.filter((s) => s.n === n && s.kind === kind && s.index === i && s.runOk);
        const ping = summarize(mine.flatMap((s) => (s.pingMs === null ? [] : [s.pingMs])));
        const after = summarize(mine.map((s) => s.afterCreateMs ?? Number.NaN));
        const each = mine.map((s) => (s.pingMs === null ? 'none' : fmt(s.pingMs))).join(', ');
        rows.push([String(n), kind, String(i), fmt(after.median), fmt(ping.median), fmt(ping.max), each]);
      }
  return table(['N', 'kind', 'container', 'run started after create', '(b) median', '(b) max', '(b) each round'], rows);
}

// --------------------------------------------------------------- where dovesnap's time went

interface LogMarks {
  readonly endpointCreated: Map<string, number>;
  readonly resolved: Map<string, { time: number; endpoint: string }>;
  readonly applied: Map<string, { time: number; ms: number }>;
}

/** The daemon's info lines since `since` (epoch ms), keyed by endpoint id or container name. */
function readLogMarks(since: number): LogMarks | undefined {
  let text: string;
  try {
    text = readFileSync(DAEMON_LOG, 'utf8');
  } catch {
    return undefined;
  }
  const marks: LogMarks = { endpointCreated: new Map(), resolved: new Map(), applied: new Map() };
  for (const line of text.split('\n')) {
    // Only this run's containers (their names carry the run id); endpoint lines carry no name.
    if (!line.startsWith('{') || (!line.includes(runId) && !line.includes('"endpoint created"'))) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const time = e['time'];
    if (typeof time !== 'number' || time < since) continue;
    const msg = e['msg'];
    if (msg === 'endpoint created' && typeof e['endpoint'] === 'string') {
      marks.endpointCreated.set(e['endpoint'], time);
    } else if (
      msg === 'container resolved' &&
      typeof e['container'] === 'string' &&
      typeof e['endpoint'] === 'string'
    ) {
      const name = e['container'].replace(/^\//, '');
      if (!marks.resolved.has(name)) marks.resolved.set(name, { time, endpoint: e['endpoint'] });
    } else if (msg === 'FAUCET configuration applied' && typeof e['reason'] === 'string') {
      const m = /^container \/?(\S+) joined /.exec(e['reason']);
      if (m?.[1] !== undefined && !marks.applied.has(m[1])) marks.applied.set(m[1], { time, ms: Number(e['ms']) });
    }
  }
  return marks;
}

/** Per dovesnap sample: the daemon's milestones, relative to the `docker run` it belongs to. */
interface Breakdown {
  /** run start -> CreateEndpoint finished (includes Docker's container create before it). */
  readonly endpointAfterStart: number;
  /** run start -> run returned, for the same samples. */
  readonly runMs: number;
  /** run returned -> the reconciler resolved the container (negative: before run returned). */
  readonly resolvedAfterReturn: number;
  /** run returned -> FAUCET confirmed the config with the port, and its host end was raised
   * (undefined: no write for this container, e.g. it took a spare entry FAUCET already ran). */
  readonly appliedAfterReturn: number | undefined;
  /** The daemon's own duration for that FAUCET update (render, write, SIGHUP, confirm). */
  readonly faucetMs: number | undefined;
  /** Port raised -> first echo reply. */
  readonly pingAfterApplied: number | undefined;
  /** RTT of the first reply (time its echo request waited for ARP, mostly). */
  readonly replyRttMs: number | undefined;
}

function breakdowns(samples: readonly Sample[], marks: LogMarks): Breakdown[] {
  const out: Breakdown[] = [];
  for (const s of samples) {
    if (s.kind !== 'dovesnap' || !s.runOk) continue;
    const res = marks.resolved.get(s.container);
    const app = marks.applied.get(s.container);
    const created = res === undefined ? undefined : marks.endpointCreated.get(res.endpoint);
    if (res === undefined || created === undefined) continue;
    out.push({
      endpointAfterStart: created - s.startedAt,
      runMs: s.runMs,
      resolvedAfterReturn: res.time - s.returnedAt,
      appliedAfterReturn: app === undefined ? undefined : app.time - s.returnedAt,
      faucetMs: app?.ms,
      pingAfterApplied: s.pingMs === null || app === undefined ? undefined : s.returnedAt + s.pingMs - app.time,
      replyRttMs: s.replyRttMs,
    });
  }
  return out;
}

// ------------------------------------------------------------------------------------ report

const fmt = (v: number, digits = 0): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

interface KindSummary {
  readonly n: number;
  readonly kind: Kind;
  readonly runs: number;
  readonly runFailures: number;
  readonly run: Summary;
  readonly ping: Summary;
  readonly pingFailures: number;
  readonly replyRtt: Summary;
}

function summarizeKind(samples: readonly Sample[], n: number, kind: Kind): KindSummary {
  const mine = samples.filter((s) => s.n === n && s.kind === kind);
  const ok = mine.filter((s) => s.runOk);
  return {
    n,
    kind,
    runs: mine.length,
    runFailures: mine.length - ok.length,
    run: summarize(ok.map((s) => s.runMs)),
    ping: summarize(ok.flatMap((s) => (s.pingMs === null ? [] : [s.pingMs]))),
    pingFailures: ok.filter((s) => s.pingMs === null).length,
    replyRtt: summarize(ok.flatMap((s) => (s.replyRttMs === undefined ? [] : [s.replyRttMs]))),
  };
}

const mb = (kb: number): number => kb / 1024;

function report(
  samples: readonly Sample[],
  failedTrials: readonly FailedTrial[],
  opts: Options,
  marks: LogMarks | undefined,
): { text: string; json: unknown } {
  const out: string[] = [];
  const kinds: Kind[] = ['bridge', 'dovesnap'];
  const sums = opts.ns.flatMap((n) => kinds.map((k) => summarizeKind(samples, n, k)));
  const get = (n: number, k: Kind): KindSummary => sums.find((s) => s.n === n && s.kind === k)!;

  const extra = opts.runOpts.length > 0 ? `; timed containers run with ${opts.runOpts.join(' ')}` : '';
  out.push(
    `(a) \`docker run -d\` wall time and (b) run return -> first ping reply, ms (${opts.probe} probe; ${opts.rounds} round(s)${extra})`,
    '',
  );
  out.push(
    table(
      [
        'N',
        'kind',
        'runs',
        '(a) median',
        '(a) p95',
        '(a) max',
        '(a) ratio med / p95',
        '(b) median',
        '(b) p95',
        '(b) max',
        '(b) failed',
        '1st reply RTT med',
      ],
      sums.map((s) => {
        const b = get(s.n, 'bridge');
        const r =
          s.kind === 'dovesnap'
            ? `${fmt(ratio(s.run.median, b.run.median), 2)} / ${fmt(ratio(s.run.p95, b.run.p95), 2)}`
            : '';
        const runs = s.runFailures > 0 ? `${s.runs} (${s.runFailures} failed)` : String(s.runs);
        return [
          String(s.n),
          s.kind,
          runs,
          fmt(s.run.median),
          fmt(s.run.p95),
          fmt(s.run.max),
          r,
          fmt(s.ping.median),
          fmt(s.ping.p95),
          fmt(s.ping.max),
          String(s.pingFailures),
          fmt(s.replyRtt.median),
        ];
      }),
    ),
  );

  for (const f of failedTrials)
    out.push(`FAILED TRIAL (samples dropped): round ${f.round} N=${f.n} ${f.kind}: ${f.error}`);

  const pids = [...new Set(rssSamples.map((s) => s.pid))];
  const rssRows: string[][] = [];
  const rssSummaries: Record<string, Summary> = {};
  const addRss = (label: string, kbs: number[]): void => {
    const s = summarize(kbs.map(mb));
    rssSummaries[label] = s;
    rssRows.push([label, '', String(s.count), fmt(s.median, 1), fmt(s.p95, 1), fmt(s.max, 1)]);
  };
  addRss(
    'whole run',
    rssSamples.map((s) => s.kb),
  );
  for (const n of opts.ns)
    addRss(
      `dovesnap trials, N=${n}`,
      rssSamples.filter((s) => s.kind === 'dovesnap' && s.n === n).map((s) => s.kb),
    );
  out.push(
    '',
    `(c) dovesnap daemon VmRSS, MB, sampled every ${RSS_INTERVAL_MS} ms (daemon pid${pids.length === 1 ? '' : 's'} ${pids.join(', ') || 'unknown'})`,
    '',
  );
  out.push(table(['samples taken during', '', 'samples', 'median', 'p95', 'max'], rssRows));
  if (pids.length > 1)
    out.push('', 'WARNING: the daemon restarted during the run (several pids): RSS and timings are suspect.');

  const bdRows: string[][] = [];
  const bdJson: Record<string, Record<string, Summary>> = {};
  const perN = new Map<number, Breakdown[]>();
  for (const n of opts.ns)
    perN.set(
      n,
      marks === undefined
        ? []
        : breakdowns(
            samples.filter((s) => s.n === n),
            marks,
          ),
    );
  const fields: [keyof Breakdown, string][] = [
    ['runMs', '(a) docker run -d (start -> return)'],
    ['endpointAfterStart', 'run start -> CreateEndpoint done'],
    ['resolvedAfterReturn', 'run return -> container resolved'],
    ['faucetMs', 'FAUCET update (render..confirm)'],
    ['appliedAfterReturn', 'run return -> FAUCET confirmed, port up'],
    ['pingAfterApplied', 'port up -> first ping reply'],
    ['replyRttMs', 'RTT of that first reply'],
  ];
  for (const n of opts.ns) {
    const list = perN.get(n) ?? [];
    bdJson[`N=${n}`] = {};
    for (const [key, label] of fields) {
      const s = summarize(list.flatMap((b) => (typeof b[key] === 'number' ? [b[key] as number] : [])));
      bdJson[`N=${n}`]![key] = s;
      bdRows.push([String(n), label, String(s.count), fmt(s.median), fmt(s.p95), fmt(s.max)]);
    }
  }
  if ([...perN.values()].some((l) => l.length > 0)) {
    out.push('', `Where dovesnap's time goes, ms, from ${DAEMON_LOG} (info lines of the same containers)`, '');
    out.push(table(['N', 'milestone', 'samples', 'median', 'p95', 'max'], bdRows));
  } else {
    out.push('', `(no breakdown: ${DAEMON_LOG} has no matching lines)`);
  }

  if (opts.quickStart) {
    out.push('', '(b) by container, ms (started within a second of the network create)', '');
    out.push(quickStartTable(samples, opts));
    const worst = Math.max(
      ...samples
        .filter((s) => s.kind === 'dovesnap')
        .map((s) => (s.pingMs === null ? Number.POSITIVE_INFINITY : s.pingMs)),
    );
    out.push(
      '',
      `Target: dovesnap's slowest run return -> first reply ${fmt(worst)} ms -> ${worst < 200 ? 'met' : 'NOT met'} (target < 200 ms)`,
    );
    return { text: out.join('\n'), json: { summaries: sums, failedTrials, breakdown: bdJson, samples } };
  }

  // Verdicts against the targets of the issue.
  out.push('', 'Targets:');
  for (const n of opts.ns) {
    const d = get(n, 'dovesnap');
    const b = get(n, 'bridge');
    const r = ratio(d.run.median, b.run.median);
    out.push(
      `  (a) N=${n}: dovesnap/bridge median run time ${fmt(r, 2)}x (p95 ${fmt(ratio(d.run.p95, b.run.p95), 2)}x) -> ${r <= 1.2 ? 'met' : 'NOT met'} (target <= 1.2x)`,
    );
  }
  const n50 = opts.ns.includes(50) ? 50 : Math.max(...opts.ns);
  const p = get(n50, 'dovesnap').ping;
  const pf = get(n50, 'dovesnap').pingFailures;
  out.push(
    `  (b) N=${n50}: dovesnap p95 run return -> first ping ${fmt(p.p95)} ms, ${pf} timeout(s) -> ${p.p95 < 1000 && pf === 0 ? 'met' : 'NOT met'} (target p95 < 1000 ms at N=50)`,
  );
  const whole = rssSummaries['whole run']!;
  out.push(
    `  (c) daemon RSS max ${fmt(whole.max, 1)} MB (median ${fmt(whole.median, 1)}, p95 ${fmt(whole.p95, 1)}) -> ${whole.max < 100 ? 'met' : 'NOT met'} (target < 100 MB)`,
  );

  return {
    text: out.join('\n'),
    json: {
      summaries: sums,
      failedTrials,
      rss: { pids, summaries: rssSummaries, samples: rssSamples },
      breakdown: bdJson,
      samples,
    },
  };
}

// ------------------------------------------------------------------------------------- main

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string', default: '1,10,50' },
      rounds: { type: 'string', default: '3' },
      json: { type: 'string' },
      probe: { type: 'string', default: 'stream' },
      'ping-timeout': { type: 'string', default: '30' },
      settle: { type: 'string', default: '3' },
      'run-opt': { type: 'string', multiple: true, default: [] },
      'net-opt': { type: 'string', multiple: true, default: [] },
      networks: { type: 'string', default: '1' },
      'quick-start': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: node dist/bench/startup.js [--n 1,10,50] [--rounds 3] [--json out.json] [--probe stream|poll]\n' +
        '                                  [--ping-timeout 30] [--settle 3] [--run-opt=ARG ...] [--net-opt=OPT=VALUE ...] [--networks K]\n' +
        '                                  [--quick-start]\nSee bench/README.md.\n',
    );
    process.exit(0);
  }
  netOpts = values['net-opt'];
  const ns = values.n.split(',').map((s) => Number(s.trim()));
  if (ns.some((n) => !Number.isInteger(n) || n < 1 || n > 1000))
    throw new Error(`--n: expected a comma-separated list of integers 1..1000, got "${values.n}"`);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds: expected a positive integer, got "${values.rounds}"`);
  if (values.probe !== 'stream' && values.probe !== 'poll')
    throw new Error(`--probe: expected stream or poll, got "${values.probe}"`);
  const pingTimeoutS = Number(values['ping-timeout']);
  if (!Number.isInteger(pingTimeoutS) || pingTimeoutS < 1)
    throw new Error('--ping-timeout: expected whole seconds, at least 1');
  const settle = Number(values.settle);
  if (!(settle >= 0)) throw new Error('--settle: expected seconds, at least 0');
  const networks = Number(values.networks);
  if (!Number.isInteger(networks) || networks < 1 || networks > 200)
    throw new Error(`--networks: expected a whole number from 1 to 200, got "${values.networks}"`);
  return {
    ns,
    rounds,
    json: values.json,
    probe: values.probe,
    pingTimeoutS,
    settleMs: settle * 1000,
    runOpts: values['run-opt'],
    networks,
    quickStart: values['quick-start'],
  };
}

async function preflight(): Promise<Record<string, string>> {
  const server = await docker('version', '--format', '{{.Server.Version}}');
  if (server.code !== 0) throw new Error(`cannot reach Docker with ${DOCKER}: ${server.stderr}`);
  if ((await docker('image', 'inspect', IMAGE)).code !== 0)
    throw new Error(`image ${IMAGE} is missing: run scripts/build-test-image.sh`);
  if (!existsSync(PIDFILE)) throw new Error(`${PIDFILE} is missing: is the dovesnap daemon running (make up)?`);
  const ovs = await exec('ovs-vswitchd', ['--version']);
  return {
    cpus: String(cpus().length),
    loadavg: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    cpuModel: cpus()[0]?.model ?? '',
    kernel: release(),
    node: process.version,
    docker: server.stdout,
    ovs: ovs.stdout.split('\n')[0] ?? '',
  };
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts += 1;
    if (interrupts === 1) {
      log(
        `${sig}: stopping and cleaning up (again to exit at once, leaving containers labelled ${LABEL}=${runId} behind)`,
      );
      abort.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const meta = await preflight();
  const since = Date.now();
  log(
    `run ${runId}: N=${opts.ns.join(',')}, ${opts.rounds} round(s), ${opts.probe} probe; ${meta['cpus']} CPUs, Docker ${meta['docker']}, ${meta['ovs']}`,
  );
  sampleRss();
  const sampler = setInterval(sampleRss, RSS_INTERVAL_MS);
  const samples: Sample[] = [];
  const failedTrials: FailedTrial[] = [];
  let failed: unknown;
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const [i, n] of opts.ns.entries()) {
        const order: Kind[] = (round + i) % 2 === 1 ? ['bridge', 'dovesnap'] : ['dovesnap', 'bridge'];
        for (const kind of order) {
          const began = performance.now();
          let got: Sample[];
          try {
            got = await trial(kind, n, round, opts);
          } catch (err) {
            if (err instanceof Interrupted || abort.signal.aborted) throw err;
            const why = err instanceof Error ? err.message : String(err);
            failedTrials.push({ kind, n, round, error: why });
            log(`round ${round}/${opts.rounds} N=${n} ${kind}: TRIAL FAILED, its samples are dropped: ${why}`);
            if (failedTrials.length >= 3) throw new Error('three trials failed: giving up');
            continue;
          }
          samples.push(...got);
          const run = summarize(got.filter((s) => s.runOk).map((s) => s.runMs));
          const ping = summarize(got.flatMap((s) => (s.pingMs === null ? [] : [s.pingMs])));
          const lost = got.filter((s) => s.pingMs === null).length;
          log(
            `round ${round}/${opts.rounds} N=${n} ${kind.padEnd(8)}: run median ${fmt(run.median)} ms, ping median ${fmt(ping.median)} ms p95 ${fmt(ping.p95)} ms${lost > 0 ? `, ${lost} without reply` : ''} (${fmt((performance.now() - began) / 1000, 1)} s)`,
          );
        }
      }
    }
  } catch (err) {
    failed = err;
  } finally {
    clearInterval(sampler);
    await cleanupAll();
  }
  if (failed instanceof Interrupted || abort.signal.aborted) {
    log('interrupted; everything this run made has been removed');
    return 130;
  }
  if (failed !== undefined) {
    log(`FAILED: ${failed instanceof Error ? failed.message : String(failed)}`);
    log('everything this run made has been removed');
    return 1;
  }
  const { text, json } = report(samples, failedTrials, opts, readLogMarks(since));
  process.stdout.write(`${text}\n`);
  if (opts.json !== undefined) {
    writeFileSync(
      opts.json,
      `${JSON.stringify({ runId, startedAt: new Date(since).toISOString(), meta, options: opts, ...(json as object) }, null, 2)}\n`,
    );
    log(`wrote ${opts.json}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    await cleanupAll().catch(() => undefined);
    process.exit(1);
  },
);
