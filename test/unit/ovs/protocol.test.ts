import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeOptionalInteger,
  decodeOptionalString,
  decodeSet,
  decodeIntegerMap,
  decodeStringMap,
  decodeStringSet,
  decodeTableUpdates,
  decodeTransactResults,
  decodeUuid,
  decodeUuidSet,
  eq,
  mapOf,
  namedUuid,
  Op,
  optional,
  setOf,
  uuid,
} from '../../../src/ovs/protocol.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

const malformed = (err: unknown): boolean =>
  isDovesnapError(err, ErrorCode.Ovsdb) && /malformed OVSDB data/.test((err as Error).message);

describe('OVSDB value encoding', () => {
  it('builds the RFC 7047 JSON forms', () => {
    assert.deepEqual(uuid('0f0e'), ['uuid', '0f0e']);
    assert.deepEqual(namedUuid('br'), ['named-uuid', 'br']);
    assert.deepEqual(setOf(['OpenFlow13', 'OpenFlow14']), ['set', ['OpenFlow13', 'OpenFlow14']]);
    assert.deepEqual(setOf([]), ['set', []]);
    assert.deepEqual(mapOf({ 'datapath-id': '0000000000000099', a: '' }), [
      'map',
      [
        ['datapath-id', '0000000000000099'],
        ['a', ''],
      ],
    ]);
    assert.deepEqual(optional(undefined), ['set', []]);
    assert.deepEqual(optional(5), 5);
  });

  it('builds operations as plain JSON objects', () => {
    assert.deepEqual(
      JSON.parse(
        JSON.stringify([
          Op.insert('Port', { name: 'p', interfaces: namedUuid('i') }, 'port'),
          Op.insert('Controller', { target: 'tcp:127.0.0.1:6653' }),
          Op.select('Bridge', [eq('name', 'br0')], ['_uuid']),
          Op.wait('Bridge', [eq('name', 'br0')], ['name'], '==', []),
          Op.mutate('Open_vSwitch', [], [['bridges', 'delete', setOf([uuid('u')])]]),
          Op.delete('Controller', []),
          Op.comment('why'),
          Op.abort(),
        ]),
      ),
      [
        { op: 'insert', table: 'Port', row: { name: 'p', interfaces: ['named-uuid', 'i'] }, 'uuid-name': 'port' },
        { op: 'insert', table: 'Controller', row: { target: 'tcp:127.0.0.1:6653' } },
        { op: 'select', table: 'Bridge', where: [['name', '==', 'br0']], columns: ['_uuid'] },
        {
          op: 'wait',
          table: 'Bridge',
          where: [['name', '==', 'br0']],
          columns: ['name'],
          until: '==',
          rows: [],
          timeout: 0,
        },
        {
          op: 'mutate',
          table: 'Open_vSwitch',
          where: [],
          mutations: [['bridges', 'delete', ['set', [['uuid', 'u']]]]],
        },
        { op: 'delete', table: 'Controller', where: [] },
        { op: 'comment', comment: 'why' },
        { op: 'abort' },
      ],
    );
  });
});

