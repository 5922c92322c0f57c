import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { attach, removeResources } from '../../../src/attach/apply.js';
import type { HostIfPlan } from '../../../src/attach/host-if.js';
import {
  AttachmentStore,
  type AttachGuest,
  type AttachmentRecord,
  type AttachResource,
} from '../../../src/attach/record.js';
import { parseAttachArgs, type AttachSpec } from '../../../src/attach/spec.js';
import { attachSteps, BRIDGE_MARK, runAttachSteps, type AttachStep } from '../../../src/attach/steps.js';
import { ExtId } from '../../../src/driver/persist.js';
import { FakeAttachHost } from '../../fakes/fake-attach-host.js';
import { FakeEngine } from '../../fakes/fake-engine.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';

const base = mkdtempSync(path.join(tmpdir(), 'dovesnap-attach-steps-'));
after(() => rmSync(base, { recursive: true, force: true }));

const ID = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
const PID = 4242;
const NETNS = `/proc/${PID}/ns/net`;
const guest: AttachGuest = { containerId: ID, name: 'web', pid: PID };
const KEY = `${ID.slice(0, 12)}_eth1`;

function specOf(...argv: string[]): AttachSpec {
  const cmd = parseAttachArgs(argv);
  assert.equal(cmd.kind, 'attach');
  return cmd.spec;
}

const ovsPlan = (create: boolean, dovesnapNetwork?: string): HostIfPlan => ({
  kind: 'ovs-bridge',
  name: create ? 'ovsdsut0' : 'dsbr0',
  create,
  userspace: true,
  dovesnapNetwork,
});

/** The steps in short: `op name…`, as the tables below read. */
function brief(steps: readonly AttachStep[]): string[] {
  return steps.map((s) => {
    switch (s.op) {
      case 'create-veth':
        return `create-veth ${s.local} ${s.peer} mtu-of=${s.mtuOf}${s.txOffloadOff ? ' tx-off' : ''}`;
      case 'add-ovs-port':
        return `add-ovs-port ${s.bridge} ${s.name} tag=${s.tag} ${JSON.stringify(s.externalIds)}`;
      case 'move-into':
        return `move-into ${s.link} ${s.pid} ${s.name} (${s.what})`;
      case 'ip-in':
        return `ip ${s.args.join(' ')}`;
      case 'default-route':
        return `default-route ${s.family} ${s.gateway}`;
      case 'announce':
        return `announce ${s.address}`;
      case 'dhcp':
        return `dhcp ${s.start.client} ${s.start.key} ${s.start.ifname} ${s.start.hostname}`;
      case 'join-linux-bridge':
        return `join-linux-bridge ${s.link} ${s.bridge}`;
      case 'ensure-vlan':
        return `ensure-vlan ${s.parent} ${s.name} ${s.id}`;
      case 'create-macvlan':
        return `create-macvlan ${s.parent} ${s.name}`;
      default:
        return `${s.op} ${s.name}`;
    }
  });
}

