import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FileTimes, formatFileTimes, type RunnerEvent } from '../../support/file-times.js';

const dequeueFile = (file: string): RunnerEvent => ({ type: 'test:dequeue', data: { name: file, file, nesting: 0 } });
const result = (
  type: 'test:pass' | 'test:fail',
  file: string,
  extra: Partial<NonNullable<RunnerEvent['data']>> = {},
): RunnerEvent => ({
  type,
  data: { name: 't', file, nesting: 1, details: {}, ...extra },
});

describe('time per test file', () => {
  it('runs from one file announcement to the next, counting tests but not suites', () => {
    const t = new FileTimes();
    t.observe(dequeueFile('/r/dist/test/e2e/a.test.js'), 1_000);
    t.observe(result('test:pass', '/r/dist/test/e2e/a.test.js'), 1_500);
    t.observe(result('test:fail', '/r/dist/test/e2e/a.test.js'), 1_600);
    // A runner event for a test the file itself skipped (data for the counter, not a skipped test here).
    t.observe(result('test:pass', '/r/dist/test/e2e/a.test.js', { skip: 'not on this host' }), 1_700);
    t.observe(result('test:pass', '/r/dist/test/e2e/a.test.js', { nesting: 0, details: { type: 'suite' } }), 1_800);
    t.observe(dequeueFile('/r/dist/test/e2e/b.test.js'), 4_000);
    t.observe(result('test:pass', '/r/dist/test/e2e/b.test.js'), 4_100);
    const times = t.finish(64_000);
    assert.deepEqual(times, [
      { file: '/r/dist/test/e2e/a.test.js', ms: 3_000, passed: 1, failed: 1, skipped: 1 },
      { file: '/r/dist/test/e2e/b.test.js', ms: 60_000, passed: 1, failed: 0, skipped: 0 },
    ]);
    const table = formatFileTimes(times, '/r/');
    const lines = table.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /2 files, 63 s in all/);
    assert.match(lines[1] ?? '', /^# dist\/test\/e2e\/b\.test\.js\s+60\.0 s {2}1 passed$/);
    assert.match(lines[2] ?? '', /^# dist\/test\/e2e\/a\.test\.js\s+3\.0 s {2}1 passed, 1 FAILED, 1 skipped$/);
  });

  it('a top-level test named like its file is not taken for a new file unless dequeued at nesting 0', () => {
    const t = new FileTimes();
    t.observe(dequeueFile('/r/x.test.js'), 0);
    t.observe({ type: 'test:dequeue', data: { name: 'inner', file: '/r/x.test.js', nesting: 0 } }, 10);
    t.observe({ type: 'test:dequeue', data: { name: '/r/x.test.js', file: '/r/x.test.js', nesting: 1 } }, 20);
    assert.equal(t.finish(30).length, 1);
  });
});
