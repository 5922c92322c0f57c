import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makePrivateDir, makePrivateDirAsync } from '../../../src/util/private-dir.js';
import { AttachmentStore, type AttachmentRecord } from '../../../src/attach/record.js';

const modeOf = (p: string): number => statSync(p).mode & 0o777;

describe('private state directories', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'dovesnap-private-dir-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  const umask = process.umask();

  it('only the directory itself is 0700; parents it makes stay traversable', async () => {
    const dir = path.join(base, 'a', 'lib', 'dovesnap', 'attach');
    makePrivateDir(dir);
    assert.equal(modeOf(dir), 0o700);
    for (const parent of [path.join(base, 'a'), path.join(base, 'a', 'lib'), path.join(base, 'a', 'lib', 'dovesnap')]) {
      assert.equal(modeOf(parent), 0o777 & ~umask, parent);
    }
    const sock = path.join(base, 'b', 'run', 'plugins');
    await makePrivateDirAsync(sock);
    assert.equal(modeOf(sock), 0o700);
    assert.equal(modeOf(path.join(base, 'b', 'run')), 0o777 & ~umask);
  });

  it('the first attach record on a fresh host leaves /var/lib/dovesnap open to Prometheus beside it (issue 21, defect 1)', () => {
    const stateRoot = path.join(base, 'var-lib-dovesnap');
    const store = new AttachmentStore(path.join(stateRoot, 'attach'));
    const record = {
      version: 1,
      key: 'cccccccccccc_eth1',
      guest: { containerId: 'c'.repeat(64), name: 'web', pid: 4242 },
      argv: ['br1', 'web', '10.231.0.2/24'],
      hostIf: 'br1',
      hostKind: 'linux-bridge',
      resources: [],
      createdAt: new Date().toISOString(),
    } as unknown as AttachmentRecord;
    store.put(record);
    assert.equal(modeOf(path.join(stateRoot, 'attach')), 0o700);
    assert.equal(modeOf(stateRoot) & 0o005, 0o005 & ~umask, 'others can traverse the state root');
  });
});
