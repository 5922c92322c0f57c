import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { parse } from 'yaml';
import {
  addOperatorEntries,
  containerIp,
  createNetwork,
  docker,
  dockerRaw,
  FAUCET_CONFIG,
  hostLinks,
  ovsVsctl,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  upWithEnv,
  waitFor,
  waitPing,
} from './harness.js';

/**
 * Ready ports (DOVESNAP_READY_PORTS, driver/port-pool.ts): a network keeps veth pairs on its
 * bridge that FAUCET programmed before any container needed one. A container without port
 * labels takes one: FAUCET sees no port event for its start, and its traffic flows at once.
 */

const FAUCET_LOG = '/var/log/dovesnap/faucet.log';
const DAEMON_LOG = '/var/log/dovesnap/dovesnap.log';
const DENY = `  e2e-ready-denyall:
    - rule:
        actions:
          allow: 0
`;

function logSince(path: string, offset: number): string {
  return readFileSync(path).subarray(offset).toString('utf8');
}

interface FaucetInterface {
  readonly description?: string;
  readonly opstatus_reconf?: boolean;
  readonly acls_in?: string[];
}

/**
 * Both ends of every ready-port pair on `bridge` (and of the taken ones named in `taken`): only
 * this network's, since the host may have other dovesnap networks with ready ports of their own
 * (an operator's, or one an interrupted earlier run left).
 */
async function readyLinksOn(bridge: string, taken: readonly string[]): Promise<string[]> {
  const hosts = new Set([
    ...(await ovsVsctl('list-ports', bridge)).split('\n').filter((p) => p.startsWith('dsq')),
    ...taken,
  ]);
  return [...hosts].flatMap((h) => [h, `dsr${h.slice(3)}`]);
}

async function gone(links: readonly string[]): Promise<boolean> {
  const present = new Set([...(await hostLinks('dsq')), ...(await hostLinks('dsr'))]);
  return links.every((l) => !present.has(l));
}

function dpInterfaces(dp: string): Record<string, FaucetInterface> {
  const doc = parse(readFileSync(FAUCET_CONFIG, 'utf8')) as {
    dps?: Record<string, { interfaces?: Record<string, FaucetInterface> }>;
  };
  return doc.dps?.[dp]?.interfaces ?? {};
}

