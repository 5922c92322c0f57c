import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  containerIp,
  createNetwork,
  docker,
  dockerRaw,
  faucetYaml,
  httpGet,
  must,
  runContainer,
  serveHttp,
  startCapture,
  status,
  STATUS_URL,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  type Capture,
  type StatusContainer,
} from './harness.js';

/**
 * The label dovesnap.faucet.capture: a container whose port FAUCET makes output-only and the
 * mirror destination of every other port of its network. Two plain containers talk (ping and
 * TCP); two capture containers each see those frames (one port mirrored to two destinations),
 * and can send nothing; a value that does not parse keeps the port closed and says why; a
 * container that starts after the capture ports takes a ready port all the same.
 */

const DAEMON_LOG = '/var/log/dovesnap/dovesnap.log';
const PINGS = 20;

interface FaucetPort {
  readonly description?: string;
  readonly mirror?: number[];
  readonly output_only?: boolean;
  readonly native_vlan?: number;
}

function interfaces(dp: string): Record<string, FaucetPort> {
  const doc = parse(faucetYaml()) as { dps?: Record<string, { interfaces?: Record<string, FaucetPort> }> };
  return doc.dps?.[dp]?.interfaces ?? {};
}

async function containerOf(name: string): Promise<StatusContainer & { Capture?: boolean }> {
  return waitFor(`${name} in the status API`, async () => {
    const all = Object.values(await status()).flatMap((n) => Object.values(n.Containers));
    return all.find((c) => c.Name === `/${name}` && c.OFPort !== null) as
      | (StatusContainer & { Capture?: boolean })
      | undefined;
  });
}

async function rxPackets(container: string): Promise<number> {
  return Number(await docker('exec', container, 'cat', '/sys/class/net/eth0/statistics/rx_packets'));
}

