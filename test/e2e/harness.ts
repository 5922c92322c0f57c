import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { processRunning } from '../../src/util/proc.js';
import { chooseDockerClient } from './docker-client.js';

/**
 * Shared tools for the end-to-end tests, which drive the real stack (Docker, Open vSwitch,
 * FAUCET, the dovesnap daemon started by `make up`) with the docker CLI, as a user would.
 * Everything a test makes is registered for clean-up that runs even when the test fails.
 */

/** The client that matches the host's engine (see chooseDockerClient). */
export const DOCKER = chooseDockerClient({
  env: process.env,
  readFile: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  isExecutable: (path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  },
});
export const IMAGE = process.env['DOVESNAP_TEST_IMAGE'] ?? 'dovesnap-busybox:latest';
export const STATUS_URL = process.env['DOVESNAP_STATUS_URL'] ?? 'http://127.0.0.1:9401';
export const FAUCET_CONFIG = `${process.env['FAUCET_PREFIX'] ?? ''}/etc/faucet/faucet.yaml`;

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(file: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args as string[],
      { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a command that must succeed; the assertion message carries its output. */
export async function must(file: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await run(file, args, timeoutMs);
  assert.equal(r.code, 0, `${file} ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

export const docker = (...args: string[]): Promise<string> => must(DOCKER, args, 120_000);
export const dockerRaw = (...args: string[]): Promise<RunResult> => run(DOCKER, args, 120_000);

/** A short unique prefix per test file, so that a failed run's leftovers are recognisable. */
export function uniqueName(kind: string): string {
  return `dst-${kind}-${randomBytes(3).toString('hex')}`;
}

let nextDpid = 0x7e5700 + (randomBytes(2).readUInt16BE(0) << 4);
/** DPIDs unlikely to collide with an operator's or another test's. */
export function testDpid(): string {
  nextDpid += 1;
  return `0x${nextDpid.toString(16)}`;
}

let nextSubnet = 100 + ((randomBytes(1)[0] ?? 0) % 100);
/** A private /24 for one test network, inside 10.231.0.0/16 which nothing else here uses. */
export function testSubnet(): { subnet: string; prefix: string } {
  nextSubnet = (nextSubnet + 1) % 250;
  return { subnet: `10.231.${nextSubnet}.0/24`, prefix: `10.231.${nextSubnet}` };
}

type Cleanup = () => Promise<unknown>;
const cleanups: Cleanup[] = [];

// Registered at import, at the top level: it runs once after every test of the file, pass or
// fail. (Registered inside a test, it would run right after that one test.)
after(async () => {
  while (cleanups.length > 0) {
    const c = cleanups.pop();
    await c?.().catch(() => undefined);
  }
});

/** Registers clean-up to run after all tests of the file, last registered first, failures ignored. */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

export async function createNetwork(
  name: string,
  opts: Record<string, string>,
  extra: string[] = [],
  driver = 'dovesnap',
): Promise<string> {
  const args = ['network', 'create', '-d', driver, ...extra];
  for (const [k, v] of Object.entries(opts)) args.push('-o', `${k}=${v}`);
  args.push(name);
  onCleanup(() => run(DOCKER, ['network', 'rm', name]));
  return docker(...args);
}

export async function runContainer(
  name: string,
  network: string,
  extra: string[] = [],
  cmd: string[] = ['sleep', '3600'],
): Promise<string> {
  onCleanup(() => run(DOCKER, ['rm', '-f', name]));
  return docker('run', '-d', '--name', name, '--net', network, ...extra, IMAGE, ...cmd);
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function containerIp(name: string, network: string): Promise<string> {
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name);
}

export async function ping(from: string, ip: string): Promise<boolean> {
  return (await dockerRaw('exec', from, 'ping', '-c', '1', '-W', '1', ip)).code === 0;
}

/** Starts busybox httpd in the container serving a page that names it; for TCP checks. */
export async function serveHttp(container: string, port = 8080): Promise<void> {
  await docker(
    'exec',
    container,
    'sh',
    '-c',
    `mkdir -p /tmp/www && echo "hello from ${container}" > /tmp/www/index.html && httpd -p ${port} -h /tmp/www`,
  );
}

/**
 * Fetches a page over TCP from inside a container. busybox's wget crashes with -T, so the
 * time limit comes from `timeout`.
 */
export async function httpGet(from: string, url: string): Promise<string | undefined> {
  const r = await dockerRaw('exec', from, 'timeout', '5', 'wget', '-q', '-O', '-', url);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * First connectivity waits for FAUCET to load the configuration with the port; right after a
 * test file tears down many networks FAUCET can be 15 s or more behind (seen in CI, after the
 * port/VLAN tests), so the default allows for that. Times are benchmarks' business, not tests'.
 */
export async function waitPing(from: string, ip: string, timeoutMs = 45_000): Promise<void> {
  await waitFor(`${from} to ping ${ip}`, () => ping(from, ip), timeoutMs, 50);
}

export interface StatusContainer {
  Name: string;
  Id: string;
  MacAddress: string;
  HostIP: string;
  OFPort: number | null;
  Interface: string;
  PortACLs: string[];
  Blocked: string | null;
  Ports: { Protocol: string; HostIP: string; HostPort: number; ContainerPort: number }[];
}
export interface StatusNetwork {
  NetworkID: string;
  NetworkName: string;
  BridgeName: string;
  BridgeDpid: string;
  BridgeVLAN: number;
  Mode: string;
  ReadyPorts: number;
  Containers: Record<string, StatusContainer>;
}

export async function status(): Promise<Record<string, StatusNetwork>> {
  const res = await fetch(`${STATUS_URL}/networks`);
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, StatusNetwork>;
}

export function faucetYaml(): string {
  return readFileSync(FAUCET_CONFIG, 'utf8');
}

export async function ovsVsctl(...args: string[]): Promise<string> {
  return must('ovs-vsctl', ['--timeout=10', ...args]);
}

export async function bridgeExists(name: string): Promise<boolean> {
  return (await run('ovs-vsctl', ['br-exists', name])).code === 0;
}

/**
 * The OVS ports of containers on a bridge (name → endpoint id): a container's port is its own
 * pair (dsp…) or a ready port it took (dsq…), and is known by the endpoint id dovesnap marks it with.
 */
export async function containerPortsOn(bridge: string): Promise<Map<string, string>> {
  const names = (await ovsVsctl('list-ports', bridge)).split('\n').filter((p) => p !== '');
  const out = new Map<string, string>();
  for (const name of names) {
    const id = await run('ovs-vsctl', ['--timeout=10', 'get', 'Port', name, 'external_ids:dovesnap-endpoint-id']);
    if (id.code === 0 && id.stdout.trim() !== '') out.set(name, id.stdout.trim().replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

/** The host end of an endpoint's veth pair, by the endpoint id on its OVS port (undefined: no port). */
export async function endpointPort(endpointId: string): Promise<string | undefined> {
  const out = await run('ovs-vsctl', [
    '--timeout=10',
    '--bare',
    '--columns=name',
    'find',
    'Port',
    `external_ids:dovesnap-endpoint-id=${endpointId}`,
  ]);
  const name = out.stdout.trim();
  return out.code === 0 && name !== '' ? name : undefined;
}

/** The container end's name of a host end (dsp… ↔ dsc…, dsq… ↔ dsr…). */
export function peerName(hostIf: string): string {
  return hostIf.replace(/^dsp/, 'dsc').replace(/^dsq/, 'dsr');
}

export async function hostLinks(prefix: string): Promise<string[]> {
  const out = await must('ip', ['-json', 'link', 'show']);
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith(prefix));
}

export interface TestHost {
  readonly ns: string;
  /** The host's own address on the link to the test host. */
  readonly hostSideIp: string;
  /** The test host's address. */
  readonly ip: string;
  readonly prefix: string;
  /** Runs a command inside the test host's namespace. */
  exec(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
}

/**
 * A network namespace `ns` behind a veth pair: `outside` stays in the host (down to the caller:
 * up, for a bridge to take as a host port), `inside` is moved into `ns` and raised. Both go at
 * clean-up.
 */
export async function vethIntoNamespace(ns: string, outside: string, inside: string): Promise<void> {
  onCleanup(() => run('ip', ['netns', 'del', ns]));
  onCleanup(() => run('ip', ['link', 'del', outside]));
  await must('ip', ['netns', 'add', ns]);
  await must('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
  await must('ip', ['link', 'set', inside, 'netns', ns]);
  await must('ip', ['link', 'set', outside, 'up']);
  await must('ip', ['-n', ns, 'link', 'set', inside, 'up']);
}

let nextUpstream = (randomBytes(1)[0] ?? 0) % 200;

/**
 * An "outside world" the test owns: a network namespace joined to the host by a veth pair on a
 * private /24 of 10.233.0.0/16, with its own address and nothing else. Removed at clean-up,
 * with every process left in it.
 */
export async function makeTestHost(tag: string): Promise<TestHost> {
  nextUpstream = (nextUpstream + 1) % 250;
  const prefix = `10.233.${nextUpstream}`;
  const ns = `dsns-${tag}`;
  const outside = `dsu${tag}`.slice(0, 15);
  const inside = `dsv${tag}`.slice(0, 15);
  onCleanup(async () => {
    const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').filter((p) => p.trim() !== '');
    for (const p of pids) await run('kill', ['-9', p.trim()]);
    await run('ip', ['netns', 'del', ns]);
    await run('ip', ['link', 'del', outside]);
  });
  await must('ip', ['netns', 'add', ns]);
  await must('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
  await must('ip', ['link', 'set', inside, 'netns', ns]);
  await must('ip', ['addr', 'add', `${prefix}.1/24`, 'dev', outside]);
  await must('ip', ['link', 'set', outside, 'up']);
  await must('ip', ['-n', ns, 'addr', 'add', `${prefix}.2/24`, 'dev', inside]);
  await must('ip', ['-n', ns, 'link', 'set', inside, 'up']);
  await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  // The test host's TCP must carry real checksums: its packets may end up on OVS's userspace datapath.
  await must('ip', ['netns', 'exec', ns, 'ethtool', '-K', inside, 'tx', 'off']);
  return {
    ns,
    hostSideIp: `${prefix}.1`,
    ip: `${prefix}.2`,
    prefix,
    exec: (args, timeoutMs) => run('ip', ['netns', 'exec', ns, ...args], timeoutMs),
  };
}

/**
 * A web server in the test host whose page is the address the request came from: how the
 * outside world sees a container (masqueraded or not).
 */
export async function serveClientAddress(host: TestHost, port: number): Promise<void> {
  const dir = `/tmp/${host.ns}-www`;
  onCleanup(() => run('rm', ['-rf', dir]));
  await must('mkdir', ['-p', `${dir}/cgi-bin`]);
  await must('sh', [
    '-c',
    `printf '#!/bin/sh\\necho "Content-Type: text/plain"\\necho\\necho "$REMOTE_ADDR"\\n' > ${dir}/cgi-bin/whoami && chmod 755 ${dir}/cgi-bin/whoami`,
  ]);
  const r = await host.exec(['busybox', 'httpd', '-p', `${host.ip}:${port}`, '-h', dir]);
  assert.equal(r.code, 0, `httpd in ${host.ns}: ${r.stderr}`);
}

/**
 * A UDP echo service inside a container's network namespace. Debian's busybox has no UDP in
 * its nc, so the service is a few lines of node run in the container's namespace from the host.
 */
export async function udpEchoInContainer(container: string, port: number): Promise<void> {
  const pid = await docker('inspect', '-f', '{{.State.Pid}}', container);
  const script = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(${port})`;
  const child = spawn('nsenter', ['-t', pid, '-n', process.execPath, '-e', script], {
    stdio: 'ignore',
    detached: true,
  });
  onCleanup(async () => child.kill('SIGKILL'));
  child.unref();
  await new Promise((r) => setTimeout(r, 300));
}

/** Sends one datagram and returns the echo, or undefined if none came back within 2 s. */
export async function udpAsk(
  prefix: readonly string[],
  host: string,
  port: number,
  message: string,
): Promise<string | undefined> {
  const script = `const s=require('dgram').createSocket('udp4');setTimeout(()=>process.exit(2),2000);s.on('message',m=>{process.stdout.write(String(m));process.exit(0)});s.send(${JSON.stringify(message)},${port},${JSON.stringify(host)})`;
  const [file, ...args] = [...prefix, process.execPath, '-e', script];
  const r = await run(file ?? process.execPath, args, 10_000);
  return r.code === 0 ? r.stdout : undefined;
}

/** Asks FAUCET to reload; a FAUCET that is not running is the next check's business. */
export function hupFaucet(): void {
  try {
    process.kill(Number(readFileSync('/run/dovesnap/faucet.pid', 'utf8').trim()), 'SIGHUP');
  } catch {
    // not running: nothing to reload
  }
}

const METRICS_URL = process.env['DOVESNAP_FAUCET_METRICS'] ?? 'http://127.0.0.1:9302/metrics';

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** What FAUCET's metrics say of its configuration: the file hashes it runs ('' after a load error). */
export async function faucetState(): Promise<{ hash: string; loadError: boolean }> {
  const text = await (
    await fetch(`${METRICS_URL}?name[]=faucet_config_hash_info&name[]=faucet_config_load_error`)
  ).text();
  const info = /^faucet_config_hash_info\{([^}]*)\}/m.exec(text)?.[1] ?? '';
  return { hash: /hashes="([^"]*)"/.exec(info)?.[1] ?? '', loadError: /^faucet_config_load_error 1/m.test(text) };
}

/**
 * Waits until dovesnap has finished the writes earlier tests left in flight (removing their
 * networks rewrites faucet.yaml) and FAUCET runs the file on disk, so that a test's own edit of
 * the file and dovesnap's writes do not overwrite each other.
 */
export async function waitFaucetSettled(): Promise<void> {
  let last = '';
  let since = Date.now();
  await waitFor(
    'faucet.yaml settled and loaded',
    async () => {
      const text = readFileSync(FAUCET_CONFIG, 'utf8');
      if (text !== last) {
        last = text;
        since = Date.now();
      }
      return Date.now() - since > 1500 && (await faucetState()).hash.includes(sha256(text));
    },
    30_000,
  );
}

/** Entries an e2e test added to faucet.yaml, as an operator would; `remove` takes exactly them out. */
export interface FaucetEdit {
  remove(): void;
}

/**
 * Adds `entries` (YAML lines indented two spaces, ending in a newline) to the top-level map
 * `section` of faucet.yaml (acls, meters, vlans, dps…): into the operator's existing map when
 * there is one, so that a host whose file already has `acls:` or `meters:` gets no second key
 * (which FAUCET refuses); else as a new map. Every other byte stays as it was.
 */
export function addFaucetEntries(section: string, entries: string): FaucetEdit {
  const original = readFileSync(FAUCET_CONFIG, 'utf8');
  // An empty flow map (`acls: {}`, as faucetconfrpc dumps a section it emptied) is no map to
  // add to: its line becomes the block map's, and comes back when the entries go.
  const emptyFlow = new RegExp(`^${section}:[ \\t]*\\{\\}[ \\t]*\\n`, 'm').exec(original);
  const text = emptyFlow === null ? original : original.replace(emptyFlow[0], '');
  const block = new RegExp(`^${section}:[ \\t]*(#[^\\n]*)?\\n`, 'm').exec(text);
  if (block === null && new RegExp(`^${section}:`, 'm').test(text)) {
    throw new Error(
      `faucet.yaml has a ${section}: map in flow style; the e2e tests add entries only to a block-style map`,
    );
  }
  const added = block === null ? `${section}:\n${entries}` : entries;
  const at = block === null ? (emptyFlow?.index ?? 0) : block.index + block[0].length;
  writeFileSync(FAUCET_CONFIG, text.slice(0, at) + added + text.slice(at));
  return {
    remove() {
      const now = readFileSync(FAUCET_CONFIG, 'utf8');
      const i = now.indexOf(entries);
      if (i < 0) return;
      let text = now.slice(0, i) + now.slice(i + entries.length);
      // A map this edit made goes too, but only if nothing else is in it now: dovesnap puts
      // entries of its own (e.g. its mirror-tunnel ACLs) into the file's `acls:` map, and
      // taking the key from under them would leave a file neither FAUCET nor dovesnap can read.
      if (block === null)
        text = text.replace(new RegExp(`^${section}:[ \\t]*\\n(?![ \\t])`, 'm'), emptyFlow?.[0] ?? '');
      writeFileSync(FAUCET_CONFIG, text);
    },
  };
}

/**
 * For a test file's `before()`: adds an operator's own entries to faucet.yaml (`[section,
 * entries]` pairs, as for addFaucetEntries), has FAUCET load them and waits until it runs them.
 * Their removal is registered now, so that, registered first, it runs after the file's other
 * clean-up, even when a test fails; and it waits until no DP whose YAML contains `dpMarker` is
 * left, because FAUCET 1.10 crashes on a VLAN or port that names an ACL no longer defined.
 */
export async function addOperatorEntries(
  dpMarker: string,
  entries: ReadonlyArray<readonly [section: string, entries: string]>,
): Promise<void> {
  const edits: FaucetEdit[] = [];
  onCleanup(async () => {
    await waitFor(
      `no DP of this test (${dpMarker}) left`,
      async () => !readFileSync(FAUCET_CONFIG, 'utf8').includes(dpMarker),
      30_000,
    ).catch(() => undefined);
    for (const e of edits.reverse()) e.remove();
    hupFaucet();
  });
  await waitFaucetSettled();
  for (const [section, text] of entries) edits.push(addFaucetEntries(section, text));
  hupFaucet();
  await waitFaucetSettled();
}

/** A running tcpdump on one interface: every frame as a line, link-level headers included (-e). */
export interface Capture {
  readonly lines: string[];
  /** Resolves with the first line (from `from` on) that matches. */
  waitLine(what: string, match: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  stop(): void;
}

export interface CaptureOptions {
  /** Capture inside the network namespace of this process (a container's PID) instead of the host's. */
  readonly netnsPid?: string;
  /** Only frames the interface receives (`-Q in`). */
  readonly inboundOnly?: boolean;
}

export async function startCapture(iface: string, opts: CaptureOptions = {}): Promise<Capture> {
  const tcpdump = ['tcpdump', '-l', '-n', '-e', ...(opts.inboundOnly === true ? ['-Q', 'in'] : []), '-i', iface];
  const [file, ...args] = opts.netnsPid === undefined ? tcpdump : ['nsenter', '-t', opts.netnsPid, '-n', ...tcpdump];
  const child = spawn(file ?? 'tcpdump', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  const stop = (): void => {
    child.kill('SIGKILL');
  };
  onCleanup(async () => stop());
  // tcpdump says "listening on ..." on stderr once its socket is open.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump on ${iface} did not start`)), 5000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (s.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`tcpdump on ${iface} exited`));
    });
  });
  return {
    lines,
    stop,
    waitLine: (what, match, timeoutMs = 15_000, from = 0) =>
      waitFor(what, async () => lines.slice(from).find((l) => match.test(l)), timeoutMs),
  };
}

