import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { parse } from 'yaml';
import {
  containerIp,
  containerPortsOn,
  endpointPort,
  createNetwork,
  docker,
  dockerRaw,
  faucetYaml,
  httpGet,
  must,
  onCleanup,
  processAlive,
  run,
  runContainer,
  removeStaleOvsCtl,
  testDpid,
  testSubnet,
  uniqueName,
  upWithEnv,
  waitFor,
  waitPing,
  DOCKER,
  IMAGE,
} from './harness.js';
import { waitAgreement } from './agreement.js';
import { processRunning } from '../../src/util/proc.js';

/**
 * Restarts under load (issue 11): each daemon of the stack is SIGKILLed while containers are
 * being started, `make up` brings it back, and then every network and every running container
 * must be connected, nothing duplicated, nothing leaked. Last, a simulated host reboot: the whole
 * stack stopped, the kernel-side state a reboot loses removed, `make up`, and every network and
 * every `--restart always` container comes back connected.
 */

const OVS_RUN = '/var/run/openvswitch';
const COMPONENTS: Record<string, string> = {
  'ovsdb-server': `${OVS_RUN}/ovsdb-server.pid`,
  'ovs-vswitchd': `${OVS_RUN}/ovs-vswitchd.pid`,
  faucet: '/run/dovesnap/faucet.pid',
  gauge: '/run/dovesnap/gauge.pid',
  'dovesnap daemon': '/run/dovesnap/dovesnap.pid',
};

function pidOf(pidfile: string): number {
  return Number(readFileSync(pidfile, 'utf8').trim());
}

/** make up, keeping Prometheus (later tests need it). */
async function makeUp(): Promise<void> {
  await upWithEnv({ MONITORING: '1' });
}

/** What OVS, the kernel and FAUCET say about a container's port, for a failure message. */
async function portDiagnosis(container: string, network: string): Promise<string> {
  const ep = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").EndpointID}}`, container);
  const port = (await endpointPort(ep)) ?? `dsp${ep.slice(0, 12)}`;
  const link = await run('ip', ['-br', 'link', 'show', port]);
  const ovs = await run('ovs-vsctl', ['--timeout=5', 'get', 'Interface', port, 'ofport', 'link_state', 'admin_state']);
  const metrics = await run('curl', ['-s', '--max-time', '5', 'http://127.0.0.1:9302/metrics']);
  const ofport = ovs.stdout.split('\n')[0]?.trim() ?? '?';
  const faucetLines = metrics.stdout
    .split('\n')
    .filter(
      (l) =>
        l.includes(`dp_name="${network}"`) &&
        l.includes(`port="${ofport}"`) &&
        /^port_status|^port_learn_bans|^learned_macs/.test(l),
    );
  return `port ${port}: ip ${link.stdout.trim()} ${link.stderr.trim()}; ovs ${ovs.stdout.replace(/\n/g, ' ')}; faucet ${faucetLines.join('; ') || '(no port metrics)'}`;
}

interface Net {
  readonly name: string;
  readonly server: string;
  readonly containers: string[];
}

