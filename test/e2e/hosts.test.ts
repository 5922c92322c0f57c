import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { IMAGE, must, onCleanup, run, testDpid, testSubnet, uniqueName, waitFor } from './harness.js';

/**
 * The simulated-hosts harness (`make hosts N=2` / `make hosts-down`, scripts/hosts.sh): each host
 * a Docker Engine, an Open vSwitch and a dovesnap daemon in namespaces of their own, driven from
 * this machine by the line `make hosts` prints for it. Real everything: the hosts' dockerds run
 * containers on dovesnap networks; afterwards nothing of the harness may be left.
 */

const REPO = new URL('../../../', import.meta.url).pathname;
/** Debian's client, which matches the engine every simulated host runs. */
const DOCKER_CLI = '/usr/bin/docker';
const LINE =
  /^host([0-9]+) DOCKER_HOST=(unix:\/\/\/run\/dovesnap-hosts\/h([0-9]+)\/docker\.sock) STATUS=(http:\/\/10\.239\.0\.([0-9]+):9401)$/;
const CONFRPC_STATE = '/run/dovesnap/faucetconfrpc.state';
const HARNESS_DIRS = ['/run/dovesnap-hosts', '/var/lib/dovesnap-hosts', '/var/log/dovesnap-hosts'];

interface Host {
  readonly k: number;
  readonly dockerHost: string;
  readonly status: string;
}

const make = (...args: string[]) => run('make', ['-s', '--no-print-directory', '-C', REPO, ...args], 600_000);
const on = (h: Host, ...args: string[]): Promise<string> => must(DOCKER_CLI, ['-H', h.dockerHost, ...args], 120_000);
const ovsOn = (h: Host, ...args: string[]): Promise<string> =>
  must('ovs-vsctl', [`--db=unix:/run/dovesnap-hosts/h${h.k}/ovs/db.sock`, '--timeout=10', ...args]);

function parseLines(stdout: string): Host[] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line, i) => {
      const m = LINE.exec(line);
      assert.ok(m, `line ${i + 1} of make hosts' stdout is not a host line: ${JSON.stringify(line)}`);
      const k = Number(m[1]);
      assert.equal(k, i + 1);
      assert.equal(Number(m[3]), k, line);
      assert.equal(Number(m[5]), 10 + k, line);
      return { k, dockerHost: m[2] ?? '', status: m[4] ?? '' };
    });
}

/** Whether the process runs (a zombie has finished: it only waits for its parent to read its status). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function daemonPid(k: number, name: string): number {
  return Number(readFileSync(`/run/dovesnap-hosts/h${k}/pids/${name}.pid`, 'utf8').trim());
}

/** Every live process whose cgroup is the harness's (its hosts' daemons and containers). */
function harnessProcesses(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p))) {
    let cg = '';
    try {
      cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // A zombie keeps naming the cgroup it died in until its parent reaps it: only the living count.
    if (cg.includes('/dovesnap-hosts/') && alive(Number(pid))) found.push(pid);
  }
  return found;
}

