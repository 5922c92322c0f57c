import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  addFaucetEntries,
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
  serveHttp,
  startCapture,
  testDpid,
  testSubnet,
  uniqueName,
  upWithEnv,
  waitFor,
  STATUS_URL,
  type Capture,
} from './harness.js';

/**
 * FAUCET stacking across hosts, on one machine: the test builds a second "host" — a root switch
 * bridge in the same Open vSwitch under the same FAUCET, with a DP the operator (the test)
 * writes into faucet.yaml, a port to a test host and a port for the stack's mirror — and links
 * it with a veth to the interface given to dovesnap as STACKING_INTERFACES.
 */

const FAUCET_METRICS = 'http://127.0.0.1:9302/metrics';

const STACK_VARS = ['STACKING_INTERFACES', 'STACK_PRIORITY1', 'STACK_MIRROR_INTERFACE'] as const;

/**
 * `port_stack_state` (3 is UP) of one DP's port, from FAUCET's Prometheus metrics. FAUCET keeps
 * the series of ports it no longer has, so the port's description picks the live one.
 */
async function stackState(dpName: string, port: number, description: string): Promise<number | undefined> {
  const r = await run('curl', ['-sf', FAUCET_METRICS], 10_000);
  const line = r.stdout
    .split('\n')
    .find(
      (l) =>
        l.startsWith('port_stack_state{') &&
        l.includes(`dp_name="${dpName}"`) &&
        l.includes(`port="${port}"`) &&
        l.includes(description),
    );
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

async function macOf(container: string, network: string): Promise<string> {
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").MacAddress}}`, container);
}

describe('FAUCET stacking (STACKING_INTERFACES, STACK_PRIORITY1, STACK_MIRROR_INTERFACE)', () => {
  const tag = uniqueName('sk').slice(-6);
  const root = `root${tag}`;
  const rootBridge = `dsrt${tag}`;
  const stackIf = `dsk${tag}`; // dovesnap's stacking interface
  const rootStack = `dsr${tag}`; // the root switch's end of the stack link
  const sink = `dsmk${tag}`; // the root's stack mirror port
  const sinkPeer = `dsmc${tag}`;
  const hostIf = `dsh${tag}`;
  const hostNs = `dsns${tag}`;
  const net = uniqueName('sk');
  const { subnet, prefix } = testSubnet();
  const hostIp = `${prefix}.200`;
  const [loud, quiet, quiet2] = ['loud', 'quiet', 'quiet2'].map((s) => `${net}-${s}`) as [string, string, string];
  let stackDp = '';
  let cap: Capture;

  it("brings the stack up between the root switch and dovesnap's stack switch", async () => {
    onCleanup(() => run('ip', ['link', 'del', stackIf]));
    onCleanup(() => run('ip', ['link', 'del', sink]));
    onCleanup(() => run('ip', ['netns', 'del', hostNs]));
    onCleanup(() => run('ovs-vsctl', ['--if-exists', 'del-br', rootBridge]));
    const rootDpid = testDpid();
    const edit = addFaucetEntries(
      'dps',
      [
        `  ${root}:`,
        `    dp_id: ${rootDpid}`,
        '    hardware: Open vSwitch',
        '    stack: {priority: 1}',
        '    interfaces:',
        '      1:',
        '        description: test host behind the root switch',
        '        native_vlan: 100',
        '      2:',
        '        description: where mirrored traffic of every host ends up',
        '        output_only: true',
        '',
      ].join('\n'),
    );
    onCleanup(async () => edit.remove());
    const original = Object.fromEntries(STACK_VARS.map((k) => [k, process.env[k]]));
    // Runs before the DP above is removed: dovesnap takes its stack link out of that DP first.
    onCleanup(() => upWithEnv(original));

    await must('ip', ['link', 'add', stackIf, 'type', 'veth', 'peer', 'name', rootStack]);
    await must('ip', ['link', 'add', sink, 'type', 'veth', 'peer', 'name', sinkPeer]);
    await must('ip', ['netns', 'add', hostNs]);
    await must('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hostNs]);
    for (const l of [stackIf, rootStack, sink, sinkPeer, hostIf]) await must('ip', ['link', 'set', l, 'up']);
    await must('ip', ['-n', hostNs, 'addr', 'add', `${hostIp}/24`, 'dev', 'eth0']);
    await must('ip', ['-n', hostNs, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['netns', 'exec', hostNs, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    await upWithEnv({
      STACKING_INTERFACES: `${root}:3:${stackIf}`,
      STACK_PRIORITY1: root,
      STACK_MIRROR_INTERFACE: `${root}:2`,
    });
    const netId = await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', subnet]);
    // The datapath dovesnap's bridges use here (userspace where there is no kernel module).
    const datapath = await ovsVsctl('get', 'Bridge', `ovsbr-${netId.slice(0, 5)}`, 'datapath_type');
    const dpidHex = rootDpid.slice(2).padStart(16, '0');
    await must('ovs-vsctl', [
      'add-br',
      rootBridge,
      '--',
      'set',
      'bridge',
      rootBridge,
      `datapath_type=${datapath}`,
      `other-config:datapath-id=${dpidHex}`,
      'protocols=OpenFlow13',
      'fail_mode=secure',
      '--',
      'set-controller',
      rootBridge,
      'tcp:127.0.0.1:6653',
      '--',
      'add-port',
      rootBridge,
      hostIf,
      '--',
      'set',
      'interface',
      hostIf,
      'ofport_request=1',
      '--',
      'add-port',
      rootBridge,
      sink,
      '--',
      'set',
      'interface',
      sink,
      'ofport_request=2',
      '--',
      'add-port',
      rootBridge,
      rootStack,
      '--',
      'set',
      'interface',
      rootStack,
      'ofport_request=3',
    ]);

    const doc = await waitFor('both ends of the stack link in faucet.yaml', async () => {
      const d = parse(faucetYaml()) as {
        dps: Record<
          string,
          {
            description?: string;
            stack?: { priority?: number };
            interfaces: Record<string, { description?: string; stack?: { dp: string; port: number } }>;
          }
        >;
      };
      const far = d.dps[root]?.interfaces['3'];
      const linked = Object.values(d.dps[net]?.interfaces ?? {}).some((p) => p.stack?.dp === far?.stack?.dp);
      return far?.stack !== undefined && linked ? d : undefined;
    });
    stackDp = doc.dps[root]?.interfaces['3']?.stack?.dp ?? '';
    assert.match(stackDp, /^dovesnap-/);
    const stackSwitch = doc.dps[stackDp];
    assert.ok(stackSwitch, 'the stack switch has its own DP');
    const toRoot = Object.values(stackSwitch.interfaces).find((p) => p.stack?.dp === root);
    assert.equal(toRoot?.stack?.port, 3, "the stack switch's end points at the root's port 3");
    assert.equal(
      Number(await ovsVsctl('get', 'Interface', stackIf, 'ofport')),
      doc.dps[root]?.interfaces['3']?.stack?.port,
      "the root's end points at our interface's port",
    );
    const netLink = Object.values(doc.dps[net]?.interfaces ?? {}).find((p) => p.stack?.dp === stackDp);
    assert.ok(netLink, "the network's DP links to the stack switch");
    assert.ok(
      Object.values(stackSwitch.interfaces).some((p) => p.stack?.dp === net),
      'and the stack switch back to the network',
    );

    const host = (await (await fetch(`${STATUS_URL}/host`)).json()) as {
      Stack: {
        DpName: string;
        Root: string;
        Interfaces: { Interface: string; RemoteDp: string; RemotePort: number }[];
        MirrorInterface: string;
        Problem: string | null;
      } | null;
    };
    assert.equal(host.Stack?.DpName, stackDp);
    assert.equal(host.Stack?.Root, root);
    assert.deepEqual(
      host.Stack?.Interfaces.map((i) => [i.Interface, i.RemoteDp, i.RemotePort]),
      [[stackIf, root, 3]],
    );
    assert.equal(host.Stack?.MirrorInterface, `${root}:2`);
    assert.equal(host.Stack?.Problem, null);
    await waitFor(
      'stack port UP in FAUCET metrics (root port 3)',
      async () => (await stackState(root, 3, `to ${stackDp}`)) === 3,
      60_000,
      1000,
    );
    const ours = Number(await ovsVsctl('get', 'Interface', stackIf, 'ofport'));
    await waitFor(
      "stack port UP in FAUCET metrics (dovesnap's end)",
      async () => (await stackState(stackDp, ours, `via ${stackIf}`)) === 3,
      60_000,
      1000,
    );
  });

  it('lets containers reach a test host behind the root switch, ping and TCP', async () => {
    cap = await startCapture(sinkPeer);
    await runContainer(loud, net, ['--label', 'dovesnap.faucet.mirror=true']);
    await runContainer(quiet, net);
    await runContainer(quiet2, net);
    await waitFor(
      'container pings the host behind the root',
      async () => (await run(DOCKER, ['exec', quiet, 'ping', '-c', '1', '-W', '1', hostIp])).code === 0,
      60_000,
      500,
    );
    await serveHttp(quiet);
    const quietIp = await containerIp(quiet, net);
    const page = await waitFor(
      'TCP from the root side',
      async () => {
        const r = await run('ip', [
          'netns',
          'exec',
          hostNs,
          'timeout',
          '5',
          'busybox',
          'wget',
          '-q',
          '-O',
          '-',
          `http://${quietIp}:8080/`,
        ]);
        return r.code === 0 ? r.stdout.trim() : undefined;
      },
      30_000,
      500,
    );
    assert.equal(page, `hello from ${quiet}`);
  });

  it("tunnels a mirror-labelled container's traffic to the stack mirror port, and nothing of unlabelled ones", async () => {
    const loudMac = await macOf(loud, net);
    const quietMac = await macOf(quiet, net);
    const quiet2Mac = await macOf(quiet2, net);
    const quietIp = await containerIp(quiet, net);
    // The unlabelled pair, learnt first (until then FAUCET floods, to the labelled port too).
    await run(DOCKER, ['exec', quiet2, 'ping', '-c', '3', '-i', '0.2', quietIp]);
    const learnt = cap.lines.length;
    await run(DOCKER, ['exec', quiet2, 'ping', '-c', '5', '-i', '0.2', quietIp]);
    const start = cap.lines.length;
    await waitFor(
      'mirrored echo requests at the sink',
      async () => {
        await run(DOCKER, ['exec', loud, 'ping', '-c', '1', '-W', '1', quietIp]);
        return cap.lines
          .slice(start)
          .some((l) => l.includes(`${loudMac} > ${quietMac}`) && l.includes('ICMP echo request'));
      },
      60_000,
      1000,
    );
    await cap.waitLine(
      'mirrored echo reply at the sink',
      new RegExp(`${quietMac} > ${loudMac}.*ICMP echo reply`),
      15_000,
      start,
    );
    const pair = new RegExp(`${quiet2Mac} > ${quietMac}|${quietMac} > ${quiet2Mac}`);
    assert.deepEqual(
      cap.lines.slice(learnt).filter((l) => pair.test(l)),
      [],
      'no unicast frame of the unlabelled pair',
    );
  });
});
