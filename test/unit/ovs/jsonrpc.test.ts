import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { ConnectionState, JsonRpcConnection } from '../../../src/ovs/jsonrpc.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { connectedPeer } from './wire.js';

const isDisposed = (err: unknown): boolean => isDovesnapError(err, ErrorCode.Disposed);

describe('JsonRpcConnection', () => {
  it('sends JSON-RPC 1.0 requests and correlates out-of-order responses by id', async () => {
    const [stream, peer] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    const first = rpc.request('list_dbs', []);
    const second = rpc.request('get_schema', ['Open_vSwitch']);
    const a = await peer.next();
    const b = await peer.next();
    assert.deepEqual({ method: a['method'], params: a['params'] }, { method: 'list_dbs', params: [] });
    assert.deepEqual({ method: b['method'], params: b['params'] }, { method: 'get_schema', params: ['Open_vSwitch'] });
    assert.notEqual(a['id'], b['id']);
    peer.reply(b, { name: 'Open_vSwitch' });
    peer.reply(a, ['Open_vSwitch']);
    assert.deepEqual(await first, ['Open_vSwitch']);
    assert.deepEqual(await second, { name: 'Open_vSwitch' });
    rpc.dispose();
  });

  it('rejects a request whose response carries an error, with the server text', async () => {
    const [stream, peer] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    const pending = rpc.request('transact', ['nope']);
    const request = await peer.next();
    peer.send({ id: request['id'], result: null, error: { error: 'unknown database', details: 'no database nope' } });
    await assert.rejects(
      pending,
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.Ovsdb) &&
        /transact failed: unknown database \(no database nope\)/.test(err.message),
    );
    rpc.dispose();
  });

  it("answers the server's echo with the same params and id", async () => {
    const [stream, peer] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    peer.send({ method: 'echo', params: ['ping', 1], id: 'echo' });
    assert.deepEqual(await peer.next(), { result: ['ping', 1], error: null, id: 'echo' });
    rpc.dispose();
  });

  it('answers other server requests with an error rather than silence', async () => {
    const [stream, peer] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    peer.send({ method: 'lock', params: [], id: 9 });
    const answer = await peer.next();
    assert.equal(answer['id'], 9);
    assert.notEqual(answer['error'], null);
    rpc.dispose();
  });

  it('dispatches notifications (id null) to the handler of their method', async () => {
    const [stream, peer] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    const seen: unknown[] = [];
    const delivered = new Promise<void>((resolve) =>
      rpc.onNotification('update', (params) => {
        seen.push(params);
        resolve();
      }),
    );
    peer.send({ method: 'other', params: [0], id: null });
    peer.send({ method: 'update', params: ['m1', {}], id: null });
    await delivered;
    assert.deepEqual(seen, [['m1', {}]]);
    rpc.dispose();
  });

  it('dispose() rejects every pending request with Disposed and refuses new ones', async () => {
    const [stream, peer] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    const closed = new Promise<unknown>((resolve) => rpc.onClose(resolve));
    const pending = [rpc.request('transact', []), rpc.request('monitor', [])];
    await peer.next();
    rpc.dispose();
    assert.equal(rpc.state, ConnectionState.Closed);
    for (const p of pending) await assert.rejects(p, isDisposed);
    await assert.rejects(rpc.request('list_dbs', []), isDisposed);
    assert.equal(await closed, undefined);
  });

  it('rejects pending requests with Disposed when the peer closes the stream', async () => {
    const [stream, peer] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    const pending = rpc.request('transact', []);
    const closed = new Promise<unknown>((resolve) => rpc.onClose(resolve));
    await peer.next();
    peer.end();
    await assert.rejects(pending, isDisposed);
    await closed;
    assert.equal(rpc.state, ConnectionState.Closed);
  });

  it('closes with a cause when the peer sends something that is not JSON', async () => {
    const [stream, peer] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    const pending = rpc.request('list_dbs', []);
    const closed = new Promise<unknown>((resolve) => rpc.onClose(resolve));
    await peer.next();
    peer.sendRaw('{"id":1,"result":[nonsense]}');
    const cause = await closed;
    assert.ok(isDovesnapError(cause, ErrorCode.Ovsdb));
    await assert.rejects(pending, (err: unknown) => isDisposed(err) && /invalid JSON/.test((err as Error).message));
  });

  it('onClose after close still fires', async () => {
    const [stream] = connectedPeer();
    const rpc = new JsonRpcConnection(stream);
    rpc.dispose();
    await new Promise<unknown>((resolve) => rpc.onClose(resolve));
    await once(stream, 'close');
  });
});
