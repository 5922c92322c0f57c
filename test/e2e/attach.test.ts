import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { makeLan, serverLeases } from './dhcp-lan.js';
import {
  createNetwork,
  docker,
  dockerRaw,
  faucetYaml,
  must,
  onCleanup,
  ping,
  run,
  runContainer,
  status,
  STATUS_URL,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  type RunResult,
} from './harness.js';

/**
 * `dovesnap attach` / `detach` (pipework's command line) against real Linux bridges, Open
 * vSwitch bridges, a dovesnap network, and "physical" interfaces (veth pairs the test makes),
 * with traffic between containers and test hosts the test creates; and the daemon removing
 * what attach made when a container dies.
 */

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const ATTACH_DIR = process.env['DOVESNAP_ATTACH_DIR'] ?? '/var/lib/dovesnap/attach';
const ATTACH_DHCP_DIR = process.env['DOVESNAP_ATTACH_DHCP_DIR'] ?? '/run/dovesnap/attach-dhcp';
const tag = randomBytes(2).toString('hex');

const attachRaw = (...args: string[]): Promise<RunResult> => run(process.execPath, [CLI, 'attach', ...args], 60_000);
const attach = async (...args: string[]): Promise<string> => {
  const r = await attachRaw(...args);
  assert.equal(r.code, 0, `dovesnap attach ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const detach = (...args: string[]): Promise<string> => must(process.execPath, [CLI, 'detach', ...args], 60_000);

async function bare(name: string): Promise<string> {
  await runContainer(name, 'none');
  return (await docker('inspect', '-f', '{{.State.Pid}}', name)).trim();
}

async function inContainer(name: string, ...cmd: string[]): Promise<string> {
  return docker('exec', name, ...cmd);
}

/** The host's iproute2 in the container's namespace (busybox's ip has no -d). */
async function linkDetails(name: string, ifname: string): Promise<string> {
  const pid = (await docker('inspect', '-f', '{{.State.Pid}}', name)).trim();
  return must('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-d', 'link', 'show', 'dev', ifname]);
}

function records(): string[] {
  return existsSync(ATTACH_DIR) ? readdirSync(ATTACH_DIR).filter((f) => f.endsWith('.json')) : [];
}

/** Links on the host whose names pipework's scheme gives for this container's PID. */
function hostLinksOf(pid: string): string[] {
  return readdirSync('/sys/class/net').filter(
    (n) => n.endsWith(`pl${pid}`) || n.startsWith(`ph${pid}`) || n.startsWith(`du${pid}`),
  );
}

async function ovsPortsMarked(): Promise<string[]> {
  const out = await must('ovs-vsctl', ['--format=csv', '--no-headings', '--columns=name,external_ids', 'list', 'Port']);
  return out
    .split('\n')
    .filter((l) => l.includes('dovesnap-attach='))
    .map((l) => l.split(',')[0] ?? '');
}

/** DOCKER-USER rules attach made for these bridges. */
async function attachRules(...bridges: string[]): Promise<string> {
  return (await run('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout
    .split('\n')
    .filter((l) => bridges.some((b) => l.includes(`dovesnap-attach ${b}"`)))
    .join('\n');
}

async function tcp(from: string, ip: string, server: string, port: number): Promise<string | undefined> {
  await docker('exec', '-d', server, 'sh', '-c', `echo tcp-from-${server} | nc -l -p ${port}`);
  await new Promise((r) => setTimeout(r, 300));
  const r = await dockerRaw('exec', from, 'timeout', '5', 'nc', ip, String(port));
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** A veth pair standing for a physical NIC: one end on the host, the other in a test namespace. */
async function fakeNic(name: string): Promise<{ ns: string; peer: string }> {
  const ns = `dsns-att${tag}-${name}`.slice(0, 30);
  const peer = `${name}p`;
  onCleanup(async () => {
    await run('ip', ['netns', 'del', ns]);
    await run('ip', ['link', 'del', name]);
  });
  await must('ip', ['netns', 'add', ns]);
  await must('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', peer]);
  await must('ip', ['link', 'set', peer, 'netns', ns]);
  await must('ip', ['link', 'set', name, 'up']);
  await must('ip', ['-n', ns, 'link', 'set', peer, 'up']);
  await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return { ns, peer };
}

/** A "NIC" whose far end has `.1` of a test subnet. */
async function fakeNicOnSubnet(name: string): Promise<{ ns: string; peer: string; prefix: string }> {
  const { ns, peer } = await fakeNic(name);
  const { prefix } = testSubnet();
  await must('ip', ['-n', ns, 'addr', 'add', `${prefix}.1/24`, 'dev', peer]);
  return { ns, peer, prefix };
}

/**
 * What the kernel does with a driver's NIC when the namespace holding it goes: it hands it to the
 * host under its name in there, or `dev<ifindex>` where the host has that name. A veth (standing
 * for the NIC here) is destroyed instead, so the test gives it back itself, as the container dies.
 */
async function giveBackLikeTheKernel(pid: string, ifname: string): Promise<string> {
  const ip = (...args: string[]): Promise<string> => must('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', ...args]);
  let name = ifname;
  if (existsSync(`/sys/class/net/${ifname}`)) {
    name = `dev${/^(\d+):/.exec(await ip('-o', 'link', 'show', 'dev', ifname))?.[1]}`;
    await ip('link', 'set', 'dev', ifname, 'name', name);
  }
  await ip('link', 'set', 'dev', name, 'netns', '1');
  return name;
}

