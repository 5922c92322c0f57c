import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  containerIp,
  createNetwork,
  docker,
  DOCKER,
  faucetYaml,
  must,
  onCleanup,
  ovsVsctl,
  run,
  runContainer,
  startCapture,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  upWithEnv,
  waitFor,
  STATUS_URL,
  waitPing,
  type Capture,
} from './harness.js';

/**
 * The mirror bridge (MIRROR_BRIDGE_OUT / MIRROR_BRIDGE_IN given to `make up`): both directions
 * of every mirror-labelled container's traffic leave on OUT tagged with its network's VLAN,
 * nothing of unlabelled containers does, frames arriving on IN leave on OUT unchanged, and all
 * of it survives a daemon SIGKILL and a hand deletion of the bridge. OUT and IN are veths here;
 * the test captures on OUT's far end and sends into IN's far end from a namespace of its own.
 */

const MIRROR_BRIDGE = 'mirrorbr';

async function macOf(container: string, network: string): Promise<string> {
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").MacAddress}}`, container);
}

function mirrorPortOf(dp: string): { mirror?: number[]; output_only?: boolean } | undefined {
  const d = (
    parse(faucetYaml()) as {
      dps?: Record<
        string,
        { interfaces: Record<string, { description?: string; mirror?: number[]; output_only?: boolean }> }
      >;
    }
  ).dps?.[dp];
  return d?.interfaces['99'];
}

/** Lines of a capture after `from` that carry `mac` as source or destination. */
function framesOf(cap: Capture, mac: string, from = 0): string[] {
  return cap.lines.slice(from).filter((l) => l.includes(mac));
}

