/**
 * A stand-in for FAUCET's configuration handling, for unit tests: an HTTP server on loopback
 * that serves /metrics the way FAUCET does (prometheus_client text format), and a `reload()`
 * that behaves like FAUCET on SIGHUP (valves_manager.request_reload_configs): read the file,
 * decide whether it loads, update `faucet_config_hash_info` / `faucet_config_load_error`, and
 * only then bump `faucet_config_reload_requests_total`. Like FAUCET, it handles the request
 * asynchronously: reload() returns before the metrics change.
 */
import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { validateFaucetConfig } from '../../src/faucet/validate.js';
import { definedDps } from '../../src/faucet/operator-file.js';

/** undefined: FAUCET loads `text`; a string: FAUCET's error message. */
export type FaucetJudge = (text: string) => string | undefined;

export const validatorJudge: FaucetJudge = (text) =>
  validateFaucetConfig(text).find((problem) => problem.severity === 'error')?.message;

export interface FakeFaucetOptions {
  readonly configPath: string;
  readonly judge?: FaucetJudge;
  /** Delay between reload() and the metrics changing (default 5 ms). */
  readonly reloadDelayMs?: number;
  /** Load the file at start, as FAUCET does (default true). */
  readonly loadOnStart?: boolean;
}

/** One `port_status` series: FAUCET's view of one port of one DP. */
export interface FakePortStatus {
  readonly dpId: bigint;
  readonly port: number;
  readonly description: string;
  readonly up: boolean;
  /** FAUCET labels a series with the DP's name; default: the running configuration's DP of that dp_id. */
  readonly dpName?: string;
}

interface HashInfo {
  configFiles: string;
  hashes: string;
  error: string;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export class FakeFaucet {
  judge: FaucetJudge;
  /** When true, reload() is accepted but never acted on: FAUCET wedged or down. */
  hung = false;
  /** The port_status series to serve (none by default). */
  portStatus: () => Iterable<FakePortStatus> = () => [];
  /** Whether the switch of a DP is connected (default: all are); a DP not connected is not running. */
  switchConnected: (dpId: bigint) => boolean = () => true;
  /** reload() calls, i.e. SIGHUPs received. */
  reloadCalls = 0;
  /** Metric-visible count of processed reload requests. */
  reloadRequests = 0;
  private hashInfo: HashInfo | undefined;
  private loadError = 0;
  private lastGoodSha: string | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The configuration FAUCET runs: its DPs report dp_status 1. */
  private runningText = '';
  private readonly inFlight = new Set<Promise<void>>();

  private constructor(
    private readonly opts: FakeFaucetOptions,
    private readonly server: Server,
    readonly metricsUrl: string,
  ) {
    this.judge = opts.judge ?? validatorJudge;
  }

  static async start(opts: FakeFaucetOptions): Promise<FakeFaucet> {
    let fake: FakeFaucet | undefined;
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      if (url.pathname !== '/metrics' || fake === undefined) {
        res.writeHead(404).end('not found\n');
        return;
      }
      // Like prometheus_client: `?name[]=x&name[]=y` limits the answer to those metrics.
      const names = url.searchParams.getAll('name[]');
      const text = fake.metricsText();
      const body =
        names.length === 0
          ? text
          : `${text
              .split('\n')
              .filter((l) => names.some((n) => l.startsWith(`${n}{`) || l.startsWith(`${n} `) || l.includes(` ${n} `)))
              .join('\n')}\n`;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeFaucet(opts, server, `http://127.0.0.1:${port}/metrics`);
    if (opts.loadOnStart ?? true) await fake.processReload();
    return fake;
  }

  /** What FAUCET does on SIGHUP, after a short delay; resolves at once like kill(2). */
  reload(): Promise<void> {
    this.reloadCalls += 1;
    if (this.hung) return Promise.resolve();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const work = this.processReload().finally(() => this.inFlight.delete(work));
      this.inFlight.add(work);
    }, this.opts.reloadDelayMs ?? 5);
    this.timers.add(timer);
    return Promise.resolve();
  }

  /** Waits until every reload requested so far has been processed. */
  async settle(): Promise<void> {
    while (this.timers.size > 0 || this.inFlight.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      await Promise.all(this.inFlight);
    }
  }

  async processReload(): Promise<void> {
    const path = this.opts.configPath;
    let text: string | undefined;
    let real = path;
    try {
      real = await realpath(path);
      text = await readFile(real, 'utf8');
    } catch {
      text = undefined;
    }
    const sha = text === undefined ? undefined : sha256(text);
    if (sha !== undefined && sha === this.lastGoodSha && this.loadError === 0) {
      // FAUCET: "configuration is unchanged, not reloading"
    } else {
      const error = text === undefined ? `Error found while loading config file: ${real}` : this.judge(text);
      if (error === undefined && sha !== undefined) {
        this.hashInfo = { configFiles: real, hashes: sha, error: '' };
        this.loadError = 0;
        this.lastGoodSha = sha;
        this.runningText = text ?? '';
      } else {
        this.hashInfo = { configFiles: path, hashes: '', error: error ?? 'unknown error' };
        this.loadError = 1;
      }
    }
    this.reloadRequests += 1;
  }

  metricsText(): string {
    const lines = [
      '# HELP faucet_config_reload_requests_total number of config reload requests',
      '# TYPE faucet_config_reload_requests_total counter',
      `faucet_config_reload_requests_total ${this.reloadRequests.toFixed(1)}`,
      '# HELP faucet_config_load_error 1 if last attempt to re/load config failed',
      '# TYPE faucet_config_load_error gauge',
      `faucet_config_load_error ${this.loadError.toFixed(1)}`,
    ];
    if (this.hashInfo !== undefined) {
      const { configFiles, hashes, error } = this.hashInfo;
      lines.push(
        '# HELP faucet_config_hash_info file hashes for last successful config',
        '# TYPE faucet_config_hash_info gauge',
        `faucet_config_hash_info{config_files="${escapeLabel(configFiles)}",error="${escapeLabel(error)}",hashes="${escapeLabel(hashes)}"} 1.0`,
      );
    }
    // Every DP of the running configuration whose switch is connected counts as running.
    lines.push('# HELP dp_status status of datapaths', '# TYPE dp_status gauge');
    for (const [name, id] of definedDps(this.runningText))
      if (this.switchConnected(id))
        lines.push(`dp_status{dp_id="0x${id.toString(16)}",dp_name="${escapeLabel(name)}"} 1.0`);
    lines.push('# HELP port_status status of switch ports', '# TYPE port_status gauge');
    const runningNames = new Map([...definedDps(this.runningText)].map(([name, id]) => [id, name]));
    for (const p of this.portStatus()) {
      const dpName = p.dpName ?? runningNames.get(p.dpId) ?? '';
      lines.push(
        `port_status{dp_id="0x${p.dpId.toString(16)}",dp_name="${escapeLabel(dpName)}",port="${p.port}",port_description="${escapeLabel(p.description)}"} ${p.up ? '1.0' : '0.0'}`,
      );
    }
    return `${lines.join('\n')}\n`;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.all(this.inFlight);
    // fetch() keeps connections alive; without this, close() waits for them to time out.
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }
}
