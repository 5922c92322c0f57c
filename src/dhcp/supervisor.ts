import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  watch,
  type FSWatcher,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { Logger } from '../util/log.js';
import { DHCP_HOOK_SCRIPT } from './hook.js';
import { parseDhcpReport, type DhcpReport } from './lease.js';
import { makePrivateDir } from '../util/private-dir.js';
import { errorMessage } from '../util/errors.js';
import {
  clientIfname,
  DHCP_FILE_KINDS,
  dhcpFile,
  runningDhcpClient,
  type DhcpFileKind,
  type RunningDhcpClient,
} from './files.js';

/**
 * One DHCP client per container interface: busybox's udhcpc, run in the container's network
 * namespace only (`nsenter --net`), so the container can neither see it, kill it, nor change
 * what it configured. Clients are detached: they outlive a daemon restart, and the next daemon
 * adopts them by their pidfiles instead of starting new ones (a new DISCOVER could change an
 * address). A client that dies is started again with backoff; one that is stopped releases its
 * lease first (`-R`).
 *
 * Everything about a client lives in DIR (see files.ts): `<endpoint>.pid` (written by udhcpc),
 * `<endpoint>.report` (written by the hook at every event, see hook.ts), `<endpoint>.log`, a
 * restart request `<endpoint>.restart` (restart-request.ts), and `hook.sh`.
 *
 * A client is tied to its endpoint's interface, not to the name that interface had when the
 * client first started: a lab (or an operator) may rename it inside the container. udhcpc only
 * knows a name, so every restart asks `resolveIfname` for the current one, and a rename is
 * noticed by the periodic check (see watchName) and answered by a restart under the new name.
 */

export interface DhcpClientSpec {
  readonly endpointId: string;
  /** The container's network namespace (Docker's SandboxKey). */
  readonly netns: string;
  /** The interface's name inside that namespace when the client is first started (just looked up by the caller). */
  readonly ifname: string;
  /**
   * The interface's name now: the endpoint's interface is the peer of its host-side veth,
   * whatever the container has renamed it to. Asked before every restart and when a rename is
   * suspected; undefined while the interface is not there or not up. Without it the client
   * keeps `ifname`.
   */
  readonly resolveIfname?: () => Promise<string | undefined>;
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
  /** The interface the running client uses (its `-i`), or the one it was last started on. */
  readonly ifname: string | undefined;
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
  /** The nsenter binary (tests put a stand-in here). */
  readonly nsenter?: string;
  /** The names of the links in a process's network namespace, in the kernel's order (tests put a stand-in here). */
  readonly linkNames?: (pid: number) => string | undefined;
}

interface Client {
  readonly spec: DhcpClientSpec;
  restarts: number;
  nextStartAt: number;
  backoffMs: number;
  /** The report's mtime when onReport last saw it. */
  seenReportMs: number;
  /** The name the client was last started on. */
  ifname: string | undefined;
  /** The namespace's link names (linkNames) when the client's name was last confirmed. */
  linksSeen: string | undefined;
  /** A start or a name check is under way (each awaits resolveIfname): nothing else is begun meanwhile. */
  busy: boolean;
  /** The process this supervisor last spawned for it (none for an adopted client). */
  child: ChildProcess | undefined;
}

function newClient(spec: DhcpClientSpec): Client {
  return {
    spec,
    restarts: 0,
    nextStartAt: 0,
    backoffMs: 1000,
    seenReportMs: 0,
    ifname: undefined,
    linksSeen: undefined,
    busy: false,
    child: undefined,
  };
}

/**
 * The interface names of a process's network namespace, from `/proc/PID/net/dev` (the kernel
 * lists them by ifindex). A rename changes this string, even a swap of two names (each index
 * keeps its place, the names trade places), and so does an interface that comes or goes.
 */
export function procLinkNames(pid: number): string | undefined {
  try {
    return parseNetDevNames(readFileSync(`/proc/${pid}/net/dev`, 'utf8'));
  } catch {
    return undefined;
  }
}

export function parseNetDevNames(text: string): string {
  return text
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]?.trim() ?? '')
    .filter((n) => n !== '')
    .join(' ');
}

const START_GRACE_MS = 3000;
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;