describe('mirror bridge (MIRROR_BRIDGE_OUT, MIRROR_BRIDGE_IN, label dovesnap.faucet.mirror)', () => {
  const tag = uniqueName('mr').slice(-6);
  const out = `dsmo${tag}`;
  const outPeer = `dsmp${tag}`;
  const inn = `dsmi${tag}`;
  const innPeer = `dsmq${tag}`;
  const riverNs = `dsmns${tag}`;
  const netA = uniqueName('mra');
  const netB = uniqueName('mrb');
  const subA = testSubnet();
  const subB = testSubnet();
  const [loud, quiet, quiet2, loudB] = ['loud', 'quiet', 'quiet2', 'loudb'].map((s) => `${netA}-${s}`) as [
    string,
    string,
    string,
    string,
  ];
  let cap: Capture;
  let bridgeA = '';
  /** The mirror bridge's ends of this test's two networks' links (other tests' networks may be linked too). */
  let ourLinks: string[] = [];
  const linksNow = async (): Promise<string[]> => {
    const r = await run('ovs-vsctl', ['list-ports', MIRROR_BRIDGE]);
    return r.code === 0 ? r.stdout.split('\n').filter((p) => ourLinks.includes(p)) : [];
  };

  it('links a network that existed before the mirror bridge, and one created after', async () => {
    const originalOut = process.env['MIRROR_BRIDGE_OUT'];
    const originalIn = process.env['MIRROR_BRIDGE_IN'];
    onCleanup(() => run('ip', ['link', 'del', out]));
    onCleanup(() => run('ip', ['link', 'del', inn]));
    onCleanup(() => run('ip', ['netns', 'del', riverNs]));
    // Last to run but the links: the stack as the environment had it, which removes our mirror bridge.
    onCleanup(() => upWithEnv({ MIRROR_BRIDGE_OUT: originalOut, MIRROR_BRIDGE_IN: originalIn }));
    await must('ip', ['link', 'add', out, 'type', 'veth', 'peer', 'name', outPeer]);
    await must('ip', ['link', 'add', inn, 'type', 'veth', 'peer', 'name', innPeer]);
    await must('ip', ['netns', 'add', riverNs]);
    await must('ip', ['link', 'set', innPeer, 'netns', riverNs]);
    for (const l of [out, outPeer, inn]) await must('ip', ['link', 'set', l, 'up']);
    await must('ip', ['-n', riverNs, 'link', 'set', innPeer, 'up']);

    const idA = await createNetwork(netA, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', subA.subnet]);
    bridgeA = `ovsbr-${idA.slice(0, 5)}`;
    await upWithEnv({ MIRROR_BRIDGE_OUT: out, MIRROR_BRIDGE_IN: inn });
    const idB = await createNetwork(netB, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.vlan': '200' }, [
      '--subnet',
      subB.subnet,
    ]);
    ourLinks = [`dsmm${idA.slice(0, 10)}`, `dsmm${idB.slice(0, 10)}`];

    assert.equal(await ovsVsctl('port-to-br', out), MIRROR_BRIDGE);
    assert.equal(await ovsVsctl('port-to-br', inn), MIRROR_BRIDGE);
    await waitFor('both networks linked', async () => ((await linksNow()).length === 2 ? true : undefined));
    const networkEnd = (await ovsVsctl('list-ports', bridgeA)).split('\n').find((p) => p.startsWith('dsmn'));
    assert.ok(networkEnd, 'network A has its end of the link');
    assert.equal(await ovsVsctl('get', 'Interface', networkEnd, 'ofport'), '99');
    await waitFor(
      'FAUCET entry of the link, output-only while nothing is mirrored',
      async () => mirrorPortOf(netA)?.output_only === true,
    );
    const host = (await (await fetch(`${STATUS_URL}/host`)).json()) as {
      MirrorBridge: {
        Bridge: string;
        Out: string;
        In: string;
        Links: Record<string, number>;
        Problem: string | null;
      } | null;
    };
    assert.equal(host.MirrorBridge?.Bridge, MIRROR_BRIDGE);
    assert.equal(host.MirrorBridge?.Out, out);
    assert.equal(host.MirrorBridge?.In, inn);
    assert.equal(host.MirrorBridge?.Problem, null);
    assert.ok(
      host.MirrorBridge?.Links[idA] !== undefined && host.MirrorBridge.Links[idB] !== undefined,
      'status API lists both links',
    );
    const printed = await must('node', [
      `${new URL('../../..', import.meta.url).pathname}dist/src/cli/main.js`,
      'status',
      '--url',
      STATUS_URL,
    ]);
    assert.match(printed, new RegExp(`^mirror bridge ${MIRROR_BRIDGE}  out ${out}  in ${inn}`));
  });

  it("sends both directions of a labelled container's traffic out tagged with the network VLAN, and nothing of others", async () => {
    cap = await startCapture(outPeer);
    await runContainer(loud, netA, ['--label', 'dovesnap.faucet.mirror=true']);
    await runContainer(quiet, netA);
    await runContainer(quiet2, netA);
    await runContainer(loudB, netB, ['--label', `dovesnap.faucet.mirror=${netA}:false/${netB}:true`]);
    const [loudMac, quietMac, quiet2Mac, loudBMac] = await Promise.all([
      macOf(loud, netA),
      macOf(quiet, netA),
      macOf(quiet2, netA),
      macOf(loudB, netB),
    ]);
    await waitFor('mirror list of network A', async () => (mirrorPortOf(netA)?.mirror ?? []).length === 1);

    const quietIp = await containerIp(quiet, netA);
    // Unlabelled to unlabelled: once FAUCET has learnt both (until then it floods unicast to
    // every port, the labelled one included, which mirrors it rightly), nothing may reach OUT.
    await waitPing(quiet2, quietIp);
    await must(DOCKER, ['exec', quiet2, 'ping', '-c', '3', '-i', '0.2', quietIp]);
    const learnt = cap.lines.length;
    await must(DOCKER, ['exec', quiet2, 'ping', '-c', '5', '-i', '0.2', quietIp]);
    const start = cap.lines.length;
    await waitPing(loud, quietIp);
    await must(DOCKER, ['exec', loud, 'ping', '-c', '3', '-i', '0.2', quietIp]);
    const request = await cap.waitLine(
      'echo request from the labelled container',
      new RegExp(
        `${loudMac} > ${quietMac}, ethertype 802\\.1Q \\(0x8100\\), length \\d+: vlan 100, .*ICMP echo request`,
      ),
      15_000,
      start,
    );
    const reply = await cap.waitLine(
      'echo reply to the labelled container',
      new RegExp(`${quietMac} > ${loudMac}, ethertype 802\\.1Q \\(0x8100\\), length \\d+: vlan 100, .*ICMP echo reply`),
      15_000,
      start,
    );
    assert.ok(request && reply);
    // Broadcasts from quiet2 reach the labelled port too (and are mirrored there); unicast between the unlabelled pair must not.
    const pair = new RegExp(`${quiet2Mac} > ${quietMac}|${quietMac} > ${quiet2Mac}`);
    assert.deepEqual(
      cap.lines.slice(learnt).filter((l) => pair.test(l)),
      [],
      'no unicast frame between the two unlabelled containers',
    );

    const b2 = `${netA}-b2`;
    await runContainer(b2, netB);
    await waitPing(loudB, await containerIp(b2, netB));
    await cap.waitLine('network B traffic tagged 200', new RegExp(`${loudBMac} > .*vlan 200, .*ICMP echo request`));
    assert.equal(framesOf(cap, loudBMac).filter((l) => / vlan 100,/.test(l)).length, 0, 'network B never tagged 100');

    const st = await status();
    const loudStatus = Object.values(st)
      .flatMap((n) => Object.values(n.Containers))
      .find((c) => c.Name === `/${loud}`) as { Mirrored?: boolean } | undefined;
    assert.equal(loudStatus?.Mirrored, true, 'status API says the container is mirrored');
  });

  it('passes frames arriving on IN (a mirror river) out of OUT unchanged', async () => {
    const start = cap.lines.length;
    await must('ip', ['-n', riverNs, 'addr', 'add', '192.0.2.1/24', 'dev', innPeer]);
    const riverMac = (await must('ip', ['-n', riverNs, '-br', 'link', 'show', innPeer])).split(/\s+/)[2] ?? '';
    // Nothing answers: the ARP requests themselves are the upstream host's "mirrored" frames.
    await run('ip', ['netns', 'exec', riverNs, 'busybox', 'ping', '-c', '2', '-W', '1', '192.0.2.2']);
    const line = await cap.waitLine(
      'river frame on OUT',
      new RegExp(`${riverMac} > ff:ff:ff:ff:ff:ff, ethertype ARP`),
      15_000,
      start,
    );
    assert.doesNotMatch(line, /802\.1Q/, 'untagged as it came in');
  });

  it('still mirrors, with nothing duplicated, after the daemon is SIGKILLed in the middle of a mirrored flow', async () => {
    const quietIp = await containerIp(quiet, netA);
    const loudMac = await macOf(loud, netA);
    const flow = run(DOCKER, ['exec', loud, 'ping', '-c', '160', '-i', '0.25', quietIp], 90_000);
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(Number(readFileSync('/run/dovesnap/dovesnap.pid', 'utf8').trim()), 'SIGKILL');
    await upWithEnv({ MIRROR_BRIDGE_OUT: out, MIRROR_BRIDGE_IN: inn });
    const after = cap.lines.length;
    await cap.waitLine(
      'mirrored frames after the restart',
      new RegExp(`${loudMac} > .*vlan 100, .*ICMP echo request`),
      15_000,
      after,
    );
    const r = await flow;
    assert.equal(r.code, 0, `the mirrored flow itself lost nothing fatal: ${r.stdout}`);
    const bridges = (await ovsVsctl('list-br')).split('\n').filter((b) => b === MIRROR_BRIDGE);
    assert.equal(bridges.length, 1);
    const all = (await ovsVsctl('list-ports', MIRROR_BRIDGE)).split('\n');
    assert.deepEqual(await linksNow(), [...ourLinks].sort(), `still one link per network: ${all.join(' ')}`);
    const links = all.filter((p) => p.startsWith('dsmm')).length;
    const flows = (await must('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-flows', MIRROR_BRIDGE, '--no-stats']))
      .split('\n')
      .filter((l) => l.includes('cookie=0xd0e5'));
    assert.equal(flows.length, 2 + links, `drop, IN->OUT and one per linked network: ${flows.join(' | ')}`);
    assert.equal(all.filter((p) => p === out || p === inn).length, 2, 'OUT and IN once each');
  });

  it('keeps a port whose mirror label does not parse closed, saying why', async () => {
    const bad = `${netA}-bad`;
    await runContainer(bad, netA, ['--label', 'dovesnap.faucet.mirror=maybe']);
    const blocked = await waitFor('status says why the port is closed', async () => {
      const c = Object.values(await status())
        .flatMap((n) => Object.values(n.Containers))
        .find((x) => x.Name === `/${bad}`) as { Blocked?: string | null } | undefined;
      return typeof c?.Blocked === 'string' ? c.Blocked : undefined;
    });
    assert.match(blocked, /dovesnap\.faucet\.mirror/);
    assert.match(blocked, /maybe/);
    const r = await run(DOCKER, ['exec', bad, 'ping', '-c', '2', '-W', '1', await containerIp(quiet, netA)]);
    assert.notEqual(r.code, 0, 'no traffic through a port kept closed');
  });

  it('changes the mirror set when a container is recreated without the label', async () => {
    await must(DOCKER, ['rm', '-f', loud]);
    await runContainer(loud, netA);
    await waitFor(
      "network A's link output-only again",
      async () => mirrorPortOf(netA)?.output_only === true && mirrorPortOf(netA)?.mirror === undefined,
    );
    const loudMac = await macOf(loud, netA);
    const quietIp = await containerIp(quiet, netA);
    await waitPing(loud, quietIp);
    const start = cap.lines.length;
    await must(DOCKER, ['exec', loud, 'ping', '-c', '5', '-i', '0.2', quietIp]);
    assert.deepEqual(
      framesOf(cap, loudMac, start).filter((l) => !l.includes('ff:ff:ff:ff:ff:ff')),
      [],
      'no longer mirrored',
    );
    // Labelled again for the tests that follow.
    await must(DOCKER, ['rm', '-f', loud]);
    await runContainer(loud, netA, ['--label', 'dovesnap.faucet.mirror=true']);
    await waitFor('mirror list back', async () => (mirrorPortOf(netA)?.mirror ?? []).length === 1);
  });

  it('puts the mirror bridge back when it is deleted by hand', async () => {
    await must('ovs-vsctl', ['del-br', MIRROR_BRIDGE]);
    await waitFor('mirror bridge recreated with both links', async () => (await linksNow()).length === 2, 20_000);
    const quietIp = await containerIp(quiet, netA);
    const loudMac = await macOf(loud, netA);
    const start = cap.lines.length;
    await waitFor(
      'mirrored again',
      async () => {
        await run(DOCKER, ['exec', loud, 'ping', '-c', '1', '-W', '1', quietIp]);
        return framesOf(cap, loudMac, start).some((l) => / vlan 100, .*ICMP echo request/.test(l));
      },
      20_000,
      500,
    );
  });
});
