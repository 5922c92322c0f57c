import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { DhcpSupervisor } from '../../src/dhcp/supervisor.js';
import { releaseThroughLink } from '../../src/dhcp/release.js';
import { silentLogger } from '../../src/util/log.js';
import { must, onCleanup, processAlive, run, uniqueName, waitFor } from './harness.js';

/**
 * The DHCP client supervisor against real binaries: busybox udhcpd as the server in a network
 * namespace the test makes, busybox udhcpc as the client in another, started, adopted,
 * restarted and stopped by the supervisor. (Wiring it to DHCP networks is the next step of
 * issue 8; `ovs.bridge.dhcp` is refused until then.)
 */

describe('DHCP client supervisor (udhcpc in a network namespace, udhcpd as the server)', () => {
  const tag = uniqueName('dh').slice(-6);
  const srv = `dsdhs${tag}`;
  const cli = `dsdhc${tag}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-dhcp-'));
  const prefix = `10.234.${Number.parseInt(tag.slice(0, 2), 16) % 250}`;
  const leases = path.join(dir, 'udhcpd.leases');
  const mac = '0e:42:00:00:00:07';
  const conf = path.join(dir, 'udhcpd.conf');
  let sup: DhcpSupervisor;
  const serverConf = (reservation: boolean): string =>
    [
      `start ${prefix}.10`,
      `end ${prefix}.20`,
      'interface dhs0',
      `lease_file ${leases}`,
      `pidfile ${path.join(dir, 'udhcpd.pid')}`,
      'option subnet 255.255.255.0',
      `option router ${prefix}.1`,
      `option dns ${prefix}.1`,
      'option domain lab.test',
      'option lease 600',
      ...(reservation ? [`static_lease ${mac} ${prefix}.15`] : []),
      'auto_time 1',
      '',
    ].join('\n');
  const startServer = (): ChildProcess =>
    spawn('ip', ['netns', 'exec', srv, 'busybox', 'udhcpd', '-f', conf], { stdio: 'ignore' });
  let server: ChildProcess;

  it('gets a lease (the reserved address for its MAC), configures the interface and sends its hostname', async () => {
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    onCleanup(() => run('ip', ['netns', 'del', srv]));
    onCleanup(() => run('ip', ['netns', 'del', cli]));
    await must('ip', ['netns', 'add', srv]);
    await must('ip', ['netns', 'add', cli]);
    await must('ip', ['link', 'add', 'dhs0', 'netns', srv, 'type', 'veth', 'peer', 'name', 'dhc0', 'netns', cli]);
    await must('ip', ['-n', srv, 'addr', 'add', `${prefix}.1/24`, 'dev', 'dhs0']);
    await must('ip', ['-n', srv, 'link', 'set', 'dhs0', 'up']);
    await must('ip', ['-n', cli, 'link', 'set', 'dhc0', 'address', mac]);
    writeFileSync(conf, serverConf(true));
    writeFileSync(leases, '');
    server = startServer();
    onCleanup(async () => server.kill('SIGKILL'));

    sup = new DhcpSupervisor({
      dir: path.join(dir, 'clients'),
      logger: silentLogger(),
      checkMs: 200,
      maxBackoffMs: 1000,
    });
    onCleanup(async () => {
      await sup.stop('ep1');
      await sup.stop('ep2');
      await sup.stop('ep3');
      sup.close();
    });
    sup.ensure({ endpointId: 'ep1', netns: `/run/netns/${cli}`, ifname: 'dhc0', hostname: '/web_1' });
    const lease = await waitFor('a lease', async () => sup.status('ep1').report?.lease, 20_000);
    assert.equal(lease.address, `${prefix}.15`, 'the reservation for its MAC');
    assert.equal(lease.prefixLength, 24);
    assert.equal(lease.router, `${prefix}.1`);
    assert.deepEqual(lease.dns, [`${prefix}.1`]);
    assert.equal(lease.domain, 'lab.test');
    assert.equal(lease.serverId, `${prefix}.1`);
    assert.match(
      await must('ip', ['-n', cli, '-4', '-o', 'addr', 'show', 'dev', 'dhc0']),
      new RegExp(` ${prefix.replace(/\./g, '\\.')}\\.15/24 `),
    );
    assert.match(
      await must('ip', ['-n', cli, 'route', 'show', 'default']),
      new RegExp(`default via ${prefix.replace(/\./g, '\\.')}\\.1 dev dhc0`),
    );
    assert.equal(
      (await run('ip', ['netns', 'exec', cli, 'busybox', 'ping', '-c', '1', '-W', '2', `${prefix}.1`])).code,
      0,
      'reaches the server',
    );
    // The host name the client sent, as the server recorded it (Docker's "_" is not allowed in one).
    await waitFor(
      'the lease file lists the host name',
      async () => (await run('busybox', ['dumpleases', '-f', leases])).stdout.includes('web-1'),
      10_000,
    );
  });

  it('adopts a running client instead of starting another, and starts a killed one again', async () => {
    const pid = sup.status('ep1').pid;
    assert.ok(pid !== undefined);
    const again = new DhcpSupervisor({
      dir: path.join(dir, 'clients'),
      logger: silentLogger(),
      checkMs: 200,
      maxBackoffMs: 1000,
    });
    again.ensure({ endpointId: 'ep1', netns: `/run/netns/${cli}`, ifname: 'dhc0', hostname: 'web_1' });
    assert.equal(again.status('ep1').pid, pid, 'the same client');
    again.close();
    process.kill(pid, 'SIGKILL');
    const next = await waitFor(
      'a new client',
      async () => {
        const p = sup.status('ep1').pid;
        return p !== undefined && p !== pid ? p : undefined;
      },
      15_000,
    );
    assert.notEqual(next, pid);
    assert.equal(sup.status('ep1').restarts, 1);
    await waitFor('bound again', async () => sup.status('ep1').report?.lease?.address === `${prefix}.15`, 20_000);
  });

  it('releases the lease when stopped (a pool lease: udhcpd keeps reservations)', async () => {
    const pid = sup.status('ep1').pid;
    await sup.stop('ep1');
    assert.equal(sup.status('ep1').pid, undefined);
    assert.ok(pid !== undefined && !processAlive(pid), 'the client is gone');
    // The same interface without its reservation, so that the server has a lease to give back.
    server.kill('SIGKILL');
    writeFileSync(conf, serverConf(false));
    server = startServer();
    sup.ensure({ endpointId: 'ep2', netns: `/run/netns/${cli}`, ifname: 'dhc0', hostname: 'db' });
    // (The server remembers this MAC's earlier lease, now an ordinary one from its pool.)
    const lease = await waitFor('a pool lease', async () => sup.status('ep2').report?.lease, 20_000);
    const leaseLine = async (): Promise<string | undefined> =>
      (await run('busybox', ['dumpleases', '-f', leases])).stdout
        .split('\n')
        .find((l) => l.includes(`${lease.address} `));
    await waitFor(
      'the server lists the active lease',
      async () => {
        const line = await leaseLine();
        return line !== undefined && !/expired/.test(line);
      },
      10_000,
    );
    await sup.stop('ep2');
    await waitFor('the server saw the release', async () => /expired/.test((await leaseLine()) ?? ''), 10_000);
  });

  it("releases from the host, through the interface, when the interface had left the client's namespace first", async () => {
    sup.ensure({ endpointId: 'ep3', netns: `/run/netns/${cli}`, ifname: 'dhc0', hostname: 'db' });
    const lease = await waitFor('a pool lease', async () => sup.status('ep3').report?.lease, 20_000);
    const leaseLine = async (): Promise<string | undefined> =>
      (await run('busybox', ['dumpleases', '-f', leases])).stdout
        .split('\n')
        .find((l) => l.includes(`${lease.address} `));
    await waitFor(
      'the server lists the active lease',
      async () => {
        const line = await leaseLine();
        return line !== undefined && !/expired/.test(line);
      },
      10_000,
    );
    // What some engines do before Leave: the interface goes back to the host, under its own name.
    const link = `dsdhc${tag}`;
    onCleanup(() => run('ip', ['link', 'del', link]));
    await must('ip', ['-n', cli, 'link', 'set', 'dev', 'dhc0', 'down']);
    await must('ip', ['-n', cli, 'link', 'set', 'dev', 'dhc0', 'name', link]);
    await must('ip', ['-n', cli, 'link', 'set', 'dev', link, 'netns', String(process.pid)]);
    const last = await sup.stop('ep3');
    assert.equal(last?.lease?.address, lease.address, 'stop returns the last lease');
    assert.ok(!/expired/.test((await leaseLine()) ?? ''), 'the client itself could not release it');
    await releaseThroughLink({ link, mac, lease });
    await waitFor('the server saw the release', async () => /expired/.test((await leaseLine()) ?? ''), 10_000);
    assert.ok(existsSync(`/sys/class/net/${link}`), 'the interface is back in the host namespace');
    assert.equal(
      (await run('ip', ['-o', 'addr', 'show', 'dev', link])).stdout.trim(),
      '',
      'without the leased address',
    );
    assert.deepEqual(
      (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((n) => n.startsWith('dsrel')),
      [],
      'no scratch namespace left',
    );
  });
});
