import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DhcpSupervisor, parseNetDevNames } from '../../../src/dhcp/supervisor.js';
import { requestDhcpRestart } from '../../../src/dhcp/restart-request.js';
import { DhcpClients } from '../../../src/driver/dhcp-clients.js';
import { StateStore, endpointRecord } from '../../../src/driver/state.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import { isDovesnapError, ErrorCode } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import { FakeUdhcpc } from '../../fakes/fake-udhcpc.js';

const EP = 'e'.repeat(64);
const NETNS = '/var/run/docker/netns/fake';
const bound = (ip: string): string => ['event=bound', `ip=${ip}`, 'mask=24', 'serverid=10.1.2.1', ''].join('\0');

function alive(pid: number): boolean {
  try {
    // A killed child not yet reaped is a zombie: its command line reads empty.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '';
  } catch {
    return false;
  }
}

async function until(what: string, fn: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A supervisor over the fake client, checked by hand only (checkMs: an hour). */
function setup(): { sup: DhcpSupervisor; fake: FakeUdhcpc; dir: string; pidfile: string; done: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-dhcp-rename-'));
  const fake = new FakeUdhcpc();
  const sup = new DhcpSupervisor({
    dir,
    logger: silentLogger(),
    checkMs: 3_600_000,
    nsenter: fake.nsenter,
    linkNames: fake.linkNames,
  });
  return {
    sup,
    fake,
    dir,
    pidfile: path.join(dir, `${EP}.pid`),
    done: () => {
      sup.close();
      fake.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the periodic check as if its time had come (past every start's grace), then lets its lookups finish. */
async function checkNow(sup: DhcpSupervisor): Promise<void> {
  sup.check(Date.now() + 120_000);
  await new Promise((r) => setTimeout(r, 100));
}

describe('DHCP clients follow their interface when the container renames it', () => {
  it('a dead client is started again under the name its interface has now, asking for its address', async () => {
    const { sup, fake, dir, pidfile, done } = setup();
    try {
      sup.ensure({ endpointId: EP, netns: NETNS, ifname: 'eth0', hostname: 'web', resolveIfname: fake.resolveIfname });
      const first = await fake.started(1, pidfile);
      assert.equal(first.ifname, 'eth0', 'the first start takes the name its caller has just looked up');
      writeFileSync(path.join(dir, `${EP}.report`), bound('10.1.2.3'));
      fake.rename('eth0', 'net1');
      process.kill(first.pid, 'SIGKILL');
      await until('the client dead', () => !alive(first.pid));
      await checkNow(sup);
      const again = await fake.started(2, pidfile);
      assert.equal(again.ifname, 'net1', 'a restart looks the name up again');
      assert.deepEqual(
        again.args.slice(again.args.indexOf('-r'), again.args.indexOf('-r') + 2),
        ['-r', '10.1.2.3'],
        'and asks for the address it had',
      );
      assert.equal(sup.status(EP).restarts, 1, 'a death is counted');
      assert.equal(sup.status(EP).ifname, 'net1');
    } finally {
      done();
    }
  });

  it('a bound client whose interface is renamed is started again under the new name at the next check; an unchanged namespace costs no lookup', async () => {
    const { sup, fake, dir, pidfile, done } = setup();
    try {
      sup.ensure({ endpointId: EP, netns: NETNS, ifname: 'eth0', hostname: 'web', resolveIfname: fake.resolveIfname });
      const first = await fake.started(1, pidfile);
      writeFileSync(path.join(dir, `${EP}.report`), bound('10.1.2.3'));
      // The first check after a start confirms the name once.
      await checkNow(sup);
      assert.equal(fake.resolves, 1);
      for (let i = 0; i < 5; i++) await checkNow(sup);
      assert.equal(fake.resolves, 1, 'nothing renamed: the link names were read, no lookup was made');
      assert.ok(fake.linkReads >= 6);
      assert.equal(fake.starts().length, 1, 'and nothing was restarted');
      // The lab's rename: down, name, up.
      fake.rename('eth0', 'lan0');
      await checkNow(sup);
      const again = await fake.started(2, pidfile);
      assert.equal(again.ifname, 'lan0');
      assert.ok(again.args.includes('10.1.2.3'), 'asks for its address (-r)');
      assert.equal(alive(first.pid), false, 'the old client is gone');
      assert.equal(sup.status(EP).restarts, 0, 'a rename is not a death: no backoff, not counted');
      assert.equal(
        existsSync(path.join(dir, `${EP}.report`)),
        true,
        'the old client was killed, not stopped: its lease and report stay',
      );
    } finally {
      done();
    }
  });

  it('notices a swap of two names, and a name that is not up yet is looked up again at the next check', async () => {
    const { sup, fake, pidfile, done } = setup();
    try {
      fake.links = ['lo', 'eth0', 'eth1'];
      sup.ensure({ endpointId: EP, netns: NETNS, ifname: 'eth0', hostname: 'web', resolveIfname: fake.resolveIfname });
      await fake.started(1, pidfile);
      await checkNow(sup);
      // eth0 and eth1 trade names (through a temporary name, as the lab does); the link set is the same.
      fake.links = ['lo', 'eth1', 'eth0'];
      fake.current = undefined; // still down under its new name
      await checkNow(sup);
      assert.equal(fake.starts().length, 1, 'not up: nothing started');
      fake.current = 'eth1';
      await checkNow(sup);
      const again = await fake.started(2, pidfile);
      assert.equal(again.ifname, 'eth1');
    } finally {
      done();
    }
  });

  it('requestDhcpRestart ends the client, and the supervisor starts it at once under the current name, not counted as a death', async () => {
    const { sup, fake, dir, pidfile, done } = setup();
    try {
      sup.ensure({ endpointId: EP, netns: NETNS, ifname: 'eth0', hostname: 'web', resolveIfname: fake.resolveIfname });
      const first = await fake.started(1, pidfile);
      writeFileSync(path.join(dir, `${EP}.report`), bound('10.1.2.3'));
      await checkNow(sup);
      // Renamed; no periodic check runs from here on: only the request can make the restart.
      fake.rename('eth0', 'lan0');
      const outcome = requestDhcpRestart(EP, { dir });
      assert.deepEqual(outcome, { requested: true, signalled: first.pid });
      const again = await fake.started(2, pidfile);
      assert.equal(again.ifname, 'lan0');
      assert.ok(again.args.includes('10.1.2.3'), 'asks for its address (-r)');
      assert.equal(sup.status(EP).restarts, 0);
      await until('the request served', () => !existsSync(path.join(dir, `${EP}.restart`)));
      assert.equal(fake.starts().length, 2, 'one restart');
    } finally {
      done();
    }
  });

  it('a restart requested while no daemon watches is served by the next one when it starts the client', async () => {
    const { sup, fake, dir, pidfile, done } = setup();
    try {
      sup.ensure({ endpointId: EP, netns: NETNS, ifname: 'eth0', hostname: 'web', resolveIfname: fake.resolveIfname });
      const first = await fake.started(1, pidfile);
      sup.close();
      fake.rename('eth0', 'lan0');
      assert.equal(requestDhcpRestart(EP, { dir }).signalled, first.pid);
      await until('the client dead', () => !alive(first.pid));
      assert.equal(existsSync(path.join(dir, `${EP}.restart`)), true, 'the request waits on disk');
      const next = new DhcpSupervisor({
        dir,
        logger: silentLogger(),
        checkMs: 3_600_000,
        nsenter: fake.nsenter,
        linkNames: fake.linkNames,
      });
      try {
        next.ensure({
          endpointId: EP,
          netns: NETNS,
          ifname: 'lan0',
          hostname: 'web',
          resolveIfname: fake.resolveIfname,
        });
        assert.equal((await fake.started(2, pidfile)).ifname, 'lan0');
        assert.equal(existsSync(path.join(dir, `${EP}.restart`)), false, 'served by the start');
      } finally {
        next.close();
      }
    } finally {
      done();
    }
  });

  it('requestDhcpRestart names a bad endpoint id, and does nothing for an endpoint with no client', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-dhcp-rename-'));
    try {
      assert.throws(
        () => requestDhcpRestart('eth0', { dir }),
        (err: unknown) => isDovesnapError(err, ErrorCode.BadRequest) && /"eth0"/.test(err.message),
      );
      assert.deepEqual(requestDhcpRestart('f'.repeat(64), { dir }), { requested: false, signalled: undefined });
      assert.equal(existsSync(path.join(dir, `${'f'.repeat(64)}.restart`)), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('DhcpClients identifies the interface by its endpoint: the peer of its host veth, looked up on every restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-dhcp-rename-'));
    const fake = new FakeUdhcpc();
    const sup = new DhcpSupervisor({
      dir,
      logger: silentLogger(),
      checkMs: 3_600_000,
      nsenter: fake.nsenter,
      linkNames: fake.linkNames,
    });
    const state = new StateStore();
    const net = 'b'.repeat(64);
    state.putNetwork({
      id: net,
      name: 'lan',
      options: parseNetworkOptions({ 'ovs.bridge.dpid': '1', 'ovs.bridge.mode': 'flat', 'ovs.bridge.dhcp': 'true' }),
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
        networkId: net,
        hostIf: 'dspeeeeeeeeeeee',
        containerIf: 'dsceeeeeeeeeeee',
        mac: '0e:00:00:00:00:01',
        sandboxKey: NETNS,
        container: { id: 'c'.repeat(64), name: '/web', labels: {} },
      }),
    );
    const asked: [string, string][] = [];
    const clients = new DhcpClients({
      supervisor: sup,
      state,
      logger: silentLogger(),
      engine: { inspectContainer: async () => undefined },
      host: {
        settledPeerInNetns: async (hostIf, netns) => {
          asked.push([hostIf, netns]);
          return fake.current === undefined ? undefined : { ifname: fake.current };
        },
        linkExists: async () => false,
        release: async () => undefined,
        waitNeighbourSettled: async () => true,
      },
    });
    const pidfile = path.join(dir, `${EP}.pid`);
    try {
      await clients.start(EP);
      assert.equal((await fake.started(1, pidfile)).ifname, 'eth0');
      fake.rename('eth0', 'wan');
      await checkNow(sup);
      assert.equal((await fake.started(2, pidfile)).ifname, 'wan');
      assert.ok(
        asked.length >= 2 && asked.every(([h, n]) => h === 'dspeeeeeeeeeeee' && n === NETNS),
        'looked up by the host veth, in the sandbox',
      );
      await clients.stop(state.endpoint(EP)!, 'left', false);
      await until('the client stopped', () => sup.pidOf(EP) === undefined);
    } finally {
      sup.close();
      fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseNetDevNames', () => {
  it('lists the names in the kernel order, so that a swap of two names changes it', () => {
    const dev = (a: string, b: string): string =>
      `Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n  ${a}:    1650      14    0    0    0     0          0         0     1926      17    0    0    0     0       0          0\n  ${b}:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n`;
    assert.equal(parseNetDevNames(dev('eth0', 'eth1')), 'lo eth0 eth1');
    assert.notEqual(parseNetDevNames(dev('eth1', 'eth0')), parseNetDevNames(dev('eth0', 'eth1')));
  });
});
