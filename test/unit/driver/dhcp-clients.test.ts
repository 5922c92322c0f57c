import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DhcpClients, resolvConfFor } from '../../../src/driver/dhcp-clients.js';
import { DhcpSupervisor } from '../../../src/dhcp/supervisor.js';
import { parseDhcpReport } from '../../../src/dhcp/lease.js';
import { StateStore, endpointRecord } from '../../../src/driver/state.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { silentLogger } from '../../../src/util/log.js';
import type { ReleaseRequest } from '../../../src/dhcp/release.js';

const EP = 'a'.repeat(64);
const NET = 'b'.repeat(64);

function setup(
  dhcp = true,
  more: Readonly<Record<string, string>> = {},
): {
  clients: DhcpClients;
  state: StateStore;
  dir: string;
  released: ReleaseRequest[];
  links: Set<string>;
  sup: DhcpSupervisor;
  pinned: string[];
} {
  const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-dhcp-unit-'));
  const state = new StateStore();
  const options = parseNetworkOptions({
    'ovs.bridge.dpid': '1',
    'ovs.bridge.mode': 'flat',
    ...(dhcp ? { 'ovs.bridge.dhcp': 'true' } : {}),
    ...more,
  });
  state.putNetwork({
    id: NET,
    name: 'lan',
    options,
    rawOptions: {},
    bridgeName: 'ovsbr-bbbbb',
    datapathType: 'netdev',
    controllers: [],
    ipv4: [],
    internal: true,
    localFaucet: true,
  });
  state.putEndpoint(
    endpointRecord({
      id: EP,
      networkId: NET,
      hostIf: 'dspaaaaaaaaaaaa',
      containerIf: 'dscaaaaaaaaaaaa',
      mac: '0e:00:00:00:00:01',
      sandboxKey: '/var/run/docker/netns/x',
      container: { id: 'c'.repeat(64), name: '/web', labels: {} },
    }),
  );
  const sup = new DhcpSupervisor({ dir, logger: silentLogger(), checkMs: 60_000 });
  const released: ReleaseRequest[] = [];
  const links = new Set<string>();
  const pinned: string[] = [];
  const clients = new DhcpClients({
    onLeaseChanged: (id) => pinned.push(id),
    supervisor: sup,
    state,
    logger: silentLogger(),
    engine: { inspectContainer: async () => undefined },
    host: {
      settledPeerInNetns: async () => undefined,
      linkExists: async (n) => links.has(n),
      release: async (r) => {
        released.push(r);
      },
      waitNeighbourSettled: async () => true,
    },
  });
  return { clients, state, dir, released, links, sup, pinned };
}

/** Waits until the spawned fake client runs its own command line (not the forked parent's). */
async function execed(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('udhcpc')) return;
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`process ${pid} never ran as the fake udhcpc`);
}

/** Something that looks like the endpoint's client to the supervisor: its command line names udhcpc and the pidfile. */
async function fakeClient(dir: string): Promise<ChildProcess> {
  const pidfile = path.join(dir, `${EP}.pid`);
  const fake = spawn('sh', ['-c', 'sleep 30; true', 'udhcpc', pidfile], { stdio: 'ignore' });
  writeFileSync(pidfile, `${fake.pid}\n`);
  await execed(fake.pid ?? 0);
  return fake;
}

const report = (vars: Record<string, string>): string =>
  Object.entries(vars)
    .map(([k, v]) => `${k}=${v}\0`)
    .join('');

