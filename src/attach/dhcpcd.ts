/**
 * dhcpcd for `dovesnap attach … dhcpcd[-f]`. dhcpcd keeps its state in compiled-in host-wide
 * directories (/run/dhcpcd: pidfile and control socket named after the interface; /var/lib/dhcpcd:
 * leases), so two containers' `eth1` would share one pidfile, and its hooks would set the host's
 * resolv.conf and host name from the container's lease. So each client runs in a mount
 * namespace of its own, kept as a file (like `ip netns` keeps network namespaces), in which
 * those two directories are bind mounts of the attachment's own; its hook script is `true`, so
 * dhcpcd configures the container's interface (address, routes) and nothing else. Every step is
 * a command with an argument vector: no shell.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { runCommand } from '../net/exec.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { dhcpHostname } from '../dhcp/supervisor.js';
import { makePrivateDir } from '../util/private-dir.js';

/** Where dhcpcd keeps its run-time files and its leases (compiled in). */
export const DHCPCD_RUN_DIR = '/run/dhcpcd';
export const DHCPCD_DB_DIR = '/var/lib/dhcpcd';
const PATH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export interface DhcpcdFiles {
  /** The attachment's own directory: run/, db/ and the configuration. */
  readonly root: string;
  readonly run: string;
  readonly db: string;
  readonly conf: string;
  /** The mount namespace, bind-mounted onto this file while the client runs. */
  readonly mountNs: string;
  readonly log: string;
}

export function dhcpcdFiles(dir: string, key: string): DhcpcdFiles {
  const root = path.join(dir, `${key}.dhcpcd`);
  return {
    root,
    run: path.join(root, 'run'),
    db: path.join(root, 'db'),
    conf: path.join(root, 'dhcpcd.conf'),
    mountNs: path.join(dir, 'mnt', key),
    log: path.join(dir, `${key}.dhcpcd.log`),
  };
}

/** The dhcpcd binary, or undefined when it is not installed. */
export function dhcpcdBinary(): string | undefined {
  return PATH_DIRS.map((d) => path.join(d, 'dhcpcd')).find((p) => existsSync(p));
}

export function dhcpcdConfig(): string {
  return [
    '# dovesnap attach: dhcpcd for one container interface (written by dovesnap; do not edit)',
    'option domain_name_servers, domain_name, domain_search, classless_static_routes, interface_mtu',
    'require dhcp_server_identifier',
    'noipv4ll',
    'ipv4only',
    '',
  ].join('\n');
}

/** dhcpcd's arguments: `-B` keeps it in the foreground (its pid is the client's), `-c true` runs no hook. */
export function dhcpcdArgs(files: DhcpcdFiles, ifname: string, hostname: string, extra: readonly string[]): string[] {
  return ['-B', '-f', files.conf, '-c', '/bin/true', '-h', dhcpHostname(hostname), ...extra, ifname];
}

function isMountPoint(dir: string): boolean {
  const target = path.resolve(dir);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === target);
}

/**
 * A mount namespace can be kept on a file only if that file's mount does not propagate (else the
 * namespace would hold a reference to itself): the directory becomes a private bind mount of itself.
 */
async function ensurePrivateMountDir(dir: string): Promise<void> {
  makePrivateDir(dir);
  if (!isMountPoint(dir)) await runCommand('mount', ['--bind', dir, dir]);
  await runCommand('mount', ['--make-private', dir]);
}

/** Makes the client's mount namespace with its two directories in place; undone by stopDhcpcd. */
async function prepareMountNamespace(files: DhcpcdFiles): Promise<void> {
  for (const d of [files.run, files.db]) makePrivateDir(d);
  // The mount points must exist; on the host they stay empty (the host's own dhcpcd may use them).
  for (const d of [DHCPCD_RUN_DIR, DHCPCD_DB_DIR]) mkdirSync(d, { recursive: true, mode: 0o755 });
  await ensurePrivateMountDir(path.dirname(files.mountNs));
  if (!existsSync(files.mountNs)) writeFileSync(files.mountNs, '');
  await runCommand('unshare', [`--mount=${files.mountNs}`, '--propagation', 'private', 'true']);
  await runCommand('nsenter', [`--mount=${files.mountNs}`, '--', 'mount', '--bind', files.run, DHCPCD_RUN_DIR]);
  await runCommand('nsenter', [`--mount=${files.mountNs}`, '--', 'mount', '--bind', files.db, DHCPCD_DB_DIR]);
}

