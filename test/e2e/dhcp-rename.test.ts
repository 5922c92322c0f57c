import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import {
  createNetwork,
  docker,
  dockerRaw,
  must,
  runContainer,
  status,
  testDpid,
  uniqueName,
  waitFor,
} from './harness.js';
import { makeLan, type DhcpLan } from './dhcp-lan.js';
import { requestDhcpRestart } from '../../src/dhcp/restart-request.js';

/**
 * A DHCP network's container whose interface is renamed inside its namespace from the host, as
 * `dovesnap lab` does right after a node starts (down, name, up): the daemon's DHCP client
 * follows the interface under its new name, the container keeps its leased address on it, and
 * TCP works. Once found by the daemon's periodic check alone, once at the lab's request
 * (requestDhcpRestart).
 */

const DHCP_DIR = process.env['DOVESNAP_DHCP_DIR'] ?? '/run/dovesnap/dhcp';
/** The daemon checks its clients every 2 s; a rename is followed within that and a DHCP exchange. */
const FOLLOW_MS = 8000;

interface DhcpInfo {
  readonly State: string;
  readonly Address: string | null;
  readonly ClientPid: number | null;
  readonly Restarts: number;
}

async function dhcpOf(containerId: string): Promise<DhcpInfo | undefined> {
  for (const n of Object.values(await status())) {
    const c = n.Containers[containerId] as unknown as { Dhcp: DhcpInfo | null } | undefined;
    if (c?.Dhcp != null) return c.Dhcp;
  }
  return undefined;
}

