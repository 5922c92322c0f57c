/**
 * Daemon restart with many endpoints: does dovesnap adopt what exists, quickly, without
 * recreating a port or losing a packet of a running ping?
 *
 *   node dist/bench/restart.js [--n 500] [--networks 1] [--parallel 6] [--json out.json]
 *
 * Starts N containers on one flat dovesnap network (a /22 in 10.233.0.0/16), or spread evenly
 * over --networks K of them (one FAUCET DP each, so that no single DP has to carry N ports:
 * FAUCET 1.10 takes minutes over a 500-port DP, see docs/benchmarks.md), waits until all
 * are connected, records every container port's OVSDB row UUID and OpenFlow number, starts a
 * ping (10 per second) between two of them, then SIGKILLs the daemon and starts it again with
 * `scripts/up.sh`. Reported, from the daemon's own log and /proc: process start -> serving
 * Docker ("dovesnap ready"), process start -> first full reconcile pass done (every endpoint
 * checked against Docker, FAUCET's file re-rendered), ports whose row or number changed, and
 * the ping's loss, and the daemon's peak RSS over the whole run (the removal included).
 * Everything made is removed at the end, also on failure.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { exec, must, poolMap, waitFor } from './proc.js';

const DOCKER = process.env['DOCKER'] ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
const IMAGE = process.env['DOVESNAP_TEST_IMAGE'] ?? 'dovesnap-busybox:latest';
const PIDFILE = process.env['DOVESNAP_PIDFILE'] ?? '/run/dovesnap/dovesnap.pid';
const DAEMON_LOG = process.env['DOVESNAP_LOG'] ?? '/var/log/dovesnap/dovesnap.log';
const STATUS = process.env['DOVESNAP_STATUS_URL'] ?? 'http://127.0.0.1:9401';
const REPO = new URL('../..', import.meta.url).pathname;
const LABEL = 'org.dovesnap.bench.run';
const runId = randomBytes(3).toString('hex');
/**
 * Samples the daemon's VmRSS every 250 ms for the whole run (the pid changes at the restart),
 * keeping the peak of each phase: the mass start, the restart, the mass removal.
 */
function sampleDaemonRss(): {
  phase: (name: string) => void;
  stop: () => { peaks: Record<string, number>; samples: number };
} {
  const peaksKb: Record<string, number> = {};
  let current = 'start';
  let samples = 0;
  const timer = setInterval(() => {
    try {
      const pid = readFileSync(PIDFILE, 'utf8').trim();
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      if (Number.isFinite(kb)) {
        peaksKb[current] = Math.max(peaksKb[current] ?? 0, kb);
        samples++;
      }
    } catch {
      // Between the SIGKILL and the new daemon's pidfile there is nothing to read.
    }
  }, 250);
  return {
    phase: (name) => {
      current = name;
    },
    stop: () => {
      clearInterval(timer);
      return {
        peaks: Object.fromEntries(Object.entries(peaksKb).map(([k, v]) => [k, Math.round(v / 102.4) / 10])),
        samples,
      };
    },
  };
}

