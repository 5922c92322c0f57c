import { parse } from 'yaml';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import {
  addFaucetEntries,
  createNetwork,
  faucetYaml,
  hupFaucet,
  onCleanup,
  runContainer,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  upWithEnv,
  waitFaucetSettled,
  waitFor,
} from './harness.js';

/**
 * An operator who saves faucet.yaml while dovesnap is writing it keeps their edit (issue 21):
 * dovesnap renders from the file it read, and between that read and its rename it waits on
 * FAUCET's metrics. The window is widened here with the faucet.beforeWrite failpoint (a pause
 * after the render), the edit is saved inside it, while several containers start, and must be
 * in the file once everything has settled, beside every container's port.
 */

const DAEMON_PIDFILE = '/run/dovesnap/dovesnap.pid';
const DAEMON_LOG = '/var/log/dovesnap/dovesnap.log';
const WINDOW_MS = 2000;

/** The daemon's log from byte `from` on. */
function logSince(from: number): string {
  const fd = openSync(DAEMON_LOG, 'r');
  try {
    const size = statSync(DAEMON_LOG).size;
    const buf = Buffer.alloc(Math.max(0, size - from));
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

describe('an operator edit of faucet.yaml while containers start', () => {
  it('is kept: dovesnap renders again from the edited file instead of renaming its older render over it', async () => {
    // Registered first, so it runs last: the daemon goes back to its usual settings once the
    // containers, the network and the edit are gone.
    onCleanup(() => upWithEnv({ DOVESNAP_FAILPOINTS: undefined, DOVESNAP_READY_PORTS: undefined }));
    // Without ready ports every container start is a write of faucet.yaml.
    await upWithEnv({ DOVESNAP_FAILPOINTS: `faucet.beforeWrite=delay(${WINDOW_MS})`, DOVESNAP_READY_PORTS: '0' });
    const pid = Number(readFileSync(DAEMON_PIDFILE, 'utf8').trim());
    await waitFaucetSettled();

    const net = uniqueName('fedit');
    const { subnet } = testSubnet();
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', subnet]);
    const names = [1, 2, 3, 4].map((i) => `${net}-c${i}`);
    const logFrom = statSync(DAEMON_LOG).size;
    const starting = Promise.all(names.map((n) => runContainer(n, net)));

    // Saved while a write is paused between its render and its rename.
    const paused = `"failpoint":"faucet.beforeWrite"`;
    await waitFor(
      'a faucet.yaml write paused after its render',
      async () =>
        logSince(logFrom)
          .split('\n')
          .some((l) => l.includes(paused) && l.includes(`"pid":${pid},`)),
      60_000,
      20,
    );
    const acl = `  ${net}-acl:   # operator ACL saved while containers start: this comment must survive\n    - rule:\n        actions:\n          allow: 1\n`;
    const edit = addFaucetEntries('acls', acl);
    onCleanup(async () => {
      edit.remove();
      hupFaucet();
    });

    await starting;
    // Docker's starts return before FAUCET runs their ports: wait for dovesnap's write of them.
    const portsWritten = async (): Promise<boolean> => {
      const ours = Object.values(await status()).find((n) => n.NetworkName === net);
      const ofports = Object.values(ours?.Containers ?? {}).map((c) => c.OFPort);
      const dps = (parse(faucetYaml()) as { dps?: Record<string, { interfaces?: Record<string, unknown> }> }).dps ?? {};
      const interfaces = dps[net]?.interfaces ?? {};
      return ofports.length === names.length && ofports.every((p) => p !== null && interfaces[String(p)] !== undefined);
    };
    await waitFor("every container's port written into faucet.yaml", portsWritten, 60_000);
    await waitFaucetSettled();

    assert.ok(faucetYaml().includes(acl), "the operator's ACL, comment and all, is still in faucet.yaml");
    assert.ok(await portsWritten(), "and so is every container's port");
    // The edit did land inside a write's window: the daemon saw the file change under it.
    assert.match(logSince(logFrom), /faucet\.yaml changed since dovesnap read it; rendering again/);
  });
});