describe('attachSteps: what attach will do, planned from the request alone', () => {
  const steps = (spec: AttachSpec, plan: HostIfPlan): string[] =>
    brief(attachSteps({ spec, plan, guest, key: KEY, leaseWaitMs: 0 }));

  it("a dovesnap network's bridge: the @VLAN goes to FAUCET in the external ids, not as an OVS tag", () => {
    const spec = specOf('dsbr0', 'web', '10.231.99.2/24@10.231.99.1', '02:42:ac:11:00:99@30');
    assert.deepEqual(steps(spec, ovsPlan(false, 'net1')), [
      'check-name-free veth1pl4242',
      'create-veth veth1pl4242 veth1pg4242 mtu-of=dsbr0 tx-off',
      `add-ovs-port dsbr0 veth1pl4242 tag=undefined {"${ExtId.attach}":"${KEY}","${ExtId.attachContainer}":"web","${ExtId.attachVlan}":"30"}`,
      'link-up veth1pl4242',
      'move-into veth1pg4242 4242 eth1 (veth-peer)',
      'ip link set dev eth1 address 02:42:ac:11:00:99',
      'ip -4 addr add 10.231.99.2/24 dev eth1',
      'ip link set dev eth1 up',
      'default-route 4 10.231.99.1',
      'announce 10.231.99.2',
    ]);
  });

  it('an OVS bridge of its own, created: first the bridge, and the @VLAN as the port tag', () => {
    const spec = specOf('ovsdsut0', '-i', 'eth2', '-l', 'vhost9', 'web', 'dhcp', '@7');
    assert.deepEqual(steps(spec, ovsPlan(true)), [
      'create-ovs-bridge ovsdsut0',
      'check-name-free vhost9',
      'create-veth vhost9 veth2pg4242 mtu-of=ovsdsut0 tx-off',
      `add-ovs-port ovsdsut0 vhost9 tag=7 {"${ExtId.attach}":"${KEY}","${ExtId.attachContainer}":"web","${ExtId.attachVlan}":"7"}`,
      'link-up vhost9',
      'move-into veth2pg4242 4242 eth2 (veth-peer)',
      'ip link set dev eth2 up',
      `dhcp udhcpc ${KEY} eth2 web`,
    ]);
  });

  it('a Linux bridge, created: joined, with its FORWARD rule; IPv6 is not announced', () => {
    const spec = specOf('brdsut0', 'web', '2001:db8::2/64');
    assert.deepEqual(steps(spec, { kind: 'linux-bridge', name: 'brdsut0', create: true }), [
      'create-linux-bridge brdsut0',
      'check-name-free veth1pl4242',
      'create-veth veth1pl4242 veth1pg4242 mtu-of=brdsut0',
      'join-linux-bridge veth1pl4242 brdsut0',
      'link-up veth1pl4242',
      'move-into veth1pg4242 4242 eth1 (veth-peer)',
      'ip -6 addr add 2001:db8::2/64 dev eth1',
      'ip link set dev eth1 up',
    ]);
  });

  it('a physical interface: its .VID sub-interface, a macvlan of that, or with --direct-phys the interface itself', () => {
    const physical: HostIfPlan = { kind: 'physical', name: 'eno9' };
    assert.deepEqual(steps(specOf('eno9', 'web', '0/0', '@5'), physical), [
      'ensure-vlan eno9 eno9.5 5',
      'link-up eno9',
      'create-macvlan eno9.5 ph4242eth1',
      'link-up eno9.5',
      'move-into ph4242eth1 4242 eth1 (link)',
      'ip link set dev eth1 up',
    ]);
    assert.deepEqual(steps(specOf('--direct-phys', 'eno9', 'web', '0/0'), physical), [
      'move-into eno9 4242 eth1 (nic)',
      'ip link set dev eth1 up',
    ]);
  });

  it('a dummy: made on the host, moved in', () => {
    assert.deepEqual(steps(specOf('dummydsut', 'web', '0/0'), { kind: 'dummy', name: 'dummydsut' }), [
      'create-dummy ph4242eth1',
      'move-into ph4242eth1 4242 eth1 (link)',
      'ip link set dev eth1 up',
    ]);
  });
});

interface World {
  readonly host: FakeAttachHost;
  readonly vswitch: FakeVSwitch;
  readonly store: AttachmentStore;
  readonly engine: FakeEngine;
}

let worlds = 0;

async function world(): Promise<World> {
  const vswitch = new FakeVSwitch();
  await vswitch.ensureBridge({
    name: 'dsbr0',
    datapathType: 'netdev',
    dpid: 0x231n,
    controllers: [],
    failMode: 'secure',
    externalIds: { [ExtId.networkId]: 'net1' },
  });
  const engine = new FakeEngine();
  // By name too: GUEST is given as `web`.
  for (const ref of [ID, 'web'])
    engine.containers.set(ref, { Id: ID, Name: '/web', State: { Pid: PID, Running: true } });
  return {
    host: new FakeAttachHost(vswitch),
    vswitch,
    store: new AttachmentStore(path.join(base, `w${++worlds}`)),
    engine,
  };
}

function run(w: World, argv: readonly string[]) {
  return attach(
    { engine: w.engine, store: w.store, dhcpDir: base, userspace: true, vswitch: w.host.vswitch, host: w.host },
    specOf(...argv),
    argv,
  );
}

/** Nothing of attach is left: no link, port (so no FAUCET entry), bridge, rule, client or record. */
async function assertClean(w: World, what: string): Promise<void> {
  assert.deepEqual([...w.host.links.keys()], [], `${what}: host links`);
  assert.deepEqual(
    [...w.host.guests.values()].flatMap((l) => [...l.keys()]),
    [],
    `${what}: links in the container`,
  );
  assert.deepEqual(
    (await w.vswitch.listBridges()).map((b) => `${b.name}: ${b.ports.map((p) => p.name).join(' ')}`),
    ['dsbr0: '],
    `${what}: OVS bridges and ports`,
  );
  assert.deepEqual([...w.host.bridged], [], `${what}: FORWARD rules`);
  assert.deepEqual([...w.host.dhcp], [], `${what}: DHCP clients`);
  assert.deepEqual(w.store.all(), [], `${what}: records`);
}

/**
 * Breaks each change attach makes in turn (OVSDB writes included): every failure must leave
 * nothing behind. Then the attach that breaks nothing must succeed; returns how many broke.
 */
async function everyFailureUndone(argv: readonly string[]): Promise<number> {
  for (let n = 1; ; n++) {
    const w = await world();
    w.host.failAtCall(n);
    try {
      await run(w, argv);
    } catch (err) {
      assert.match(String(err), /injected failure/, `failure ${n}`);
      await assertClean(w, `${argv.join(' ')}, change ${n} (${w.host.log[n - 1]}) failed`);
      continue;
    }
    assert.ok(n > 1, 'something was changed');
    return n - 1;
  }
}

