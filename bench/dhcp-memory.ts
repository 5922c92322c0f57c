/**
 * What DHCP networks cost in memory: N containers on one `ovs.bridge.dhcp=true` network, each
 * leased by the LAN's server, measured once all are bound.
 *
 *   node dist/bench/dhcp-memory.js [--n 100] [--parallel 4] [--json out.json]
 *
 * Makes a LAN the benchmark owns (a network namespace with busybox udhcpd serving a /24,
 * joined to the network through ovs.bridge.add_ports), starts N containers, waits until the
 * status API shows every one bound, and reports: the daemon's RSS before, at the end and its
 * peak (sampled every 500 ms), every process dovesnap runs for the clients (one udhcpc per
 * container, found by its pidfile in the DHCP directory) with their RSS and PSS (busybox is
 * one static binary whose pages the clients share, so PSS is what they really cost), and the
 * time from the first `docker run` to the last lease. Everything made is removed at the end,
 * also on failure.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { exec, memoryKb, must, poolMap, waitFor } from './proc.js';

const DOCKER = process.env['DOCKER'] ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
const IMAGE = process.env['DOVESNAP_TEST_IMAGE'] ?? 'dovesnap-busybox:latest';
const PIDFILE = process.env['DOVESNAP_PIDFILE'] ?? '/run/dovesnap/dovesnap.pid';
const STATUS = process.env['DOVESNAP_STATUS_URL'] ?? 'http://127.0.0.1:9401';
const DHCP_DIR = process.env['DOVESNAP_DHCP_DIR'] ?? '/run/dovesnap/dhcp';
const LABEL = 'org.dovesnap.bench.run';
const runId = randomBytes(3).toString('hex');
const log = (msg: string): void =>
  void process.stderr.write(`[dhcp-memory ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

function daemonRssKb(): number {
  const pid = Number(readFileSync(PIDFILE, 'utf8').trim());
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/** Processes whose command line names the DHCP directory: the clients, and anything else dovesnap left running for them. */
function dhcpProcesses(): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(DHCP_DIR)) out.push({ pid: Number(p), cmd: cmd.split('\0')[1] ?? cmd.split('\0')[0] ?? '' });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

interface StatusDoc {
  readonly [id: string]: {
    readonly NetworkName: string;
    readonly Containers: Readonly<Record<string, { readonly Dhcp: { readonly State: string } | null }>>;
  };
}

