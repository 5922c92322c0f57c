import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import {
  DOCKER,
  bridgeExists,
  createNetwork,
  docker,
  dockerRaw,
  must,
  onCleanup,
  processAlive,
  run,
  runContainer,
  status,
  testDpid,
  uniqueName,
  waitFor,
} from './harness.js';
import { makeLan, serverLeases, type DhcpLan } from './dhcp-lan.js';

/**
 * DHCP networks (`ovs.bridge.dhcp=true`), end to end: a DHCP server (busybox udhcpd) in a
 * network namespace the test makes, joined to the network through an added port, as a real
 * LAN's server would be; containers on the network lease their addresses from it.
 */

const REPO = new URL('../../..', import.meta.url).pathname;
const PIDFILE = '/run/dovesnap/dovesnap.pid';
const DHCP_DIR = process.env['DOVESNAP_DHCP_DIR'] ?? '/run/dovesnap/dhcp';

interface DhcpInfo {
  readonly State: string;
  readonly Reason: string | null;
  readonly Address: string | null;
  readonly Server: string | null;
  readonly Dns: readonly string[];
  readonly Domain: string | null;
  readonly LeasedAt: string | null;
  readonly ClientPid: number | null;
  readonly ResolvConf: string;
}

async function dhcpOf(container: string): Promise<{ dhcp: DhcpInfo; hostIp: string; mac: string } | undefined> {
  const id = await docker('inspect', '-f', '{{.Id}}', container);
  for (const n of Object.values(await status())) {
    const c = n.Containers[id] as unknown as { Dhcp: DhcpInfo | null; HostIP: string; MacAddress: string } | undefined;
    if (c?.Dhcp != null) return { dhcp: c.Dhcp, hostIp: c.HostIP, mac: c.MacAddress };
  }
  return undefined;
}

async function bound(container: string, timeoutMs = 45_000): Promise<{ dhcp: DhcpInfo; hostIp: string; mac: string }> {
  return waitFor(
    `a lease for ${container}`,
    async () => {
      const d = await dhcpOf(container);
      return d?.dhcp.State === 'bound' ? d : undefined;
    },
    timeoutMs,
    250,
  );
}