const log = (msg: string): void =>
  void process.stderr.write(`[restart ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

interface PortRow {
  readonly uuid: string;
  readonly ofport: number;
}

/** Every dovesnap container port, and every ready port (taken or not): name -> Interface row UUID and OpenFlow number. */
async function containerPorts(): Promise<Map<string, PortRow>> {
  const out = JSON.parse(
    await must('ovs-vsctl', ['-f', 'json', '--columns=_uuid,name,ofport', 'list', 'Interface']),
  ) as { data: [unknown, unknown, unknown][] };
  // ovs-vsctl's JSON keeps OVSDB's typed atoms: ["uuid", "…"] for the row's UUID.
  const atom = (v: unknown): string => String(Array.isArray(v) ? v[1] : v);
  return new Map(
    out.data
      .map(([uuid, name, ofport]) => [atom(name), { uuid: atom(uuid), ofport: Number(atom(ofport)) }] as const)
      .filter(([name]) => name.startsWith('dsp') || name.startsWith('dsq')),
  );
}

/** When a process started, in epoch ms, from /proc. */
function processStartMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(fields[19]);
  const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
  return btime * 1000 + (startTicks * 1000) / 100; // USER_HZ is 100 on Linux
}

function logTime(pid: number, msg: string): number | undefined {
  for (const line of readFileSync(DAEMON_LOG, 'utf8').split('\n').reverse()) {
    if (!line.includes(`"pid":${pid},`) || !line.includes(`"msg":"${msg}"`)) continue;
    return (JSON.parse(line) as { time: number }).time;
  }
  return undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '500' },
      networks: { type: 'string', default: '1' },
      parallel: { type: 'string', default: '6' },
      json: { type: 'string' },
    },
  });
  const n = Number(values.n);
  const k = Number(values.networks);
  const parallel = Number(values.parallel);
  if (!(n >= 4 && n <= 1000)) throw new Error('--n: 4..1000');
  if (!(Number.isInteger(k) && k >= 1 && k <= 50 && n / k >= 2))
    throw new Error('--networks: 1..50, at least 2 containers each');
  const dpidBase = 0xd5c0000 + (randomBytes(2).readUInt16BE(0) << 6);
  const rand = randomBytes(1)[0] ?? 0;
  // One network: a /22 in 10.233.0.0/16 (as before). Several: a /24 each in 10.232.0.0/16.
  const nets =
    k === 1
      ? [{ name: `dsr-${runId}`, subnet: `10.233.${(rand % 60) * 4}.0/22`, dpid: `0x${dpidBase.toString(16)}` }]
      : Array.from({ length: k }, (_, j) => ({
          name: `dsr-${runId}-${j}`,
          subnet: `10.232.${(rand + j) % 250}.0/24`,
          dpid: `0x${(dpidBase + j).toString(16)}`,
        }));
  if (k > 1 && Math.ceil(n / k) > 250) throw new Error('--networks: at most 250 containers per /24 network');
  const names = Array.from({ length: n }, (_, i) => ({ name: `dsr-${runId}-c${i}`, net: nets[i % k]?.name ?? '' }));
  const net = nets[0]?.name ?? '';
  const rss = sampleDaemonRss();
  let result: Record<string, number> | undefined;
  try {
    for (const x of nets)
      await must(DOCKER, [
        'network',
        'create',
        '-d',
        'dovesnap',
        '-o',
        `ovs.bridge.dpid=${x.dpid}`,
        '--subnet',
        x.subnet,
        x.name,
      ]);
    log(
      `${k} network(s) ${nets.map((x) => `${x.name} ${x.subnet}`).join(', ')}; starting ${n} containers, ${parallel} at a time`,
    );
    const t0 = Date.now();
    await poolMap(names, parallel, (c) =>
      must(DOCKER, [
        'run',
        '-d',
        '--name',
        c.name,
        '--net',
        c.net,
        '--label',
        `${LABEL}=${runId}`,
        IMAGE,
        'sleep',
        '86400',
      ]),
    );
    log(`${n} containers started in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await waitFor(
      'every container connected',
      async () => {
        const doc = (await (await fetch(`${STATUS}/networks`)).json()) as Record<
          string,
          {
            NetworkName: string;
            Containers: Record<string, { Name: string; OFPort: number | null; Blocked: string | null }>;
          }
        >;
        const ours = new Set(nets.map((x) => x.name));
        const cs = Object.values(doc)
          .filter((x) => ours.has(x.NetworkName))
          .flatMap((x) => Object.values(x.Containers));
        return cs.length === n && cs.every((c) => c.Name !== '' && c.OFPort !== null && c.Blocked === null)
          ? true
          : undefined;
      },
      300_000,
    );
    // Two containers of the first network ping each other through the restart.
    const [a, b] = [names[0]?.name, names[k]?.name];
    const bIp = await must(DOCKER, [
      'inspect',
      '-f',
      `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`,
      b ?? '',
    ]);
    await waitFor(
      'a first ping',
      async () =>
        (await exec(DOCKER, ['exec', a ?? '', 'ping', '-c', '1', '-W', '1', bIp])).code === 0 ? true : undefined,
      60_000,
    );
    // Names reach FAUCET's file once starting stops for a moment; let that write pass too.
    await new Promise((r) => setTimeout(r, 5000));
    const before = await containerPorts();

    rss.phase('restart');
    const oldPid = Number(readFileSync(PIDFILE, 'utf8').trim());
    const pinging = exec(DOCKER, ['exec', a ?? '', 'ping', '-i', '0.1', '-c', '150', '-W', '1', bIp]);
    await new Promise((r) => setTimeout(r, 2000));
    log(`SIGKILL daemon ${oldPid}; scripts/up.sh starts it again`);
    process.kill(oldPid, 'SIGKILL');
    await must('bash', [`${REPO}/scripts/up.sh`]);
    const newPid = Number(readFileSync(PIDFILE, 'utf8').trim());
    const started = processStartMs(newPid);
    const ready = await waitFor('dovesnap ready', async () => logTime(newPid, 'dovesnap ready'), 60_000);
    const passed = await waitFor('the full pass', async () => logTime(newPid, 'full reconcile pass done'), 120_000);
    const ping = await pinging;
    const after = await containerPorts();
    let recreated = 0;
    for (const [name, row] of before) {
      const now = after.get(name);
      if (now === undefined || now.uuid !== row.uuid || now.ofport !== row.ofport) recreated++;
    }
    const m = /(\d+) packets transmitted, (\d+) packets received/.exec(ping.stdout);
    const sent = Number(m?.[1] ?? NaN);
    const received = Number(m?.[2] ?? NaN);
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${newPid}/status`, 'utf8'))?.[1]);
    result = {
      n,
      networks: k,
      endpointsBefore: before.size,
      readyMs: ready - started,
      fullPassMs: passed - started,
      portsRecreated: recreated,
      pingSent: sent,
      pingReceived: received,
      rssMb: Math.round(rssKb / 102.4) / 10,
    };
    process.stdout.write(
      `\n| containers (networks) | start -> serving | start -> full pass done | ports recreated | ping during restart (sent/received) | RSS after |\n|--:|--:|--:|--:|--:|--:|\n` +
        `| ${n} (${k}) | ${result.readyMs} ms | ${result.fullPassMs} ms | ${recreated} of ${before.size} | ${sent}/${received} | ${result.rssMb} MB |\n`,
    );
  } finally {
    log('cleaning up');
    rss.phase('removal');
    const ids = (await exec(DOCKER, ['ps', '-aq', '--filter', `label=${LABEL}=${runId}`])).stdout
      .split('\n')
      .filter((s) => s !== '');
    for (let i = 0; i < ids.length; i += 50) await exec(DOCKER, ['rm', '-f', ...ids.slice(i, i + 50)]);
    for (const x of nets) await exec(DOCKER, ['network', 'rm', x.name]);
    const { peaks, samples } = rss.stop();
    process.stdout.write(
      `daemon RSS peaks (MB, ${samples} samples): ${Object.entries(peaks)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}\n`,
    );
    if (result !== undefined && values.json !== undefined)
      writeFileSync(values.json, JSON.stringify({ ...result, rssPeaksMb: peaks }, null, 2));
  }
}

main().catch((err: unknown) => {
  log(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