async function boundCount(net: string): Promise<number> {
  const doc = (await (await fetch(`${STATUS}/networks`)).json()) as StatusDoc;
  const n = Object.values(doc).find((x) => x.NetworkName === net);
  return Object.values(n?.Containers ?? {}).filter((c) => c.Dhcp?.State === 'bound').length;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '100' },
      parallel: { type: 'string', default: '4' },
      json: { type: 'string' },
    },
  });
  const n = Number(values.n);
  const parallel = Number(values.parallel);
  if (!(n >= 1 && n <= 240)) throw new Error('--n: 1..240 (one /24 pool)');
  const net = `dsdm-${runId}`;
  const ns = `dsdm-${runId}`;
  const port = `dsdm${runId}`;
  const inside = `dsdn${runId}`;
  const prefix = `10.236.${(randomBytes(1)[0] ?? 0) % 250}`;
  const dir = `/tmp/${ns}`;
  const dpid = `0x${(0xd6c0000 + (randomBytes(2).readUInt16BE(0) << 4)).toString(16)}`;
  const names = Array.from({ length: n }, (_, i) => `${net}-c${i}`);
  let peakKb = 0;
  const sampler = setInterval(() => {
    peakKb = Math.max(peakKb, daemonRssKb());
  }, 500);
  try {
    await must('mkdir', ['-p', dir]);
    await must('ip', ['netns', 'add', ns]);
    await must('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', inside]);
    await must('ip', ['link', 'set', inside, 'netns', ns]);
    await must('ip', ['link', 'set', port, 'up']);
    await must('ip', ['-n', ns, 'addr', 'add', `${prefix}.1/24`, 'dev', inside]);
    await must('ip', ['-n', ns, 'link', 'set', inside, 'up']);
    await must('ip', ['netns', 'exec', ns, 'ethtool', '-K', inside, 'tx', 'off']);
    writeFileSync(
      `${dir}/udhcpd.conf`,
      [
        `start ${prefix}.10`,
        `end ${prefix}.250`,
        'max_leases 241',
        `interface ${inside}`,
        `lease_file ${dir}/leases`,
        `pidfile ${dir}/udhcpd.pid`,
        'option subnet 255.255.255.0',
        `option router ${prefix}.1`,
        'option lease 3600',
        '',
      ].join('\n'),
    );
    writeFileSync(`${dir}/leases`, '');
    // udhcpd checks each address it offers with an ARP ping and serves nobody meanwhile (2 s by
    // default): with a hundred clients asking at once that, not dovesnap, would be measured.
    await must('ip', ['netns', 'exec', ns, 'busybox', 'udhcpd', '-a', '100', `${dir}/udhcpd.conf`]);
    await must(DOCKER, [
      'network',
      'create',
      '-d',
      'dovesnap',
      '--internal',
      '--ipam-driver',
      'null',
      '-o',
      'ovs.bridge.dhcp=true',
      '-o',
      'ovs.bridge.mode=flat',
      '-o',
      `ovs.bridge.dpid=${dpid}`,
      '-o',
      `ovs.bridge.add_ports=${port}`,
      net,
    ]);
    const before = daemonRssKb();
    peakKb = before;
    log(`network ${net}; daemon RSS ${(before / 1024).toFixed(1)} MB; starting ${n} containers, ${parallel} at a time`);
    const started = Date.now();
    await poolMap(names, parallel, async (name) =>
      must(DOCKER, ['run', '-d', '--name', name, '--label', `${LABEL}=${runId}`, '--net', net, IMAGE, 'sleep', '3600']),
    );
    const runsDone = Date.now();
    await waitFor(`${n} leases`, async () => ((await boundCount(net)) >= n ? true : undefined), 600_000, 1000);
    const allBound = Date.now();
    // Let renewals and the hook's short-lived processes settle before counting.
    await new Promise((r) => setTimeout(r, 3000));
    const procs = dhcpProcesses().map((p) => ({ ...p, mem: memoryKb(p.pid) }));
    const clients = procs.filter((p) => p.cmd.includes('busybox') || p.cmd.includes('udhcpc'));
    const sum = (k: 'rss' | 'pss'): number => clients.reduce((acc, p) => acc + (p.mem?.[k] ?? 0), 0);
    const after = daemonRssKb();
    const result = {
      containers: n,
      dockerRunAllMs: runsDone - started,
      lastLeaseAfterFirstRunMs: allBound - started,
      daemonRssMb: { before: before / 1024, after: after / 1024, peak: peakKb / 1024 },
      processes: procs.length,
      clients: clients.length,
      clientRssKb: { total: sum('rss'), each: sum('rss') / Math.max(1, clients.length) },
      clientPssKb: { total: sum('pss'), each: sum('pss') / Math.max(1, clients.length) },
    };
    process.stdout.write(
      [
        `containers                         ${n} (all bound)`,
        `docker run of all                  ${(result.dockerRunAllMs / 1000).toFixed(1)} s (${parallel} at a time)`,
        `first run -> last lease            ${(result.lastLeaseAfterFirstRunMs / 1000).toFixed(1)} s`,
        `daemon RSS before / after / peak   ${result.daemonRssMb.before.toFixed(1)} / ${result.daemonRssMb.after.toFixed(1)} / ${result.daemonRssMb.peak.toFixed(1)} MB`,
        `processes for the clients          ${procs.length} (udhcpc: ${clients.length})`,
        `udhcpc RSS total / each            ${(result.clientRssKb.total / 1024).toFixed(1)} MB / ${result.clientRssKb.each.toFixed(0)} kB`,
        `udhcpc PSS total / each            ${(result.clientPssKb.total / 1024).toFixed(1)} MB / ${result.clientPssKb.each.toFixed(0)} kB`,
        '',
      ].join('\n'),
    );
    if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(result, null, 2));
  } finally {
    clearInterval(sampler);
    log('cleaning up');
    const ids = (await exec(DOCKER, ['ps', '-aq', '--filter', `label=${LABEL}=${runId}`])).stdout
      .split('\n')
      .filter((s) => s !== '');
    for (let i = 0; i < ids.length; i += 50) await exec(DOCKER, ['rm', '-f', ...ids.slice(i, i + 50)]);
    await exec(DOCKER, ['network', 'rm', net]);
    for (const pid of (await exec('ip', ['netns', 'pids', ns])).stdout.split('\n').filter((s) => s !== ''))
      await exec('kill', ['-9', pid]);
    await exec('ip', ['netns', 'del', ns]);
    await exec('ip', ['link', 'del', port]);
    await exec('rm', ['-rf', dir]);
  }
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
