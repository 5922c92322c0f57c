import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  containerIp,
  containerPortsOn,
  createNetwork,
  docker,
  dockerRaw,
  faucetYaml,
  must,
  onCleanup,
  ovsVsctl,
  run,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  DOCKER,
  type RunResult,
  type StatusNetwork,
  addOperatorEntries,
  upWithEnv,
} from './harness.js';

/**
 * Host ports with their own VLANs (add_ports' fourth field), coprocessor ports, preallocated
 * FAUCET entries, the bridge's own MAC, ports added by hand, and the validation of all these
 * at `docker network create`: end to end on the real stack, proven by traffic where there is
 * traffic to prove it with.
 *
 * This host's kernel has no 802.1Q support (CONFIG_VLAN_8021Q unset, and its bridges cannot
 * filter VLANs), so `ip link add link X name X.20 type vlan id 20` fails. What such
 * sub-interfaces do, a small standalone Open vSwitch bridge does here instead: its trunk port
 * is the far end of the veth that dovesnap has as a port, and each of its access ports
 * (`tag=20`) leads by another veth to an interface in the test's namespace, which then behaves
 * exactly as `X.20` would: what it sends leaves on the trunk tagged 20, and it receives what
 * arrives tagged 20, untagged. These bridges carry no dovesnap marks, so dovesnap leaves them alone.
 */

interface FaucetPort {
  description?: string;
  native_vlan?: number | string;
  tagged_vlans?: (number | string)[];
  acls_in?: string[];
  output_only?: boolean;
  coprocessor?: { strategy?: string; vlan_vid_base?: number | string };
}
interface FaucetDp {
  interfaces: Record<string, FaucetPort>;
}

function faucetDp(name: string): FaucetDp | undefined {
  return (parse(faucetYaml()) as { dps?: Record<string, FaucetDp> } | null)?.dps?.[name];
}

/** The numbers of the DP's interface entries described exactly so. */
function entriesNamed(dp: FaucetDp | undefined, description: string): string[] {
  return Object.entries(dp?.interfaces ?? {})
    .filter(([, p]) => p.description === description)
    .map(([n]) => n);
}

function nums(v: readonly (number | string)[] | undefined): number[] {
  return (v ?? []).map(Number).sort((a, b) => a - b);
}

/** A network namespace the test owns: removed at clean-up, with every process left in it. */
interface Ns {
  readonly name: string;
  exec(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** One ping, one second to answer; `via` binds it to an interface. */
  ping(ip: string, via?: string): Promise<boolean>;
  mac(iface: string): Promise<string>;
}

async function makeNs(name: string): Promise<Ns> {
  onCleanup(async () => {
    const pids = (await run('ip', ['netns', 'pids', name])).stdout.split('\n').filter((p) => p.trim() !== '');
    for (const p of pids) await run('kill', ['-9', p.trim()]);
    await run('ip', ['netns', 'del', name]);
  });
  await must('ip', ['netns', 'add', name]);
  await must('ip', ['-n', name, 'link', 'set', 'dev', 'lo', 'up']);
  // Each interface answers ARP for its own address only: a host with interfaces on several
  // VLANs must not answer on one VLAN for an address it has on another.
  await must('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=1']);
  const exec = (args: readonly string[], timeoutMs?: number): Promise<RunResult> =>
    run('ip', ['netns', 'exec', name, ...args], timeoutMs);
  return {
    name,
    exec,
    async ping(ip, via) {
      return (
        (await exec(['busybox', 'ping', '-c', '1', '-W', '1', ...(via === undefined ? [] : ['-I', via]), ip])).code ===
        0
      );
    },
    async mac(iface) {
      return (
        (await must('ip', ['-n', name, '-json', 'link', 'show', iface])).match(/"address":"([0-9a-f:]{17})"/)?.[1] ?? ''
      );
    },
  };
}

