import assert from 'node:assert/strict';
import { must, onCleanup, run, uniqueName, type RunResult } from './harness.js';

/** A LAN with a real DHCP server (busybox udhcpd) in a namespace the test makes; for the DHCP tests. */

export interface DhcpLan {
  readonly ns: string;
  /** The host end of the link to the server, for ovs.bridge.add_ports. */
  readonly port: string;
  readonly prefix: string;
  readonly leases: string;
  exec(args: readonly string[]): Promise<RunResult>;
}

let nextLan = Number.parseInt(uniqueName('x').slice(-2), 16) % 200;

/**
 * A LAN segment with a DHCP server on it: a namespace holding the server's end of a veth
 * (address .1, which is also the router, DNS server and a web server), udhcpd serving
 * .100–.150 with the given reservations. `server: false` makes the same LAN with no server.
 */
export async function makeLan(tag: string, reservations: readonly [string, number][], server = true): Promise<DhcpLan> {
  nextLan = (nextLan + 1) % 250;
  const prefix = `10.235.${nextLan}`;
  const ns = `dsdh-${tag}`;
  const port = `dsdh${tag}`.slice(0, 15);
  const inside = `dsdi${tag}`.slice(0, 15);
  const dir = `/tmp/${ns}`;
  const leases = `${dir}/udhcpd.leases`;
  onCleanup(async () => {
    const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').filter((p) => p.trim() !== '');
    for (const p of pids) await run('kill', ['-9', p.trim()]);
    await run('ip', ['netns', 'del', ns]);
    await run('ip', ['link', 'del', port]);
    await run('rm', ['-rf', dir]);
  });
  await must('mkdir', ['-p', `${dir}/www`]);
  await must('sh', ['-c', `echo "hello from the LAN server" > ${dir}/www/index.html && : > ${leases}`]);
  await must('ip', ['netns', 'add', ns]);
  await must('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', inside]);
  await must('ip', ['link', 'set', inside, 'netns', ns]);
  await must('ip', ['link', 'set', port, 'up']);
  await must('ip', ['-n', ns, 'addr', 'add', `${prefix}.1/24`, 'dev', inside]);
  await must('ip', ['-n', ns, 'link', 'set', inside, 'up']);
  await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  // Its replies cross OVS's userspace datapath: they must carry real checksums.
  await must('ip', ['netns', 'exec', ns, 'ethtool', '-K', inside, 'tx', 'off']);
  const exec = (args: readonly string[]): Promise<RunResult> => run('ip', ['netns', 'exec', ns, ...args]);
  if (server) {
    const conf = [
      `start ${prefix}.100`,
      `end ${prefix}.150`,
      `interface ${inside}`,
      `lease_file ${leases}`,
      `pidfile ${dir}/udhcpd.pid`,
      'option subnet 255.255.255.0',
      `option router ${prefix}.1`,
      `option dns ${prefix}.1`,
      'option domain lab.test',
      // Short leases, so that the test sees a renewal.
      'min_lease 10',
      'option lease 20',
      'auto_time 1',
      ...reservations.map(([mac, host]) => `static_lease ${mac} ${prefix}.${host}`),
      '',
    ].join('\n');
    await must('sh', ['-c', `cat > ${dir}/udhcpd.conf <<'EOF'\n${conf}EOF`]);
    // A short ARP check of each offered address (udhcpd answers no one else for its duration, 2 s by default).
    assert.equal((await exec(['busybox', 'udhcpd', '-a', '200', `${dir}/udhcpd.conf`])).code, 0, 'udhcpd starts');
    assert.equal(
      (await exec(['busybox', 'httpd', '-p', `${prefix}.1:8080`, '-h', `${dir}/www`])).code,
      0,
      'httpd starts',
    );
  }
  return { ns, port, prefix, leases, exec };
}

/** The server's lease table: address → { mac, host, expired }. */
export async function serverLeases(
  lan: DhcpLan,
): Promise<Map<string, { mac: string; host: string; expired: boolean }>> {
  const out = new Map<string, { mac: string; host: string; expired: boolean }>();
  const r = await run('busybox', ['dumpleases', '-f', lan.leases]);
  for (const line of r.stdout.split('\n')) {
    const m = /^([0-9a-f:]{17})\s+(\S+)\s+(\S*)\s+(.*)$/.exec(line.trim());
    if (m === null) continue;
    out.set(m[2] ?? '', { mac: m[1] ?? '', host: m[3] ?? '', expired: /expired/.test(m[4] ?? '') });
  }
  return out;
}