describe('restarts under load, and a simulated reboot', () => {
  const tag = uniqueName('rld');
  const nets: Net[] = [
    { name: `${tag}-flat`, server: `${tag}-flat-srv`, containers: [] },
    { name: `${tag}-nat`, server: `${tag}-nat-srv`, containers: [] },
  ];
  let count = 0;

  before(async () => {
    await createNetwork(nets[0]!.name, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', testSubnet().subnet]);
    await createNetwork(nets[1]!.name, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat' }, [
      '--subnet',
      testSubnet().subnet,
    ]);
    for (const n of nets) {
      await runContainer(
        n.server,
        n.name,
        ['--restart=always'],
        [
          'sh',
          '-c',
          `mkdir -p /tmp/www && echo "hello from ${n.server}" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www`,
        ],
      );
    }
  });

  /** Every container Docker runs on the test's networks reaches its network's server by ping and TCP; one port and one FAUCET entry each. */
  async function assertAllConnected(): Promise<void> {
    await waitAgreement(60_000);
    const faucet = parse(faucetYaml()) as {
      dps: Record<string, { interfaces: Record<string, { description?: string }> }>;
    };
    for (const n of nets) {
      const running = (await docker('ps', '--format', '{{.Names}}', '--filter', `network=${n.name}`))
        .split('\n')
        .filter((s) => s !== '');
      assert.ok(running.includes(n.server), `${n.server} runs`);
      const ip = await containerIp(n.server, n.name);
      for (const c of running.filter((c) => c !== n.server)) {
        await waitPing(c, ip, 30_000).catch(async (err: unknown) => {
          throw new Error(`${String(err)}\n${await portDiagnosis(c, n.name)}`);
        });
        assert.equal(
          await waitFor(`TCP ${c} -> ${n.server}`, () => httpGet(c, `http://${ip}:8080/`), 15_000),
          `hello from ${n.server}`,
        );
      }
      const bridge = (await docker('network', 'inspect', '-f', '{{.Id}}', n.name)).slice(0, 5);
      const ports = [...(await containerPortsOn(`ovsbr-${bridge}`)).keys()];
      assert.equal(ports.length, running.length, `one OVS port per running container on ${n.name}`);
      const named = Object.values(faucet.dps[n.name]?.interfaces ?? {}).filter((i) =>
        (i.description ?? '').startsWith('/'),
      );
      assert.ok(named.length <= running.length, `no duplicate FAUCET entries on ${n.name}`);
    }
  }

  /** Starts `k` containers per network at once; returns their names (some may fail to start). */
  function burst(k: number): { names: string[]; done: Promise<unknown> } {
    const names: string[] = [];
    const runs: Promise<unknown>[] = [];
    for (const n of nets) {
      for (let i = 0; i < k; i++) {
        const name = `${tag}-c${++count}`;
        names.push(name);
        n.containers.push(name);
        onCleanup(() => run(DOCKER, ['rm', '-f', name]));
        runs.push(dockerRaw('run', '-d', '--restart=always', '--name', name, '--net', n.name, IMAGE, 'sleep', '3600'));
      }
    }
    return { names, done: Promise.all(runs) };
  }

  /** Containers whose start failed during a restart are removed, as a user would. */
  async function removeFailed(names: readonly string[]): Promise<void> {
    for (const name of names) {
      const state = await dockerRaw('inspect', '-f', '{{.State.Running}}', name);
      if (state.stdout.trim() !== 'true') {
        await run(DOCKER, ['rm', '-f', name]);
        for (const n of nets) n.containers.splice(n.containers.indexOf(name), 1);
      }
    }
  }

  for (const [component, pidfile] of Object.entries(COMPONENTS)) {
    it(`${component} SIGKILLed during a burst of starts: make up, then everything is connected`, async () => {
      const pid = pidOf(pidfile);
      const b = burst(3);
      await new Promise((r) => setTimeout(r, 300));
      process.kill(pid, 'SIGKILL');
      await waitFor(`${component} dead`, async () => !processAlive(pid), 10_000);
      if (pidfile.startsWith(OVS_RUN)) removeStaleOvsCtl(pid);
      await b.done;
      await makeUp();
      assert.notEqual(pidOf(pidfile), pid, `${component} restarted`);
      await removeFailed(b.names);
      await assertAllConnected();
      // And the stack takes new work.
      const after = burst(1);
      await after.done;
      await removeFailed(after.names);
      assert.equal(nets.reduce((sum, n) => sum + n.containers.length, 0) >= 2, true);
      await assertAllConnected();
    });
  }

  it('a simulated host reboot: everything stopped, kernel and /run state removed, make up: all back, nothing duplicated', async () => {
    const before = new Map<string, string>();
    for (const n of nets) before.set(n.name, await docker('network', 'inspect', '-f', '{{.Id}}', n.name));
    await must('bash', [new URL('../../../scripts/down.sh', import.meta.url).pathname, '--all'], 300_000);
    for (const p of ['dockerd', 'ovs-vswitchd', 'ovsdb-server']) {
      // pgrep also lists a process that has exited and is not reaped yet (PID 1 here reaps late).
      const running = (await run('pgrep', ['-x', p])).stdout
        .split('\n')
        .filter((pid) => pid !== '' && processRunning(Number(pid)));
      assert.deepEqual(running, [], `${p} stopped by make down-all`);
    }
    // What the kernel forgets at a reboot: links the containers' namespaces and the datapath
    // held, Docker's namespace mounts, dovesnap's nftables table and DOCKER-USER rules, /run.
    for (const l of (await must('ip', ['-o', 'link', 'show'])).split('\n')) {
      const m = /^\d+: ((?:dsp|dsc|ovsbr-)[^:@]+)/.exec(l);
      if (m?.[1] !== undefined) await run('ip', ['link', 'del', m[1]]);
    }
    await run('ovs-dpctl', ['del-dp', 'ovs-system']);
    // Mounts under the run directories (Docker's namespace files, attach's dhcpcd namespaces), deepest first.
    const RUN_DIRS = ['/run/dovesnap', '/run/docker', '/run/openvswitch'];
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => RUN_DIRS.some((d) => m === d || m.startsWith(`${d}/`)))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run('umount', ['-l', m]);
    await run('nft', ['delete', 'table', 'ip', 'dovesnap']);
    for (const line of (await run('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout.split('\n')) {
      if (line.startsWith('-A DOCKER-USER') && line.includes('dovesnap'))
        await run('sh', ['-c', `iptables -w ${line.replace(/^-A/, '-D')}`]);
    }
    for (const dir of RUN_DIRS) rmSync(dir, { recursive: true, force: true });
    rmSync('/var/run/docker.pid', { force: true });

    await makeUp();
    for (const n of nets) {
      assert.equal(
        await docker('network', 'inspect', '-f', '{{.Id}}', n.name),
        before.get(n.name),
        `network ${n.name} is Docker's as before`,
      );
      for (const c of [n.server, ...n.containers]) {
        await waitFor(
          `${c} running again`,
          async () => (await docker('inspect', '-f', '{{.State.Running}}', c)) === 'true',
          90_000,
          500,
        );
      }
    }
    await assertAllConnected();
    const dps = Object.keys((parse(faucetYaml()) as { dps: Record<string, unknown> }).dps);
    for (const n of nets) assert.equal(dps.filter((d) => d === n.name).length, 1, `one FAUCET DP for ${n.name}`);
  });
});
