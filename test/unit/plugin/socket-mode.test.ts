import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildPluginApp, listenOnSocket } from '../../../src/plugin/server.js';
import type { NetworkDriver } from '../../../src/model/plugin-protocol.js';
import { silentLogger } from '../../../src/util/log.js';

const idle = async (): Promise<void> => undefined;
const driver: NetworkDriver = {
  createNetwork: idle,
  deleteNetwork: idle,
  createEndpoint: async () => ({}),
  endpointOperInfo: async () => ({ Value: {} }),
  deleteEndpoint: idle,
  join: async () => ({ InterfaceName: { SrcName: 'x', DstPrefix: 'eth' } }),
  leave: idle,
  programExternalConnectivity: idle,
  revokeExternalConnectivity: idle,
};

describe('plugin socket', () => {
  it('is reachable by root only: the socket is 0600, a directory dovesnap makes is 0700', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'dovesnap-sock-'));
    const dir = path.join(base, 'plugins');
    const sock = path.join(dir, 'dovesnap.sock');
    const app = buildPluginApp(driver, silentLogger());
    try {
      await listenOnSocket(app, sock);
      assert.equal(statSync(sock).mode & 0o777, 0o600);
      assert.equal(statSync(dir).mode & 0o777, 0o700);
    } finally {
      await app.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});
