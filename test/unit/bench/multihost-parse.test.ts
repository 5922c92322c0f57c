import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mh from '../../../bench/multihost-parse.js';
import { parseReply } from '../../../bench/ping.js';

const applied = (time: number, reason: string, ms: number, confirmed = true): string =>
  JSON.stringify({
    level: 30,
    time,
    pid: 7,
    name: 'dovesnap',
    component: 'faucet',
    reason,
    ms,
    confirmed,
    callers: 1,
    msg: 'FAUCET configuration applied',
  });

describe('bench multihost: the daemons’ FAUCET writes', () => {
  it('sorts writes by their cause, without the names in it', () => {
    const cases: [string, string][] = [
      ['container /dsb-mh-abc123-host3-r1 joined dsb-mh-abc123', 'container joined'],
      ['port dsp5a1b2c3d removed', 'port removed'],
      ['port dsq1 removed; port dsq2 removed', 'port removed'],
      ['port descriptions', 'port descriptions'],
      ['port descriptions (shutdown)', 'port descriptions'],
      ['network dsb-mh-abc123 named', 'network named'],
      ['network dsb-mh-abc123 deleted', 'network deleted'],
      ['5 ready ports added to dsb-mh-abc123', 'ready ports added'],
      ['faucet.yaml changed', 'faucet.yaml changed'],
      ['DHCP lease of endpoint 0123abcdef99', 'DHCP lease of endpoint X'],
      // One write for several causes: each kind once, in order; the ones the line left out as "…".
      ['port dsq1 removed; network n deleted', 'port removed + network deleted'],
      [
        'container /a-r2 joined n; container /a-r3 joined n; periodic check and 2 more',
        'container joined + periodic check + …',
      ],
    ];
    for (const [reason, kind] of cases) assert.equal(mh.classifyReason(reason), kind, reason);
  });

  it('reads only the applied lines of the window, skipping other lines and torn ones', () => {
    const text = [
      applied(1000, 'network n named', 40),
      '{"level":30,"time":1500,"msg":"container resolved","container":"/x"}',
      applied(2000, 'container /x joined n', 120, false),
      'not json at all "FAUCET configuration applied"',
      '{"level":30,"time":2500,"msg":"FAUCET configuration applied","reason":"port descr', // torn last line
      applied(3000, 'port dsp1 removed', 80),
      '',
    ].join('\n');
    assert.deepEqual(
      mh.parseAppliedWrites(text, 1500, 3000).map((w) => [w.time, w.kind, w.ms, w.confirmed]),
      [[2000, 'container joined', 120, false]],
    );
    assert.equal(mh.parseAppliedWrites(text).length, 3);
    // A line whose ms is missing is not a measurement.
    assert.deepEqual(
      mh.parseAppliedWrites(JSON.stringify({ time: 1, reason: 'r', msg: 'FAUCET configuration applied' })),
      [],
    );
  });

  it('groups by kind, most writes first, with median, p90, max and the unconfirmed count', () => {
    const ws = mh.parseAppliedWrites(
      [
        applied(1, 'container /a joined n', 100),
        applied(2, 'container /b joined n', 300, false),
        applied(3, 'container /c joined n', 200),
        applied(4, 'network n named', 50),
      ].join('\n'),
    );
    assert.deepEqual(mh.groupWrites(ws), [
      { kind: 'container joined', count: 3, median: 200, p90: 280, max: 300, unconfirmed: 1 },
      { kind: 'network named', count: 1, median: 50, p90: 50, max: 50, unconfirmed: 0 },
    ]);
  });

  it('whole-number options: in range, or an error naming the option and the value', () => {
    assert.equal(mh.wholeOption('rounds', '10', 1, 25), 10);
    assert.throws(
      () => mh.wholeOption('rounds', '26', 1, 25),
      /--rounds: expected a whole number from 1 to 25, got "26"/,
    );
    assert.throws(() => mh.wholeOption('vlan', '3.5', 2, 4094), /--vlan: .* got "3.5"/);
  });

  it('spread of nothing is NaN, printed as a dash', () => {
    const s = mh.spread([]);
    assert.equal(s.count, 0);
    assert.ok(Number.isNaN(s.median) && Number.isNaN(s.p90) && Number.isNaN(s.max));
    assert.equal(mh.fmt(s.median), '–');
    assert.equal(mh.fmt(12.345, 1), '12.3');
  });

  it('reads seq and RTT of busybox ping’s first reply', () => {
    assert.deepEqual(
      parseReply(
        'PING 10.232.1.2 (10.232.1.2): 56 data bytes\n64 bytes from 10.232.1.2: seq=0 ttl=64 time=1002.890 ms\n',
      ),
      {
        seq: 0,
        rttMs: 1002.89,
      },
    );
    assert.deepEqual(parseReply('PING 10.232.1.2 (10.232.1.2): 56 data bytes\n'), { seq: undefined, rttMs: undefined });
  });

  it('faucet.yaml: the same entries whatever the layout, comments and empty sections; not with a change', () => {
    const operator = '# the operator\ndps:\n  sw1:\n    dp_id: 0x1\n    interfaces:\n      1: {native_vlan: 100}\n';
    const dumped =
      'dps:\n  sw1:\n    interfaces:\n      1:\n        native_vlan: 100\n    dp_id: 1\nvlans: {}\nacls:\n';
    assert.equal(mh.sameFaucetEntries(dumped, operator), true);
    assert.equal(mh.sameFaucetEntries(dumped.replace('100', '101'), operator), false);
    assert.equal(mh.sameFaucetEntries(`${dumped}meters:\n  m1: {}\n`, operator), false);
    assert.equal(mh.sameFaucetEntries('', '{}\n'), true);
  });
});
