import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OvsdbReplica, REPLICA_MONITOR } from '../../../src/ovs/replica.js';
import { bridgeSnapshot, rows, snapshotUuids } from './mini-server.js';

describe('OvsdbReplica', () => {
  it('monitors only the tables and columns the VSwitch reads', () => {
    assert.deepEqual(Object.keys(REPLICA_MONITOR).sort(), [
      'Bridge',
      'Controller',
      'Interface',
      'Open_vSwitch',
      'Port',
    ]);
    assert.deepEqual(REPLICA_MONITOR['Interface']?.columns, [
      'name',
      'type',
      'ofport',
      'ofport_request',
      'mtu_request',
      'error',
      'external_ids',
    ]);
  });

  it('finds a name after one update deletes a row and inserts another of that name, in either order', () => {
    for (const order of ['delete-first', 'insert-first'] as const) {
      const replica = new OvsdbReplica();
      replica.reset(bridgeSnapshot([{ name: 'p1', ofport: 1 }]));
      const old = snapshotUuids(0).iface;
      const fresh = '00000000-0000-0000-0000-00000000ffff';
      const changes =
        order === 'delete-first'
          ? { [old]: {}, [fresh]: { new: rows.iface('p1', 7) } }
          : { [fresh]: { new: rows.iface('p1', 7) }, [old]: {} };
      replica.apply({ Interface: changes });
      assert.equal(replica.iface('p1')?.uuid, fresh, order);
      assert.equal(replica.iface('p1')?.ofport, 7, order);
    }
  });

  it('changes nothing when an update is malformed', () => {
    const replica = new OvsdbReplica();
    replica.reset(bridgeSnapshot([{ name: 'p1', ofport: 1 }]));
    let notified = 0;
    replica.onChange(() => notified++);
    const { iface } = snapshotUuids(0);
    assert.throws(() =>
      replica.apply({
        Interface: { [iface]: { new: rows.iface('p1', 5) }, other: { new: { name: 'x', ofport: 'not a number' } } },
      }),
    );
    assert.equal(replica.iface('p1')?.ofport, 1);
    assert.equal(notified, 0);
  });

  it('forgets every row on reset that the new snapshot does not list', () => {
    const replica = new OvsdbReplica();
    replica.reset(bridgeSnapshot([{ name: 'p1' }, { name: 'p2' }]));
    replica.reset(bridgeSnapshot([]));
    assert.equal(replica.port('p1'), undefined);
    assert.equal(replica.iface('p2'), undefined);
    assert.deepEqual(replica.bridgeState('br0')?.ports, []);
    assert.equal(replica.hasRootRow(), true);
  });
});
