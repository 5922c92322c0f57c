import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OvsdbClient, OvsdbTransactionError } from '../../../src/ovs/client.js';
import { eq, Op, type TableUpdates } from '../../../src/ovs/protocol.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { connectedPeer } from './wire.js';

describe('OvsdbClient.transact', () => {
  it('sends [db, ...ops] and returns typed results', async () => {
    const [stream, peer] = connectedPeer();
    const client = OvsdbClient.over(stream);
    const pending = client.transact('Open_vSwitch', [
      Op.select('Bridge', [eq('name', 'br0')], ['_uuid']),
      Op.insert('Controller', { target: 'tcp:127.0.0.1:6653' }),
    ]);
    const request = await peer.next();
    assert.equal(request['method'], 'transact');
    assert.deepEqual(request['params'], [
      'Open_vSwitch',
      { op: 'select', table: 'Bridge', where: [['name', '==', 'br0']], columns: ['_uuid'] },
      { op: 'insert', table: 'Controller', row: { target: 'tcp:127.0.0.1:6653' } },
    ]);
    peer.reply(request, [{ rows: [{ _uuid: ['uuid', 'b'] }] }, { uuid: ['uuid', 'c'] }]);
    const [selected, inserted] = await pending;
    assert.deepEqual(selected.rows, [{ _uuid: ['uuid', 'b'] }]);
    assert.equal(inserted.uuid, 'c');
    client.close();
  });

  it("names the failing operation and carries OVSDB's error and details", async () => {
    const [stream, peer] = connectedPeer();
    const client = OvsdbClient.over(stream);
    const pending = client.transact('Open_vSwitch', [Op.comment('x'), Op.insert('Port', { name: 'p' })]);
    peer.reply(await peer.next(), [{}, { error: 'constraint violation', details: 'duplicate name "p"' }]);
    await assert.rejects(pending, (err: unknown) => {
      assert.ok(err instanceof OvsdbTransactionError);
      assert.equal(err.code, ErrorCode.Ovsdb);
      assert.equal(err.failure.index, 1);
      assert.equal(err.operation?.op, 'insert');
      assert.match(err.message, /operation 1 \(insert on Port\): constraint violation \(duplicate name "p"\)/);
      return true;
    });
    client.close();
  });

  it('reports a failed commit as such', async () => {
    const [stream, peer] = connectedPeer();
    const client = OvsdbClient.over(stream);
    const pending = client.transact('Open_vSwitch', [Op.insert('Port', { name: 'p' })]);
    peer.reply(await peer.next(), [
      { uuid: ['uuid', 'p'] },
      { error: 'referential integrity violation', details: 'Port p has no interfaces' },
    ]);
    await assert.rejects(
      pending,
      (err: unknown) =>
        err instanceof OvsdbTransactionError &&
        err.operation === undefined &&
        /failed at commit: referential integrity violation/.test(err.message),
    );
    client.close();
  });

  it('rejects in-flight transactions with Disposed on close()', async () => {
    const [stream, peer] = connectedPeer();
    const client = OvsdbClient.over(stream);
    const pending = client.transact('Open_vSwitch', [Op.comment('x')]);
    await peer.next();
    client.close();
    await assert.rejects(pending, (err: unknown) => isDovesnapError(err, ErrorCode.Disposed));
    assert.equal(client.isOpen, false);
  });
});

describe('OvsdbClient.monitor', () => {
  it('delivers the initial contents, then updates for that monitor only, until cancelled', async () => {
    const [stream, peer] = connectedPeer();
    const client = OvsdbClient.over(stream);
    const seen: TableUpdates[] = [];
    const pending = client.monitor('Open_vSwitch', { Interface: { columns: ['name', 'ofport'] } }, (u) => seen.push(u));
    const request = await peer.next();
    const [db, monitorId, requests] = request['params'] as [string, string, unknown];
    assert.equal(db, 'Open_vSwitch');
    assert.deepEqual(requests, { Interface: { columns: ['name', 'ofport'] } });
    // Reply and first update in one write: the update must not overtake the initial contents.
    peer.sendRaw(
      JSON.stringify({
        id: request['id'],
        result: { Interface: { u1: { new: { name: 'p', ofport: ['set', []] } } } },
        error: null,
      }) +
        JSON.stringify({
          method: 'update',
          params: [monitorId, { Interface: { u1: { new: { name: 'p', ofport: 4 } } } }],
          id: null,
        }),
    );
    const handle = await pending;
    peer.send({ method: 'update', params: ['someone-else', { Interface: {} }], id: null });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, [
      { Interface: { u1: { new: { name: 'p', ofport: ['set', []] } } } },
      { Interface: { u1: { new: { name: 'p', ofport: 4 } } } },
    ]);
    const cancelled = handle.cancel();
    const cancel = await peer.next();
    assert.deepEqual([cancel['method'], cancel['params']], ['monitor_cancel', [monitorId]]);
    peer.reply(cancel, {});
    await cancelled;
    peer.send({ method: 'update', params: [monitorId, { Interface: {} }], id: null });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(seen.length, 2);
    client.close();
  });

  it('fires onClose when the server goes away', async () => {
    const [stream, peer] = connectedPeer();
    const client = OvsdbClient.over(stream);
    const closed = new Promise<void>((resolve) => client.onClose(() => resolve()));
    peer.end();
    await closed;
    assert.equal(client.isOpen, false);
  });
});
