import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openVSwitch, type VSwitch } from '../../../src/ovs/vswitch.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { bridgeSnapshot, eventually, MiniOvsdbServer, rows, snapshotUuids } from './mini-server.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function open(server: MiniOvsdbServer, unavailableAfterMs = 2000): Promise<VSwitch> {
  return openVSwitch('mem.sock', undefined, {
    connect: server.connect,
    initialBackoffMs: 5,
    maxBackoffMs: 20,
    unavailableAfterMs,
  });
}

/** The ops of a transact request, for assertions. */
function opsOf(message: Record<string, unknown>): { op: string; table?: string }[] {
  const [, ...ops] = message['params'] as [string, ...{ op: string; table?: string }[]];
  return ops;
}

describe('OvsdbVSwitch over its replica', () => {
  it('answers reads from the replica without a round trip, and monitors only the columns it reads', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([{ name: 'p1', ofport: 3 }]);
    const vs = await open(server);
    const bridges = await vs.listBridges();
    assert.deepEqual(
      bridges.map((b) => [b.name, b.ports.map((p) => [p.name, p.ofport])]),
      [['br0', [['p1', 3]]]],
    );
    assert.equal((await vs.getBridge('br0'))?.dpid, '0000000000000001');
    assert.equal(await vs.getBridge('nope'), undefined);
    await tick();
    assert.equal(server.pending, 0, 'a read sent a request');
    assert.equal(server.monitors.size, 1);
    vs.close();
  });

  it('applies update notifications and wakes waitOfport without a monitor of its own', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([{ name: 'p1' }]);
    const vs = await open(server);
    const waiting = vs.waitOfport('p1', 2000);
    await tick();
    server.notify({ Interface: { [snapshotUuids(0).iface]: { new: rows.iface('p1', 9) } } });
    assert.equal(await waiting, 9);
    assert.equal((await vs.getBridge('br0'))?.ports[0]?.ofport, 9);
    assert.equal(server.monitors.size, 1);
    assert.equal(server.pending, 0);
    vs.close();
  });

  it('after a reconnect, replaces the replica with the new snapshot: rows that vanished are gone', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([{ name: 'p1' }, { name: 'p2' }]);
    const vs = await open(server);
    server.refuse = true;
    server.drop();
    await eventually(() => !vs.health().connected, 'the loss to be noticed');
    // A read during the outage waits for the new snapshot rather than answering from the old one.
    const reading = vs.getBridge('br0');
    server.snapshot = bridgeSnapshot([{ name: 'p2' }]);
    server.refuse = false;
    assert.deepEqual(
      (await reading)?.ports.map((p) => p.name),
      ['p2'],
    );
    assert.equal(vs.health().reconnects, 1);
    vs.close();
  });

  it('keeps a waitOfport started before the outage, and resolves it from the new snapshot', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([{ name: 'p1' }]);
    const vs = await open(server);
    const waiting = vs.waitOfport('p1', 2000);
    server.refuse = true;
    server.drop();
    await eventually(() => !vs.health().connected, 'the loss to be noticed');
    await new Promise((resolve) => setTimeout(resolve, 30));
    server.snapshot = bridgeSnapshot([{ name: 'p1', ofport: 6 }]);
    server.refuse = false;
    assert.equal(await waiting, 6);
    vs.close();
  });

  it('fails a waitOfport whose interface is gone from the new snapshot', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([{ name: 'p1' }]);
    const vs = await open(server);
    const waiting = assert.rejects(
      vs.waitOfport('p1', 2000),
      (err: unknown) => isDovesnapError(err, ErrorCode.Ovsdb) && /was removed/.test(err.message),
    );
    server.snapshot = bridgeSnapshot([]);
    server.drop();
    await waiting;
    vs.close();
  });

  it('re-runs a write whose connection dropped against the new replica instead of resending it', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([{ name: 'p1' }, { name: 'p2' }]);
    const vs = await open(server);

    // The delete was committed but its reply was lost: the re-run finds nothing to do.
    const deleting = vs.deletePort('br0', 'p1');
    const first = await server.next();
    assert.deepEqual(
      opsOf(first.message).map((o) => o.op),
      ['comment', 'mutate'],
    );
    server.snapshot = bridgeSnapshot([{ name: 'p2' }]);
    server.drop();
    await deleting;
    await tick();
    assert.equal(server.pending, 0, 'the write was sent again');

    // This one was not committed: the re-run sends it again, on the new connection.
    const deleting2 = vs.deletePort('br0', 'p2');
    const lost = await server.next();
    server.drop();
    const resent = await server.next();
    assert.notEqual(resent.peer, lost.peer);
    assert.deepEqual(opsOf(resent.message), opsOf(lost.message));
    const { port, iface } = snapshotUuids(0);
    server.notify({
      Bridge: {
        '00000000-0000-0000-0000-000000000400': { new: rows.bridge('br0', ['00000000-0000-0000-0000-000000000300']) },
      },
      Port: { [port]: {} },
      Interface: { [iface]: {} },
    });
    resent.peer.reply(resent.message, [{}, { count: 1 }]);
    await deleting2;
    assert.deepEqual((await vs.getBridge('br0'))?.ports, []);
    vs.close();
  });

  it('fails a call with Ovsdb naming the socket when OVSDB stays down past the bound', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([]);
    const vs = await open(server, 50);
    server.refuse = true;
    server.drop();
    await assert.rejects(
      vs.addPort({ bridge: 'br0', name: 'p1', externalIds: {} }),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.Ovsdb) && err.message.startsWith('OVSDB is unavailable at mem.sock'),
    );
    await assert.rejects(vs.listBridges(), (err: unknown) => isDovesnapError(err, ErrorCode.Ovsdb));
    vs.close();
  });

  it('close() during an outage rejects waiting calls and waitOfport with Disposed', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([{ name: 'p1' }]);
    const vs = await open(server);
    const waitingOfport = vs.waitOfport('p1', 5000);
    server.refuse = true;
    server.drop();
    await eventually(() => !vs.health().connected, 'the loss to be noticed');
    const reading = vs.listBridges();
    vs.close();
    const isDisposed = (err: unknown): boolean => isDovesnapError(err, ErrorCode.Disposed);
    await assert.rejects(waitingOfport, isDisposed);
    await assert.rejects(reading, isDisposed);
    await assert.rejects(vs.waitOfport('p1', 10), isDisposed);
    await assert.rejects(vs.deleteBridge('br0'), isDisposed);
  });

  it('resynchronises from a fresh snapshot when an update cannot be decoded', async () => {
    const server = new MiniOvsdbServer();
    server.snapshot = bridgeSnapshot([{ name: 'p1' }]);
    const vs = await open(server);
    server.snapshot = bridgeSnapshot([{ name: 'p1', ofport: 2 }]);
    server.notify({ Interface: { [snapshotUuids(0).iface]: { new: { name: 42 } } } });
    await eventually(() => vs.health().reconnects === 1, 'the resynchronising reconnect');
    assert.equal((await vs.getBridge('br0'))?.ports[0]?.ofport, 2);
    vs.close();
  });
});
