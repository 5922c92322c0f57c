/**
 * ISC dhclient for `dovesnap attach … dhclient[-f]`, run from the host in the container's
 * network namespace only. Its own script (dhclient-script) would act on the host's files (it
 * runs in the host's mount namespace): dovesnap gives it a configuration, a script, a pidfile and
 * a lease file of its own, and the script touches nothing but the container's interface.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runInNetns } from '../net/exec.js';
import { dhcpHostname } from '../dhcp/supervisor.js';
import { makePrivateDir } from '../util/private-dir.js';

export const DHCLIENT_SCRIPT = `#!/bin/sh
# dovesnap attach: dhclient's event script (written by dovesnap; do not edit). Runs in the
# container's network namespace with the host's tools, and touches only that interface.
case "$reason" in
  PREINIT)
    ip link set dev "$interface" up
    ;;
  BOUND|RENEW|REBIND|REBOOT)
    if [ "\${old_ip_address:-}" != "$new_ip_address" ] || ! ip -4 -o addr show dev "$interface" | grep -q " $new_ip_address/"; then
      ip -4 addr flush dev "$interface"
      ip addr add "$new_ip_address/\${new_subnet_mask:-255.255.255.255}" dev "$interface"
    fi
    if [ -n "\${new_routers:-}" ]; then
      set -- $new_routers
      ip route replace default via "$1" dev "$interface"
    fi
    ;;
  EXPIRE|FAIL|RELEASE|STOP)
    ip -4 addr flush dev "$interface"
    ;;
esac
exit 0
`;

export interface DhclientFiles {
  readonly conf: string;
  readonly script: string;
  readonly pid: string;
  readonly leases: string;
  readonly log: string;
}

export function dhclientFiles(dir: string, key: string): DhclientFiles {
  return {
    conf: path.join(dir, `${key}.dhclient.conf`),
    script: path.join(dir, 'dhclient-script.sh'),
    pid: path.join(dir, `${key}.dhclient.pid`),
    leases: path.join(dir, `${key}.dhclient.leases`),
    log: path.join(dir, `${key}.dhclient.log`),
  };
}

/** dhclient's arguments for these files (`-d` keeps it in the foreground: its pid is the client's). */
export function dhclientArgs(files: DhclientFiles, ifname: string, extra: readonly string[]): string[] {
  return ['-4', '-d', '-cf', files.conf, '-sf', files.script, '-pf', files.pid, '-lf', files.leases, ...extra, ifname];
}

/** Starts the client in the background (detached: it outlives the attach command). */
export function startDhclient(
  dir: string,
  key: string,
  netns: string,
  ifname: string,
  hostname: string,
  extra: readonly string[],
): number | undefined {
  makePrivateDir(dir);
  const files = dhclientFiles(dir, key);
  writeFileSync(files.script, DHCLIENT_SCRIPT, { mode: 0o755 });
  writeFileSync(
    files.conf,
    `send host-name "${dhcpHostname(hostname)}";\nrequest subnet-mask, broadcast-address, routers, domain-name, domain-name-servers;\n`,
  );
  const log = openSync(files.log, 'a');
  try {
    const child = spawn('nsenter', [`--net=${netns}`, '--', 'dhclient', ...dhclientArgs(files, ifname, extra)], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    child.on('error', () => undefined); // no dhclient: the lease wait says so
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** The running client, by its pidfile, if that pid is still this client's. */
export function dhclientPid(dir: string, key: string): number | undefined {
  const files = dhclientFiles(dir, key);
  try {
    const pid = Number(readFileSync(files.pid, 'utf8').trim());
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('dhclient') && cmd.includes(files.pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Releases the lease (`dhclient -r`, which also stops the running client) while the container's
 * namespace exists; otherwise stops the client. Removes the files either way.
 */
export async function stopDhclient(
  dir: string,
  key: string,
  netns: string,
  ifname: string,
  netnsAlive: boolean,
): Promise<void> {
  const files = dhclientFiles(dir, key);
  if (netnsAlive) {
    await runInNetns(
      netns,
      'dhclient',
      ['-4', '-r', '-cf', files.conf, '-sf', files.script, '-pf', files.pid, '-lf', files.leases, ifname],
      { timeoutMs: 10_000 },
    ).catch(() => undefined);
  }
  const pid = dhclientPid(dir, key);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 30 && dhclientPid(dir, key) !== undefined; i++) await new Promise((r) => setTimeout(r, 100));
    const still = dhclientPid(dir, key);
    if (still !== undefined) process.kill(still, 'SIGKILL');
  }
  for (const f of [files.conf, files.pid, files.leases, files.log]) rmSync(f, { force: true });
}