/** The endpoint's udhcpc processes (by their pidfile on the command line), with their arguments. */
function clientsOf(endpointId: string): { pid: number; args: string[] }[] {
  const out: { pid: number; args: string[] }[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(p)) continue;
    try {
      const args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (args.includes('udhcpc') && args.includes(`${DHCP_DIR}/${endpointId}.pid`)) out.push({ pid: Number(p), args });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const ifnameOf = (args: readonly string[]): string | undefined => args[args.indexOf('-i') + 1];

async function rename(pid: string, from: string, to: string): Promise<void> {
  const ip = (...args: string[]): Promise<string> => must('nsenter', ['-t', pid, '-n', 'ip', ...args]);
  await ip('link', 'set', 'dev', from, 'down');
  await ip('link', 'set', 'dev', from, 'name', to);
  await ip('link', 'set', 'dev', to, 'up');
}

/** The client runs under `ifname` (one client), bound, and the container has `addr` on `ifname`. */
async function followed(
  container: string,
  id: string,
  ep: string,
  ifname: string,
  addr: string,
  oldPid: number,
  timeoutMs: number,
): Promise<{ pid: number; info: DhcpInfo }> {
  return waitFor(
    `the DHCP client of ${container} under ${ifname}, bound to ${addr}`,
    async () => {
      const procs = clientsOf(ep);
      const p = procs[0];
      if (procs.length !== 1 || p === undefined || p.pid === oldPid || ifnameOf(p.args) !== ifname) return undefined;
      const info = await dhcpOf(id);
      if (info?.State !== 'bound' || info.ClientPid !== p.pid) return undefined;
      const inside = await dockerRaw('exec', container, 'ip', '-4', '-o', 'addr', 'show', 'dev', ifname);
      return inside.stdout.includes(`inet ${addr}/24`) ? { pid: p.pid, info } : undefined;
    },
    timeoutMs,
    100,
  );
}

async function tcpToServer(container: string, lan: DhcpLan): Promise<string> {
  const page = await dockerRaw(
    'exec',
    container,
    'timeout',
    '5',
    'wget',
    '-q',
    '-O',
    '-',
    `http://${lan.prefix}.1:8080/`,
  );
  return page.stdout.trim();
}

describe('DHCP clients follow a renamed container interface', () => {
  const net = uniqueName('dhrn');
  const tag = net.slice(-6);
  const c1 = `${net}-c1`;
  let lan: DhcpLan;
  let id = '';
  let ep = '';
  let pid = '';
  let addr = '';
  let clientPid = 0;

  it('a container on a DHCP network leases its address', async () => {
    lan = await makeLan(`r${tag}`.slice(0, 7), []);
    await createNetwork(
      net,
      {
        'ovs.bridge.dhcp': 'true',
        'ovs.bridge.mode': 'flat',
        'ovs.bridge.dpid': testDpid(),
        'ovs.bridge.add_ports': lan.port,
      },
      ['--internal', '--ipam-driver', 'null'],
    );
    id = await runContainer(c1, net);
    ep = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").EndpointID}}`, c1);
    pid = await docker('inspect', '-f', '{{.State.Pid}}', c1);
    const info = await waitFor(
      'a lease',
      async () => {
        const d = await dhcpOf(id);
        return d?.State === 'bound' ? d : undefined;
      },
      45_000,
      200,
    );
    addr = info.Address ?? '';
    clientPid = info.ClientPid ?? 0;
    assert.ok(addr.startsWith(`${lan.prefix}.`), `a LAN address, got ${addr}`);
    assert.equal(ifnameOf(clientsOf(ep)[0]?.args ?? []), 'eth0');
    assert.equal(await tcpToServer(c1, lan), 'hello from the LAN server');
  });

  it('renamed inside its namespace, the interface is followed by the daemon alone: the client runs under the new name, the address stays, TCP works', async () => {
    const renamedAt = Date.now();
    await rename(pid, 'eth0', 'lan0');
    const f = await followed(c1, id, ep, 'lan0', addr, clientPid, FOLLOW_MS);
    const tookMs = Date.now() - renamedAt;
    clientPid = f.pid;
    assert.equal(f.info.Address, addr, 'the same lease');
    assert.match(
      await docker('exec', c1, 'ip', 'route', 'show', 'default'),
      new RegExp(`default via ${lan.prefix.replace(/\./g, '\\.')}\\.1 dev lan0`),
      'the default route is back, on lan0',
    );
    assert.equal(await tcpToServer(c1, lan), 'hello from the LAN server', 'TCP to the LAN server');
    assert.notEqual((await dockerRaw('exec', c1, 'ip', 'link', 'show', 'dev', 'eth0')).code, 0, 'no eth0 any more');
    process.stdout.write(`# followed the rename in ${tookMs} ms\n`);
  });

  it('with requestDhcpRestart right after the rename: followed at once, not counted as a restart', async () => {
    const before = (await dhcpOf(id))?.Restarts ?? -1;
    const renamedAt = Date.now();
    await rename(pid, 'lan0', 'lan1');
    const outcome = requestDhcpRestart(ep, { dir: DHCP_DIR });
    assert.equal(outcome.requested, true);
    // The client the request found (unless the daemon's periodic check had just followed the rename itself).
    assert.ok(
      outcome.signalled === clientPid || outcome.signalled === undefined,
      `signalled ${outcome.signalled}, the client was ${clientPid}`,
    );
    const f = await followed(c1, id, ep, 'lan1', addr, clientPid, FOLLOW_MS);
    const tookMs = Date.now() - renamedAt;
    clientPid = f.pid;
    assert.equal(f.info.Restarts, before, 'served as a request, not restarted as a death');
    assert.equal(existsSync(`${DHCP_DIR}/${ep}.restart`), false, 'the request was served');
    assert.equal(await tcpToServer(c1, lan), 'hello from the LAN server', 'TCP to the LAN server');
    process.stdout.write(`# followed the requested restart in ${tookMs} ms\n`);
  });

  it('requestDhcpRestart alone: the daemon starts a new client at once, as a request (the restart count stays), with the same address', async () => {
    const before = (await dhcpOf(id))?.Restarts ?? -1;
    const askedAt = Date.now();
    assert.deepEqual(requestDhcpRestart(ep, { dir: DHCP_DIR }), { requested: true, signalled: clientPid });
    const f = await followed(c1, id, ep, 'lan1', addr, clientPid, FOLLOW_MS);
    process.stdout.write(`# restarted on request in ${Date.now() - askedAt} ms\n`);
    assert.equal(f.info.Restarts, before, 'a death would have been counted');
    assert.equal(await tcpToServer(c1, lan), 'hello from the LAN server', 'TCP to the LAN server');
  });
});