function harnessCgroups(): string[] {
  const roots = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`)];
  return roots.map((r) => `${r}/dovesnap-hosts`).filter((d) => existsSync(d));
}

describe('simulated hosts: make hosts N=2 / make hosts-down', () => {
  let hosts: Host[] = [];
  onCleanup(() => make('hosts-down'));

  it('prints one line per host; each host is its own Docker Engine, dovesnap and namespaces', async () => {
    const r = await make('hosts', 'N=2');
    assert.equal(r.code, 0, `make hosts N=2 failed: ${r.stderr}`);
    hosts = parseLines(r.stdout);
    assert.equal(hosts.length, 2, r.stdout);
    const ids = new Set<string>();
    for (const h of hosts) {
      assert.match(await on(h, 'version', '--format', '{{.Server.Version}}'), /^[0-9]+\.[0-9]+/);
      // The engine's host name is the host's own (its UTS namespace), and so is its engine ID.
      const [name, id] = (await on(h, 'info', '--format', '{{.Name}} {{.ID}}')).split(' ');
      assert.equal(name, `dsh-h${h.k}`);
      ids.add(id ?? '');
      await on(h, 'image', 'inspect', IMAGE);
      const health = await fetch(`${h.status}/healthz`);
      assert.equal(health.status, 200, `${h.status}/healthz`);
      const host = (await (await fetch(`${h.status}/host`)).json()) as Record<string, unknown>;
      assert.equal(typeof host, 'object');
      // Its own network namespace (the management address) and machine ID (its stack DP's DPID).
      const inside = (...cmd: string[]) => must(`${REPO}scripts/hosts.sh`, ['exec', String(h.k), ...cmd]);
      assert.match(
        await inside('ip', '-o', '-4', 'addr', 'show', 'mgmt0'),
        new RegExp(`10\\.239\\.0\\.${10 + h.k}/24`),
      );
      assert.notEqual(await inside('cat', '/etc/machine-id'), readFileSync('/etc/machine-id', 'utf8').trim());
      const env = await must(`${REPO}scripts/hosts.sh`, ['env', String(h.k)]);
      assert.match(env, /^DOVESNAP_DEFAULT_CONTROLLERS=tcp:10\.239\.0\.1:6653$/m);
      // faucetconfrpc's client settings when this machine's server was last started on 10.239.0.1
      // (HOSTS_CONFRPC=auto); make test starts it on 127.0.0.1.
      const state = existsSync(CONFRPC_STATE) ? readFileSync(CONFRPC_STATE, 'utf8') : '';
      assert.equal(/^FAUCETCONFRPC_ADDR=10\.239\.0\.1$/m.test(env), /^--host=10\.239\.0\.1$/m.test(state), env);
    }
    ids.add(await must(DOCKER_CLI, ['info', '--format', '{{.ID}}']));
    assert.equal(ids.size, 3, 'the two hosts and this machine have three different engine IDs');
  });

  it('host 1 runs a container on a dovesnap network of its own, controlled by this machine’s FAUCET', async () => {
    const [h1, h2] = hosts;
    assert.ok(h1 && h2, 'the first test brought two hosts up');
    const net = uniqueName('hosts');
    const ctr = `${net}-c`;
    const sub = testSubnet();
    const options = ['-o', `ovs.bridge.dpid=${testDpid()}`, '--subnet', sub.subnet];
    await on(h1, 'network', 'create', '-d', 'dovesnap', ...options, net);
    await on(h1, 'run', '-d', '--name', ctr, '--net', net, IMAGE, 'sleep', '3600');
    assert.equal(await on(h1, 'inspect', '-f', '{{.State.Running}}', ctr), 'true');
    const ip = await on(h1, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, ctr);
    assert.ok(ip.startsWith(`${sub.prefix}.`), `container address ${ip} in ${sub.subnet}`);

    // The bridge is in host 1's Open vSwitch (not this machine's, not host 2's), with the
    // controller the harness gives every host: FAUCET here, on the management network.
    const bridge = await waitFor('the network in host 1’s status API', async () => {
      const nets = (await (await fetch(`${h1.status}/networks`)).json()) as Record<
        string,
        { NetworkName: string; BridgeName: string; Containers: Record<string, unknown> }
      >;
      const n = Object.values(nets).find((x) => x.NetworkName === net);
      return n !== undefined && Object.keys(n.Containers).length === 1 ? n.BridgeName : undefined;
    });
    assert.ok((await ovsOn(h1, 'list-br')).split('\n').includes(bridge));
    // Empty for a moment while dovesnap reconnects a new switch (vswitch.ts reconnectControllers).
    const controller = await waitFor(`bridge ${bridge} in host 1 has its controller`, async () => {
      const c = await ovsOn(h1, 'get-controller', bridge);
      return c === '' ? undefined : c;
    });
    assert.equal(controller, 'tcp:10.239.0.1:6653');
    assert.ok(!(await ovsOn(h2, 'list-br')).split('\n').includes(bridge));
    assert.notEqual((await run('ovs-vsctl', ['--timeout=10', 'br-exists', bridge])).code, 0);
    assert.ok(!(await on(h2, 'network', 'ls', '--format', '{{.Name}}')).split('\n').includes(net));
    assert.ok(!(await must(DOCKER_CLI, ['network', 'ls', '--format', '{{.Name}}'])).split('\n').includes(net));

    // FAUCET here does not know host 1's DP yet (nothing writes it into its faucet.yaml until the
    // faucetconfrpc client does), so the fail-secure bridge forwards nothing by itself. A NORMAL flow
    // standing in for FAUCET shows that host 1's userspace datapath and its containers' ports work:
    // ping and TCP between two containers.
    const ctr2 = `${net}-d`;
    await on(h1, 'run', '-d', '--name', ctr2, '--net', net, IMAGE, 'sleep', '3600');
    const ip2 = await on(h1, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, ctr2);
    assert.equal(
      (await run(DOCKER_CLI, ['-H', h1.dockerHost, 'exec', ctr, 'ping', '-c', '1', '-W', '2', ip2])).code,
      1,
    );
    await must('ovs-ofctl', [
      '-O',
      'OpenFlow13',
      'add-flow',
      `unix:/run/dovesnap-hosts/h1/ovs/${bridge}.mgmt`,
      'priority=1,actions=NORMAL',
    ]);
    await waitFor(`${ctr} to ping ${ip2} on host 1`, async () =>
      (await run(DOCKER_CLI, ['-H', h1.dockerHost, 'exec', ctr, 'ping', '-c', '1', '-W', '1', ip2])).code === 0
        ? true
        : undefined,
    );
    await on(
      h1,
      'exec',
      ctr2,
      'sh',
      '-c',
      'mkdir -p /tmp/www && echo hello-h1 > /tmp/www/index.html && httpd -p 8080 -h /tmp/www',
    );
    assert.equal(await on(h1, 'exec', ctr, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ip2}:8080/`), 'hello-h1');
    // Left on host 1 on purpose: make hosts-down must take containers and networks with it.
  });

  it('make hosts N=2 again changes nothing', async () => {
    const before = hosts.map((h) => [daemonPid(h.k, 'holder'), daemonPid(h.k, 'dockerd'), daemonPid(h.k, 'dovesnap')]);
    const r = await make('hosts', 'N=2');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseLines(r.stdout), hosts);
    assert.deepEqual(
      hosts.map((h) => [daemonPid(h.k, 'holder'), daemonPid(h.k, 'dockerd'), daemonPid(h.k, 'dovesnap')]),
      before,
    );
  });

  it('make hosts-down leaves no process, namespace, link, cgroup, mount or directory', async () => {
    const pids = hosts.flatMap((h) =>
      ['holder', 'ovsdb-server', 'ovs-vswitchd', 'dovesnap', 'dockerd'].map((n) => daemonPid(h.k, n)),
    );
    assert.ok(harnessProcesses().length > pids.length, 'the hosts’ processes are in the harness’s cgroups');
    const r = await make('hosts-down');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} is gone`);
    assert.deepEqual(harnessProcesses(), []);
    assert.deepEqual(harnessCgroups(), []);
    assert.deepEqual(
      (await must('ip', ['netns', 'list'])).split('\n').filter((n) => n.startsWith('dsh-')),
      [],
    );
    // A namespace's links go with it a little after `ip netns del` (the kernel frees it in the background).
    await waitFor('no dsh- link left', async () =>
      (await must('ip', ['-o', 'link', 'show'])).split('\n').every((l) => !/^[0-9]+: dsh-/.test(l)) ? true : undefined,
    );
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes('dovesnap-hosts'));
    for (const d of HARNESS_DIRS) assert.ok(!existsSync(d), `${d} removed`);
    hosts = [];
  });
});