describe('DHCP clients of DHCP networks', () => {
  it('says why a container has no lease: no client yet, no offer, NAK; and shows a lease', () => {
    const { clients, state, dir, sup } = setup();
    const ep = state.endpoint(EP)!;
    try {
      assert.equal(clients.status(ep)?.State, 'not running');
      assert.match(clients.status(ep)?.Reason ?? '', /not been started/);
      // A live "client": this process, with the pidfile path on its command line is not possible; fake the report only.
      writeFileSync(path.join(dir, `${EP}.report`), report({ event: 'leasefail' }));
      assert.equal(clients.status(ep)?.Address, null);
      const bound = report({
        event: 'bound',
        ip: '10.1.2.3',
        mask: '24',
        router: '10.1.2.1',
        dns: '10.1.2.1 10.1.2.2',
        domain: 'lab.test',
        lease: '600',
        serverid: '10.1.2.1',
      });
      writeFileSync(path.join(dir, `${EP}.report`), bound);
      const s = clients.status(ep)!;
      assert.equal(s.Address, '10.1.2.3');
      assert.equal(s.Server, '10.1.2.1');
      assert.deepEqual(s.Dns, ['10.1.2.1', '10.1.2.2']);
      assert.ok(
        s.LeasedAt !== null && s.ExpiresAt !== null && Date.parse(s.ExpiresAt) - Date.parse(s.LeasedAt) === 600_000,
      );
      // Without a running client the state says so, lease or not.
      assert.equal(s.State, 'not running');
    } finally {
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("with a client running: bound, requesting, no offer, NAK with the server's message", async () => {
    const { clients, state, dir, sup } = setup();
    const ep = state.endpoint(EP)!;
    const fake = await fakeClient(dir);
    try {
      assert.equal(clients.status(ep)?.ClientPid, fake.pid);
      assert.equal(clients.status(ep)?.State, 'requesting');
      writeFileSync(path.join(dir, `${EP}.report`), report({ event: 'deconfig' }));
      assert.equal(clients.status(ep)?.State, 'requesting');
      writeFileSync(path.join(dir, `${EP}.report`), report({ event: 'leasefail' }));
      assert.deepEqual(
        [clients.status(ep)?.State, clients.status(ep)?.Reason],
        ['no lease', 'no DHCP server answered (no offer); asking again every few seconds'],
      );
      writeFileSync(path.join(dir, `${EP}.report`), report({ event: 'nak', message: 'wrong network' }));
      assert.deepEqual(
        [clients.status(ep)?.State, clients.status(ep)?.Reason],
        ['no lease', 'the server refused the request (DHCPNAK: wrong network); asking again'],
      );
      writeFileSync(
        path.join(dir, `${EP}.report`),
        report({ event: 'bound', ip: '10.1.2.3', mask: '24', serverid: '10.1.2.1' }),
      );
      assert.deepEqual(
        [clients.status(ep)?.State, clients.status(ep)?.Reason, clients.status(ep)?.Address],
        ['bound', null, '10.1.2.3'],
      );
    } finally {
      fake.kill('SIGKILL');
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a client started again is not bound on its predecessor's report: the report older than its pidfile is left out until it reports", async () => {
    const { clients, state, dir, sup } = setup();
    const ep = state.endpoint(EP)!;
    const pidfile = path.join(dir, `${EP}.pid`);
    const reportFile = path.join(dir, `${EP}.report`);
    const fake = spawn('sh', ['-c', 'sleep 30; true', 'udhcpc', pidfile], { stdio: 'ignore' });
    try {
      writeFileSync(reportFile, report({ event: 'bound', ip: '10.1.2.3', mask: '24', serverid: '10.1.2.1' }));
      writeFileSync(pidfile, `${fake.pid}\n`);
      const now = Date.now() / 1000;
      utimesSync(reportFile, now - 10, now - 10);
      utimesSync(pidfile, now - 1, now - 1);
      await execed(fake.pid ?? 0);
      const s = clients.status(ep)!;
      assert.deepEqual([s.ClientPid, s.State, s.Address, s.LeasedAt], [fake.pid, 'requesting', null, null]);
      // Its own first event, then its lease.
      writeFileSync(reportFile, report({ event: 'deconfig' }));
      assert.equal(clients.status(ep)?.State, 'requesting');
      writeFileSync(reportFile, report({ event: 'bound', ip: '10.1.2.3', mask: '24', serverid: '10.1.2.1' }));
      assert.deepEqual([clients.status(ep)?.State, clients.status(ep)?.Address], ['bound', '10.1.2.3']);
    } finally {
      fake.kill('SIGKILL');
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a lease from a server not the network's, or outside its subnet: not pinned, not shown, and the client is made to ask again", async () => {
    const { clients, state, dir, sup, pinned } = setup(true, {
      'ovs.bridge.dhcp_server': '10.1.2.1',
      'ovs.bridge.dhcp_subnet': '10.1.2.0/24',
    });
    const ep = state.endpoint(EP)!;
    const fake = await fakeClient(dir);
    const ended = new Promise<NodeJS.Signals | null>((resolve) => fake.on('exit', (_code, signal) => resolve(signal)));
    try {
      sup.ensure({ endpointId: EP, netns: '/var/run/docker/netns/x', ifname: 'eth0', hostname: 'web' });
      const fromRogue = report({
        event: 'bound',
        ip: '10.1.2.200',
        mask: '24',
        serverid: '10.1.2.117',
        dns: '10.1.2.117',
      });
      writeFileSync(path.join(dir, `${EP}.report`), fromRogue);
      const rogue = parseDhcpReport(fromRogue)!;
      await clients.reported(EP, rogue);
      assert.equal(state.endpoint(EP)?.leasedIpv4, undefined, 'the rogue lease is not pinned');
      assert.deepEqual(pinned, []);
      assert.equal(await ended, 'SIGTERM', 'the client was ended, to ask again');
      // Ended, it gave the lease back (deconfig) and waits for its restart: the refusal is still what status says.
      writeFileSync(path.join(dir, `${EP}.report`), report({ event: 'deconfig' }));
      const s = clients.status(ep)!;
      assert.deepEqual([s.State, s.Address, s.Server], ['no lease', null, null]);
      assert.match(
        s.Reason ?? '',
        /^the lease of 10\.1\.2\.200 is from server 10\.1\.2\.117, not from ovs\.bridge\.dhcp_server=10\.1\.2\.1; refused, asking again$/,
      );

      const outside = parseDhcpReport(report({ event: 'bound', ip: '10.1.3.5', mask: '24', serverid: '10.1.2.1' }))!;
      await clients.reported(EP, outside);
      assert.equal(state.endpoint(EP)?.leasedIpv4, undefined, 'a lease outside the subnet is not pinned');

      const good = parseDhcpReport(report({ event: 'bound', ip: '10.1.2.100', mask: '24', serverid: '10.1.2.1' }))!;
      await clients.reported(EP, good);
      assert.equal(state.endpoint(EP)?.leasedIpv4, '10.1.2.100');
      assert.deepEqual(pinned, [EP]);
      writeFileSync(
        path.join(dir, `${EP}.report`),
        report({ event: 'bound', ip: '10.1.2.100', mask: '24', serverid: '10.1.2.1' }),
      );
      assert.deepEqual(
        [clients.status(ep)?.State, clients.status(ep)?.Address],
        ['not running', '10.1.2.100'],
        'a lease taken clears the refusal (the fake client is gone by now)',
      );
    } finally {
      fake.kill('SIGKILL');
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says in its status why a lease was refused', async () => {
    const { clients, state, dir, sup } = setup(true, { 'ovs.bridge.dhcp_server': '10.1.2.1' });
    const ep = state.endpoint(EP)!;
    const fake = await fakeClient(dir);
    try {
      writeFileSync(
        path.join(dir, `${EP}.report`),
        report({ event: 'bound', ip: '10.1.2.200', mask: '24', serverid: '10.1.2.117' }),
      );
      const s = clients.status(ep)!;
      assert.deepEqual([s.State, s.Address, s.Server], ['no lease', null, null]);
      assert.equal(
        s.Reason,
        'the lease of 10.1.2.200 is from server 10.1.2.117, not from ovs.bridge.dhcp_server=10.1.2.1; refused, asking again',
      );
    } finally {
      fake.kill('SIGKILL');
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has nothing to say about endpoints of networks without DHCP', () => {
    const { clients, state, dir, sup } = setup(false);
    try {
      assert.equal(clients.status(state.endpoint(EP)!), undefined);
    } finally {
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs no client for a capture port (label dovesnap.faucet.capture): FAUCET drops what it sends', () => {
    const { clients, state, dir, sup } = setup();
    try {
      assert.equal(clients.wants(state.endpoint(EP)!), true);
      state.updateEndpoint(EP, { labels: { portAcls: [], mirror: false, macPrefix: undefined, capture: true } });
      assert.equal(clients.wants(state.endpoint(EP)!), false);
      assert.equal(clients.status(state.endpoint(EP)!), undefined);
    } finally {
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('releases from the host only when the interface is back in the host namespace', async () => {
    const { clients, state, dir, released, links, sup } = setup();
    const bound = report({ event: 'bound', ip: '10.1.2.3', mask: '24', serverid: '10.1.2.1' });
    try {
      writeFileSync(path.join(dir, `${EP}.report`), bound);
      await clients.stop(state.endpoint(EP)!, 'left', true);
      assert.equal(released.length, 0, 'still in the container: the client released it');
      writeFileSync(path.join(dir, `${EP}.report`), bound);
      links.add('dscaaaaaaaaaaaa');
      await clients.stop(state.endpoint(EP)!, 'left', true);
      assert.equal(released.length, 1);
      assert.equal(released[0]?.link, 'dscaaaaaaaaaaaa');
      assert.equal(released[0]?.lease.address, '10.1.2.3');
      writeFileSync(path.join(dir, `${EP}.report`), bound);
      await clients.stop(state.endpoint(EP)!, 'network deleted', false);
      assert.equal(released.length, 1, 'no release asked for');
    } finally {
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('collects the files of clients whose endpoint is gone', async () => {
    const { clients, state, dir, sup } = setup();
    const other = 'd'.repeat(64);
    try {
      writeFileSync(path.join(dir, `${other}.report`), report({ event: 'deconfig' }));
      writeFileSync(path.join(dir, `${EP}.report`), report({ event: 'deconfig' }));
      assert.deepEqual(await clients.collect(), [other]);
      assert.deepEqual(sup.onDisk(), [EP]);
      state.removeEndpoint(EP);
      assert.deepEqual(await clients.collect(), [EP]);
    } finally {
      sup.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('resolvConfFor', () => {
  it("writes the lease name servers and domain, and keeps Docker's options lines", () => {
    const out = resolvConfFor(
      {
        address: '10.1.2.3',
        prefixLength: 24,
        router: undefined,
        dns: ['10.1.2.1', '10.1.2.2'],
        domain: 'lab.test',
        leaseSeconds: 600,
        serverId: '10.1.2.1',
      },
      'eth0',
      'nameserver 127.0.0.11\noptions ndots:0\n',
    );
    assert.equal(
      out,
      '# written by dovesnap from the DHCP lease of eth0 (server 10.1.2.1)\nsearch lab.test\nnameserver 10.1.2.1\nnameserver 10.1.2.2\noptions ndots:0\n',
    );
  });
});