async function addressInside(container: string): Promise<string | undefined> {
  const out = await docker('exec', container, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0');
  return /inet ([0-9.]+)\//.exec(out)?.[1];
}

/** udhcpc processes of one endpoint, found by their pidfile on the command line. */
function clientsOf(endpointId: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes('udhcpc') && cmd.includes(`${DHCP_DIR}/${endpointId}.pid`)) out.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

async function endpointOf(container: string, network: string): Promise<string> {
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").EndpointID}}`, container);
}

describe('DHCP networks (ovs.bridge.dhcp)', () => {
  const net = uniqueName('dhcp');
  const tag = net.slice(-6);
  const reservedMac = '0e:42:00:00:00:20';
  const prefixedMac = '0e:77:00:00:00:33';
  let lan: DhcpLan;
  const [c1, c2, c3] = ['c1', 'c2', 'c3'].map((s) => `${net}-${s}`) as [string, string, string];

  it('refuses the combinations that cannot work, naming the option, and creates nothing', async () => {
    const base = [
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      'ovs.bridge.dhcp=true',
      '-o',
      'ovs.bridge.mode=flat',
      '-o',
      `ovs.bridge.dpid=${testDpid()}`,
    ];
    const cases: [string[], RegExp][] = [
      [['--internal'], /ovs\.bridge\.dhcp.*--ipam-driver null/],
      [['--ipam-driver', 'null'], /ovs\.bridge\.dhcp.*--internal/],
      [['--internal', '--ipam-driver', 'null', '-o', 'ovs.bridge.mode=nat'], /ovs\.bridge\.dhcp/],
    ];
    const bridgesBefore = await must('ovs-vsctl', ['list-br']);
    for (const [extra, why] of cases) {
      const name = uniqueName('dhbad');
      onCleanup(() => run(DOCKER, ['network', 'rm', name]));
      const r = await dockerRaw(...base, ...extra, name);
      assert.notEqual(r.code, 0, `${extra.join(' ')} must fail`);
      assert.match(r.stderr, why);
      assert.equal((await dockerRaw('network', 'inspect', name)).code, 1, 'no network');
    }
    assert.equal(await must('ovs-vsctl', ['list-br']), bridgesBefore, 'no bridge made');
  });

  it('leases an address from the LAN server to a container, which reaches the server over TCP and gets its DNS settings', async () => {
    lan = await makeLan(tag, [
      [reservedMac, 20],
      [prefixedMac, 33],
    ]);
    const id = await createNetwork(
      net,
      {
        'ovs.bridge.dhcp': 'true',
        'ovs.bridge.mode': 'flat',
        'ovs.bridge.dpid': testDpid(),
        'ovs.bridge.add_ports': lan.port,
      },
      ['--internal', '--ipam-driver', 'null'],
    );
    assert.ok(await bridgeExists(`ovsbr-${id.slice(0, 5)}`));
    await runContainer(c1, net);
    const d = await bound(c1);
    const addr = d.dhcp.Address ?? '';
    const host = Number(addr.split('.')[3]);
    assert.ok(addr.startsWith(`${lan.prefix}.`) && host >= 100 && host <= 150, `a pool address, got ${addr}`);
    assert.equal(d.hostIp, addr, 'HostIP is the leased address');
    assert.equal(d.dhcp.Server, `${lan.prefix}.1`);
    assert.deepEqual(d.dhcp.Dns, [`${lan.prefix}.1`]);
    assert.equal(d.dhcp.Domain, 'lab.test');
    assert.equal(await addressInside(c1), addr, 'configured inside the container');
    assert.match(
      await docker('exec', c1, 'ip', 'route', 'show', 'default'),
      new RegExp(`default via ${lan.prefix.replace(/\./g, '\\.')}\\.1`),
    );
    assert.equal(
      (await dockerRaw('exec', c1, 'ping', '-c', '1', '-W', '2', `${lan.prefix}.1`)).code,
      0,
      'ping the server',
    );
    const page = await dockerRaw('exec', c1, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${lan.prefix}.1:8080/`);
    assert.equal(page.stdout.trim(), 'hello from the LAN server', 'TCP to the server');
    const resolv = await waitFor(
      'resolv.conf from the lease',
      async () => {
        const text = await docker('exec', c1, 'cat', '/etc/resolv.conf');
        return text.includes('dovesnap') ? text : undefined;
      },
      10_000,
      200,
    );
    assert.match(resolv, new RegExp(`^nameserver ${lan.prefix.replace(/\./g, '\\.')}\\.1$`, 'm'));
    assert.match(resolv, /^search lab\.test$/m);
    assert.match((await dhcpOf(c1))?.dhcp.ResolvConf ?? '', /^applied/);
    // The container's name went to the server as its host name.
    await waitFor(
      'the server records the host name',
      async () => (await serverLeases(lan)).get(addr)?.host === c1,
      10_000,
    );
    // `dovesnap status` shows the lease.
    const table = await must('node', [`${REPO}/dist/src/cli/main.js`, 'status']);
    assert.match(
      table,
      new RegExp(`${c1}.*dhcp ${addr.replace(/\./g, '\\.')}/24 from ${lan.prefix.replace(/\./g, '\\.')}\\.1`),
    );
  });

  it('gives reserved addresses by MAC: with --mac-address, and with the MAC a mac_prefix label made', async () => {
    await runContainer(c2, net, ['--mac-address', reservedMac, '--restart=always']);
    await runContainer(c3, net, ['--mac-address', '02:00:00:00:00:33', '--label', 'dovesnap.faucet.mac_prefix=0e:77']);
    const d2 = await bound(c2);
    assert.equal(d2.dhcp.Address, `${lan.prefix}.20`);
    const d3 = await bound(c3);
    assert.equal(d3.mac, prefixedMac, 'the MAC in use');
    assert.equal(d3.dhcp.Address, `${lan.prefix}.33`);
    assert.equal(await addressInside(c3), `${lan.prefix}.33`);
  });

  it('renews the lease', async () => {
    const before = (await bound(c2)).dhcp.LeasedAt;
    // A 20 s lease is renewed after 10 s.
    await waitFor(
      'a renewal',
      async () => {
        const d = await dhcpOf(c2);
        return d?.dhcp.State === 'bound' && d.dhcp.LeasedAt !== before ? d : undefined;
      },
      30_000,
      500,
    );
    assert.equal(await addressInside(c2), `${lan.prefix}.20`);
  });

  it('starts a killed client again, which keeps the address', async () => {
    const d = await bound(c1);
    const pid = d.dhcp.ClientPid ?? 0;
    assert.ok(pid > 0);
    process.kill(pid, 'SIGKILL');
    const again = await waitFor(
      'a new client, bound',
      async () => {
        const x = await dhcpOf(c1);
        return x?.dhcp.State === 'bound' && x.dhcp.ClientPid !== null && x.dhcp.ClientPid !== pid ? x : undefined;
      },
      30_000,
      250,
    );
    assert.equal(again.dhcp.Address, d.dhcp.Address);
    assert.equal(await addressInside(c1), d.dhcp.Address);
  });

  it('after a daemon SIGKILL and restart: exactly one client per container, none restarted, no address changed', async () => {
    const before = new Map<string, { pid: number; addr: string; ep: string }>();
    for (const c of [c1, c2, c3]) {
      const d = await bound(c);
      before.set(c, { pid: d.dhcp.ClientPid ?? 0, addr: d.dhcp.Address ?? '', ep: await endpointOf(c, net) });
    }
    process.kill(Number(readFileSync(PIDFILE, 'utf8').trim()), 'SIGKILL');
    await must('bash', [`${REPO}/scripts/up.sh`], 600_000);
    for (const [c, b] of before) {
      const d = await bound(c);
      assert.equal(d.dhcp.ClientPid, b.pid, `${c}: the same client, adopted`);
      assert.deepEqual(clientsOf(b.ep), [b.pid], `${c}: exactly one client`);
      assert.equal(d.dhcp.Address, b.addr);
      assert.equal(await addressInside(c), b.addr);
    }
  });

  it('leases again after docker restart, and releases the lease when the container stops', async () => {
    const first = (await bound(c1)).dhcp.Address ?? '';
    await docker('restart', '-t', '1', c1);
    const d = await bound(c1);
    assert.equal(await addressInside(c1), d.dhcp.Address);
    assert.ok(d.dhcp.Address?.startsWith(`${lan.prefix}.`), `${first} then ${d.dhcp.Address}`);
    const ep = await endpointOf(c1, net);
    await waitFor(
      'the server lists the active lease',
      async () => (await serverLeases(lan)).get(d.dhcp.Address ?? '')?.expired === false,
      10_000,
    );
    await docker('stop', '-t', '1', c1);
    await waitFor(
      'the server saw the release',
      async () => (await serverLeases(lan)).get(d.dhcp.Address ?? '')?.expired === true,
      10_000,
    );
    assert.deepEqual(clientsOf(ep), [], 'no client left');
  });

  it('keeps a container with no DHCP server running, without an address, and says why', async () => {
    const quiet = await makeLan(`${tag}q`.slice(-7), [], false);
    const qnet = `${net}-q`;
    await createNetwork(
      qnet,
      {
        'ovs.bridge.dhcp': 'true',
        'ovs.bridge.mode': 'flat',
        'ovs.bridge.dpid': testDpid(),
        'ovs.bridge.add_ports': quiet.port,
      },
      ['--internal', '--ipam-driver', 'null'],
    );
    const c4 = `${net}-c4`;
    await runContainer(c4, qnet);
    const d = await waitFor(
      'no lease, with the reason',
      async () => {
        const x = await dhcpOf(c4);
        return x?.dhcp.State === 'no lease' ? x : undefined;
      },
      45_000,
      500,
    );
    assert.match(d.dhcp.Reason ?? '', /no DHCP server answered/);
    assert.equal(d.hostIp, '');
    assert.equal(await docker('inspect', '-f', '{{.State.Running}}', c4), 'true');
    assert.equal(await addressInside(c4), undefined, 'no address');
  });

  it('leases to a running container connected to the network, and releases when it is disconnected', async () => {
    const c4 = `${net}-c4`;
    await docker('network', 'connect', net, c4);
    const ep = await endpointOf(c4, net);
    const d = await waitFor(
      'a lease on the second interface',
      async () => {
        const id = await docker('inspect', '-f', '{{.Id}}', c4);
        for (const n of Object.values(await status())) {
          if (n.NetworkName !== net) continue;
          const c = n.Containers[id] as unknown as { Dhcp: DhcpInfo | null } | undefined;
          if (c?.Dhcp?.State === 'bound') return c.Dhcp;
        }
        return undefined;
      },
      45_000,
      250,
    );
    assert.match(
      await docker('exec', c4, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth1'),
      new RegExp(`inet ${(d.Address ?? '').replace(/\./g, '\\.')}/24`),
    );
    assert.equal(clientsOf(ep).length, 1);
    await waitFor(
      'the server lists the active lease',
      async () => (await serverLeases(lan)).get(d.Address ?? '')?.expired === false,
      10_000,
    );
    await docker('network', 'disconnect', net, c4);
    await waitFor(
      'the server saw the release',
      async () => (await serverLeases(lan)).get(d.Address ?? '')?.expired === true,
      10_000,
    );
    assert.deepEqual(clientsOf(ep), [], 'no client left');
    assert.equal(await docker('inspect', '-f', '{{.State.Running}}', c4), 'true', 'the container runs on');
  });

  it('after a dockerd restart, a container that comes back leases again; the clients of the old endpoints are gone', async () => {
    const oldEp = await endpointOf(c2, net);
    const oldEp3 = await endpointOf(c3, net);
    const pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());
    process.kill(pid, 'SIGTERM');
    await waitFor('dockerd stopped', async () => !processAlive(pid), 60_000, 200);
    await must('bash', [`${REPO}/scripts/up.sh`], 600_000);
    await waitFor(
      'c2 running again',
      async () => (await docker('inspect', '-f', '{{.State.Running}}', c2)) === 'true',
      60_000,
      500,
    );
    const d = await bound(c2, 60_000);
    assert.equal(d.dhcp.Address, `${lan.prefix}.20`, 'its reservation again');
    assert.equal(await addressInside(c2), `${lan.prefix}.20`);
    const ep = await endpointOf(c2, net);
    assert.notEqual(ep, oldEp, 'a new endpoint');
    assert.equal(clientsOf(ep).length, 1, 'one client');
    assert.deepEqual(clientsOf(oldEp), [], 'none for the old endpoint');
    assert.deepEqual(clientsOf(oldEp3), [], 'none for the stopped container');
  });
});
