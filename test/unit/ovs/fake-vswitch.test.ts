import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { formatDatapathId, mergeChanges, type BridgeSpec } from '../../../src/ovs/vswitch.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

const bridge: BridgeSpec = {
  name: 'br0',
  datapathType: 'netdev',
  dpid: 1n,
  controllers: [],
  failMode: 'secure',
  externalIds: {},
};

describe('FakeVSwitch', () => {
  it('assigns ofportRequest when free, else the lowest free number, as ovs-vswitchd does', async () => {
    const vs = new FakeVSwitch();
    await vs.ensureBridge(bridge);
    await vs.addPort({ bridge: 'br0', name: 'a', ofportRequest: 2, externalIds: {} });
    await vs.addPort({ bridge: 'br0', name: 'b', ofportRequest: 2, externalIds: {} });
    await vs.addPort({ bridge: 'br0', name: 'c', externalIds: {} });
    assert.deepEqual(
      [await vs.waitOfport('a', 10), await vs.waitOfport('b', 10), await vs.waitOfport('c', 10)],
      [2, 1, 3],
    );
    // Renumbered when the request changes to a free number.
    await vs.addPort({ bridge: 'br0', name: 'c', ofportRequest: 7, externalIds: {} });
    assert.equal(await vs.waitOfport('c', 10), 7);
  });

  it('numbers ports per bridge', async () => {
    const vs = new FakeVSwitch();
    await vs.ensureBridge(bridge);
    await vs.ensureBridge({ ...bridge, name: 'br1', dpid: 2n });
    await vs.addPort({ bridge: 'br0', name: 'a', externalIds: {} });
    await vs.addPort({ bridge: 'br1', name: 'b', externalIds: {} });
    assert.deepEqual([await vs.waitOfport('a', 10), await vs.waitOfport('b', 10)], [1, 1]);
  });

  it('fails the next call of a method once, changing nothing, for rollback tests', async () => {
    const vs = new FakeVSwitch();
    await vs.ensureBridge(bridge);
    vs.failNext('addPort');
    await assert.rejects(vs.addPort({ bridge: 'br0', name: 'a', externalIds: {} }), (err: unknown) =>
      isDovesnapError(err, ErrorCode.Ovsdb),
    );
    assert.deepEqual((await vs.getBridge('br0'))?.ports, []);
    await vs.addPort({ bridge: 'br0', name: 'a', externalIds: {} });
    assert.equal((await vs.getBridge('br0'))?.ports.length, 1);
    const custom = new Error('boom');
    vs.failNext('deleteBridge', custom);
    await assert.rejects(vs.deleteBridge('br0'), custom);
    assert.equal(vs.calls.get('deleteBridge'), 1);
  });

  it('writes external ids on both Port and Interface', async () => {
    const vs = new FakeVSwitch();
    await vs.ensureBridge(bridge);
    await vs.addPort({ bridge: 'br0', name: 'a', externalIds: { x: '1' } });
    await vs.setPortExternalIds('a', { y: '2' });
    assert.deepEqual(vs.inspectPort('a'), {
      externalIds: { x: '1', y: '2' },
      interfaceExternalIds: { x: '1', y: '2' },
      mtu: undefined,
    });
  });

  it('rejects everything after close() with Disposed', async () => {
    const vs = new FakeVSwitch();
    vs.close();
    await assert.rejects(vs.listBridges(), (err: unknown) => isDovesnapError(err, ErrorCode.Disposed));
    await assert.rejects(vs.waitOfport('a', 10), (err: unknown) => isDovesnapError(err, ErrorCode.Disposed));
  });
});

describe('vswitch helpers', () => {
  it('formats datapath ids as 16 lower-case hex digits and refuses ones vswitchd would ignore', () => {
    assert.equal(formatDatapathId(0x99n), '0000000000000099');
    assert.equal(formatDatapathId(0xabcdef0123456789n), 'abcdef0123456789');
    assert.throws(() => formatDatapathId(0n));
    assert.throws(() => formatDatapathId(1n << 64n));
  });

  it('mergeChanges treats an empty value as removal', () => {
    assert.equal(mergeChanges({ a: '1' }, { a: '1' }), false);
    assert.equal(mergeChanges({ a: '1' }, { b: '' }), false);
    assert.equal(mergeChanges({ a: '1' }, { a: '' }), true);
    assert.equal(mergeChanges({ a: '1' }, { a: '2' }), true);
    assert.equal(mergeChanges({}, {}), false);
  });
});

describe('FakeVSwitch connection', () => {
  const isOvsdb = (err: unknown): boolean => isDovesnapError(err, ErrorCode.Ovsdb);

  it('reports health and lets calls made while disconnected wait for the reconnect', async () => {
    const vs = new FakeVSwitch();
    await vs.ensureBridge(bridge);
    const seen: [boolean, number][] = [];
    vs.onHealthChange((h) => seen.push([h.connected, h.reconnects]));
    vs.simulateDisconnect('boom');
    assert.equal(vs.health().connected, false);
    assert.equal(vs.health().lastError, 'boom');
    const adding = vs.addPort({ bridge: 'br0', name: 'a', externalIds: {} });
    const reading = vs.listBridges();
    await new Promise((resolve) => setTimeout(resolve, 20));
    vs.simulateReconnect();
    await adding;
    assert.deepEqual(
      (await reading).map((b) => b.name),
      ['br0'],
    );
    assert.deepEqual(seen, [
      [false, 0],
      [true, 1],
    ]);
  });

  it('fails calls with Ovsdb after the bound, and keeps waitOfport waiting across the outage', async () => {
    const vs = new FakeVSwitch({ assignOfports: false, unavailableAfterMs: 30 });
    await vs.ensureBridge(bridge);
    await vs.addPort({ bridge: 'br0', name: 'a', externalIds: {} });
    const waiting = vs.waitOfport('a', 1000);
    vs.simulateDisconnect();
    await assert.rejects(
      vs.getBridge('br0'),
      (err: unknown) => isOvsdb(err) && /OVSDB is unavailable at/.test((err as Error).message),
    );
    vs.simulateVswitchd('a', 5);
    vs.simulateReconnect();
    assert.equal(await waiting, 5);
  });

  it('close() rejects waiting calls and waitOfport with Disposed', async () => {
    const vs = new FakeVSwitch({ assignOfports: false });
    await vs.ensureBridge(bridge);
    const waiting = vs.waitOfport('a', 1000);
    vs.simulateDisconnect();
    const reading = vs.listBridges();
    vs.close();
    const isDisposed = (err: unknown): boolean => isDovesnapError(err, ErrorCode.Disposed);
    await assert.rejects(waiting, isDisposed);
    await assert.rejects(reading, isDisposed);
  });
});