describe('capture ports (label dovesnap.faucet.capture)', () => {
  const tag = uniqueName('cap').slice(-6);
  const net = `dst-cap-${tag}`;
  const [a, b, tap1, tap2, bad, late] = ['a', 'b', 'tap1', 'tap2', 'bad', 'late'].map((s) => `${net}-${s}`) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  let caps: Capture[] = [];
  let bIp = '';
  let aIp = '';

  it('makes the port output-only and the mirror destination of the network, in FAUCET and in the status', async () => {
    const sub = testSubnet();
    const daemonFrom = statSync(DAEMON_LOG).size;
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', sub.subnet]);
    // The network's ready ports programmed first, so that the late container below can take one.
    await waitFor(
      'ready ports programmed',
      async () =>
        readFileSync(DAEMON_LOG)
          .subarray(daemonFrom)
          .toString('utf8')
          .split('\n')
          .some((l) => l.includes(`"network":"${net}"`) && l.includes('"msg":"ready ports programmed"')),
      30_000,
      200,
    );
    await Promise.all([
      runContainer(a, net),
      runContainer(b, net),
      runContainer(tap1, net, ['--label', 'dovesnap.faucet.capture=true']),
      runContainer(tap2, net, ['--label', `dovesnap.faucet.capture=other:false/${net}:true`]),
    ]);
    const [ca, cb, t1, t2] = await Promise.all([containerOf(a), containerOf(b), containerOf(tap1), containerOf(tap2)]);
    const entry = await waitFor(
      'both capture entries in faucet.yaml, listing a and b',
      async () => {
        const ifs = interfaces(net);
        const e1 = ifs[String(t1.OFPort)];
        const e2 = ifs[String(t2.OFPort)];
        const lists = (e: FaucetPort | undefined): boolean =>
          e?.mirror?.includes(ca.OFPort ?? -1) === true && e.mirror.includes(cb.OFPort ?? -1);
        return lists(e1) && lists(e2) ? { e1, e2 } : undefined;
      },
      30_000,
    );
    for (const e of [entry.e1, entry.e2]) {
      assert.equal(e?.output_only, true);
      assert.equal(e?.native_vlan, undefined, 'a capture port is on no VLAN');
      assert.ok(
        !e?.mirror?.includes(t1.OFPort ?? -1) && !e?.mirror?.includes(t2.OFPort ?? -1),
        'capture ports do not mirror each other',
      );
    }
    for (const t of [t1, t2]) {
      assert.equal(t.Capture, true);
      assert.deepEqual(t.PortACLs, []);
      assert.equal(t.Blocked, null);
    }
    assert.equal(ca.Capture, false);
    const printed = await must('node', [
      `${new URL('../../..', import.meta.url).pathname}dist/src/cli/main.js`,
      'status',
      '--url',
      STATUS_URL,
    ]);
    assert.match(printed, new RegExp(`${tap1.replace(/[-]/g, '\\-')} .* capture +up, capture \\(output only\\)`));
  });

  it('sees ping and TCP between the two others, on both capture ports', async () => {
    [aIp, bIp] = await Promise.all([containerIp(a, net), containerIp(b, net)]);
    await waitPing(a, bIp);
    const pids = await Promise.all([tap1, tap2].map((t) => docker('inspect', '-f', '{{.State.Pid}}', t)));
    caps = await Promise.all(pids.map((pid) => startCapture('eth0', { netnsPid: pid, inboundOnly: true })));
    const before = await Promise.all([rxPackets(tap1), rxPackets(tap2)]);
    await docker('exec', a, 'ping', '-c', String(PINGS), '-i', '0.05', bIp);
    await serveHttp(b);
    assert.equal(await httpGet(a, `http://${bIp}:8080/`), `hello from ${b}`);
    for (const cap of caps) {
      await cap.waitLine('echo request a -> b', new RegExp(`${aIp} > ${bIp}: ICMP echo request`));
      await cap.waitLine('echo reply b -> a', new RegExp(`${bIp} > ${aIp}: ICMP echo reply`));
      await cap.waitLine('TCP SYN a -> b:8080', new RegExp(`${aIp}\\.\\d+ > ${bIp}\\.8080: Flags \\[S\\]`));
      await cap.waitLine('TCP SYN-ACK b:8080 -> a', new RegExp(`${bIp}\\.8080 > ${aIp}\\.\\d+: Flags \\[S\\.\\]`));
    }
    const after = await Promise.all([rxPackets(tap1), rxPackets(tap2)]);
    for (const [i, t] of [tap1, tap2].entries()) {
      const got = (after[i] ?? 0) - (before[i] ?? 0);
      // Each request and each reply at least once, and the TCP exchange (at least SYN, SYN-ACK, ACK, request, response).
      assert.ok(
        got >= 2 * PINGS + 5,
        `${t} received ${got} frames during ${PINGS} pings and one HTTP fetch, expected at least ${2 * PINGS + 5}`,
      );
    }
  });

  it('lets a capture container send nothing: no ping, no TCP, either way', async () => {
    const tapIp = await containerIp(tap1, net);
    const r = await dockerRaw('exec', tap1, 'ping', '-c', '2', '-W', '1', bIp);
    assert.notEqual(r.code, 0, `the capture container reached b: ${r.stdout}`);
    assert.equal(await httpGet(tap1, `http://${bIp}:8080/`), undefined, 'no TCP from the capture container');
    const back = await dockerRaw('exec', b, 'ping', '-c', '2', '-W', '1', tapIp);
    assert.notEqual(back.code, 0, 'b reached the capture container');
    // The network itself still works.
    assert.equal(await httpGet(b, `http://${bIp}:8080/`), `hello from ${b}`);
  });

  it('keeps the port of a value that does not parse closed, and says why', async () => {
    await runContainer(bad, net, ['--label', 'dovesnap.faucet.capture=maybe']);
    const blocked = await waitFor('status says why', async () => (await containerOf(bad)).Blocked ?? undefined);
    assert.match(blocked, /dovesnap\.faucet\.capture/);
    assert.match(blocked, /maybe/);
    const r = await dockerRaw('exec', bad, 'ping', '-c', '2', '-W', '1', bIp);
    assert.notEqual(r.code, 0, 'no traffic through a port kept closed');
  });

  it('a container started after the capture ports takes a ready port, and is captured at once', async () => {
    await runContainer(late, net);
    const c = await containerOf(late);
    assert.match(c.Interface, /^dsq/, `${late} got a port of its own (${c.Interface}), not a ready port`);
    const lateIp = await containerIp(late, net);
    await waitPing(late, bIp);
    const from = caps[0]?.lines.length ?? 0;
    await docker('exec', late, 'ping', '-c', '3', '-i', '0.2', bIp);
    await caps[0]?.waitLine(
      'late -> b on the capture port',
      new RegExp(`${lateIp} > ${bIp}: ICMP echo request`),
      15_000,
      from,
    );
  });
});
