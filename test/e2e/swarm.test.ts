import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import * as h from './harness.js';

/**
 * Issue 24, Docker Swarm: two simulated hosts (`make hosts N=2`, stacking, faucetconfrpc) in one
 * swarm, dovesnap installed on each as the managed plugin of deploy/swarm-plugin (the manager
 * refuses the legacy socket), a swarm-scoped network made from each host's config-only network,
 * a service of 4 replicas over both hosts whose tasks reach each other across FAUCET's stack
 * (ping and TCP), and the tasks of a drained host started again on the other host on the same
 * network, reaching a container left on the drained host.
 */

const ROOT = new URL('../../../', import.meta.url).pathname;

/** One simulated host of `make hosts`, driven through its own Docker socket with the system client. */
class SimHost {
  readonly socket: string;
  constructor(readonly k: number) {
    this.socket = `unix:///run/dovesnap-hosts/h${k}/docker.sock`;
  }
  /** A docker command on this host that must succeed; its stdout. */
  docker(...args: string[]): Promise<string> {
    return h.must('/usr/bin/docker', ['-H', this.socket, ...args], 120_000);
  }
  /** A docker command on this host whose failure is an answer (clean-up, probes). */
  attempt(...args: string[]): Promise<h.RunResult> {
    return h.run('/usr/bin/docker', ['-H', this.socket, ...args], 120_000);
  }
  plugin(action: 'install' | 'remove'): Promise<h.RunResult> {
    const env = [`DOCKER_HOST=${this.socket}`, 'DOCKER=/usr/bin/docker'];
    return h.run('env', [...env, `${ROOT}scripts/swarm-plugin.sh`, action], 300_000);
  }
  async addressOn(ctr: string, network: string): Promise<string> {
    return (
      await this.docker('inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, ctr)
    ).trim();
  }
  /** Container CTR here answers ping to IP (within a minute: FAUCET learns), then fetches BODY from IP:8080. */
  async reaches(ctr: string, ip: string, body: string): Promise<void> {
    const pings = async () => (await this.attempt('exec', ctr, 'ping', '-c', '1', '-W', '1', ip)).code === 0;
    await h.waitFor(`${ctr} on host ${this.k} to ping ${ip}`, pings, 60_000);
    assert.equal(await this.docker('exec', ctr, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ip}:8080/`), body);
  }
  /** busybox httpd in CTR on port 8080, serving BODY. */
  serve(ctr: string, body: string): Promise<string> {
    return this.docker(
      'exec',
      ctr,
      'sh',
      '-c',
      `mkdir -p /tmp/w && echo ${body} > /tmp/w/index.html && httpd -p 8080 -h /tmp/w`,
    );
  }
}

const makeTarget = (vars: string[], ...targets: string[]) =>
  h.run('env', [...vars, 'make', '-s', '--no-print-directory', '-C', ROOT, ...targets], 900_000);

interface Task {
  readonly host: SimHost;
  readonly id: string;
  readonly ip: string;
}

describe('Docker Swarm on two hosts: a service on a swarm-scoped dovesnap network', () => {
  const tag = randomBytes(3).toString('hex');
  const net = `dst-sw-${tag}`;
  const cfg = `dst-swc-${tag}`;
  const svc = `dst-svc-${tag}`;
  const probe = `dst-swp-${tag}`;
  const sub = h.testSubnet();
  const manager = new SimHost(1);
  const worker = new SimHost(2);
  const hosts = [manager, worker];
  // Each host's own slice of the shared subnet: host K gives out .32K to .32K+31.
  const range = (host: SimHost): string => `${sub.prefix}.${host.k * 32}/27`;
  const inRange = (host: SimHost, ip: string): boolean => {
    const last = Number(ip.split('.')[3]);
    return ip.startsWith(`${sub.prefix}.`) && last >= host.k * 32 && last < host.k * 32 + 32;
  };
  let faucetBefore: string | undefined;

  h.onCleanup(async () => {
    await manager.attempt('service', 'rm', svc);
    await manager.attempt('rm', '-f', probe);
    await manager.attempt('network', 'rm', net);
    for (const host of [worker, manager]) await host.attempt('swarm', 'leave', '--force');
    for (const host of hosts) {
      await host.attempt('network', 'rm', cfg);
      await host.plugin('remove');
    }
    await makeTarget([], 'hosts-down');
    // faucetconfrpc rewrites faucet.yaml as a YAML dump: the operator's file goes back as it was.
    if (faucetBefore !== undefined) {
      writeFileSync(h.FAUCET_CONFIG, faucetBefore);
      h.hupFaucet();
      await h.waitFaucetSettled();
    }
  });

  /** The service's running tasks on both hosts, with their address on the network. */
  async function tasks(): Promise<Task[]> {
    const out: Task[] = [];
    for (const host of hosts) {
      const listed = await host.docker('ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`);
      for (const id of listed.split('\n').filter((line) => line !== ''))
        out.push({ host, id, ip: await host.addressOn(id, net) });
    }
    return out;
  }