/** Docker names may carry `_` and a leading `/`; a DHCP host name may not. */
export function dhcpHostname(containerName: string): string {
  const h = containerName
    .replace(/^\//, '')
    .replace(/[^A-Za-z0-9.-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return HOSTNAME.test(h) ? h : 'container';
}

export class DhcpSupervisor {
  private readonly clients = new Map<string, Client>();
  private readonly busybox: string;
  private readonly nsenter: string;
  private readonly linkNames: (pid: number) => string | undefined;
  private readonly hook: string;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;

  constructor(private readonly opts: DhcpSupervisorOptions) {
    this.busybox = opts.busybox ?? '/bin/busybox';
    this.nsenter = opts.nsenter ?? 'nsenter';
    this.linkNames = opts.linkNames ?? procLinkNames;
    makePrivateDir(opts.dir);
    this.hook = path.join(opts.dir, 'hook.sh');
    writeFileSync(this.hook, DHCP_HOOK_SCRIPT, { mode: 0o755 });
    this.timer = setInterval(() => this.check(), opts.checkMs ?? 2000);
    this.timer.unref();
    // A new report, or a restart request (restart-request.ts), is acted on at once; the periodic
    // check is the fallback. Both arrive as a temp file renamed onto its name.
    try {
      this.watcher = watch(opts.dir, (_event, file) => {
        const m = typeof file === 'string' ? /^([0-9a-f]{64})\.(report|restart)$/.exec(file) : null;
        const c = m?.[1] === undefined ? undefined : this.clients.get(m[1]);
        if (c === undefined) return;
        if (m?.[2] === 'report') this.noticeReport(c);
        else if (existsSync(this.file(c.spec.endpointId, 'restart'))) this.follow(c, 'restart requested');
      });
      this.watcher.on('error', () => this.watcher?.close());
      this.watcher.unref();
    } catch {
      this.watcher = undefined;
    }
  }

  private file(endpointId: string, kind: DhcpFileKind): string {
    return dhcpFile(this.opts.dir, endpointId, kind);
  }

  /** The live udhcpc of this endpoint, by its pidfile; undefined if there is none. */
  pidOf(endpointId: string): number | undefined {
    return runningDhcpClient(this.opts.dir, endpointId)?.pid;
  }

  /**
   * The client's process: by its pidfile, or, in the moment between its start and its pidfile,
   * the process this supervisor spawned (nsenter execs udhcpc: the same pid).
   */
  private processOf(c: Client): RunningDhcpClient | undefined {
    const running = runningDhcpClient(this.opts.dir, c.spec.endpointId);
    if (running !== undefined) return running;
    const child = c.child;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return undefined;
    // Dead but not reaped yet (Node has not seen its exit): a zombie's command line reads empty.
    try {
      const args = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
      return args === '' ? undefined : { pid: child.pid, args: args.split('\0') };
    } catch {
      return undefined;
    }
  }

  /** The interface the client's process was started on: its `-i`, else the name this supervisor gave it. */
  private runningName(c: Client, p: RunningDhcpClient): string | undefined {
    return clientIfname(p.args) ?? c.ifname;
  }

  /** Starts the endpoint's client, or adopts the one already running. Idempotent. */
  ensure(spec: DhcpClientSpec): void {
    const known = this.clients.get(spec.endpointId);
    const c = known ?? newClient(spec);
    if (known === undefined) this.clients.set(spec.endpointId, c);
    const running = runningDhcpClient(this.opts.dir, spec.endpointId);
    if (running !== undefined) {
      if (known === undefined)
        this.opts.logger.info(
          { endpoint: spec.endpointId, pid: running.pid, ifname: clientIfname(running.args) },
          'DHCP client adopted',
        );
      return;
    }
    // A start under way (its pidfile is not written yet, or it is looking up the name): not doubled.
    if (c.busy || this.processOf(c) !== undefined) return;
    // The caller has just looked the name up: the first start uses it as it is.
    this.spawnClient(c, spec.ifname);
  }

  private spawnClient(c: Client, ifname: string): void {
    const { spec } = c;
    // Stopped while a restart was being prepared: nothing to start.
    if (this.clients.get(spec.endpointId) !== c) return;
    // A start serves any restart request: it uses the name the caller or resolveIfname has just given.
    rmSync(this.file(spec.endpointId, 'restart'), { force: true });
    // udhcpc writes its pidfile a moment after it starts: no second start before then.
    c.nextStartAt = Date.now() + Math.max(c.backoffMs, START_GRACE_MS);
    c.ifname = ifname;
    // The first check after a start confirms the name once: a rename may have raced this start.
    c.linksSeen = undefined;
    // A client started again (it died, the daemon restarted, the interface was renamed) asks
    // for the address it had rather than a new one.
    const previous = this.readReport(spec.endpointId)?.lease?.address;
    const log = openSync(this.file(spec.endpointId, 'log'), 'a');
    try {
      const child = spawn(
        this.nsenter,
        [
          `--net=${spec.netns}`,
          '--',
          this.busybox,
          'udhcpc',
          '-f', // foreground: the pid is the client's
          '-R', // release the lease on exit
          '-i',
          ifname,
          '-s',
          this.hook,
          '-p',
          this.file(spec.endpointId, 'pid'),
          '-x',
          `hostname:${dhcpHostname(spec.hostname)}`,
          '-t',
          '3',
          '-T',
          '2',
          '-A',
          '5', // no offer: try again after 5 s, for ever
          ...(previous === undefined ? [] : ['-r', previous]),
          ...(spec.extraArgs ?? []),
        ],
        {
          detached: true,
          stdio: ['ignore', log, log],
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DOVESNAP_DHCP_REPORT: this.file(spec.endpointId, 'report') },
        },
      );
      child.on('error', (err) =>
        this.opts.logger.error({ endpoint: spec.endpointId, err: String(err) }, 'DHCP client could not start'),
      );
      child.unref();
      c.child = child;
      this.opts.logger.info(
        { endpoint: spec.endpointId, pid: child.pid, ifname, hostname: dhcpHostname(spec.hostname) },
        'DHCP client started',
      );
    } finally {
      closeSync(log);
    }
  }

  /**
   * One start or name check per client at a time. A restart request that came meanwhile is
   * served after it; not after a request's own task, which leaves an unserved request (the
   * interface not up yet) to the periodic check rather than trying again at once, for ever.
   */
  private task(c: Client, what: 'restart' | 'rename suspected' | 'restart requested', fn: () => Promise<void>): void {
    if (c.busy) return;
    c.busy = true;
    fn()
      .catch((err: unknown) =>
        this.opts.logger.warn(
          { endpoint: c.spec.endpointId, what, err: errorMessage(err) },
          'DHCP client supervision failed',
        ),
      )
      .finally(() => {
        c.busy = false;
        if (
          what !== 'restart requested' &&
          this.clients.get(c.spec.endpointId) === c &&
          existsSync(this.file(c.spec.endpointId, 'restart'))
        )
          this.follow(c, 'restart requested');
      });
  }

  /** The interface's name now, from resolveIfname (or the name the client has, without one). */
  private async currentName(c: Client): Promise<string | undefined> {
    const resolve = c.spec.resolveIfname;
    if (resolve === undefined) return c.ifname ?? c.spec.ifname;
    return resolve().catch(() => undefined);
  }

  /** A dead client started again (counted, with backoff: see check), under its interface's current name. */
  private restartDead(c: Client): void {
    this.task(c, 'restart', async () => {
      const name = await this.currentName(c);
      if (name === undefined) {
        this.opts.logger.warn(
          { endpoint: c.spec.endpointId, netns: c.spec.netns },
          'DHCP client not started again: its interface is not up in the container; trying again',
        );
        return;
      }
      if (this.processOf(c) === undefined) this.spawnClient(c, name);
    });
  }

  /**
   * Makes the client run on its interface's current name. Looks the name up; on a restart
   * request, or if the client runs under another name, ends it (SIGKILL: on SIGTERM udhcpc
   * would release the lease and run its hook's deconfig under the old name, which may now be
   * another interface; killed, it leaves the address where it is) and starts it under the
   * current one, asking for its address again (`-r`). Not a death: no backoff, not counted.
   * For a rename suspected by the periodic check (`links`: what it read), or a restart request.
   */
  private follow(c: Client, why: 'rename suspected' | 'restart requested', links?: string): void {
    const id = c.spec.endpointId;
    const requested = why === 'restart requested';
    this.task(c, why, async () => {
      const name = await this.currentName(c);
      // Gone, or not up (in the middle of a rename?): the check looks again (a request stays on disk).
      if (this.clients.get(id) !== c || name === undefined) return;
      if (links !== undefined) c.linksSeen = links;
      if (requested) rmSync(this.file(id, 'restart'), { force: true });
      const p = this.processOf(c);
      const runs = p === undefined ? undefined : this.runningName(c, p);
      if (p !== undefined && runs === name && !requested) return;
      this.opts.logger.info(
        { endpoint: id, why, from: runs, to: name, pid: p?.pid },
        runs !== undefined && runs !== name
          ? "the DHCP client's interface was renamed in the container; starting the client again under the new name"
          : "DHCP client restart requested; starting it again under its interface's current name",
      );
      if (p !== undefined) await this.end(c, p.pid);
      if (this.processOf(c) === undefined) this.spawnClient(c, name);
    });
  }

  /** Kills a client's process and waits (up to 2 s) until it is gone. */
  private async end(c: Client, pid: number): Promise<void> {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    const deadline = Date.now() + 2000;
    while (this.processOf(c)?.pid === pid && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * How a rename is noticed. udhcpc only looks its interface up by name when it next sends: a
   * client still asking dies within seconds (and its restart looks the name up again), but a
   * bound one sleeps until its renewal, hours away on a real LAN, and then fails; so a rename
   * must be seen from outside. The namespace's netlink events would say so at once, but only
   * to a listener inside it (an `ip monitor` process per container). Instead the periodic check
   * reads the namespace's link names from /proc/PID/net/dev of the client (one read, no
   * process, shared by the clients of one container): a rename changes them, a swap of two
   * names included (see procLinkNames). Only then is the endpoint's interface looked up
   * (resolveIfname runs `ip`), and the client started again if its name is not the current one.
   * The first check after a start or an adoption looks once, for a rename that raced the start
   * or happened while the daemon was down.
   */
  private watchName(c: Client, p: RunningDhcpClient, seen: Map<string, string | undefined>): void {
    if (c.spec.resolveIfname === undefined) return;
    if (!seen.has(c.spec.netns)) seen.set(c.spec.netns, this.linkNames(p.pid));
    const links = seen.get(c.spec.netns);
    if (links === undefined || links === c.linksSeen) return;
    this.follow(c, 'rename suspected', links);
  }

  /**
   * Restarts dead clients, each no sooner than its backoff allows; starts a client ended on
   * request at once; follows renamed interfaces (watchName); reports new events.
   */
  check(now = Date.now()): void {
    const links = new Map<string, string | undefined>();
    for (const c of this.clients.values()) {
      this.noticeReport(c);
      if (c.busy) continue;
      const running = runningDhcpClient(this.opts.dir, c.spec.endpointId);
      if (running !== undefined) {
        // Running for a while again: the next death starts from a short backoff.
        if (now > c.nextStartAt + 60_000) c.backoffMs = 1000;
        this.watchName(c, running, links);
        continue;
      }
      if (now < c.nextStartAt) continue;
      // Ended by requestDhcpRestart (only dead clients are looked at here: the request's writer
      // ends the client, and the directory watch has usually served it already): not a death.
      if (existsSync(this.file(c.spec.endpointId, 'restart'))) {
        this.follow(c, 'restart requested');
        continue;
      }
      c.restarts += 1;
      c.backoffMs = Math.min(c.backoffMs * 2, this.opts.maxBackoffMs ?? 30_000);
      c.nextStartAt = now + Math.max(c.backoffMs, START_GRACE_MS);
      this.opts.logger.warn(
        { endpoint: c.spec.endpointId, restarts: c.restarts },
        'DHCP client not running; starting it again',
      );
      this.restartDead(c);
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
    const running = runningDhcpClient(this.opts.dir, endpointId);
    const pid = running?.pid;
    const at = this.reportTime(endpointId);
    const startedAt = pid === undefined ? undefined : this.mtime(this.file(endpointId, 'pid'));
    const stale = at !== undefined && startedAt !== undefined && at < startedAt;
    return {
      pid,
      report: stale ? undefined : this.readReport(endpointId),
      reportAt: at === undefined || stale ? undefined : new Date(at),
      restarts: this.clients.get(endpointId)?.restarts ?? 0,
      ifname: this.ifnameOf(endpointId, running),
    };
  }

  /** The interface the endpoint's client runs on (its `-i`), or was last started on. */
  ifnameOf(endpointId: string, running = runningDhcpClient(this.opts.dir, endpointId)): string | undefined {
    return (running === undefined ? undefined : clientIfname(running.args)) ?? this.clients.get(endpointId)?.ifname;
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
      const m = /^([0-9a-f]{64})\.(pid|report|log|restart)$/.exec(n);
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
    for (const kind of DHCP_FILE_KINDS) rmSync(this.file(endpointId, kind), { force: true });
    if (pid !== undefined || said !== '')
      this.opts.logger.info({ endpoint: endpointId, pid, clientSaid: said.slice(-400) }, 'DHCP client stopped');
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
