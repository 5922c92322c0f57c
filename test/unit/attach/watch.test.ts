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
import { FakeEngine } from '../../fakes/fake-engine.js';

/** A running container's dhcpcd attachment on br1, as attach records it. */
function dhcpcdRecord(containerId: string): AttachmentRecord {
  const key = `${containerId.slice(0, 12)}_eth1`;
  return {
    version: 1,
    key,
    guest: { containerId, name: 'web', pid: 4242 },
    argv: ['br1', 'web', 'dhcpcd'],
    spec: { hostIf: { name: 'br1' }, containerIf: 'eth1', localIf: undefined, guest: 'web', address: { kind: 'dhcp', client: 'dhcpcd', method: 'dhcpcd', foreground: false, options: [] }, mac: undefined, vlan: undefined, directPhys: false, persist: false },
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
      vswitch: { listBridges: async () => [], deletePort: async () => undefined },
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

  const port = (name: string, key: string): PortState => ({ name, uuid: `u-${name}`, ofport: 1, ofportRequest: undefined, type: '', error: undefined, externalIds: { [ATTACH_EXT_ID]: key } });
  const bridge = (ports: PortState[]): BridgeState => ({ name: 'ovsbr-t', uuid: 'u-br', datapathType: 'netdev', dpid: undefined, controllers: [], failMode: undefined, externalIds: {}, ports });

  it('keeps a port an attach recorded and made while the sweep was waiting for the OVS listing (an OVSDB reconnect)', async () => {
    const store = new AttachmentStore(path.join(base, 'records'));
    const engine = new FakeEngine();
    let listed!: () => void;
    const listingAsked = new Promise<void>((resolve) => (listed = resolve));
    let answer!: (bridges: BridgeState[]) => void;
    const deleted: string[] = [];
    const watcher = new AttachWatcher({
      engine,
      store,
      dhcpDir: path.join(base, 'dhcp'),
      userspace: true,
      vswitch: {
        listBridges: () => {
          listed();
          return new Promise<BridgeState[]>((resolve) => (answer = resolve));
        },
        deletePort: async (_bridge, name) => {
          deleted.push(name);
        },
      },
      logger: silentLogger(),
    });
    const sweep = (watcher as unknown as { sweep(why: string): Promise<void> }).sweep('test');
    await listingAsked;
    // Meanwhile attach records its attachment, then makes the port; the listing, answered now, has it.
    const made = dhcpcdRecord('e'.repeat(64));
    store.put(made);
    answer([bridge([port('vnotonhost0', made.key), port('vnotonhost1', 'ffffffffffff_eth1')])]);
    await sweep;
    assert.deepEqual(deleted, ['vnotonhost1'], 'only the port with no record goes');
  });
});