describe('OVSDB value decoding', () => {
  it('reads a one-element set sent as the bare atom', () => {
    assert.deepEqual(decodeSet('secure'), ['secure']);
    assert.deepEqual(decodeStringSet('OpenFlow13'), ['OpenFlow13']);
    assert.deepEqual(decodeUuidSet(['uuid', 'a-b']), ['a-b']);
    assert.equal(decodeOptionalString('secure'), 'secure');
    assert.equal(decodeOptionalInteger(5), 5);
  });

  it('reads the empty set as no value', () => {
    assert.deepEqual(decodeSet(['set', []]), []);
    assert.equal(decodeOptionalString(['set', []]), undefined);
    assert.equal(decodeOptionalInteger(['set', []]), undefined);
  });

  it('reads sets and maps', () => {
    assert.deepEqual(
      decodeUuidSet([
        'set',
        [
          ['uuid', 'a'],
          ['uuid', 'b'],
        ],
      ]),
      ['a', 'b'],
    );
    assert.deepEqual(
      decodeStringMap([
        'map',
        [
          ['k', 'v'],
          ['x', ''],
        ],
      ]),
      { k: 'v', x: '' },
    );
    assert.deepEqual(decodeStringMap(['map', []]), {});
    assert.deepEqual(
      decodeIntegerMap([
        'map',
        [
          ['rx_bytes', 1500],
          ['tx_dropped', 0],
        ],
      ]),
      { rx_bytes: 1500, tx_dropped: 0 },
    );
    assert.throws(() => decodeIntegerMap(['map', [['rx_bytes', '1500']]]), /string:integer map entry/);
    assert.throws(() => decodeIntegerMap(['map', [['rx_bytes', 1.5]]]), /string:integer map entry/);
    assert.equal(decodeUuid(['uuid', '36bd']), '36bd');
  });

  it('rejects shapes the schema does not allow', () => {
    assert.throws(() => decodeUuid('36bd'), malformed);
    assert.throws(() => decodeStringMap(['set', []]), malformed);
    assert.throws(() => decodeStringMap(['map', [['k', 1]]]), malformed);
    assert.throws(() => decodeOptionalInteger(['set', [1, 2]]), malformed);
    assert.throws(() => decodeOptionalInteger('1'), malformed);
    assert.throws(() => decodeSet(['map', []]), malformed);
  });

  it('reads monitor table updates', () => {
    const updates = decodeTableUpdates({
      Interface: { u1: { new: { name: 'p', ofport: 3 } }, u2: { old: { name: 'q' } } },
    });
    assert.deepEqual(updates, { Interface: { u1: { new: { name: 'p', ofport: 3 } }, u2: { old: { name: 'q' } } } });
    assert.throws(() => decodeTableUpdates({ Interface: { u1: { new: 3 } } }), malformed);
  });
});

describe('decodeTransactResults', () => {
  const ops = [
    Op.insert('Interface', { name: 'p' }, 'i'),
    Op.select('Bridge', [], ['name']),
    Op.mutate('Bridge', [], []),
    Op.comment('c'),
  ] as const;

  it('decodes each result by the kind of its operation', () => {
    const outcome = decodeTransactResults(ops, [
      { uuid: ['uuid', 'u'] },
      { rows: [{ name: 'br0' }] },
      { count: 1 },
      {},
    ]);
    assert.deepEqual(outcome, { ok: true, results: [{ uuid: 'u' }, { rows: [{ name: 'br0' }] }, { count: 1 }, {}] });
  });

  it("reports the failing operation, with OVSDB's error and details", () => {
    const outcome = decodeTransactResults(ops, [
      { uuid: ['uuid', 'u'] },
      { error: 'timed out', details: 'where clause test failed' },
      null,
      null,
    ]);
    assert.deepEqual(outcome, {
      ok: false,
      failure: { index: 1, error: 'timed out', details: 'where clause test failed' },
    });
  });

  it('reports a commit failure as the entry after the last operation', () => {
    const outcome = decodeTransactResults(ops, [
      { uuid: ['uuid', 'u'] },
      { rows: [] },
      { count: 0 },
      {},
      { error: 'referential integrity violation' },
    ]);
    assert.deepEqual(outcome, {
      ok: false,
      failure: { index: 4, error: 'referential integrity violation', details: undefined },
    });
  });

  it('rejects results that do not match their operations', () => {
    assert.throws(() => decodeTransactResults(ops, [{ uuid: 'u' }, { rows: [] }, { count: 0 }, {}]), malformed);
    assert.throws(() => decodeTransactResults(ops, [{ uuid: ['uuid', 'u'] }]), malformed);
    assert.throws(() => decodeTransactResults(ops, 'nope'), malformed);
  });
});