describe('attach runs its steps against the host: the happy path, and every failure undone', () => {
  it("a dovesnap network's bridge with DHCP: the port with attach's ids, the link in the container, the lease", async () => {
    const w = await world();
    const out = await run(w, ['dsbr0', 'web', 'dhcp', '@30']);
    assert.equal(out.leased, '10.231.99.5/24');
    const port = w.vswitch.inspectPort('veth1pl4242');
    assert.deepEqual(port?.externalIds, {
      [ExtId.attach]: KEY,
      [ExtId.attachContainer]: 'web',
      [ExtId.attachVlan]: '30',
    });
    assert.equal(port?.tag, undefined, 'FAUCET has the VLAN');
    assert.deepEqual([...(w.host.guests.get(NETNS)?.keys() ?? [])], ['eth1']);
    assert.deepEqual(out.record.resources, [
      { kind: 'host-link', name: 'veth1pl4242' },
      { kind: 'ovs-port', bridge: 'dsbr0', name: 'veth1pl4242' },
      { kind: 'dhcp-client', key: KEY, client: 'dhcp' },
    ]);
    assert.deepEqual(w.store.get(KEY)?.resources, out.record.resources);
  });

  it('an OVS bridge created by name with @VLAN: the bridge marked as attach-made, the port tagged', async () => {
    const w = await world();
    await run(w, ['ovsdsut0', 'web', '10.231.99.2/24', '@7']);
    const bridge = await w.vswitch.getBridge('ovsdsut0');
    assert.deepEqual(
      { ids: bridge?.externalIds, failMode: bridge?.failMode, dpid: bridge?.dpid, controllers: bridge?.controllers },
      { ids: { [ExtId.attachBridge]: 'true' }, failMode: undefined, dpid: undefined, controllers: [] },
    );
    assert.equal(w.vswitch.inspectPort('veth1pl4242')?.tag, 7);
  });

  it('a Linux bridge created by name: marked, joined, with its FORWARD rule', async () => {
    const w = await world();
    await run(w, ['brdsut0', 'web', '10.231.99.2/24@10.231.99.1']);
    assert.equal(w.host.aliases.get('brdsut0'), BRIDGE_MARK);
    assert.equal(w.host.masters.get('veth1pl4242'), 'brdsut0');
    assert.deepEqual([...w.host.bridged], ['brdsut0']);
  });

  for (const argv of [
    ['dsbr0', 'web', 'dhcp', '@30'],
    ['ovsdsut0', 'web', '10.231.99.2/24@10.231.99.1', '02:42:ac:11:00:99@7'],
    ['brdsut0', '-l', 'vhost9', 'web', '10.231.99.2/24@10.231.99.1'],
    ['dummydsut', 'web', '10.231.99.2/24'],
  ]) {
    it(`dovesnap attach ${argv.join(' ')}: whichever change fails, nothing is left`, async () => {
      const broken = await everyFailureUndone(argv);
      assert.ok(broken >= 4, `${broken} changes broken in turn`);
    });
  }

  /** A physical interface's steps run on their own (attach() would look for `eno9` in sysfs). */
  async function physical(n: number | undefined, ...argv: string[]) {
    const w = await world();
    w.host.hostInterfaces.add('eno9');
    const spec = specOf(...argv);
    const steps = attachSteps({ spec, plan: { kind: 'physical', name: 'eno9' }, guest, key: KEY, leaseWaitMs: 0 });
    const resources: AttachResource[] = [];
    if (n !== undefined) w.host.failAtCall(n);
    const done = await runAttachSteps(steps, { host: w.host, dhcpDir: base, resources, save: () => undefined }).then(
      () => true,
      () => false,
    );
    const record: AttachmentRecord = {
      version: 1,
      key: KEY,
      guest,
      argv,
      spec,
      hostIf: 'eno9',
      hostKind: spec.directPhys ? 'direct-physical' : 'physical',
      resources,
      createdAt: '',
    };
    return { w, done, resources, record };
  }

  it('a physical interface: whichever change fails, the removal leaves no VLAN sub-interface or macvlan', async () => {
    for (let n = 1; ; n++) {
      const { w, done, record } = await physical(n, 'eno9', 'web', '0/0', '@5');
      if (done) break;
      const deps = { dhcpDir: base, store: w.store, vswitch: w.host.vswitch, host: w.host };
      assert.deepEqual((await removeResources(deps, record, { guestGone: false })).problems, []);
      assert.deepEqual([...w.host.links.keys()], [], `change ${n} (${w.host.log[n - 1]}) failed`);
      assert.deepEqual([...(w.host.guests.get(NETNS)?.keys() ?? [])], [], `change ${n}: in the container`);
    }
  });

  it('--direct-phys: the NIC moved in is recorded, to be brought home', async () => {
    const { w, done, resources } = await physical(undefined, '--direct-phys', 'eno9', 'web', '0/0');
    assert.ok(done);
    assert.deepEqual(resources, [
      { kind: 'moved-link', hostName: 'eno9', containerIf: 'eth1', nic: await w.host.nicIdentity('eno9') },
    ]);
    assert.equal(w.host.hostInterfaces.has('eno9'), false, 'away in the container');
  });
});
