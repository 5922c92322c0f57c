/**
 * The daemon's memory idle with the README quick start's network: one dovesnap network, two
 * containers on it, then nothing for a minute.
 *
 *   node dist/bench/idle-rss.js [--idle 60] [--restart] [--json out.json]
 *
 * Reads the daemon's VmRSS (and its anonymous and file-backed parts) from /proc: when the
 * benchmark begins (with --restart, the daemon is first stopped and started again by this
 * checkout's `scripts/up.sh`, so this is a fresh daemon that has no network), once the quick
 * start's network exists and its two containers ping each other, and every second of the idle
 * time that follows; the daemon's own V8 heap comes from its metrics at the same moments.
 * Reports each moment, the idle time's minimum, median and maximum, and the last sample.
 * Everything made is removed at the end, also on failure.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { exec, must, waitFor } from './proc.js';

/** The daemon: where its pid is written, and its status API (for its metrics). */
const PIDFILE = process.env['DOVESNAP_PIDFILE'] ?? '/run/dovesnap/dovesnap.pid';
const STATUS = process.env['DOVESNAP_STATUS_URL'] ?? 'http://127.0.0.1:9401';
/** This checkout, whose scripts/up.sh --restart runs. */
const REPO = new URL('../..', import.meta.url).pathname;
const DOCKER = process.env['DOCKER'] ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
const IMAGE = process.env['DOVESNAP_TEST_IMAGE'] ?? 'dovesnap-busybox:latest';
const runId = randomBytes(3).toString('hex');
const LABEL = 'org.dovesnap.bench.run';
const log = (msg: string): void =>
  void process.stderr.write(`[idle-rss ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

/** One look at the daemon: /proc's view of its memory and V8's, in MB. */
interface Sample {
  readonly pid: number;
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
  /** The anonymous part that is glibc malloc's main arena (`[heap]` in smaps): Node's own allocations, Buffers. */
  readonly brk?: number;
  readonly heapTotal?: number;
  readonly heapUsed?: number;
}

const mb = (kb: number): number => Math.round(kb / 102.4) / 10;

function daemonPid(): number {
  return Number(readFileSync(PIDFILE, 'utf8').trim());
}

/** The daemon's heap as its Prometheus metrics report it (prom-client's default metrics). */
async function heapMb(): Promise<{ heapTotal?: number; heapUsed?: number }> {
  const text = await (await fetch(`${STATUS}/metrics`)).text().catch(() => '');
  const metric = (name: string): number | undefined => {
    const v = new RegExp(`^dovesnap_${name} (\\S+)$`, 'm').exec(text)?.[1];
    return v === undefined ? undefined : Math.round(Number(v) / 104857.6) / 10;
  };
  const heapTotal = metric('nodejs_heap_size_total_bytes');
  const heapUsed = metric('nodejs_heap_size_used_bytes');
  return { ...(heapTotal === undefined ? {} : { heapTotal }), ...(heapUsed === undefined ? {} : { heapUsed }) };
}

function procSample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { pid, rss: mb(kb('VmRSS')), anon: mb(kb('RssAnon')), file: mb(kb('RssFile')) };
}

/** The resident part of malloc's main arena, in kB. */
function brkKb(pid: number): number {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const at = smaps.indexOf(' [heap]\n');
  return at < 0 ? 0 : Number(/^Rss:\s+(\d+) kB/m.exec(smaps.slice(at))?.[1] ?? 0);
}

/** A sample with the heap: the metrics request itself costs the daemon a little, so only at the named moments. */
async function fullSample(): Promise<Sample> {
  const pid = daemonPid();
  return { ...procSample(pid), brk: mb(brkKb(pid)), ...(await heapMb()) };
}

function describe(s: Sample): string {
  const brk = s.brk === undefined ? '' : ` of which malloc's main arena ${s.brk}`;
  const heap = s.heapTotal === undefined ? '' : `; V8 heap ${s.heapUsed} used of ${s.heapTotal}`;
  return `RSS ${s.rss} MB (anonymous ${s.anon}${brk}, file-backed ${s.file})${heap}`;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

/** Stops the daemon (SIGTERM: a clean shutdown) and lets this checkout's `scripts/up.sh` start it again. */
async function restartDaemon(): Promise<void> {
  const pid = daemonPid();
  log(`SIGTERM daemon ${pid}; ${REPO}scripts/up.sh starts it again`);
  process.kill(pid, 'SIGTERM');
  await waitFor(`daemon ${pid} to exit`, async () => (existsSync(`/proc/${pid}`) ? undefined : true), 30_000, 100);
  await must('bash', [`${REPO}scripts/up.sh`]);
}

/** A /24 in 10.237.0.0/16 and a DPID no other network uses. */
async function freeSubnetAndDpid(): Promise<{ subnet: string; dpid: string }> {
  const inspect = (await exec(DOCKER, ['network', 'inspect', ...(await networkIds())])).stdout;
  for (let tries = 0; tries < 50; tries++) {
    const r = randomBytes(3);
    const subnet = `10.237.${r[0]}.0/24`;
    const dpid = `0x${(0xd7c0000 + r.readUInt16BE(1)).toString(16)}`;
    if (!inspect.includes(`"10.237.${r[0]}.`) && !inspect.includes(`"${dpid}"`)) return { subnet, dpid };
  }
  throw new Error('no free subnet in 10.237.0.0/16');
}

async function networkIds(): Promise<string[]> {
  return (await must(DOCKER, ['network', 'ls', '-q'])).split('\n').filter((s) => s !== '');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      idle: { type: 'string', default: '60' },
      restart: { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const idleS = Number(values.idle);
  if (!(Number.isInteger(idleS) && idleS >= 1))
    throw new Error(`--idle: a whole number of seconds, not ${values.idle}`);
  if (values.restart) await restartDaemon();
  const atStart = await fullSample();
  log(`daemon ${atStart.pid} at the start: ${describe(atStart)}`);
  const net = `dsi-${runId}`;
  const { subnet, dpid } = await freeSubnetAndDpid();
  const names = [`${net}-web`, `${net}-db`];
  try {
    // The README's quick start, with a DPID and subnet of the benchmark's own.
    const quickStart = ['-d', 'dovesnap', '-o', `ovs.bridge.dpid=${dpid}`, '--subnet', subnet];
    await must(DOCKER, ['network', 'create', ...quickStart, net]);
    for (const name of names) {
      await must(DOCKER, [
        'run',
        '-d',
        '--name',
        name,
        '--label',
        `${LABEL}=${runId}`,
        '--net',
        net,
        IMAGE,
        'sleep',
        '1h',
      ]);
    }
    await waitFor(
      `${names[0]} to reach ${names[1]}`,
      async () =>
        (await exec(DOCKER, ['exec', names[0] ?? '', 'ping', '-c', '1', '-W', '1', names[1] ?? ''])).code === 0
          ? true
          : undefined,
      60_000,
      200,
    );
    const withNetwork = await fullSample();
    log(`network ${net} (${subnet}, dpid ${dpid}) and ${names.length} containers: ${describe(withNetwork)}`);
    const idle: Sample[] = [];
    for (let i = 0; i < idleS; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      idle.push(procSample(withNetwork.pid));
    }
    const afterIdle = await fullSample();
    const rss = idle.map((s) => s.rss);
    const result = {
      restarted: values.restart,
      atStart,
      withNetwork,
      afterIdle,
      idleSeconds: idleS,
      idleRssMb: { min: Math.min(...rss), median: median(rss), max: Math.max(...rss) },
    };
    process.stdout.write(
      [
        `at the start${values.restart ? ' (fresh daemon)' : ''}     ${describe(atStart)}`,
        `network + ${names.length} containers    ${describe(withNetwork)}`,
        `after ${idleS} s idle         ${describe(afterIdle)}`,
        `idle RSS min / median / max  ${result.idleRssMb.min} / ${result.idleRssMb.median} / ${result.idleRssMb.max} MB (${idle.length} samples, 1 s apart)`,
        '',
      ].join('\n'),
    );
    if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(result, null, 2));
  } finally {
    log('cleaning up');
    const ids = (await exec(DOCKER, ['ps', '-aq', '--filter', `label=${LABEL}=${runId}`])).stdout
      .split('\n')
      .filter((s) => s !== '');
    if (ids.length > 0) await exec(DOCKER, ['rm', '-f', ...ids]);
    await exec(DOCKER, ['network', 'rm', net]);
  }
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
