import { spawn } from 'node:child_process';
import { closeSync, watch, type FSWatcher, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../util/log.js';
import { DHCP_HOOK_SCRIPT } from './hook.js';
import { parseDhcpReport, type DhcpReport } from './lease.js';
import { makePrivateDir } from '../util/private-dir.js';

/**
 * One DHCP client per container interface: busybox's udhcpc, run in the container's network
 * namespace only (`nsenter --net`), so the container can neither see it, kill it, nor change
 * what it configured. Clients are detached: they outlive a daemon restart, and the next daemon
 * adopts them by their pidfiles instead of starting new ones (a new DISCOVER could change an
 * address). A client that dies is started again with backoff; one that is stopped releases its
 * lease first (`-R`).
 *
 * Everything about a client lives in DIR: `<endpoint>.pid` (written by udhcpc), `<endpoint>.report`
 * (written by the hook at every event, see hook.ts), `<endpoint>.log`, and `hook.sh`.
 */

export interface DhcpClientSpec {
  readonly endpointId: string;
  /** The container's network namespace (Docker's SandboxKey). */
  readonly netns: string;
  /** The interface's name inside that namespace. */
  readonly ifname: string;
  /** Sent as option 12: the container's name. */
  readonly hostname: string;
  /** More udhcpc options (`dovesnap attach … dhcp:OPTS`). */
  readonly extraArgs?: readonly string[];
}

export interface DhcpClientStatus {
  readonly pid: number | undefined;
  readonly report: DhcpReport | undefined;
  /** When the hook wrote the report (the time of the event: bound, renew, nak, …). */
  readonly reportAt: Date | undefined;
  readonly restarts: number;
}

export interface DhcpSupervisorOptions {
  readonly dir: string;
  readonly logger: Logger;
  /** The busybox binary (udhcpc is one of its applets). */
  readonly busybox?: string;
  /** How often clients are checked for life. */
  readonly checkMs?: number;
  readonly maxBackoffMs?: number;
  /** Called (from the periodic check) when a client's report changed: a new lease, a renewal, a NAK. */
  readonly onReport?: (endpointId: string, report: DhcpReport) => void;
}

interface Client {
  readonly spec: DhcpClientSpec;
  restarts: number;
  nextStartAt: number;
  backoffMs: number;
  /** The report's mtime when onReport last saw it. */
  seenReportMs: number;
}

const START_GRACE_MS = 3000;
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;

/** Docker names may carry `_` and a leading `/`; a DHCP host name may not. */
export function dhcpHostname(containerName: string): string {
  const h = containerName.replace(/^\//, '').replace(/[^A-Za-z0-9.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return HOSTNAME.test(h) ? h : 'container';
}

export class DhcpSupervisor {
  private readonly clients = new Map<string, Client>();
  private readonly busybox: string;
  private readonly hook: string;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;

  constructor(private readonly opts: DhcpSupervisorOptions) {
    this.busybox = opts.busybox ?? '/bin/busybox';
    makePrivateDir(opts.dir);
    this.hook = path.join(opts.dir, 'hook.sh');
    writeFileSync(this.hook, DHCP_HOOK_SCRIPT, { mode: 0o755 });
    this.timer = setInterval(() => this.check(), opts.checkMs ?? 2000);
    this.timer.unref();
    if (opts.onReport !== undefined) {
      // A new report is acted on at once (the periodic check is the fallback): the hook renames
      // its temp file onto `<endpoint>.report`.
      try {
        this.watcher = watch(opts.dir, (_event, file) => {
          const id = typeof file === 'string' && file.endsWith('.report') ? file.slice(0, -'.report'.length) : undefined;
          const c = id === undefined ? undefined : this.clients.get(id);
          if (c !== undefined) this.noticeReport(c);
        });
        this.watcher.on('error', () => this.watcher?.close());
        this.watcher.unref();
      } catch {
        this.watcher = undefined;
      }
    }
  }

  private file(endpointId: string, ext: 'pid' | 'report' | 'log'): string {
    return path.join(this.opts.dir, `${endpointId}.${ext}`);
  }

  /** The live udhcpc of this endpoint, by its pidfile; undefined if there is none. */
  pidOf(endpointId: string): number | undefined {
    let pid: number;
    try {
      pid = Number(readFileSync(this.file(endpointId, 'pid'), 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    try {
      // A recycled pid belongs to something else: the command line must be this client's.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes('udhcpc') && cmdline.includes(this.file(endpointId, 'pid')) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Starts the endpoint's client, or adopts the one already running. Idempotent. */
  ensure(spec: DhcpClientSpec): void {
    const known = this.clients.get(spec.endpointId);
    if (known === undefined) this.clients.set(spec.endpointId, { spec, restarts: 0, nextStartAt: 0, backoffMs: 1000, seenReportMs: 0 });
    const pid = this.pidOf(spec.endpointId);
    if (pid !== undefined) {
      if (known === undefined) this.opts.logger.info({ endpoint: spec.endpointId, pid }, 'DHCP client adopted');
      return;
    }
    this.startClient(this.clients.get(spec.endpointId) ?? { spec, restarts: 0, nextStartAt: 0, backoffMs: 1000, seenReportMs: 0 });
  }

  private startClient(c: Client): void {
    const { spec } = c;
    // udhcpc writes its pidfile a moment after it starts: no second start before then.
    c.nextStartAt = Date.now() + Math.max(c.backoffMs, START_GRACE_MS);
    // A client started again (it died, the daemon restarted) asks for the address it had
    // rather than a new one.
    const previous = this.readReport(spec.endpointId)?.lease?.address;
    const log = openSync(this.file(spec.endpointId, 'log'), 'a');
    try {
      const child = spawn(
        'nsenter',
        [
          `--net=${spec.netns}`,
          '--',
          this.busybox,
          'udhcpc',
          '-f', // foreground: the pid is the client's
          '-R', // release the lease on exit
          '-i', spec.ifname,
          '-s', this.hook,
          '-p', this.file(spec.endpointId, 'pid'),
          '-x', `hostname:${dhcpHostname(spec.hostname)}`,
          '-t', '3',
          '-T', '2',
          '-A', '5', // no offer: try again after 5 s, for ever
          ...(previous === undefined ? [] : ['-r', previous]),
          ...(spec.extraArgs ?? []),
        ],
        {
          detached: true,
          stdio: ['ignore', log, log],
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DOVESNAP_DHCP_REPORT: this.file(spec.endpointId, 'report') },
        },
      );
      child.on('error', (err) => this.opts.logger.error({ endpoint: spec.endpointId, err: String(err) }, 'DHCP client could not start'));
      child.unref();
      this.opts.logger.info({ endpoint: spec.endpointId, pid: child.pid, ifname: spec.ifname, hostname: dhcpHostname(spec.hostname) }, 'DHCP client started');
    } finally {
      closeSync(log);
    }
  }

  /** Restarts dead clients, each no sooner than its backoff allows; reports new events. */
  check(now = Date.now()): void {
    for (const c of this.clients.values()) {
      this.noticeReport(c);
      if (this.pidOf(c.spec.endpointId) !== undefined) {
        // Running for a while again: the next death starts from a short backoff.
        if (now > c.nextStartAt + 60_000) c.backoffMs = 1000;
        continue;
      }
      if (now < c.nextStartAt) continue;
      c.restarts += 1;
      c.backoffMs = Math.min(c.backoffMs * 2, this.opts.maxBackoffMs ?? 30_000);
      this.opts.logger.warn({ endpoint: c.spec.endpointId, restarts: c.restarts }, 'DHCP client not running; starting it again');
      this.startClient(c);
    }
  }

  private noticeReport(c: Client): void {
    if (this.opts.onReport === undefined) return;
    const at = this.reportTime(c.spec.endpointId);
    if (at === undefined || at === c.seenReportMs) return;
    const report = this.readReport(c.spec.endpointId);
    if (report === undefined) return;
    c.seenReportMs = at;
    try {
      this.opts.onReport(c.spec.endpointId, report);
    } catch (err) {
      this.opts.logger.warn({ endpoint: c.spec.endpointId, err: String(err) }, 'DHCP report handler failed');
    }
  }

  private reportTime(endpointId: string): number | undefined {
    return this.mtime(this.file(endpointId, 'report'));
  }

  private mtime(file: string): number | undefined {
    try {
      return statSync(file).mtimeMs;
    } catch {
      return undefined;
    }
  }

  private readReport(endpointId: string): DhcpReport | undefined {
    try {
      return parseDhcpReport(readFileSync(this.file(endpointId, 'report'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /**
   * What the running client last reported, and whether it runs. A report older than the
   * client's pidfile is its predecessor's (a client started again writes its pidfile before its
   * first event, and that event flushes the address): it is not the running client's word, so
   * it is left out until the new client reports.
   */
  status(endpointId: string): DhcpClientStatus {
    const pid = this.pidOf(endpointId);
    const at = this.reportTime(endpointId);
    const startedAt = pid === undefined ? undefined : this.mtime(this.file(endpointId, 'pid'));
    const stale = at !== undefined && startedAt !== undefined && at < startedAt;
    return {
      pid,
      report: stale ? undefined : this.readReport(endpointId),
      reportAt: at === undefined || stale ? undefined : new Date(at),
      restarts: this.clients.get(endpointId)?.restarts ?? 0,
    };
  }

  /**
   * Ends the running client (it releases its lease and flushes the address) but keeps watching
   * the endpoint: `check` starts it again after its backoff, and it asks anew (a DISCOVER, no
   * requested address). For a lease the network does not take.
   */
  askAgain(endpointId: string): void {
    const pid = this.pidOf(endpointId);
    if (pid !== undefined && this.clients.has(endpointId)) process.kill(pid, 'SIGTERM');
  }

  /** Whether the supervisor watches (and restarts) this endpoint's client. */
  watches(endpointId: string): boolean {
    return this.clients.has(endpointId);
  }

  /** Endpoints with a client's files on disk (watched or not): after a restart, the candidates for adoption or collection. */
  onDisk(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.opts.dir);
    } catch {
      return [];
    }
    const ids = new Set<string>();
    for (const n of names) {
      const m = /^([0-9a-f]{64})\.(pid|report|log)$/.exec(n);
      if (m?.[1] !== undefined) ids.add(m[1]);
    }
    return [...ids];
  }

  /**
   * Stops the client (it releases its lease if it still can) and forgets it. Returns what it
   * last reported, so that the caller can release the lease itself where the client could not.
   */
  async stop(endpointId: string, waitMs = 3000): Promise<DhcpReport | undefined> {
    const last = this.readReport(endpointId);
    this.clients.delete(endpointId);
    const pid = this.pidOf(endpointId);
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + waitMs;
      while (this.pidOf(endpointId) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const still = this.pidOf(endpointId);
      if (still !== undefined) process.kill(still, 'SIGKILL');
    }
    // What the client said last (e.g. "sending release", or why it could not), for the log.
    let said = '';
    try {
      said = readFileSync(this.file(endpointId, 'log'), 'utf8').trim().split('\n').slice(-4).join(' | ');
    } catch {
      said = '';
    }
    for (const ext of ['pid', 'report', 'log'] as const) rmSync(this.file(endpointId, ext), { force: true });
    if (pid !== undefined || said !== '') this.opts.logger.info({ endpoint: endpointId, pid, clientSaid: said.slice(-400) }, 'DHCP client stopped');
    return last;
  }

  /** Stops watching; the clients keep running for the next daemon to adopt. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }
}