/** A veth pair with both ends up, in the host's namespace; deleted at clean-up. */
async function veth(a: string, b: string): Promise<void> {
  onCleanup(() => run('ip', ['link', 'del', a]));
  await must('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  await must('ip', ['link', 'set', 'dev', a, 'up']);
  await must('ip', ['link', 'set', 'dev', b, 'up']);
}

/**
 * Moves `iface` into the namespace as `as`, with an address (a /32 gets host routes to
 * `routes`), up, and with real TCP checksums: its packets go through OVS's userspace datapath.
 */
async function intoNs(ns: Ns, iface: string, as: string, cidr: string, routes: readonly string[] = []): Promise<void> {
  await must('ip', ['link', 'set', 'dev', iface, 'netns', ns.name, 'name', as]);
  await must('ip', ['-n', ns.name, 'addr', 'add', cidr, 'dev', as]);
  await must('ip', ['-n', ns.name, 'link', 'set', 'dev', as, 'up']);
  for (const r of routes) await must('ip', ['-n', ns.name, 'route', 'add', `${r}/32`, 'dev', as]);
  await must('ip', ['netns', 'exec', ns.name, 'ethtool', '-K', as, 'tx', 'off']);
}

/** A host outside Docker: `iface` (the far end of a veth whose near end dovesnap gets) in its own namespace. */
async function outsideHost(nsName: string, iface: string, cidr: string): Promise<Ns> {
  const ns = await makeNs(nsName);
  await intoNs(ns, iface, 'eth0', cidr);
  return ns;
}

/**
 * A standalone OVS bridge standing in for 802.1Q sub-interfaces (see the top of the file):
 * `trunk` with the given port settings, and each access port on its VLAN.
 */
async function vlanSwitch(
  name: string,
  datapathType: string,
  trunk: string,
  trunkSettings: readonly string[],
  access: readonly (readonly [string, number])[],
): Promise<void> {
  onCleanup(() => run('ovs-vsctl', ['--timeout=10', '--if-exists', 'del-br', name]));
  await ovsVsctl('add-br', name, '--', 'set', 'Bridge', name, `datapath_type=${datapathType}`, 'fail_mode=standalone');
  await ovsVsctl(
    'add-port',
    name,
    trunk,
    ...(trunkSettings.length > 0 ? ['--', 'set', 'Port', trunk, ...trunkSettings] : []),
  );
  for (const [port, vid] of access) await ovsVsctl('add-port', name, port, `tag=${vid}`);
}

function bridgeOf(networkId: string): string {
  return `ovsbr-${networkId.slice(0, 5)}`;
}

/** The datapath dovesnap's bridges use here (`make up` records it); the helper bridges use it too. */
function hostDatapath(): string {
  try {
    return readFileSync('/run/dovesnap/datapath', 'utf8').trim() || 'netdev';
  } catch {
    return 'netdev';
  }
}

/** Pings that must fail, all at once (each takes its one second). */
async function assertNoPing(cases: readonly (readonly [string, Ns, string, string?])[]): Promise<void> {
  const results = await Promise.all(cases.map(async ([what, ns, ip, via]) => [what, await ns.ping(ip, via)] as const));
  for (const [what, ok] of results) assert.equal(ok, false, `${what} must not get through`);
}

async function nsWaitPing(what: string, ns: Ns, ip: string, via?: string): Promise<void> {
  await waitFor(what, () => ns.ping(ip, via), 30_000, 50);
}

async function nsHttpGet(ns: Ns, url: string): Promise<string | undefined> {
  // busybox's wget crashes with -T: the time limit comes from `timeout`.
  const r = await ns.exec(['timeout', '5', 'busybox', 'wget', '-q', '-O', '-', url]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

describe('add_ports with VLANs: access ports, trunks, isolation', () => {
  const tag = uniqueName('pv').slice(-6);
  const net = `dst-pv-${tag}`;
  const { subnet, prefix: p } = testSubnet();
  const c = `${net}-c`;
  // Every outside host is in the containers' subnet, so that only the VLANs keep them apart.
  const ip = {
    h20a: `${p}.201`,
    h20b: `${p}.202`,
    h30: `${p}.203`,
    h40: `${p}.204`,
    a20: `${p}.211`,
    a30: `${p}.212`,
    bu: `${p}.213`,
    b40: `${p}.214`,
  };
  const port = (k: string): string => `dsv${tag}${k}`;
  const hosts: Record<string, Ns> = {};
  let trunkA: Ns;
  let trunkB: Ns;

  it('puts access and trunk ports in FAUCET with their VLANs', async () => {
    for (const k of ['1', '2', '3', '4', 'a', 'b']) await veth(port(k), `dsw${tag}${k}`);
    // The outside world first, as it would be (its links up before the network exists): one
    // host per access port, and a trunk host behind each trunk port.
    const datapath = hostDatapath();
    hosts['h20a'] = await outsideHost(`dsns-${tag}-1`, `dsw${tag}1`, `${ip.h20a}/24`);
    hosts['h20b'] = await outsideHost(`dsns-${tag}-2`, `dsw${tag}2`, `${ip.h20b}/24`);
    hosts['h30'] = await outsideHost(`dsns-${tag}-3`, `dsw${tag}3`, `${ip.h30}/24`);
    hosts['h40'] = await outsideHost(`dsns-${tag}-4`, `dsw${tag}4`, `${ip.h40}/24`);
    // Trunk host A: "ta.20" and "ta.30" on the t20+t30 trunk, each with a route to its VLAN's host.
    trunkA = await makeNs(`dsns-${tag}-ta`);
    await veth(`dsx${tag}a20`, `dsy${tag}a20`);
    await veth(`dsx${tag}a30`, `dsy${tag}a30`);
    await vlanSwitch(
      `dsh${tag}a`,
      datapath,
      `dsw${tag}a`,
      ['vlan_mode=trunk', 'trunks=20,30'],
      [
        [`dsx${tag}a20`, 20],
        [`dsx${tag}a30`, 30],
      ],
    );
    await intoNs(trunkA, `dsy${tag}a20`, 'ta.20', `${ip.a20}/32`, [ip.h20a, ip.h20b]);
    await intoNs(trunkA, `dsy${tag}a30`, 'ta.30', `${ip.a30}/32`, [ip.h30]);
    // Trunk host B: "tb" untagged (VLAN 100, the containers' VLAN) and "tb.40" tagged 40.
    trunkB = await makeNs(`dsns-${tag}-tb`);
    await veth(`dsx${tag}bu`, `dsy${tag}bu`);
    await veth(`dsx${tag}b40`, `dsy${tag}b40`);
    await vlanSwitch(
      `dsh${tag}b`,
      datapath,
      `dsw${tag}b`,
      ['vlan_mode=native-untagged', 'tag=100', 'trunks=40,100'],
      [
        [`dsx${tag}bu`, 100],
        [`dsx${tag}b40`, 40],
      ],
    );
    await intoNs(trunkB, `dsy${tag}bu`, 'tb', `${ip.bu}/24`);
    await intoNs(trunkB, `dsy${tag}b40`, 'tb.40', `${ip.b40}/32`, [ip.h40]);

    const id = await createNetwork(
      net,
      {
        'ovs.bridge.dpid': testDpid(),
        'ovs.bridge.add_ports': [
          `${port('1')}/21//20`, // untagged on VLAN 20, at a port number of its own
          `${port('2')}///20`, // the same VLAN, other fields left to their defaults
          `${port('3')}///30`,
          `${port('4')}///40`,
          `${port('a')}/41//t20+t30`, // a pure trunk
          `${port('b')}///100+t40`, // the network's VLAN untagged, and 40 tagged
        ].join(','),
      },
      ['--subnet', subnet],
    );
    assert.equal(await ovsVsctl('port-to-br', port('1')), bridgeOf(id));
    assert.equal(await ovsVsctl('get', 'Interface', port('1'), 'ofport'), '21');
    assert.equal(await ovsVsctl('get', 'Interface', port('a'), 'ofport'), '41');
    const dp = await waitFor('DP with the six host ports', async () => {
      const d = faucetDp(net);
      return d !== undefined &&
        Object.values(d.interfaces).filter((x) => x.description?.startsWith('Physical interface ')).length === 6
        ? d
        : undefined;
    });
    const entry = async (k: string): Promise<FaucetPort> => {
      const n = await ovsVsctl('get', 'Interface', port(k), 'ofport');
      const e = dp.interfaces[n];
      assert.ok(e, `FAUCET entry for ${port(k)} (port ${n})`);
      assert.equal(e.description, `Physical interface ${port(k)}`);
      return e;
    };
    for (const [k, vid] of [
      ['1', 20],
      ['2', 20],
      ['3', 30],
      ['4', 40],
    ] as const) {
      const e = await entry(k);
      assert.equal(Number(e.native_vlan), vid, `${port(k)} untagged on ${vid}`);
      assert.equal(e.tagged_vlans, undefined, `${port(k)} carries no tagged VLAN`);
    }
    const a = await entry('a');
    assert.equal(a.native_vlan, undefined, 'a pure trunk has no native VLAN');
    assert.deepEqual(nums(a.tagged_vlans), [20, 30]);
    const b = await entry('b');
    assert.equal(Number(b.native_vlan), 100);
    assert.deepEqual(nums(b.tagged_vlans), [40]);
  });

  it('hosts on one VLAN talk; a trunk reaches each VLAN through its sub-interface', async () => {
    const { h20a, h20b, h30, h40 } = hosts as Record<'h20a' | 'h20b' | 'h30' | 'h40', Ns>;
    await nsWaitPing('h20a pings h20b (both on VLAN 20)', h20a, ip.h20b);
    await nsWaitPing('h20b pings h20a', h20b, ip.h20a);
    await nsWaitPing('trunk ta.20 pings the VLAN 20 host', trunkA, ip.h20a, 'ta.20');
    await nsWaitPing('trunk ta.20 pings the other VLAN 20 host', trunkA, ip.h20b, 'ta.20');
    await nsWaitPing('trunk ta.30 pings the VLAN 30 host', trunkA, ip.h30, 'ta.30');
    await nsWaitPing('the VLAN 30 host pings trunk ta.30', h30, ip.a30);
    await nsWaitPing('trunk tb.40 pings the VLAN 40 host', trunkB, ip.h40, 'tb.40');
    await nsWaitPing('the VLAN 40 host pings trunk tb.40', h40, ip.b40);
  });

  it('hosts on different VLANs, and a sub-interface of the wrong VLAN, get nothing through', async () => {
    const { h20a, h30, h40 } = hosts as Record<'h20a' | 'h30' | 'h40', Ns>;
    await assertNoPing([
      ['VLAN 20 -> VLAN 30', h20a, ip.h30],
      ['VLAN 20 -> VLAN 40', h20a, ip.h40],
      ['VLAN 30 -> VLAN 20', h30, ip.h20a],
      ['VLAN 30 -> VLAN 40', h30, ip.h40],
      ['VLAN 40 -> VLAN 20', h40, ip.h20a],
      ['VLAN 20 -> trunk ta.30', h20a, ip.a30],
      ['trunk ta.20 -> the VLAN 30 host', trunkA, ip.h30, 'ta.20'],
      ['trunk ta.30 -> the VLAN 20 host', trunkA, ip.h20a, 'ta.30'],
      ['trunk ta.20 -> the VLAN 40 host', trunkA, ip.h40, 'ta.20'],
      ['trunk B untagged (VLAN 100) -> the VLAN 20 host', trunkB, ip.h20a, 'tb'],
    ]);
  });

  it("a container on the network VLAN reaches the trunk's untagged side, ping and TCP, and not the VLAN 20 host", async () => {
    await runContainer(c, net);
    const cip = await containerIp(c, net);
    await nsWaitPing('trunk B untagged pings the container', trunkB, cip, 'tb');
    await waitPing(c, ip.bu, 30_000);
    await serveHttp(c);
    assert.equal(
      await waitFor('TCP from trunk B to the container', () => nsHttpGet(trunkB, `http://${cip}:8080/`)),
      `hello from ${c}`,
    );
    assert.equal(
      (await dockerRaw('exec', c, 'ping', '-c', '1', '-W', '1', ip.h20a)).code === 0,
      false,
      'container (VLAN 100) -> VLAN 20 host must not get through',
    );
    assert.equal(await (hosts['h20a'] as Ns).ping(cip), false, 'VLAN 20 host -> container must not get through');
    assert.equal(await trunkB.ping(cip, 'tb.40'), false, 'trunk tb.40 -> container must not get through');
  });
});

describe("a trunk carrying several Docker networks' VLANs", () => {
  const tag = uniqueName('tk').slice(-6);
  const net1 = `dst-tk1-${tag}`;
  const net2 = `dst-tk2-${tag}`;
  const s1 = testSubnet();
  const s2 = testSubnet();
  const c1 = `${net1}-c`;
  const c2 = `${net2}-c`;

  it('reaches a container on each network through the matching VLAN, and not through the other', async () => {
    // The outside world first, its links up before the networks exist. The uplink: one veth,
    // "uplN" the outside's end, "uplX" the host's, carrying VLANs 100 and 200 tagged.
    const uplN = `dsu${tag}n`;
    const uplX = `dsu${tag}x`;
    await veth(uplN, uplX);
    // The outside: a namespace with upl.100 and upl.200 on uplN.
    const ns = await makeNs(`dsns-${tag}-upl`);
    await veth(`dsu${tag}c`, `dsu${tag}e`);
    await veth(`dsu${tag}d`, `dsu${tag}f`);
    await vlanSwitch(
      `dsh${tag}n`,
      hostDatapath(),
      uplN,
      ['vlan_mode=trunk', 'trunks=100,200'],
      [
        [`dsu${tag}c`, 100],
        [`dsu${tag}d`, 200],
      ],
    );
    await intoNs(ns, `dsu${tag}e`, 'upl.100', `${s1.prefix}.250/24`);
    await intoNs(ns, `dsu${tag}f`, 'upl.200', `${s2.prefix}.250/24`);
    // The host side: uplX.100 and uplX.200 (here, the far ends of veths from a VLAN switch's
    // access ports; see the top of the file), each put on its network.
    await veth(`dsu${tag}a`, `dsu${tag}1`);
    await veth(`dsu${tag}b`, `dsu${tag}2`);
    await vlanSwitch(
      `dsh${tag}x`,
      hostDatapath(),
      uplX,
      ['vlan_mode=trunk', 'trunks=100,200'],
      [
        [`dsu${tag}a`, 100],
        [`dsu${tag}b`, 200],
      ],
    );
    await createNetwork(
      net1,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.vlan': '100', 'ovs.bridge.add_ports': `dsu${tag}1` },
      ['--subnet', s1.subnet],
    );
    await createNetwork(
      net2,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.vlan': '200', 'ovs.bridge.add_ports': `dsu${tag}2` },
      ['--subnet', s2.subnet],
    );

    await runContainer(c1, net1);
    await runContainer(c2, net2);
    const ip1 = await containerIp(c1, net1);
    const ip2 = await containerIp(c2, net2);
    const net2Dp = await waitFor(
      'FAUCET entry of the VLAN 200 port',
      async () => faucetDp(net2)?.interfaces[await ovsVsctl('get', 'Interface', `dsu${tag}2`, 'ofport')],
    );
    assert.equal(Number(net2Dp.native_vlan), 200);
    await nsWaitPing('upl.100 reaches the container of the VLAN 100 network', ns, ip1, 'upl.100');
    await nsWaitPing('upl.200 reaches the container of the VLAN 200 network', ns, ip2, 'upl.200');
    await waitPing(c1, `${s1.prefix}.250`);
    await waitPing(c2, `${s2.prefix}.250`);
    await assertNoPing([
      ["upl.200 -> the VLAN 100 network's container", ns, ip1, 'upl.200'],
      ["upl.100 -> the VLAN 200 network's container", ns, ip2, 'upl.100'],
    ]);
  });
});

describe('add_copro_ports: a FAUCET coprocessor port', () => {
  const tag = uniqueName('cp').slice(-6);
  const net = `dst-cp-${tag}`;
  const { subnet, prefix } = testSubnet();
  const a = `${net}-a`;
  const b = `${net}-b`;
  const copro = `dsc${tag}p`;
  const access = `dsc${tag}r`;
  const nsIp = `${prefix}.200`;
  let ns: Ns;
  let nsMac = '';
  let netId = '';
  /** The DP's port numbers when FAUCET first had the coprocessor port. */
  let firstNumbers: string[] = [];

  /** The container's neighbour entry for the coprocessor's address: the MAC, if it has one. */
  async function neighbourOf(container: string): Promise<string | undefined> {
    const out = await docker('exec', container, 'ip', 'neigh', 'show', nsIp);
    return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
  }

  it("delivers a frame tagged with a container's port number to that container, untagged, and to no other", async () => {
    // The coprocessor first, its link up before the network exists: a namespace whose
    // interface sends tagged with the VID of its VLAN switch port (set to a port number below).
    await veth(copro, `dsc${tag}q`);
    ns = await makeNs(`dsns-${tag}-cp`);
    await veth(access, `dsc${tag}s`);
    await vlanSwitch(`dsh${tag}c`, hostDatapath(), `dsc${tag}q`, ['vlan_mode=trunk'], [[access, 4094]]);
    await intoNs(ns, `dsc${tag}s`, 'cp0', `${nsIp}/24`);
    nsMac = await ns.mac('cp0');

    const id = await createNetwork(
      net,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.add_copro_ports': `${copro}/30` },
      ['--subnet', subnet],
    );
    netId = id;
    assert.equal(await ovsVsctl('get', 'Interface', copro, 'ofport'), '30');
    const dp = await waitFor('DP with the coprocessor port', async () =>
      faucetDp(net)?.interfaces['30'] === undefined ? undefined : faucetDp(net),
    );
    const e = dp.interfaces['30'];
    assert.equal(e?.description, `Coprocessor interface ${copro}`);
    assert.equal(e?.coprocessor?.strategy, 'vlan_vid');
    assert.equal(Number(e?.coprocessor?.vlan_vid_base), 0);
    assert.equal(e?.native_vlan, undefined, 'a coprocessor port is on no VLAN');
    assert.equal(e?.tagged_vlans, undefined);
    firstNumbers = Object.keys(dp.interfaces);

    await runContainer(a, net);
    await runContainer(b, net);
    const ipA = await containerIp(a, net);
    const ipB = await containerIp(b, net);
    await waitPing(a, ipB, 30_000);
    const containers = Object.values((await status())[id]?.Containers ?? {});
    const portA = containers.find((x) => x.Name === `/${a}`)?.OFPort;
    const portB = containers.find((x) => x.Name === `/${b}`)?.OFPort;
    assert.ok(typeof portA === 'number' && typeof portB === 'number' && portA !== portB, `ports ${portA} ${portB}`);

    // From now on the coprocessor sends tagged with A's port number.
    await ovsVsctl('set', 'Port', access, `tag=${portA}`);
    assert.equal(await neighbourOf(a), undefined, 'A has not heard of the coprocessor yet');
    assert.equal(await neighbourOf(b), undefined, 'B has not heard of the coprocessor yet');

    // ARP requests for A and for B, both tagged with A's port: only A may see them. (Their
    // answers cannot come back: the coprocessor port is on no VLAN. The requests are enough.)
    await waitFor(
      "A to receive the coprocessor's ARP request",
      async () => {
        await Promise.all([ns.ping(ipA), ns.ping(ipB)]);
        return (await neighbourOf(a)) === nsMac;
      },
      30_000,
      50,
    );
    await Promise.all([ns.ping(ipB), ns.ping(ipB)]);
    assert.equal(await neighbourOf(b), undefined, "B must receive nothing sent to A's port, not even a broadcast");

    // Tagged with B's port number, the same frames reach B.
    await ovsVsctl('set', 'Port', access, `tag=${portB}`);
    await waitFor(
      "B to receive the coprocessor's ARP request",
      async () => {
        await ns.ping(ipB);
        return (await neighbourOf(b)) === nsMac;
      },
      30_000,
      50,
    );
  });

  it('reaches a container whose port number FAUCET did not have when the coprocessor port came up', async () => {
    // The first containers take entries FAUCET had from the start (the network's spares);
    // later ones get numbers FAUCET only learns of later.
    let late: { name: string; ip: string; port: number } | undefined;
    for (let i = 0; late === undefined && i < 16; i++) {
      const name = `${net}-n${i}`;
      await runContainer(name, net);
      const port = Object.values((await status())[netId]?.Containers ?? {}).find((x) => x.Name === `/${name}`)?.OFPort;
      if (typeof port === 'number' && !firstNumbers.includes(String(port)))
        late = { name, ip: await containerIp(name, net), port };
    }
    assert.ok(late, `a container with a port number outside ${firstNumbers.join(',')}`);
    const target = late;
    await waitPing(target.name, await containerIp(a, net), 30_000);
    await ovsVsctl('set', 'Port', access, `tag=${target.port}`);
    await waitFor(
      `${target.name} (port ${target.port}) to receive the coprocessor's ARP request`,
      async () => {
        await ns.ping(target.ip);
        return (await neighbourOf(target.name)) === nsMac;
      },
      15_000,
      50,
    );
  });
});

describe('preallocate_ports', () => {
  const tag = uniqueName('pa').slice(-6);
  const net = `dst-pa-${tag}`;
  const acl = `dst-pa-${tag}-allow`;
  const { subnet } = testSubnet();
  const c = `${net}-c`;
  const spare = 'dovesnap spare port';

  before(async () => {
    await addOperatorEntries(`dst-pa-${tag}:`, [
      ['acls', `  ${acl}:\n    - rule:\n        actions:\n          allow: 1\n`],
    ]);
    // Ready ports would hold the lowest numbers and take the first container: this is the
    // option's own behaviour (with ready ports, its entries serve the containers that find none).
    await upWithEnv({ DOVESNAP_READY_PORTS: '0' });
  });
  after(async () => {
    await upWithEnv({ DOVESNAP_READY_PORTS: undefined });
  });

  it('has an entry for each of the N lowest free port numbers before any container, and a container takes and gives back the first', async () => {
    // lbport=3 reserves 3: the 12 numbers are 1, 2 and 4 to 13 (the daemon alone would keep 8).
    const want = [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
    await createNetwork(
      net,
      {
        'ovs.bridge.dpid': testDpid(),
        'ovs.bridge.preallocate_ports': '12',
        'ovs.bridge.lbport': '3',
        'ovs.bridge.default_acl': acl,
      },
      ['--subnet', subnet],
    );
    const dp = await waitFor('the DP with its spare entries', async () => {
      const d = faucetDp(net);
      return d !== undefined && entriesNamed(d, spare).length > 0 ? d : undefined;
    });
    assert.deepEqual(
      entriesNamed(dp, spare)
        .map(Number)
        .sort((x, y) => x - y),
      want,
    );
    for (const n of want) {
      assert.equal(Number(dp.interfaces[String(n)]?.native_vlan), 100, `entry ${n} on the network VLAN`);
      assert.deepEqual(dp.interfaces[String(n)]?.acls_in, [acl], `entry ${n} has the default ACL`);
    }
    assert.notEqual(dp.interfaces['3']?.description, spare, 'the lbport is not a spare');

    const id = await runContainer(c, net);
    const netId = await docker('network', 'inspect', '-f', '{{.Id}}', net);
    const mine = Object.values((await status())[netId]?.Containers ?? {}).find((x) => x.Name === `/${c}`);
    assert.equal(mine?.OFPort, 1, 'the first container takes port 1');
    const taken = await waitFor(
      'entry 1 named after the container',
      async () => {
        const d = faucetDp(net);
        return d?.interfaces['1']?.description === `/${c} ${id.slice(0, 5)}` ? d : undefined;
      },
      30_000,
      200,
    );
    assert.equal(Number(taken.interfaces['1']?.native_vlan), 100);
    assert.deepEqual(taken.interfaces['1']?.acls_in, [acl]);
    assert.deepEqual(
      entriesNamed(taken, spare)
        .map(Number)
        .sort((x, y) => x - y),
      want.filter((n) => n !== 1),
    );

    await docker('rm', '-f', c);
    const back = await waitFor(
      'entry 1 back to a spare',
      async () => {
        const d = faucetDp(net);
        return d?.interfaces['1']?.description === spare ? d : undefined;
      },
      30_000,
      200,
    );
    assert.equal(Number(back.interfaces['1']?.native_vlan), 100);
    assert.deepEqual(back.interfaces['1']?.acls_in, [acl]);
    assert.deepEqual(
      entriesNamed(back, spare)
        .map(Number)
        .sort((x, y) => x - y),
      want,
    );
  });
});

describe('ovs_local_mac, and a container MAC from the mac_prefix label', () => {
  const tag = uniqueName('lm').slice(-6);
  const net = `dst-lm-${tag}`;
  const { subnet, prefix } = testSubnet();
  const mac = `0e:01:${tag.slice(0, 2)}:${tag.slice(2, 4)}:${tag.slice(4, 6)}:03`;
  const c = `${net}-c`;
  const d = `${net}-d`;

  it('gives the bridge the MAC: on the interface, in status, and as the gateway containers see', async () => {
    const id = await createNetwork(
      net,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat', 'ovs.bridge.ovs_local_mac': mac },
      ['--subnet', subnet, '--gateway', `${prefix}.1`],
    );
    const bridge = bridgeOf(id);
    assert.match(await must('ip', ['link', 'show', bridge]), new RegExp(`link/ether ${mac} `));
    assert.equal(
      ((await status())[id] as (StatusNetwork & { OvsLocalMac?: string | null }) | undefined)?.OvsLocalMac,
      mac,
    );
    await runContainer(d, net);
    await waitPing(d, `${prefix}.1`, 30_000);
    assert.match(await docker('exec', d, 'ip', 'neigh', 'show', `${prefix}.1`), new RegExp(`lladdr ${mac}`));
  });

  it("a mac_prefix container: the MAC on its eth0 is the one in status, in FAUCET's learning, under its name", async () => {
    const cid = await runContainer(c, net, ['--label', 'dovesnap.faucet.mac_prefix=0e:99']);
    const netId = await docker('network', 'inspect', '-f', '{{.Id}}', net);
    const eth0 = await docker('exec', c, 'cat', '/sys/class/net/eth0/address');
    assert.match(eth0, /^0e:99:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
    const mine = Object.values((await status())[netId]?.Containers ?? {}).find((x) => x.Name === `/${c}`);
    assert.equal(mine?.MacAddress, eth0, 'status reports the MAC the container has');
    const ofport = mine?.OFPort;
    assert.ok(typeof ofport === 'number');
    await waitFor(
      'its FAUCET entry named after it',
      async () => faucetDp(net)?.interfaces[String(ofport)]?.description === `/${c} ${cid.slice(0, 5)}`,
      30_000,
      200,
    );
    const dIp = await containerIp(d, net);
    await waitPing(c, dIp, 30_000);
    // FAUCET learned that MAC on that port: what the container sends carries it. (Learning
    // is a packet-in and a flow-mod away from the ping; a FAUCET reload forgets and relearns.)
    const bridge = bridgeOf(netId);
    await waitFor(
      `FAUCET to learn ${eth0} on port ${ofport}`,
      async () => {
        await dockerRaw('exec', c, 'ping', '-c', '1', '-W', '1', dIp);
        const flows = await must('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-flows', bridge]);
        return flows.split('\n').some((l) => l.includes(`in_port=${ofport},`) && l.includes(`dl_src=${eth0}`));
      },
      15_000,
      200,
    );
  });
});

describe('ports added by hand to a dovesnap bridge', () => {
  const tag = uniqueName('hd').slice(-6);
  const net = `dst-hd-${tag}`;
  const { subnet, prefix } = testSubnet();
  const c = `${net}-c`;
  const hand = `dsd${tag}o`;
  const description = `Interface ${hand} (added by hand)`;

  it('gets a FAUCET entry on the network VLAN and carries traffic; del-port takes the entry away', async () => {
    const id = await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', subnet]);
    const bridge = bridgeOf(id);
    await runContainer(c, net);
    const cip = await containerIp(c, net);
    await veth(hand, `dsd${tag}i`);
    const ns = await outsideHost(`dsns-${tag}-hd`, `dsd${tag}i`, `${prefix}.200/24`);
    onCleanup(() => run('ovs-vsctl', ['--timeout=10', '--if-exists', 'del-port', bridge, hand]));
    await ovsVsctl('add-port', bridge, hand);
    // The number is read again at every look: the network's ready ports are being made right
    // now, each asking OVS for a number, and OVS may move a port that has no number of its own
    // asking (this one) off a number another port asks for.
    let number = '';
    const dp = await waitFor(
      'FAUCET entry for the port added by hand, at its number',
      async () => {
        number = await ovsVsctl('get', 'Interface', hand, 'ofport');
        if (!/^[1-9][0-9]*$/.test(number)) return undefined;
        const x = faucetDp(net);
        return x?.interfaces[number]?.description === description ? x : undefined;
      },
      20_000,
      100,
    );
    assert.equal(Number(dp.interfaces[number]?.native_vlan), 100);
    assert.deepEqual(entriesNamed(dp, description), [number], 'one entry, at its port number');
    // Container ports are dovesnap's own: never "added by hand".
    const containerPorts = [...(await containerPortsOn(bridge)).keys()];
    assert.equal(containerPorts.length, 1);
    for (const x of containerPorts) {
      const n = await ovsVsctl('get', 'Interface', x, 'ofport');
      assert.equal(dp.interfaces[n]?.description?.startsWith(`/${c} `), true, `${x} is described as its container`);
    }
    assert.deepEqual(
      Object.values(dp.interfaces)
        .filter((x) => x.description?.endsWith('(added by hand)'))
        .map((x) => x.description),
      [description],
    );
    // The status API lists it as added by hand, with its number.
    const listed = Object.values(await status()).find((x) => x.NetworkName === net) as unknown as
      | { HostPorts: { Interface: string; OFPort: number | null; Kind: string }[] }
      | undefined;
    assert.deepEqual(
      listed?.HostPorts.find((p) => p.Interface === hand),
      { Interface: hand, OFPort: Number(number), Kind: 'hand-added' },
    );

    await nsWaitPing('the host behind the hand-added port pings the container', ns, cip);
    await waitPing(c, `${prefix}.200`);

    await ovsVsctl('del-port', bridge, hand);
    const after = await waitFor(
      'the entry gone',
      async () => {
        const x = faucetDp(net);
        return x !== undefined && entriesNamed(x, description).length === 0 ? x : undefined;
      },
      10_000,
      100,
    );
    assert.ok(!Object.values(after.interfaces).some((x) => x.description?.endsWith('(added by hand)')));
  });
});

describe('validation of the port options at docker network create', () => {
  const tag = uniqueName('pvv').slice(-6);
  const v1 = `dsq${tag}a`;
  const v2 = `dsq${tag}b`;
  const v3 = `dsq${tag}c`;
  const throwaway = `dsq${tag}br`;

  /** Bridges with their dovesnap options (empty for other bridges). */
  async function bridges(): Promise<Map<string, string>> {
    const out = await must('ovs-vsctl', ['--format=json', '--columns=name,external_ids', 'list', 'Bridge']);
    const rows = (JSON.parse(out) as { data: [string, ['map', [string, string][]]][] }).data;
    return new Map(rows.map((r) => [r[0], r[1][1].find(([k]) => k === 'dovesnap-options')?.[1] ?? '']));
  }

  async function portOwner(iface: string): Promise<string | undefined> {
    const r = await run('ovs-vsctl', ['--timeout=10', 'port-to-br', iface]);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  before(async () => {
    await veth(v1, `${v1}p`);
    await veth(v2, `${v2}p`);
    await veth(v3, `${v3}p`);
    onCleanup(() => run('ovs-vsctl', ['--timeout=10', '--if-exists', 'del-br', throwaway]));
    // On the datapath dovesnap uses: this host may have no other.
    await ovsVsctl('add-br', throwaway, '--', 'set', 'Bridge', throwaway, `datapath_type=${hostDatapath()}`);
    await ovsVsctl('add-port', throwaway, v3);
  });

  const cases: [string, () => Record<string, string>, () => RegExp][] = [
    [
      'a VLAN field out of range',
      () => ({ 'ovs.bridge.add_ports': `${v1}/5//4095` }),
      () => new RegExp(`invalid value "${v1}/5//4095" for option ovs\\.bridge\\.add_ports: the VLAN field`),
    ],
    [
      'two untagged VLANs',
      () => ({ 'ovs.bridge.add_ports': `${v1}///20+30` }),
      () => new RegExp(`invalid value "${v1}///20\\+30" for option ovs\\.bridge\\.add_ports: .*two untagged VLANs`),
    ],
    [
      'a port number both add_ports and add_copro_ports ask for',
      () => ({ 'ovs.bridge.add_ports': `${v1}/7`, 'ovs.bridge.add_copro_ports': `${v2}/7` }),
      () =>
        new RegExp(
          `invalid value "${v2}/7" for option ovs\\.bridge\\.add_copro_ports: OpenFlow port 7 is already taken by another port of ovs\\.bridge\\.add_ports`,
        ),
    ],
    [
      'add_ports asking for the lbport',
      () => ({ 'ovs.bridge.add_ports': `${v1}/99` }),
      () =>
        new RegExp(
          `invalid value "${v1}/99" for option ovs\\.bridge\\.add_ports: OpenFlow port 99 is already taken by ovs\\.bridge\\.lbport`,
        ),
    ],
    [
      'a coprocessor interface that does not exist',
      () => ({ 'ovs.bridge.add_copro_ports': `dsq${tag}none` }),
      () =>
        new RegExp(
          `invalid value "dsq${tag}none" for option ovs\\.bridge\\.add_copro_ports: interface dsq${tag}none does not exist`,
        ),
    ],
    [
      'an interface already on another OVS bridge',
      () => ({ 'ovs.bridge.add_ports': v3 }),
      () =>
        new RegExp(
          `invalid value "${v3}" for option ovs\\.bridge\\.add_ports: interface ${v3} is already a port of Open vSwitch bridge ${throwaway}`,
        ),
    ],
    ['lbport 0', () => ({ 'ovs.bridge.lbport': '0' }), () => /invalid value "0" for option ovs\.bridge\.lbport/],
  ];

  for (const [what, opts, message] of cases) {
    it(`fails with ${what}, naming the option and the value, and leaves nothing behind`, async () => {
      const name = uniqueName('bad');
      const dpid = testDpid();
      const before = await bridges();
      const args = ['network', 'create', '-d', 'dovesnap', '-o', `ovs.bridge.dpid=${dpid}`];
      for (const [k, v] of Object.entries(opts())) args.push('-o', `${k}=${v}`);
      const r = await dockerRaw(...args, name);
      if (r.code === 0) await run(DOCKER, ['network', 'rm', name]);
      assert.notEqual(r.code, 0, 'docker network create must fail');
      assert.match(r.stderr, message());
      assert.notEqual((await run(DOCKER, ['network', 'inspect', name])).code, 0, 'Docker has no such network');
      // Other tests may make networks meanwhile: a bridge of this attempt would carry its DPID.
      const made = [...(await bridges())].filter(([b, o]) => !before.has(b) && o.includes(`"${dpid}"`)).map(([b]) => b);
      assert.deepEqual(made, [], 'no bridge made');
      assert.equal(faucetDp(name), undefined, 'no DP in FAUCET');
      assert.equal(await portOwner(v1), undefined, `${v1} is on no bridge`);
      assert.equal(await portOwner(v2), undefined, `${v2} is on no bridge`);
      assert.equal(await portOwner(v3), throwaway, `${v3} is still on ${throwaway}`);
    });
  }
});