describe('ready ports (DOVESNAP_READY_PORTS)', () => {
  const tag = uniqueName('ready').slice(-6);
  const net = `dst-ready-${tag}`;

  before(async () => {
    await addOperatorEntries(net, [['acls', DENY]]);
    await upWithEnv({ DOVESNAP_READY_PORTS: '8' });
  });
  after(async () => {
    await upWithEnv({ DOVESNAP_READY_PORTS: undefined });
  });

  it('a container takes a port FAUCET already programmed: no FAUCET port event, ping and TCP at once; a labelled one gets its own port; nothing is left after the network goes', async () => {
    const dpid = testDpid();
    const sub = testSubnet();
    const daemonFrom = statSync(DAEMON_LOG).size;
    await createNetwork(net, { 'ovs.bridge.dpid': dpid, 'ovs.bridge.mode': 'nat' }, ['--subnet', sub.subnet]);
    const bridge = await waitFor(
      'the network in the status API',
      async () => Object.values(await status()).find((n) => n.NetworkName === net)?.BridgeName,
      15_000,
    );

    // The ready ports: on the bridge, and in FAUCET's file with opstatus_reconf false.
    const ready = await waitFor(
      '8 ready ports programmed',
      async () => {
        const entries = Object.entries(dpInterfaces(net)).filter(([, i]) => i.description === 'dovesnap ready port');
        return entries.length === 8 && entries.every(([, i]) => i.opstatus_reconf === false)
          ? entries.map(([n]) => Number(n))
          : undefined;
      },
      60_000,
    );
    // Handed out once FAUCET runs their entries and the switch has their flows, which the daemon logs.
    await waitFor(
      'FAUCET confirmed the ready ports',
      async () =>
        logSince(DAEMON_LOG, daemonFrom)
          .split('\n')
          .some((l) => l.includes(`"network":"${net}"`) && l.includes('"msg":"ready ports programmed"')),
      60_000,
    );
    const portsOnBridge = (await ovsVsctl('list-ports', bridge)).split('\n').filter((p) => p.startsWith('dsq'));
    assert.equal(portsOnBridge.length, 8);
    assert.equal(
      Object.values(await status()).find((n) => n.NetworkName === net)?.ReadyPorts,
      8,
      'the status API counts them',
    );

    const a = `${net}-a`;
    const faucetFrom = statSync(FAUCET_LOG).size;
    await runContainer(a, net);
    await serveHttp(a);
    const ipA = await containerIp(a, net);
    const b = `${net}-b`;
    await runContainer(b, net);
    await waitPing(b, ipA, 10_000);
    assert.equal(
      (await dockerRaw('exec', b, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ipA}:8080/`)).stdout.trim(),
      `hello from ${a}`,
    );

    const portOf = async (name: string): Promise<{ ofport: number; iface: string }> =>
      waitFor(`${name} resolved with a port number`, async () => {
        const n = Object.values(await status()).find((x) => x.NetworkName === net);
        const c = Object.values(n?.Containers ?? {}).find((x) => x.Name === `/${name}`);
        return c?.OFPort == null ? undefined : { ofport: c.OFPort, iface: c.Interface };
      });
    const pa = await portOf(a);
    const pb = await portOf(b);
    for (const p of [pa, pb]) {
      assert.ok(p.iface.startsWith('dsq'), `${p.iface} is a ready port`);
      assert.ok(ready.includes(p.ofport), `port ${p.ofport} was one of the ready ports ${ready.join(',')}`);
    }
    // FAUCET acted on no event of these ports: they were programmed before the containers existed.
    await new Promise((r) => setTimeout(r, 1_000));
    const events = logSince(FAUCET_LOG, faucetFrom)
      .split('\n')
      .filter(
        (l) =>
          l.includes(`${net} status change: Port ${pa.ofport} `) ||
          l.includes(`${net} status change: Port ${pb.ofport} `),
      );
    assert.deepEqual(events, []);

    // A container whose label denies everything does not take a ready port, and never gets through.
    const c = `${net}-c`;
    await runContainer(c, net, ['--label', 'dovesnap.faucet.portacl=e2e-ready-denyall']);
    const pc = await portOf(c);
    assert.ok(pc.iface.startsWith('dsp'), `${pc.iface} is a port of its own`);
    await waitFor(
      "c's entry carries its ACL",
      async () => dpInterfaces(net)[String(pc.ofport)]?.acls_in?.includes('e2e-ready-denyall') === true,
      20_000,
    );
    const through = await dockerRaw('exec', c, 'timeout', '3', 'wget', '-q', '-O', '-', `http://${ipA}:8080/`);
    assert.notEqual(through.stdout.trim(), `hello from ${a}`);

    // A daemon restart adopts the taken ports (no port recreated) and keeps the ready ones.
    const uuidOf = async (iface: string): Promise<string> => ovsVsctl('get', 'Port', iface, '_uuid');
    const before = await uuidOf(pb.iface);
    process.kill(Number(readFileSync('/run/dovesnap/dovesnap.pid', 'utf8').trim()), 'SIGKILL');
    await upWithEnv({ DOVESNAP_READY_PORTS: '8' });
    assert.equal(await uuidOf(pb.iface), before, 'the port of b is the same OVS port after the restart');
    await waitPing(b, ipA, 10_000);

    // Removing the containers and the network leaves no ready-port link of it behind.
    const ours = await readyLinksOn(bridge, [pa.iface, pb.iface]);
    await docker('rm', '-f', a, b, c);
    await docker('network', 'rm', net);
    await waitFor('no ready-port link of the network left', async () => gone(ours), 15_000);
    await waitFor(
      "the network's DP gone from FAUCET's file",
      async () => Object.keys(dpInterfaces(net)).length === 0,
      15_000,
    );
  });

  it('ovs.bridge.preallocate_ports=20: twenty ready ports and a headroom of 8 from the create on, past DOVESNAP_READY_PORTS (8), and a container taking one starts no top-up', async () => {
    const pnet = `${net}-p`;
    const sub = testSubnet();
    const daemonFrom = statSync(DAEMON_LOG).size;
    await createNetwork(pnet, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.preallocate_ports': '20' }, [
      '--subnet',
      sub.subnet,
    ]);
    const ready = await waitFor(
      '28 ready ports in FAUCET',
      async () => {
        const entries = Object.entries(dpInterfaces(pnet)).filter(([, i]) => i.description === 'dovesnap ready port');
        return entries.length === 28 && entries.every(([, i]) => i.opstatus_reconf === false)
          ? entries.map(([n]) => Number(n))
          : undefined;
      },
      90_000,
    );
    await waitFor(
      'the status API counts 28',
      async () => Object.values(await status()).find((n) => n.NetworkName === pnet)?.ReadyPorts === 28,
      30_000,
    );
    // Handed out once the switch has their flows (a container before that gets a port of its own).
    await waitFor(
      'all 28 programmed',
      async () => {
        let programmed = 0;
        for (const l of logSince(DAEMON_LOG, daemonFrom).split('\n')) {
          if (l.includes(`"network":"${pnet}"`) && l.includes('"msg":"ready ports programmed"'))
            programmed += Number(/"ports":(\d+)/.exec(l)?.[1] ?? 0);
        }
        return programmed >= 28;
      },
      60_000,
    );

    const a = `${pnet}-a`;
    const b = `${pnet}-b`;
    await runContainer(a, pnet);
    await serveHttp(a);
    const ipA = await containerIp(a, pnet);
    await runContainer(b, pnet);
    await waitPing(b, ipA, 10_000);
    assert.equal(
      (await dockerRaw('exec', b, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ipA}:8080/`)).stdout.trim(),
      `hello from ${a}`,
    );
    const n = Object.values(await status()).find((x) => x.NetworkName === pnet);
    for (const name of [a, b]) {
      const c = Object.values(n?.Containers ?? {}).find((x) => x.Name === `/${name}`);
      assert.ok(
        c?.Interface.startsWith('dsq') === true && c.OFPort !== null && ready.includes(c.OFPort),
        `${name} took a ready port (${c?.Interface}, ${c?.OFPort})`,
      );
    }
    // Twenty-six left, and no port made since: the two took ready ports.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(Object.values(await status()).find((x) => x.NetworkName === pnet)?.ReadyPorts, 26);
    assert.equal(
      (await ovsVsctl('list-ports', n?.BridgeName ?? '')).split('\n').filter((p) => p.startsWith('dsq')).length,
      28,
      'no port made since',
    );

    const ours = await readyLinksOn(n?.BridgeName ?? '', []);
    assert.equal(ours.length, 56, 'the 28 pairs, both ends');
    await docker('rm', '-f', a, b);
    await docker('network', 'rm', pnet);
    await waitFor('no ready-port link of the network left', async () => gone(ours), 15_000);
  });
});
