import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AttachWatcher } from '../../../src/attach/watch.js';
import { ATTACH_EXT_ID, AttachmentStore, type AttachmentRecord } from '../../../src/attach/record.js';
import type { BridgeState, PortState } from '../../../src/ovs/vswitch.js';
import { dhcpcdFiles } from '../../../src/attach/dhcpcd.js';
import { silentLogger } from '../../../src/util/log.js';
import type { EngineEvent } from '../../../src/engine/client.js';
import { deferred, FakeEngine } from '../../fakes/fake-engine.js';
import { FakeHostNics } from '../../fakes/fake-host-nics.js';
import { FakeAttachHost } from '../../fakes/fake-attach-host.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';

/** A running container's dhcpcd attachment on br1, as attach records it. */
function dhcpcdRecord(containerId: string): AttachmentRecord {
  const key = `${containerId.slice(0, 12)}_eth1`;
  return {
    version: 1,
    key,
    guest: { containerId, name: 'web', pid: 4242 },
    argv: ['br1', 'web', 'dhcpcd'],
    spec: {
      hostIf: { name: 'br1' },
      containerIf: 'eth1',
      localIf: undefined,
      guest: 'web',
      address: { kind: 'dhcp', client: 'dhcpcd', method: 'dhcpcd', foreground: false, options: [] },
      mac: undefined,
      vlan: undefined,
      directPhys: false,
      persist: false,
    },
    hostIf: 'br1',
    hostKind: 'linux-bridge',
    resources: [{ kind: 'dhcp-client', key, client: 'dhcpcd', ifname: 'eth1' }],
    createdAt: new Date().toISOString(),
  };
}

describe('attach watcher: dhcpcd clients whose record is gone', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'dovesnap-attach-watch-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  it('the sweep removes the namespace and files of a client with no record, and keeps a recorded one', async () => {
    const store = new AttachmentStore(path.join(base, 'records'));
    const dhcpDir = path.join(base, 'dhcp');
    const engine = new FakeEngine();
    engine.containers.set('c'.repeat(64), { Id: 'c'.repeat(64), Name: '/web', State: { Pid: 4242, Running: true } });
    const kept = dhcpcdRecord('c'.repeat(64));
    store.put(kept);
    // Files as a client leaves them (no process runs here: the namespace files are plain files).
    for (const key of [kept.key, 'dddddddddddd_eth1']) {
      const f = dhcpcdFiles(dhcpDir, key);
      mkdirSync(f.run, { recursive: true });
      mkdirSync(path.dirname(f.mountNs), { recursive: true });
      writeFileSync(f.mountNs, '');
      writeFileSync(f.log, 'dhcpcd-9.4.1 starting\n');
    }
    const watcher = new AttachWatcher({
      engine,
      store,
      dhcpDir,
      userspace: true,
      vswitch: new FakeVSwitch(),
      logger: silentLogger(),
    });
    await (watcher as unknown as { sweep(why: string): Promise<void> }).sweep('test');
    const orphan = dhcpcdFiles(dhcpDir, 'dddddddddddd_eth1');
    assert.equal(existsSync(orphan.mountNs), false, 'the orphan namespace file is gone');
    assert.equal(existsSync(orphan.root), false);
    assert.equal(existsSync(orphan.log), false);
    const own = dhcpcdFiles(dhcpDir, kept.key);
    assert.ok(existsSync(own.mountNs) && existsSync(own.root), "a recorded client's files stay");
  });
});

