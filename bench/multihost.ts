/**
 * Several hosts, one FAUCET (issue 24): container start and first ping on the stack's far end
 * (host 3) against its root (host 1), and what a FAUCET configuration write costs through
 * faucetconfrpc against the local file.
 *
 *   node dist/bench/multihost.js [--rounds 10] [--hosts-up] [--settle 2] [--ping-timeout 30] [--json FILE]
 *
 * Brings up three simulated hosts (`make hosts N=3` with HOSTS_STACKING=1 HOSTS_CONFRPC=1, as
 * test/e2e/multihost.test.ts does) unless `--hosts-up` says they are up already, creates one
 * network of the same name on each (one VLAN: FAUCET switches it across the stack, host 2 in
 * the middle), a fixed peer container on host 1 and on host 3, and, as the baseline, a network
 * of this machine's own dovesnap (the local file) with a peer. Then, each round, on host 1, on
 * host 3 and on this machine (the order rotating), one `docker run -d` and, from the moment it
 * returns, the new container pings the peer at the OTHER end of the stack (host 3's new
 * container pings host 1's peer and the other way round; this machine's pings its own peer):
 *   (a) the wall time of `docker run -d`, and
 *   (b) run return -> the first echo reply.
 * Afterwards the timed containers are removed one by one, the networks deleted, and every
 * daemon's "FAUCET configuration applied" log lines of the run give the write cost by backend.
 * Everything made is removed at the end (hosts included, unless --hosts-up), also on failure and
 * on the first Ctrl-C / SIGTERM. See bench/README.md and docs/benchmarks.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type AppliedWrite,
  fmt,
  groupWrites,
  parseAppliedWrites,
  sameFaucetEntries,
  spread,
  wholeOption,
} from './multihost-parse.js';
import { streamFirstReply } from './ping.js';
import { Interrupted, progressLog, throwIfAborted } from './interrupt.js';
import { execAbortable, type Result, sleeperRunArgs } from './proc.js';
import { openWriteProbe, type WriteTiming } from './config-write.js';

const DOCKER = process.env['DOCKER'] ?? '/usr/bin/docker';
const IMAGE = process.env['DOVESNAP_TEST_IMAGE'] ?? 'dovesnap-busybox:latest';
const LOCAL_LOG = process.env['DOVESNAP_LOG'] ?? '/var/log/dovesnap/dovesnap.log';
const FAUCET_CONFIG = `${process.env['FAUCET_PREFIX'] ?? ''}/etc/faucet/faucet.yaml`;
const FAUCET_METRICS = process.env['DOVESNAP_FAUCET_METRICS'] ?? 'http://127.0.0.1:9302/metrics';
const REPO = new URL('../..', import.meta.url).pathname;
const LABEL = 'org.dovesnap.bench.run';
const HOSTS = [1, 2, 3] as const;
const hostSock = (k: number): string => `unix:///run/dovesnap-hosts/h${k}/docker.sock`;
const hostLog = (k: number): string => `/var/log/dovesnap-hosts/h${k}/dovesnap.log`;

const abort = new AbortController();
const runId = randomBytes(3).toString('hex');
const log = progressLog('multihost');
const checkAborted = (): void => throwIfAborted(abort.signal);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a command; never rejects. Interruptible ones are killed on the first Ctrl-C. */
const exec = (
  file: string,
  args: readonly string[],
  {
    timeoutMs = 120_000,
    interruptible = true,
    env,
  }: { timeoutMs?: number; interruptible?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<Result> =>
  execAbortable(file, args, {
    timeoutMs,
    ...(env === undefined ? {} : { env }),
    ...(interruptible ? { signal: abort.signal } : {}),
  });

// ------------------------------------------------------------------------------ where things run

type Where = 'host1' | 'host3' | 'local';

/** A Docker Engine to drive: one of the simulated hosts, or this machine's. */
interface Engine {
  readonly where: Where | 'host2';
  /** `-H unix://…` for a host; nothing for this machine. */
  readonly args: readonly string[];
}
const engineOf = (k: number): Engine => ({ where: `host${k}` as Where, args: ['-H', hostSock(k)] });
const LOCAL: Engine = { where: 'local', args: [] };

const docker = (e: Engine, ...args: string[]): Promise<Result> => exec(DOCKER, [...e.args, ...args]);
async function mustDocker(e: Engine, ...args: string[]): Promise<string> {
  const r = await docker(e, ...args);
  checkAborted();
  if (r.code !== 0) throw new Error(`docker ${[...e.args, ...args].join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const made = { containers: new Map<string, Engine>(), networks: new Map<string, Engine[]>() };

async function startContainer(e: Engine, name: string, net: string, extra: readonly string[] = []): Promise<Result> {
  made.containers.set(name, e);
  return docker(e, ...sleeperRunArgs(name, net, `${LABEL}=${runId}`, IMAGE, extra));
}

/** Waits until `container` gets a reply from `ip` (the warm-up: nothing is timed before the path works). */
async function warmUp(e: Engine, container: string, ip: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const r = await docker(e, 'exec', container, 'ping', '-c', '1', '-W', '1', ip);
    checkAborted();
    if (r.code === 0) return performance.now() - t0;
  }
  throw new Error(`${container} on ${e.where} got no reply from ${ip} within ${timeoutMs / 1000} s`);
}

// ------------------------------------------------------------------------------------ FAUCET file

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Waits until faucet.yaml has not changed for 1.5 s and FAUCET's metrics show it runs that file. */
async function waitFaucetSettled(timeoutMs = 30_000): Promise<boolean> {
  let last = '';
  let since = Date.now();
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const text = readFileSync(FAUCET_CONFIG, 'utf8');
    if (text !== last) {
      last = text;
      since = Date.now();
    }
    if (Date.now() - since > 1500) {
      const url = new URL(FAUCET_METRICS);
      url.searchParams.append('name[]', 'faucet_config_hash_info');
      const metrics = await fetch(url, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.text())
        .catch(() => '');
      if (metrics.includes(sha256(text))) return true;
    }
    await sleep(250);
  }
  return false;
}

/**
 * faucetconfrpc's server rewrites faucet.yaml as a YAML dump (the operator's comments and layout
 * go). Once every host has left, the entries are the operator's again: put the operator's own
 * bytes back, as test/e2e/multihost.test.ts does, and only then (anything else changed is left).
 */
async function restoreFaucetFile(original: string): Promise<void> {
  await waitFaucetSettled();
  const now = readFileSync(FAUCET_CONFIG, 'utf8');
  if (now === original) return;
  if (!sameFaucetEntries(now, original)) {
    log(`WARNING: ${FAUCET_CONFIG} holds other entries than before the run: left as it is`);
    return;
  }
  writeFileSync(FAUCET_CONFIG, original);
  try {
    process.kill(Number(readFileSync('/run/dovesnap/faucet.pid', 'utf8').trim()), 'SIGHUP');
  } catch {
    // FAUCET not running: nothing to reload.
  }
  if (!(await waitFaucetSettled())) log('WARNING: FAUCET did not confirm the restored faucet.yaml within 30 s');
  else log(`${FAUCET_CONFIG}: the operator's text is back, byte for byte`);
}

// ------------------------------------------------------------------------------------- the hosts

/**
 * On a failure, before hosts-down deletes the hosts' logs: a copy of them, of faucet.yaml and of
 * FAUCET's stack port states, in /tmp/dovesnap-bench-multihost-<run id>/, for the diagnosis.
 */
async function keepDiagnostics(): Promise<void> {
  const dir = `/tmp/dovesnap-bench-multihost-${runId}`;
  await exec('mkdir', ['-p', dir], { interruptible: false });
  if (existsSync('/var/log/dovesnap-hosts'))
    await exec('cp', ['-r', '/var/log/dovesnap-hosts', `${dir}/hosts-logs`], { interruptible: false });
  await exec('cp', [FAUCET_CONFIG, `${dir}/faucet.yaml`], { interruptible: false });
  const url = new URL(FAUCET_METRICS);
  for (const name of ['port_stack_state', 'dp_status']) url.searchParams.append('name[]', name);
  const metrics = await fetch(url, { signal: AbortSignal.timeout(5000) })
    .then((r) => r.text())
    .catch((err: unknown) => String(err));
  writeFileSync(`${dir}/faucet-metrics.txt`, metrics);
  log(`the hosts' logs, faucet.yaml and FAUCET's stack states are kept in ${dir}`);
}

/** The harness gives the hosts FAUCET's metrics at the management address, so their writes are confirmed. */
const makeHosts = (target: 'hosts' | 'hosts-down', interruptible: boolean): Promise<Result> =>
  exec('make', ['-s', '--no-print-directory', '-C', REPO, target, ...(target === 'hosts' ? ['N=3'] : [])], {
    timeoutMs: 600_000,
    interruptible,
    env: {
      ...process.env,
      HOSTS_STACKING: '1',
      HOSTS_CONFRPC: '1',
    },
  });

// ------------------------------------------------------------------------------------------ main

interface Options {
  readonly rounds: number;
  readonly hostsUp: boolean;
  readonly settleMs: number;
  readonly pingTimeoutS: number;
  readonly vlan: number;
  /** `--writes W`: timed writes of the probe ACL through each backend (0: none). */
  readonly writes: number;
  readonly json: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '10' },
      'hosts-up': { type: 'boolean', default: false },
      settle: { type: 'string', default: '2' },
      'ping-timeout': { type: 'string', default: '30' },
      vlan: { type: 'string', default: '324' },
      writes: { type: 'string', default: '10' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: node dist/bench/multihost.js [--rounds 10] [--hosts-up] [--settle 2] [--ping-timeout 30] [--vlan 324] [--writes 10] [--json FILE]\nSee bench/README.md.\n',
    );
    process.exit(0);
  }
  // Each host's addresses are a /27 of the shared /24 (30 of them): the peer and the rounds' containers.
  const rounds = wholeOption('rounds', values.rounds, 1, 25);
  const settle = Number(values.settle);
  if (!(settle >= 0)) throw new Error(`--settle: expected seconds, at least 0, got "${values.settle}"`);
  const pingTimeoutS = wholeOption('ping-timeout', values['ping-timeout'], 1, 600);
  const vlan = wholeOption('vlan', values.vlan, 2, 4094);
  const writes = wholeOption('writes', values.writes, 0, 100);
  return {
    writes,
    rounds,
    hostsUp: values['hosts-up'],
    settleMs: settle * 1000,
    pingTimeoutS,
    vlan,
    json: values.json,
  };
}

interface Sample {
  readonly where: Where;
  readonly round: number;
  readonly container: string;
  /** (a): wall time of `docker run -d`, ms. */
  readonly runMs: number;
  /** (b): run returned -> first echo reply from the peer at the other end, ms; null without one. */
  readonly pingMs: number | null;
  readonly replySeq: number | undefined;
  readonly replyRttMs: number | undefined;
}

const WHERE_LABEL: Record<Where, string> = {
  host1: 'host 1 (stack root), peer on host 3',
  host3: 'host 3 (two hops from the root), peer on host 1',
  local: 'this machine (local file, one switch), peer beside it',
};

/**
 * `--writes W` timed writes of a probe ACL through faucetconfrpc and into the local file,
 * alternating (bench/config-write.ts), `--settle` apart so that this machine's dovesnap has
 * answered one before the next begins.
 */
async function timeWrites(opts: Options): Promise<WriteTiming[]> {
  const probe = await openWriteProbe({
    file: FAUCET_CONFIG,
    addr: '10.239.0.1',
    metricsUrl: FAUCET_METRICS,
    faucetPidfile: '/run/dovesnap/faucet.pid',
    acl: `dsb-mh-${runId}-probe`,
    timeoutMs: 30_000,
  });
  const out: WriteTiming[] = [];
  try {
    for (let i = 0; i < 2 * opts.writes; i++) {
      const t = await probe.write(i % 4 === 0 || i % 4 === 3 ? 'faucetconfrpc' : 'local file');
      out.push(t);
      log(
        `write ${i + 1}/${2 * opts.writes} ${t.backend}: written ${fmt(t.writtenMs)} ms, FAUCET runs it ${t.loadedMs === null ? 'never' : `${fmt(t.loadedMs)} ms`}`,
      );
      checkAborted();
      await sleep(opts.settleMs);
    }
  } finally {
    await probe.close();
  }
  return out;
}

function report(
  samples: readonly Sample[],
  writes: Record<string, readonly AppliedWrite[]>,
  timings: readonly WriteTiming[],
): string {
  const out: string[] = [];
  out.push(
    '| where the container starts | runs | (a) median | (a) p90 | (a) max | (b) median | (b) p90 | (b) max | (b) failed | 1st reply RTT med |',
    '|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const where of ['host1', 'host3', 'local'] as const) {
    const ss = samples.filter((s) => s.where === where);
    const a = spread(ss.map((s) => s.runMs));
    const b = spread(ss.flatMap((s) => (s.pingMs === null ? [] : [s.pingMs])));
    const rtt = spread(ss.flatMap((s) => (s.replyRttMs === undefined ? [] : [s.replyRttMs])));
    out.push(
      `| ${WHERE_LABEL[where]} | ${ss.length} | ${fmt(a.median)} | ${fmt(a.p90)} | ${fmt(a.max)} | ${fmt(b.median)} | ${fmt(b.p90)} | ${fmt(b.max)} | ${ss.length - b.count} | ${fmt(rtt.median, 1)} |`,
    );
  }
  out.push(
    '',
    '| one write (probe ACL) | writes | written median | written p90 | FAUCET runs it median | p90 | max | never |',
    '|:--|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const backend of ['faucetconfrpc', 'local file'] as const) {
    const ts = timings.filter((t) => t.backend === backend);
    const w = spread(ts.map((t) => t.writtenMs));
    const l = spread(ts.flatMap((t) => (t.loadedMs === null ? [] : [t.loadedMs])));
    out.push(
      `| ${backend} | ${ts.length} | ${fmt(w.median)} | ${fmt(w.p90)} | ${fmt(l.median)} | ${fmt(l.p90)} | ${fmt(l.max)} | ${ts.length - l.count} |`,
    );
  }
  out.push(
    '',
    '| daemon (backend) | write caused by | writes | ms median | ms p90 | ms max | unconfirmed |',
    '|:--|:--|--:|--:|--:|--:|--:|',
  );
  for (const [daemon, ws] of Object.entries(writes))
    for (const g of groupWrites(ws))
      out.push(
        `| ${daemon} | ${g.kind} | ${g.count} | ${fmt(g.median)} | ${fmt(g.p90)} | ${fmt(g.max)} | ${g.unconfirmed} |`,
      );
  return out.join('\n');
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    log(
      `${sig}: stopping and cleaning up (again to exit at once, leaving containers labelled ${LABEL}=${runId}${opts.hostsUp ? '' : ' and the hosts (make hosts-down)'} behind)`,
    );
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  if ((await docker(LOCAL, 'image', 'inspect', IMAGE)).code !== 0)
    throw new Error(`image ${IMAGE} is missing: run scripts/build-test-image.sh`);
  const original = readFileSync(FAUCET_CONFIG, 'utf8');
  const meta = {
    cpus: String(cpus().length),
    loadavg: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    commit: (await exec('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])).stdout,
  };
  const third = randomBytes(1)[0]! % 127;
  const prefix = `10.232.${2 * third}`;
  const localPrefix = `10.232.${2 * third + 1}`;
  const net = `dsb-mh-${runId}`;
  const localNet = `dsb-mh-${runId}-local`;
  const h1 = engineOf(1);
  const h3 = engineOf(3);
  const targets: Record<Where, { engine: Engine; net: string; peerIp: string }> = {
    host1: { engine: h1, net, peerIp: `${prefix}.100` },
    host3: { engine: h3, net, peerIp: `${prefix}.40` },
    local: { engine: LOCAL, net: localNet, peerIp: `${localPrefix}.2` },
  };
  let hostsStarted = false;
  let hostsUpMs: number | undefined;
  let failed: unknown;
  const samples: Sample[] = [];
  const writes: Record<string, AppliedWrite[]> = {};
  const timings: WriteTiming[] = [];
  const since = Date.now();
  try {
    if (opts.hostsUp) {
      for (const k of HOSTS)
        if ((await docker(engineOf(k), 'version', '--format', '{{.Server.Version}}')).code !== 0)
          throw new Error(`--hosts-up: host ${k} does not answer on ${hostSock(k)}: run make hosts N=3 first`);
    } else {
      log('make hosts N=3 HOSTS_STACKING=1 HOSTS_CONFRPC=1');
      hostsStarted = true;
      const t0 = performance.now();
      const r = await makeHosts('hosts', true);
      checkAborted();
      if (r.code !== 0)
        throw new Error(`make hosts N=3 failed (${r.code}): ${r.stderr.split('\n').slice(-5).join(' / ')}`);
      hostsUpMs = performance.now() - t0;
      log(`hosts up in ${fmt(hostsUpMs / 1000, 1)} s`);
    }
    log(
      `run ${runId}: network ${net} (${prefix}.0/24, VLAN ${opts.vlan}) on hosts 1-3; ${localNet} (${localPrefix}.0/24) here`,
    );
    const hostNets: Engine[] = [];
    made.networks.set(net, hostNets);
    for (const k of HOSTS) {
      const e = engineOf(k);
      hostNets.push(e);
      await mustDocker(
        e,
        'network',
        'create',
        '-d',
        'dovesnap',
        '--subnet',
        `${prefix}.0/24`,
        '--ip-range',
        `${prefix}.${k * 32}/27`,
        '-o',
        `ovs.bridge.vlan=${opts.vlan}`,
        net,
      );
    }
    // The fixed peers (the ping targets), then the warm-up: nothing is timed before every path
    // works. This machine's network comes once the hosts' path works, so that its set-up writes
    // do not overlap the hosts' first ones.
    const peer = (w: string): string => `${net}-peer-${w}`;
    const startPeer = async (e: Engine, name: string, n: string, ip: string): Promise<void> => {
      const r = await startContainer(e, name, n, ['--ip', ip]);
      checkAborted();
      if (r.code !== 0) throw new Error(`docker run ${name} on ${e.where} failed: ${r.stderr}`);
    };
    await startPeer(h1, peer('h1'), net, targets.host3.peerIp);
    await startPeer(h3, peer('h3'), net, targets.host1.peerIp);
    const w1 = await warmUp(h1, peer('h1'), targets.host1.peerIp, 90_000);
    const w3 = await warmUp(h3, peer('h3'), targets.host3.peerIp, 90_000);
    made.networks.set(localNet, [LOCAL]);
    // A DPID of its own, in a range nothing else uses (startup.js: 0xd5b…, restart.js: 0xd5c…).
    const dpid = `0xd5f${randomBytes(2).toString('hex')}`;
    await mustDocker(
      LOCAL,
      'network',
      'create',
      '-d',
      'dovesnap',
      '--subnet',
      `${localPrefix}.0/24`,
      '-o',
      `ovs.bridge.dpid=${dpid}`,
      localNet,
    );
    await startPeer(LOCAL, peer('local'), localNet, targets.local.peerIp);
    const warm = `${net}-warm-local`;
    if ((await startContainer(LOCAL, warm, localNet)).code !== 0) throw new Error(`docker run ${warm} failed`);
    const wl = await warmUp(LOCAL, warm, targets.local.peerIp, 90_000);
    log(`warm: host 1 -> host 3 after ${fmt(w1)} ms, host 3 -> host 1 after ${fmt(w3)} ms, here after ${fmt(wl)} ms`);
    await sleep(opts.settleMs);

    const order: Where[] = ['host1', 'host3', 'local'];
    for (let round = 1; round <= opts.rounds; round++) {
      // Rotate who goes first, so that drift on the machine hits every row alike.
      const turn = [...order.slice((round - 1) % 3), ...order.slice(0, (round - 1) % 3)];
      for (const where of turn) {
        const t = targets[where];
        const name = `${net}-${where}-r${round}`;
        const t0 = performance.now();
        const r = await startContainer(t.engine, name, t.net);
        const t1 = performance.now();
        checkAborted();
        if (r.code !== 0) throw new Error(`docker run ${name} on ${where} failed: ${r.stderr}`);
        const reply = await streamFirstReply(DOCKER, t.engine.args, name, t.peerIp, opts.pingTimeoutS, abort.signal);
        checkAborted();
        samples.push({
          where,
          round,
          container: name,
          runMs: t1 - t0,
          pingMs: reply === null ? null : reply.at - t1,
          replySeq: reply?.seq,
          replyRttMs: reply?.rttMs,
        });
        await sleep(opts.settleMs);
      }
      const last = samples.slice(-3);
      log(
        `round ${round}/${opts.rounds}: ${last.map((s) => `${s.where} run ${fmt(s.runMs)} ms, ping ${s.pingMs === null ? 'none' : `${fmt(s.pingMs)} ms`}`).join('; ')}`,
      );
    }

    // The removals, one by one, give each daemon "port removed" writes of its own to time.
    log('removing the timed containers one by one');
    for (const s of samples) {
      await exec(DOCKER, [...targets[s.where].engine.args, 'rm', '-f', s.container], { interruptible: false });
      made.containers.delete(s.container);
      await sleep(opts.settleMs);
      checkAborted();
    }
    if (opts.writes > 0) timings.push(...(await timeWrites(opts)));
  } catch (err) {
    failed = err;
  } finally {
    if (failed !== undefined && !(failed instanceof Interrupted)) await keepDiagnostics();
    log('cleaning up');
    for (const [name, e] of [...made.containers])
      if ((await exec(DOCKER, [...e.args, 'rm', '-f', name], { interruptible: false })).code === 0)
        made.containers.delete(name);
    for (const [name, engines] of [...made.networks]) {
      for (const e of engines) await exec(DOCKER, [...e.args, 'network', 'rm', name], { interruptible: false });
      made.networks.delete(name);
    }
    // The last writes (the networks' deletion) land within seconds; the hosts' logs go with hosts-down.
    await sleep(5000);
    const until = Date.now();
    for (const k of HOSTS)
      if (existsSync(hostLog(k)))
        writes[`host ${k} (faucetconfrpc)`] = parseAppliedWrites(readFileSync(hostLog(k), 'utf8'), since, until);
    writes['this machine (local file)'] = parseAppliedWrites(readFileSync(LOCAL_LOG, 'utf8'), since, until);
    if (hostsStarted) {
      log('make hosts-down');
      const r = await makeHosts('hosts-down', false);
      if (r.code !== 0) log(`WARNING: make hosts-down failed (${r.code}): ${r.stderr}`);
      await restoreFaucetFile(original).catch((err: unknown) =>
        log(`WARNING: faucet.yaml not restored: ${String(err)}`),
      );
    }
  }
  if (failed instanceof Interrupted || abort.signal.aborted) {
    log('interrupted; everything this run made has been removed');
    return 130;
  }
  if (failed !== undefined) {
    log(`FAILED: ${failed instanceof Error ? failed.message : String(failed)}`);
    return 1;
  }
  process.stdout.write(
    `\nrun ${runId}, commit ${meta.commit}, ${opts.rounds} rounds${hostsUpMs === undefined ? '' : `, make hosts N=3 took ${fmt(hostsUpMs / 1000, 1)} s`}\n\n${report(samples, writes, timings)}\n`,
  );
  if (opts.json !== undefined) {
    writeFileSync(
      opts.json,
      `${JSON.stringify({ runId, startedAt: new Date(since).toISOString(), meta, options: opts, hostsUpMs, samples, writes, timings }, null, 2)}\n`,
    );
    log(`wrote ${opts.json}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