  it('two hosts in one swarm, the managed dovesnap plugin enabled on both', async () => {
    await h.waitFaucetSettled();
    faucetBefore = readFileSync(h.FAUCET_CONFIG, 'utf8');
    const vars = ['HOSTS_STACKING=1', 'HOSTS_CONFRPC=1', 'HOSTS_DAEMON_ENV=DOVESNAP_CONNECTIVITY_SCOPE=global'];
    const up = await makeTarget(vars, 'hosts', 'N=2');
    assert.equal(up.code, 0, `make hosts N=2 failed: ${up.stderr}`);
    await manager.docker('swarm', 'init', '--advertise-addr', '10.239.0.11', '--listen-addr', '10.239.0.11:2377');
    const token = (await manager.docker('swarm', 'join-token', '-q', 'worker')).trim();
    await worker.docker('swarm', 'join', '--token', token, '--advertise-addr', '10.239.0.12', '10.239.0.11:2377');
    for (const host of hosts) {
      const installed = await host.plugin('install');
      assert.equal(installed.code, 0, `scripts/swarm-plugin.sh install on host ${host.k}: ${installed.stderr}`);
      assert.equal((await host.docker('plugin', 'inspect', '--format', '{{.Enabled}}', 'dovesnap')).trim(), 'true');
    }
    // The scheduler places a task only on a node whose description lists the network's plugin;
    // a worker reports a newly enabled plugin some seconds later.
    for (const host of hosts) {
      const listsPlugin = async () =>
        (
          await manager.docker('node', 'inspect', '--format', '{{json .Description.Engine.Plugins}}', `dsh-h${host.k}`)
        ).includes('"Name":"dovesnap:latest"');
      await h.waitFor(`dsh-h${host.k}'s node description to list dovesnap:latest`, listsPlugin, 60_000, 500);
    }
  });

  it('a service of 4 replicas over both hosts: addresses from each host’s range, ping and TCP across the stack', async () => {
    for (const host of hosts) {
      const opts = ['--subnet', sub.subnet, '--ip-range', range(host), '-o', 'ovs.bridge.vlan=242'];
      await host.docker('network', 'create', '--config-only', ...opts, cfg);
    }
    // Docker names a managed plugin's driver with its tag: the manager does not resolve `-d dovesnap`.
    await manager.docker(
      'network',
      'create',
      '-d',
      'dovesnap:latest',
      '--scope',
      'swarm',
      '--attachable',
      '--config-from',
      cfg,
      net,
    );
    // busybox's sleep ignores SIGTERM: a short grace period keeps the drain below quick.
    const service = ['--name', svc, '--replicas', '4', '--network', net, '--stop-grace-period', '1s'];
    await manager.docker('service', 'create', ...service, h.IMAGE, 'sleep', '3600');
    const fourRunning = async () => {
      const found = await tasks();
      return found.length === 4 ? found : undefined;
    };
    const running = await h.waitFor('four running tasks', fourRunning, 120_000, 500);
    const where = JSON.stringify(running.map((t) => [t.host.k, t.ip]));
    for (const host of hosts)
      assert.ok(
        running.some((t) => t.host === host),
        `a task on host ${host.k}: ${where}`,
      );
    for (const t of running)
      assert.ok(inRange(t.host, t.ip), `every task has an address of its host's range: ${where}`);

    const dps = Object.keys((parse(readFileSync(h.FAUCET_CONFIG, 'utf8')) as { dps?: object } | null)?.dps ?? {});
    for (const host of hosts)
      assert.ok(dps.includes(`${net}@dsh-h${host.k}`), `${net}@dsh-h${host.k} in FAUCET: ${dps.join(' ')}`);

    const a = running.find((t) => t.host === manager);
    const b = running.find((t) => t.host === worker);
    assert.ok(a && b);
    await manager.serve(a.id, 'from-h1');
    await worker.serve(b.id, 'from-h2');
    await manager.reaches(a.id, b.ip, 'from-h2');
    await worker.reaches(b.id, a.ip, 'from-h1');
  });

  it('host 1 drained: its tasks start again on host 2 on the network and reach a container left on host 1', async () => {
    // Not a task: draining leaves it where it is, on host 1.
    await manager.docker('run', '-d', '--name', probe, '--network', net, h.IMAGE, 'sleep', '3600');
    const probeIp = await manager.addressOn(probe, net);
    assert.ok(inRange(manager, probeIp), `the probe has ${probeIp}`);
    await manager.serve(probe, 'from-probe');
    const before = new Set((await tasks()).map((t) => t.id));

    await manager.docker('node', 'update', '--availability', 'drain', 'dsh-h1');
    const allOnWorker = async () => {
      const found = await tasks();
      return found.length === 4 && found.every((t) => t.host === worker) ? found : undefined;
    };
    const moved = await h.waitFor('four running tasks, all on host 2', allOnWorker, 120_000, 500);
    const fresh = moved.filter((t) => !before.has(t.id));
    assert.equal(fresh.length, 2, `two tasks started again on host 2: ${JSON.stringify(moved.map((t) => t.ip))}`);
    for (const t of fresh) {
      assert.ok(inRange(worker, t.ip), `moved task ${t.id} has ${t.ip} on ${net}`);
      await worker.reaches(t.id, probeIp, 'from-probe');
    }
  });
});