describe('attach watcher: OVS ports whose record is gone', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'dovesnap-attach-ports-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  const port = (name: string, key: string): PortState => ({
    name,
    uuid: `u-${name}`,
    ofport: 1,
    ofportRequest: undefined,
    type: '',
    error: undefined,
    externalIds: { [ATTACH_EXT_ID]: key },
  });
  const bridge = (ports: PortState[]): BridgeState => ({
    name: 'ovsbr-t',
    uuid: 'u-br',
    datapathType: 'netdev',
    dpid: undefined,
    controllers: [],
    failMode: undefined,
    externalIds: {},
    ports,
  });

  it('keeps a port an attach recorded and made while the sweep was waiting for the OVS listing (an OVSDB reconnect)', async () => {
    const store = new AttachmentStore(path.join(base, 'records'));
    const engine = new FakeEngine();
    const listingAsked = deferred();
    const listing = deferred<BridgeState[]>();
    const deleted: string[] = [];
    const watcher = new AttachWatcher({
      engine,
      store,
      dhcpDir: path.join(base, 'dhcp'),
      userspace: true,
      vswitch: Object.assign(new FakeVSwitch(), {
        listBridges: () => {
          listingAsked.resolve();
          return listing.promise;
        },
        deletePort: async (_bridge: string, name: string) => {
          deleted.push(name);
        },
      }),
      logger: silentLogger(),
    });
    const sweep = (watcher as unknown as { sweep(why: string): Promise<void> }).sweep('test');
    await listingAsked.promise;
    // Meanwhile attach records its attachment, then makes the port; the listing, answered now, has it.
    const made = dhcpcdRecord('e'.repeat(64));
    store.put(made);
    listing.resolve([bridge([port('vnotonhost0', made.key), port('vnotonhost1', 'ffffffffffff_eth1')])]);
    await sweep;
    assert.deepEqual(deleted, ['vnotonhost1'], 'only the port with no record goes');
  });
});

describe('attach watcher: a --direct-phys NIC of a dead container', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'dovesnap-attach-nic-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  const id = 'a'.repeat(64);
  const nic = { ifindex: 3, mac: '52:54:00:aa:bb:02', permAddr: '52:54:00:aa:bb:02', kind: undefined };
  const direct = (persist: boolean): AttachmentRecord => ({
    version: 1,
    key: `${id.slice(0, 12)}_eth1`,
    guest: { containerId: id, name: 'r1', pid: 4343 },
    argv: ['--direct-phys', 'eno2', 'r1', '0/0'],
    spec: {
      hostIf: { name: 'eno2' },
      containerIf: 'eth1',
      localIf: undefined,
      guest: 'r1',
      address: { kind: 'none' },
      mac: undefined,
      vlan: undefined,
      directPhys: true,
      persist,
    },
    hostIf: 'eno2',
    hostKind: 'direct-physical',
    resources: [{ kind: 'moved-link', hostName: 'eno2', containerIf: 'eth1', nic }],
    createdAt: new Date().toISOString(),
  });
  const watcherOf = (store: AttachmentStore, engine: FakeEngine, nics: FakeHostNics): AttachWatcher =>
    new AttachWatcher({
      engine,
      store,
      dhcpDir: path.join(base, 'dhcp'),
      userspace: true,
      host: new FakeAttachHost(undefined, nics),
      vswitch: new FakeVSwitch(),
      logger: silentLogger(),
    });
  const returned = { ifname: 'eth1', ifindex: 3, address: '52:54:00:aa:bb:02', permAddr: undefined, kind: undefined };

  it('on the die event: waits for the kernel to return the NIC as eth1 and renames it eno2; a --persist record is kept for the next start', async () => {
    const store = new AttachmentStore(path.join(base, 'die'));
    const engine = new FakeEngine();
    engine.containers.set(id, { Id: id, Name: '/r1', State: { Pid: 0, Running: false } });
    const nics = new FakeHostNics();
    nics.returns(returned, 2);
    store.put(direct(true));
    const watcher = watcherOf(store, engine, nics);
    (watcher as unknown as { onEvent(e: EngineEvent): void }).onEvent({
      Type: 'container',
      Action: 'die',
      Actor: { ID: id },
    });
    await watcher.settled();
    assert.deepEqual(nics.renames, [['eth1', 'eno2']]);
    assert.deepEqual(store.get(direct(true).key)?.resources, [], 'kept, with nothing made, for --persist');
  });

  it('in the sweep: a NIC not back yet keeps its record; once back (as devN), it is renamed and the record goes', async () => {
    const store = new AttachmentStore(path.join(base, 'sweep'));
    const engine = new FakeEngine();
    const nics = new FakeHostNics();
    store.put(direct(false));
    const watcher = watcherOf(store, engine, nics);
    const sweep = (): Promise<void> => (watcher as unknown as { sweep(why: string): Promise<void> }).sweep('test');
    await sweep();
    assert.deepEqual(
      store.get(direct(false).key)?.resources,
      JSON.parse(JSON.stringify(direct(false).resources)),
      'kept with the NIC (as JSON keeps it), for the next sweep',
    );
    nics.returns({ ...returned, ifname: 'dev3' });
    await sweep();
    assert.deepEqual(nics.renames, [['dev3', 'eno2']]);
    assert.equal(store.get(direct(false).key), undefined, 'the record goes with the NIC home');
  });
});