const REPO_ROOT = new URL('../../..', import.meta.url).pathname;

/**
 * `make up` (scripts/up.sh) with some variables set (a string) or removed (undefined): how the
 * mirror and stack tests restart the daemon with their settings, and restore the caller's.
 */
export async function upWithEnv(env: Readonly<Record<string, string | undefined>>): Promise<void> {
  // env takes its -u options before the assignments.
  const unset = Object.entries(env).flatMap(([k, v]) => (v === undefined ? ['-u', k] : []));
  const set = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  await must('env', [...unset, ...set, 'bash', `${REPO_ROOT}/scripts/up.sh`], 600_000);
}

const OVS_RUN_DIR = '/var/run/openvswitch';

/**
 * SIGKILLs an Open vSwitch daemon (ovsdb-server, ovs-vswitchd) by its pidfile and waits until
 * it is dead. A killed OVS daemon leaves its control socket (NAME.PID.ctl) behind; a real crash
 * would too, but a test removes what it caused. Returns the pid killed.
 */
export async function killOvsDaemon(name: 'ovsdb-server' | 'ovs-vswitchd'): Promise<number> {
  const pid = Number(readFileSync(`${OVS_RUN_DIR}/${name}.pid`, 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  await waitFor(`${name} (pid ${pid}) dead`, async () => !processRunning(pid), 10_000);
  removeStaleOvsCtl(pid);
  return pid;
}

/** Removes the control sockets a killed OVS daemon of this pid left behind. */
export function removeStaleOvsCtl(pid: number): void {
  for (const f of readdirSync(OVS_RUN_DIR))
    if (f.endsWith(`.${pid}.ctl`)) rmSync(`${OVS_RUN_DIR}/${f}`, { force: true });
}

/** Whether the process runs (a zombie, exited but not yet reaped, does not). */
export function processAlive(pid: number): boolean {
  return processRunning(pid);
}