/** Starts the client in the background (detached: it outlives the attach command). */
export async function startDhcpcd(
  dir: string,
  key: string,
  netns: string,
  ifname: string,
  hostname: string,
  extra: readonly string[],
): Promise<void> {
  const binary = dhcpcdBinary();
  if (binary === undefined)
    throw new DovesnapError(ErrorCode.HostCommand, 'dhcpcd is not installed (Debian: apt install dhcpcd-base)');
  makePrivateDir(dir);
  const files = dhcpcdFiles(dir, key);
  await prepareMountNamespace(files);
  writeFileSync(files.conf, dhcpcdConfig());
  const log = openSync(files.log, 'a');
  try {
    const child = spawn(
      'nsenter',
      [`--mount=${files.mountNs}`, `--net=${netns}`, '--', binary, ...dhcpcdArgs(files, ifname, hostname, extra)],
      {
        detached: true,
        stdio: ['ignore', log, log],
        env: { PATH: PATH_DIRS.join(':') },
      },
    );
    child.on('error', () => undefined); // reported by the lease wait, and stopDhcpcd cleans up
    child.unref();
  } finally {
    closeSync(log);
  }
}

/** The mount namespace's inode, which every process of the client shares. */
function namespaceInode(files: DhcpcdFiles): number | undefined {
  try {
    return statSync(files.mountNs).ino;
  } catch {
    return undefined;
  }
}

/** The processes in the client's mount namespace (dhcpcd and its privilege-separated helpers). */
function processesIn(files: DhcpcdFiles): number[] {
  const ino = namespaceInode(files);
  if (ino === undefined || ino === 0) return [];
  const own = `mnt:[${ino}]`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/mnt`) === own) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The running client's main process, by its pidfile (`IFNAME.pid`, the only one in its run directory), if that pid is this client's. */
export function dhcpcdPid(dir: string, key: string): number | undefined {
  const files = dhcpcdFiles(dir, key);
  try {
    const pidfile = readdirSync(files.run).find((f) => f.endsWith('.pid'));
    if (pidfile === undefined) return undefined;
    const pid = Number(readFileSync(path.join(files.run, pidfile), 'utf8').trim());
    return processesIn(files).includes(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The keys of the clients whose mount namespaces are kept in `dir` (running or not). */
export function dhcpcdKeys(dir: string): string[] {
  try {
    return readdirSync(path.join(dir, 'mnt'));
  } catch {
    return [];
  }
}

/** Whether anything of the client still runs (dhcpcd removes its pidfile only as it exits). */
export function dhcpcdRunning(dir: string, key: string): boolean {
  return processesIn(dhcpcdFiles(dir, key)).length > 0;
}

async function waitGone(files: DhcpcdFiles, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processesIn(files).length > 0) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * Releases the lease and stops the client (SIGALRM, what `dhcpcd -k` sends; it works after the
 * container died too, as dhcpcd holds the container's network namespace and link); whatever still
 * runs in its mount namespace after that is killed. Then the namespace and the files go.
 * Succeeds if nothing is left to stop.
 */
export async function stopDhcpcd(dir: string, key: string): Promise<void> {
  const files = dhcpcdFiles(dir, key);
  const pid = dhcpcdPid(dir, key);
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGALRM');
    } catch {
      // exited meanwhile
    }
  }
  if (!(await waitGone(files, pid === undefined ? 0 : 5_000))) {
    for (const p of processesIn(files)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    await waitGone(files, 2_000);
  }
  if (existsSync(files.mountNs)) {
    // Lazily: a process that has the namespace open (none should) keeps it, not the file.
    await runCommand('umount', ['-l', files.mountNs]).catch(() => undefined);
    rmSync(files.mountNs, { force: true });
  }
  rmSync(files.root, { recursive: true, force: true });
  rmSync(files.log, { force: true });
  await releasePrivateMountDir(path.dirname(files.mountNs));
}

/** The last client gone, its directory stops being a mount of its own: nothing of attach stays mounted. */
async function releasePrivateMountDir(dir: string): Promise<void> {
  if (!existsSync(dir) || readdirSync(dir).length > 0) return;
  if (isMountPoint(dir)) await runCommand('umount', [dir]).catch(() => undefined);
  if (!isMountPoint(dir)) rmSync(dir, { recursive: true, force: true });
}