/** TCP from a test namespace to a server in the container. */
async function tcpFromNs(ns: string, server: string, ip: string, port: number): Promise<string | undefined> {
  await docker('exec', '-d', server, 'sh', '-c', `echo tcp-from-${server} | nc -l -p ${port}`);
  await new Promise((r) => setTimeout(r, 300));
  const r = await run('ip', ['netns', 'exec', ns, 'timeout', '5', 'busybox', 'nc', ip, String(port)]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** Whether this kernel has 802.1Q: tries on the test's own namespace (the far end's `.42`, kept if made). */
async function kernelMakesVlans(ns: string, peer: string): Promise<boolean> {
  return (
    (await run('ip', ['-n', ns, 'link', 'add', 'link', peer, 'name', `${peer}.42`, 'type', 'vlan', 'id', '42']))
      .code === 0
  );
}

describe('dovesnap attach (pipework)', () => {
  it('Linux bridge created by name: addresses, gateway, U: MAC, ping and TCP; a re-run changes nothing; detach removes the veth, the bridge and its rule', async () => {
    const br = `brdsa${tag}`;
    const { prefix } = testSubnet();
    const a = `${uniqueName('att')}-a`;
    const b = `${uniqueName('att')}-b`;
    const pidA = await bare(a);
    await bare(b);
    onCleanup(() => run('ip', ['link', 'del', br]));
    assert.match(
      await attach(br, a, `${prefix}.2/24`),
      new RegExp(`${a} eth1: attached to ${br} \\(linux bridge\\), ${prefix}\\.2/24`),
    );
    await attach(br, b, `${prefix}.3/24@${prefix}.1`, `U:${b}`);
    assert.match(await inContainer(b, 'ip', 'route'), new RegExp(`default via ${prefix}\\.1 dev eth1`));
    const mac = (await inContainer(b, 'cat', '/sys/class/net/eth1/address')).trim();
    const md5 = (await must('sh', ['-c', `echo ${b} | md5sum`])).slice(0, 10);
    assert.equal(mac, `02:${md5.match(/../g)?.join(':')}`, "U:STRING gives pipework's MAC");
    assert.equal(
      (await inContainer(a, 'cat', '/sys/class/net/eth1/mtu')).trim(),
      readFileSync(`/sys/class/net/${br}/mtu`, 'utf8').trim(),
      "the host interface's MTU",
    );
    assert.ok(await ping(a, `${prefix}.3`), 'ping across the bridge');
    assert.equal(await tcp(a, `${prefix}.3`, b, 8091), `tcp-from-${b}`);
    assert.match(
      await attachRules(br),
      new RegExp(`-i ${br} -o ${br} .*dovesnap-attach ${br}`),
      "Docker's FORWARD DROP would drop bridged frames: one rule lets the bridge forward",
    );

    // The same again: nothing happens. A different attach of the same interface: refused.
    assert.match(await attach(br, a, `${prefix}.2/24`), /already attached .* nothing changed/);
    const idA = (await docker('inspect', '-f', '{{.Id}}', a)).trim();
    assert.match(await attach(br, idA.slice(0, 12), `${prefix}.2/24`), /already attached/, 'the same container by ID');
    assert.equal((await inContainer(a, 'ip', 'addr', 'show', 'eth1')).match(/inet /g)?.length, 1);
    const clash = await attachRaw(br, a, `${prefix}.9/24`);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /invalid value "eth1" for -i: .* already has eth1 from "dovesnap attach/);

    assert.match(await detach(a), new RegExp(`${a} eth1: detached from ${br}`));
    assert.deepEqual(hostLinksOf(pidA), []);
    assert.ok(existsSync(`/sys/class/net/${br}`), 'the bridge stays while b is on it');
    await detach(b, '-i', 'eth1');
    assert.ok(!existsSync(`/sys/class/net/${br}`), 'the bridge attach created goes with its last port');
    assert.equal(await attachRules(br), '');
    assert.notEqual(
      (await dockerRaw('exec', a, 'ip', 'link', 'show', 'eth1')).code,
      0,
      'eth1 is gone from the container',
    );
  });

  it("Open vSwitch bridge created by name with @VLAN tags: same VLAN talks, other VLAN does not; the daemon removes a dead container's port and the bridge", async () => {
    const br = `ovsdsa${tag}`;
    const { prefix } = testSubnet();
    const [a, b, c] = ['a', 'b', 'c'].map((x) => `${uniqueName('atv')}-${x}`) as [string, string, string];
    const pidA = await bare(a);
    await bare(b);
    await bare(c);
    onCleanup(() => run('ovs-vsctl', ['--if-exists', 'del-br', br]));
    await attach(br, '-i', 'eth2', a, `${prefix}.2/24`, '@20');
    await attach(br, '-i', 'eth2', b, `${prefix}.3/24`, '02:00:5e:10:00:03@20');
    await attach(br, '-i', 'eth2', c, `${prefix}.4/24`, '@30');
    const tags = await must('ovs-vsctl', ['--format=csv', '--no-headings', '--columns=name,tag', 'list', 'Port']);
    assert.match(tags, new RegExp(`veth2pl${pidA},20`));
    assert.ok(await ping(a, `${prefix}.3`), 'VLAN 20 to VLAN 20');
    assert.equal(await tcp(a, `${prefix}.3`, b, 8092), `tcp-from-${b}`);
    assert.ok(!(await ping(a, `${prefix}.4`)), 'VLAN 20 does not reach VLAN 30');
    assert.equal((await inContainer(b, 'cat', '/sys/class/net/eth2/address')).trim(), '02:00:5e:10:00:03');

    // No detach: the containers die, and the daemon removes what attach made.
    await docker('rm', '-f', a, b, c);
    await waitFor(
      "the dead containers' ports and records removed by the daemon",
      async () =>
        (await ovsPortsMarked()).length === 0 &&
        records().filter((r) => r.includes('_eth2')).length === 0 &&
        hostLinksOf(pidA).length === 0,
      15_000,
      200,
    );
    await waitFor(
      'the bridge attach created removed with its last port',
      async () => (await run('ovs-vsctl', ['br-exists', br])).code !== 0,
      10_000,
      200,
    );
  });

  it("a dovesnap network's bridge: the attached container reaches the network's containers through FAUCET, named in FAUCET's config and the status API", async () => {
    const net = uniqueName('atn');
    const { subnet, prefix } = testSubnet();
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'flat' }, ['--subnet', subnet]);
    const web = `${net}-web`;
    await runContainer(web, net);
    const webIp = (
      await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, web)
    ).trim();
    const side = `${net}-side`;
    await bare(side);
    const bridge = Object.values(await status()).find((n) => n.NetworkName === net)?.BridgeName;
    assert.ok(bridge !== undefined);
    await attach(bridge, side, `${prefix}.200/24`);
    await waitPing(side, webIp);
    assert.equal(await tcp(side, webIp, web, 8093), `tcp-from-${web}`);
    await waitFor(
      'the FAUCET entry naming the container',
      async () => faucetYaml().includes(`/${side} (dovesnap attach veth1pl`),
      30_000,
      250,
    );
    const doc = (await (await fetch(`${STATUS_URL}/networks`)).json()) as Record<
      string,
      { NetworkName: string; HostPorts: { Kind: string; OFPort: number | null }[] }
    >;
    const hostPorts = Object.values(doc).find((n) => n.NetworkName === net)?.HostPorts ?? [];
    assert.ok(
      hostPorts.some((p) => p.Kind === `attached to ${side}` && typeof p.OFPort === 'number'),
      JSON.stringify(hostPorts),
    );
    await detach(side);
    await waitFor(
      'the FAUCET entry gone',
      async () => !faucetYaml().includes(`/${side} (dovesnap attach`),
      30_000,
      250,
    );
  });

  it('a physical interface: a macvlan of it, its .VID sub-interface for @VLAN, and --direct-phys moving it in and back out', async () => {
    const nic = `dsaphy${tag}`;
    const { ns, peer, prefix } = await fakeNicOnSubnet(nic);
    const m = `${uniqueName('atp')}-m`;
    const pidM = await bare(m);
    const out = await attach(nic, m, `${prefix}.2/24`);
    assert.match(out, /\(physical\)/);
    assert.match(await linkDetails(m, 'eth1'), /macvlan mode bridge/);
    assert.ok(await ping(m, `${prefix}.1`), 'the macvlan reaches the far end of the "NIC"');

    // @VLAN: the .42 sub-interface is made on the host and the far end's VLAN 42 answers. Where
    // the kernel has no 802.1Q (this CI's has none), attach says so and leaves nothing behind.
    const { prefix: p42 } = testSubnet();
    if (await kernelMakesVlans(ns, peer)) {
      await must('ip', ['-n', ns, 'addr', 'add', `${p42}.1/24`, 'dev', `${peer}.42`]);
      await must('ip', ['-n', ns, 'link', 'set', `${peer}.42`, 'up']);
      await attach(nic, '-i', 'eth2', m, `${p42}.2/24`, '@42');
      assert.ok(existsSync(`/sys/class/net/${nic}.42`), 'the .42 sub-interface');
      assert.ok(await ping(m, `${p42}.1`), 'tagged traffic reaches VLAN 42');
    } else {
      const r = await attachRaw(nic, '-i', 'eth2', m, `${p42}.2/24`, '@42');
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /invalid value "@42" for the VLAN: this kernel cannot make the .*\.42 VLAN sub-interface \(no 802\.1Q support/,
      );
      assert.notEqual(
        (await dockerRaw('exec', m, 'ip', 'link', 'show', 'eth2')).code,
        0,
        'nothing added to the container',
      );
    }
    await detach(m);
    assert.ok(!existsSync(`/sys/class/net/${nic}.42`), 'detach removes the sub-interface it made');
    assert.deepEqual(hostLinksOf(pidM), []);

    // --direct-phys: the interface itself goes in, and comes back out on detach.
    const d = `${uniqueName('atp')}-d`;
    await bare(d);
    await attach('--direct-phys', nic, d, `${prefix}.3/24`);
    assert.ok(!existsSync(`/sys/class/net/${nic}`), 'moved out of the host');
    assert.ok(await ping(d, `${prefix}.1`));
    await detach(d);
    assert.ok(existsSync(`/sys/class/net/${nic}`), 'back on the host under its own name');
  });

  it('--direct-phys: the kernel returns the NIC as eth1 when the container dies; the daemon renames it back, and --persist moves it in again on start', async () => {
    const nic = `dsaret${tag}`;
    const { ns, prefix } = await fakeNicOnSubnet(nic);
    const r = `${uniqueName('atr')}-r`;
    const pid = await bare(r);
    await attach('--persist', '--direct-phys', nic, r, `${prefix}.2/24`);
    assert.ok(await ping(r, `${prefix}.1`));
    assert.equal(await tcpFromNs(ns, r, `${prefix}.2`, 8095), `tcp-from-${r}`);

    const returned = await giveBackLikeTheKernel(pid, 'eth1');
    await docker('kill', r);
    await waitFor(
      `${nic} back on the host under its own name`,
      async () => existsSync(`/sys/class/net/${nic}`),
      15_000,
      100,
    );
    assert.ok(!existsSync(`/sys/class/net/${returned}`), `no ${returned} left on the host`);

    await docker('start', r);
    await waitFor(
      `${r} eth1 made anew from ${nic}`,
      async () => (await dockerRaw('exec', r, 'ip', 'addr', 'show', 'eth1')).stdout.includes(`inet ${prefix}.2/24`),
      20_000,
      200,
    );
    assert.ok(!existsSync(`/sys/class/net/${nic}`), 'moved into the container again');
    assert.ok(await ping(r, `${prefix}.1`));
    assert.equal(await tcpFromNs(ns, r, `${prefix}.2`, 8096), `tcp-from-${r}`);
    await detach(r);
    assert.ok(existsSync(`/sys/class/net/${nic}`), 'detach gives it back under its own name');
  });

  it('0/0, route/rule/tc in the container, and the pipework command name', async () => {
    const g = `${uniqueName('atd')}-g`;
    await bare(g);
    const br = `brdsz${tag}`;
    onCleanup(() => run('ip', ['link', 'del', br]));
    await attach(br, '-i', 'eth5', g, '0/0');
    assert.doesNotMatch(await inContainer(g, 'ip', 'addr', 'show', 'eth5'), /inet /);
    assert.match(await inContainer(g, 'ip', 'link', 'show', 'eth5'), /UP/);
    await attach('route', g, 'add', '10.99.2.0/24', 'dev', 'eth5');
    assert.match(await inContainer(g, 'ip', 'route'), /10\.99\.2\.0\/24 dev eth5/);
    await attach('tc', g, 'qdisc', 'add', 'dev', 'eth5', 'root', 'netem', 'delay', '1ms').catch(async () =>
      attach('tc', g, 'qdisc', 'add', 'dev', 'eth5', 'root', 'pfifo'),
    );
    assert.match(await attach('tc', g, 'qdisc', 'show', 'dev', 'eth5'), /qdisc (netem|pfifo)/);
    await attach('rule', g, 'add', 'from', '10.99.1.1', 'table', '7');
    assert.match(await attach('rule', g, 'show'), /from 10\.99\.1\.1 lookup 7/);
    // `pipework`, installed by make up, is the same command.
    const pw = await run('pipework', ['--help']);
    assert.equal(pw.code, 0);
    assert.match(pw.stdout, /pipework's command line/);
    await detach(g);
    assert.ok(!existsSync(`/sys/class/net/${br}`));
  });

  it('refuses bad input and rolls back a failed attach completely', async () => {
    const g = `${uniqueName('atr')}-g`;
    const pid = await bare(g);
    const nothing = async (): Promise<void> => {
      assert.deepEqual(hostLinksOf(pid), []);
      assert.deepEqual(
        records().filter((r) => readFileSync(`${ATTACH_DIR}/${r}`, 'utf8').includes(`"${g}"`)),
        [],
      );
      assert.deepEqual(
        (await ovsPortsMarked()).filter((n) => n.endsWith(`pl${pid}`)),
        [],
      );
    };
    const noIf = await attachRaw(`eno${tag}x`, g, '10.0.0.2/24');
    assert.equal(noIf.code, 2);
    assert.match(noIf.stderr, /invalid value "eno.*" for the host interface: no such interface on this host/);
    const noGuest = await attachRaw(`brdsq${tag}`, `${g}-nosuch`, '10.0.0.2/24');
    assert.match(noGuest.stderr, /for GUEST: no running container/);
    assert.ok(!existsSync(`/sys/class/net/brdsq${tag}`), 'no bridge made for a guest that does not exist');
    const vlanOnLinux = await attachRaw(`brdsq${tag}`, g, '10.0.0.2/24', '@5');
    assert.match(vlanOnLinux.stderr, /for the VLAN: brdsq.* is a Linux bridge/);
    // The kernel refuses an all-zero MAC, after the bridge, the veth and the port are made:
    // everything made goes.
    const br = `ovsdsr${tag}`;
    onCleanup(() => run('ovs-vsctl', ['--if-exists', 'del-br', br]));
    const r = await attachRaw(br, g, '10.0.0.2/24', '00:00:00:00:00:00');
    assert.notEqual(r.code, 0, 'attach with MAC 00:00:00:00:00:00 was expected to fail');
    assert.match(r.stderr, /address/);
    assert.equal((await run('ovs-vsctl', ['br-exists', br])).code, 2, 'the bridge it created is gone');
    await nothing();
    assert.notEqual((await dockerRaw('exec', g, 'ip', 'link', 'show', 'eth1')).code, 0);
  });

  it('dhcp: a reserved address for a U: MAC, the host name sent, a pool lease released when the container dies, and no client left', async () => {
    const br = `brdsh${tag}`;
    const c = `${uniqueName('ath')}-c`;
    const mac = pipeworkMac(c);
    const lan = await makeLan(`at${tag}`, [[mac, 60]]);
    onCleanup(() => run('ip', ['link', 'del', br]));
    await must('ip', ['link', 'add', br, 'type', 'bridge']);
    await must('ip', ['link', 'set', br, 'up']);
    await must('ip', ['link', 'set', lan.port, 'master', br]);
    await bare(c);
    const out = await attach(br, c, 'dhcp', `U:${c}`);
    assert.match(out, new RegExp(`leased ${lan.prefix.replace(/\./g, '\\.')}\\.60/24`));
    assert.match(await inContainer(c, 'ip', 'addr', 'show', 'eth1'), new RegExp(`inet ${lan.prefix}\\.60/24`));
    assert.match(await inContainer(c, 'ip', 'route'), new RegExp(`default via ${lan.prefix}\\.1 dev eth1`));
    assert.ok(await ping(c, `${lan.prefix}.1`));
    const page = await dockerRaw('exec', c, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${lan.prefix}.1:8080/`);
    assert.equal(page.stdout.trim(), 'hello from the LAN server', 'TCP to the LAN server');
    await waitFor(
      'the host name in the lease table',
      async () => (await serverLeases(lan)).get(`${lan.prefix}.60`)?.host === c,
      10_000,
      200,
    );
    assert.equal(udhcpcOf(c).length, 1, 'one client, outside the container');

    // A pool lease, and the container dies without detach: the daemon stops its client, which releases.
    const d = `${uniqueName('ath')}-d`;
    await bare(d);
    const leased = /leased (\S+)\/24/.exec(await attach(br, d, 'dhcp'))?.[1];
    assert.ok(leased !== undefined, 'attach printed the leased address');
    assert.ok(leased.startsWith(`${lan.prefix}.1`), `a pool address: ${leased}`);
    assert.equal(udhcpcOf(d).length, 1);
    await docker('rm', '-f', d);
    await waitFor(
      'the client gone and the lease released',
      async () => udhcpcOf(d).length === 0 && (await serverLeases(lan)).get(leased)?.expired === true,
      20_000,
      200,
    );
    // ISC dhclient: its own files, so the host's resolv.conf is left alone; detach releases.
    const e = `${uniqueName('ath')}-e`;
    await bare(e);
    const eKey = `${(await docker('inspect', '-f', '{{.Id}}', e)).trim().slice(0, 12)}_eth1`;
    const resolvBefore = readFileSync('/etc/resolv.conf', 'utf8');
    const byDhclient = /leased (\S+)\/24/.exec(await attach(br, e, 'dhclient'))?.[1];
    assert.ok(byDhclient !== undefined, 'attach printed the address dhclient leased');
    assert.ok(byDhclient.startsWith(`${lan.prefix}.1`), `a pool address from dhclient: ${byDhclient}`);
    assert.ok(await ping(e, `${lan.prefix}.1`));
    await waitFor(
      'the host name from dhclient in the lease table',
      async () => (await serverLeases(lan)).get(byDhclient)?.host === e,
      10_000,
      200,
    );
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), resolvBefore, "the host's resolv.conf is untouched");
    assert.equal(processesWith('dhclient', eKey).length, 1);
    await detach(e);
    await waitFor(
      'the dhclient lease released and the client gone',
      async () =>
        processesWith('dhclient', eKey).length === 0 && (await serverLeases(lan)).get(byDhclient)?.expired === true,
      20_000,
      200,
    );
    // A dhclient container dying without detach: the daemon stops its client too.
    const f = `${uniqueName('ath')}-f`;
    await bare(f);
    const fKey = `${(await docker('inspect', '-f', '{{.Id}}', f)).trim().slice(0, 12)}_eth1`;
    await attach(br, f, 'dhclient');
    assert.equal(processesWith('dhclient', fKey).length, 1);
    await docker('rm', '-f', f);
    await waitFor(
      "the dead container's dhclient stopped by the daemon",
      async () =>
        processesWith('dhclient', fKey).length === 0 && !existsSync(`${ATTACH_DHCP_DIR}/${fKey}.dhclient.pid`),
      20_000,
      200,
    );

    await detach(c);
    assert.equal(udhcpcOf(c).length, 0);
    assert.ok(existsSync(`/sys/class/net/${br}`), 'a bridge attach did not create stays');
    assert.equal(await attachRules(br), '', 'the forwarding rule goes with the last attachment');
  });

  it("dhcpcd: two containers' eth1 each leased, nothing of the host touched; detach releases, a dead container's client is stopped", async () => {
    const br = `brdsc${tag}`;
    const lan = await makeLan(`ac${tag}`, []);
    onCleanup(() => run('ip', ['link', 'del', br]));
    await must('ip', ['link', 'add', br, 'type', 'bridge']);
    await must('ip', ['link', 'set', br, 'up']);
    await must('ip', ['link', 'set', lan.port, 'master', br]);
    const [g, h] = [`${uniqueName('atc')}-g`, `${uniqueName('atc')}-h`];
    await bare(g);
    await bare(h);
    const keyOf = async (c: string): Promise<string> =>
      `${(await docker('inspect', '-f', '{{.Id}}', c)).trim().slice(0, 12)}_eth1`;
    const [gKey, hKey] = [await keyOf(g), await keyOf(h)];
    // What dhcpcd run from the host would change: its compiled-in directories, resolv.conf, the host name.
    const hostState = (): string =>
      JSON.stringify({
        resolv: readFileSync('/etc/resolv.conf', 'utf8'),
        hostname: readFileSync('/proc/sys/kernel/hostname', 'utf8'),
        run: existsSync('/run/dhcpcd') ? readdirSync('/run/dhcpcd') : [],
        db: existsSync('/var/lib/dhcpcd') ? readdirSync('/var/lib/dhcpcd') : [],
      });
    const before = hostState();

    const gLease = /leased (\S+)\/24/.exec(await attach(br, g, 'dhcpcd'))?.[1];
    const hLease = /leased (\S+)\/24/.exec(await attach(br, h, 'dhcpcd:--noarp'))?.[1];
    assert.ok(gLease?.startsWith(`${lan.prefix}.1`) === true, `a pool address for ${g}: ${gLease}`);
    assert.ok(hLease?.startsWith(`${lan.prefix}.1`) === true, `a pool address for ${h}: ${hLease}`);
    assert.notEqual(gLease, hLease, 'two clients with one interface name, each its own lease');
    assert.match(
      await inContainer(g, 'ip', 'route'),
      new RegExp(`default via ${lan.prefix.replace(/\./g, '\\.')}\\.1 dev eth1`),
    );
    assert.ok(await ping(g, `${lan.prefix}.1`));
    const page = await dockerRaw('exec', h, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${lan.prefix}.1:8080/`);
    assert.equal(page.stdout.trim(), 'hello from the LAN server', 'TCP to the LAN server');
    await waitFor(
      'the host names from dhcpcd in the lease table',
      async () => {
        const leases = await serverLeases(lan);
        return leases.get(gLease ?? '')?.host === g && leases.get(hLease ?? '')?.host === h;
      },
      10_000,
      200,
    );
    assert.equal(hostState(), before, "the host's dhcpcd directories, resolv.conf and host name are untouched");
    assert.ok(dhcpcdOf(gKey).length > 0 && dhcpcdOf(hKey).length > 0, 'each client runs, in its own mount namespace');
    assert.equal(dhcpcdOf(gKey).filter((p) => dhcpcdOf(hKey).includes(p)).length, 0);

    await detach(g);
    await waitFor(
      "g's lease released, its client and mount namespace gone",
      async () =>
        dhcpcdOf(gKey).length === 0 &&
        !existsSync(`${ATTACH_DHCP_DIR}/mnt/${gKey}`) &&
        (await serverLeases(lan)).get(gLease ?? '')?.expired === true,
      20_000,
      200,
    );
    // h dies without detach: the daemon stops its client, which releases through the link it still holds.
    await docker('rm', '-f', h);
    await waitFor(
      "the dead container's dhcpcd stopped by the daemon, its lease released",
      async () =>
        dhcpcdOf(hKey).length === 0 &&
        !existsSync(`${ATTACH_DHCP_DIR}/mnt/${hKey}`) &&
        !existsSync(`${ATTACH_DHCP_DIR}/${hKey}.dhcpcd`) &&
        (await serverLeases(lan)).get(hLease ?? '')?.expired === true,
      20_000,
      200,
    );
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(gKey) && !mounts.includes(hKey), 'no mount of either client is left');
    assert.ok(!mounts.includes(` ${ATTACH_DHCP_DIR}/mnt `), 'nor the private mount that held their namespaces');
    assert.equal(hostState(), before);
    await detach(g).catch(() => undefined);
    await docker('rm', '-f', g);
  });

  it('--persist: made anew when the container restarts; without it, gone for good', async () => {
    const br = `brdsp${tag}`;
    const { prefix } = testSubnet();
    onCleanup(() => run('ip', ['link', 'del', br]));
    const p = `${uniqueName('ats')}-p`;
    const q = `${uniqueName('ats')}-q`;
    await bare(p);
    await bare(q);
    await attach('--persist', br, p, `${prefix}.2/24`);
    await attach(br, q, `${prefix}.3/24`);
    assert.ok(await ping(p, `${prefix}.3`));
    await docker('restart', '-t', '1', p, q);
    await waitFor(
      `${p} eth1 made anew`,
      async () => (await dockerRaw('exec', p, 'ip', 'addr', 'show', 'eth1')).stdout.includes(`inet ${prefix}.2/24`),
      15_000,
      200,
    );
    await waitFor(
      `${q}'s attachment forgotten`,
      async () => !records().some((r) => readFileSync(`${ATTACH_DIR}/${r}`, 'utf8').includes(`"${q}"`)),
      15_000,
      200,
    );
    assert.notEqual((await dockerRaw('exec', q, 'ip', 'link', 'show', 'eth1')).code, 0);
    // Without q, p's link still works: attach q again and talk.
    await attach(br, q, `${prefix}.3/24`);
    assert.ok(await ping(q, `${prefix}.2`), 'the re-made attachment carries traffic');
  });

  it("rebuilds the seed's three-router lab with dovesnap attach: the host reaches the inner host through two routers", async () => {
    const [n1, n2, n3] = [testSubnet().prefix, testSubnet().prefix, testSubnet().prefix];
    const [br1, br2, br3] = [1, 2, 3].map((i) => `brdl${i}${tag}`) as [string, string, string];
    for (const b of [br1, br2, br3]) onCleanup(() => run('ip', ['link', 'del', b]));
    const lab = uniqueName('lab');
    const [r1, r2, h1] = [`${lab}-r1`, `${lab}-r2`, `${lab}-h1`];
    for (const c of [r1, r2, h1]) await bare(c);
    // The seed's commands, with "pipework" replaced by "dovesnap attach".
    await attach(br1, '-i', 'eth1', r1, `${n1}.2/24@${n1}.1`);
    await attach(br2, '-i', 'eth2', r1, `${n2}.1/24`);
    await attach(br2, '-i', 'eth1', r2, `${n2}.2/24`);
    await attach(br3, '-i', 'eth2', r2, `${n3}.1/24`);
    await attach(br3, '-i', 'eth1', h1, `${n3}.2/24@${n3}.1`);
    // Static routes instead of the seed's OSPF; the routers forward.
    await attach('route', r1, 'add', `${n3}.0/24`, 'via', `${n2}.2`);
    await attach('route', r2, 'add', 'default', 'via', `${n2}.1`);
    for (const r of [r1, r2]) {
      const pid = (await docker('inspect', '-f', '{{.State.Pid}}', r)).trim();
      await must('nsenter', [`--net=/proc/${pid}/ns/net`, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    }
    // The host's side, as the seed: br1 gets an address and routes to the inner networks.
    await must('ip', ['addr', 'add', `${n1}.1/24`, 'dev', br1]);
    for (const n of [n2, n3]) {
      onCleanup(() => run('ip', ['route', 'del', `${n}.0/24`]));
      await must('ip', ['route', 'add', `${n}.0/24`, 'via', `${n1}.2`]);
    }
    await waitFor(
      'the host reaches the inner host',
      async () => (await run('busybox', ['ping', '-c', '1', '-W', '1', `${n3}.2`])).code === 0,
      15_000,
      200,
    );
    assert.ok(await ping(h1, `${n1}.1`), 'the inner host reaches the host');
    await docker('exec', '-d', h1, 'sh', '-c', 'echo hello-from-h1 | nc -l -p 8094');
    await new Promise((r) => setTimeout(r, 300));
    const r = await run('sh', ['-c', `timeout 5 busybox nc ${n3}.2 8094 </dev/null`]);
    assert.equal(r.stdout.trim(), 'hello-from-h1', 'TCP from the host to the inner host');
    const traceHops = await run('sh', ['-c', `busybox traceroute -n -q 1 -w 1 -m 4 ${n3}.2 2>&1`]);
    assert.match(traceHops.stdout, new RegExp(`${n1}\\.2[\\s\\S]*${n2}\\.2[\\s\\S]*${n3}\\.2`), 'through R1 and R2');
    // The containers die without detach: nothing of the lab stays.
    const pids = await Promise.all(
      [r1, r2, h1].map(async (c) => (await docker('inspect', '-f', '{{.State.Pid}}', c)).trim()),
    );
    await docker('rm', '-f', r1, r2, h1);
    await waitFor(
      'every veth, bridge, record and rule of the lab gone',
      async () =>
        pids.every((p) => hostLinksOf(p).length === 0) &&
        [br1, br2, br3].every((b) => !existsSync(`/sys/class/net/${b}`)) &&
        (await attachRules(br1, br2, br3)) === '',
      20_000,
      200,
    );
  });
});

/** pipework's U:STRING MAC, computed here independently of dovesnap's code. */
function pipeworkMac(text: string): string {
  const h = createHash('md5').update(`${text}\n`).digest('hex');
  return `02:${h.slice(0, 10).match(/../g)?.join(':')}`;
}

/** udhcpc processes whose command line names this container's attachment. */
function udhcpcOf(container: string): number[] {
  return processesWith('udhcpc', `hostname:${container}`);
}

/** The processes of an attachment's dhcpcd: those in the mount namespace kept for it (dhcpcd rewrites its command line). */
function dhcpcdOf(key: string): number[] {
  let own: string;
  try {
    own = `mnt:[${statSync(`${ATTACH_DHCP_DIR}/mnt/${key}`).ino}]`;
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/mnt`) === own) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Processes whose command line holds both strings. */
function processesWith(program: string, text: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (cmd.includes(program) && cmd.includes(text)) out.push(Number(pid));
  }
  return out;
}
