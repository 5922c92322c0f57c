import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { parse } from 'yaml';
import {
  containerIp,
  createNetwork,
  dockerRaw,
  ping,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  upWithEnv,
  waitFor,
  waitFaucetSettled,
  waitPing,
  FAUCET_CONFIG,
  addOperatorEntries,
} from './harness.js';

/**
 * A container port raised before it joins the bridge (driver/early-open.ts): FAUCET sees one
 * port event per container start instead of three, and a container whose labels give its port
 * an ACL still never carries a packet under the spare entry's.
 */

const FAUCET_LOG = '/var/log/dovesnap/faucet.log';
const DAEMON_LOG = '/var/log/dovesnap/dovesnap.log';
const DENY = `  e2e-early-denyall:
    - rule:
        actions:
          allow: 0
`;

function logSince(path: string, offset: number): string {
  return readFileSync(path).subarray(offset).toString('utf8');
}

describe('ports opened at CreateEndpoint', () => {
  const tag = uniqueName('early').slice(-6);
  const net = `dst-early-${tag}`;

  before(async () => {
    await addOperatorEntries(net, [['acls', DENY]]);
    // The path of a container that finds no ready port (test/e2e/ready-ports.test.ts has the other).
    await upWithEnv({ DOVESNAP_READY_PORTS: '0' });
  });
  after(async () => {
    await upWithEnv({ DOVESNAP_READY_PORTS: undefined });
  });

  it('one FAUCET port event per container start, ping and TCP at once; a container with a port ACL never talks under the spare entry', async () => {
    const dpid = testDpid();
    const sub = testSubnet();
    await createNetwork(net, { 'ovs.bridge.dpid': dpid }, ['--subnet', sub.subnet]);
    const a = `${net}-a`;
    await runContainer(a, net);
    await serveHttp(a);
    const ipA = await containerIp(a, net);
    // Ports open early only on a switch FAUCET has been seen running for 15 s (past its cold
    // start); dovesnap first sees it running when it raises the first port, after a's start.
    await new Promise((r) => setTimeout(r, 20_000));

    const portOf = async (name: string): Promise<{ ofport: number; iface: string }> =>
      waitFor(`${name} resolved with a port number`, async () => {
        const n = Object.values(await status()).find((x) => x.NetworkName === net);
        const c = Object.values(n?.Containers ?? {}).find((x) => x.Name === `/${name}`);
        return c?.OFPort == null ? undefined : { ofport: c.OFPort, iface: c.Interface };
      });
    const openedEarly = (iface: string, from: number): boolean | undefined => {
      const line = logSince(DAEMON_LOG, from)
        .split('\n')
        .find((l) => l.includes(`"port":"${iface}"`) && l.includes('"msg":"endpoint created"'));
      return line === undefined ? undefined : line.includes('"openedEarly":true');
    };
    const statusChanges = (ofport: number, from: number): number =>
      logSince(FAUCET_LOG, from)
        .split('\n')
        .filter((l) => l.includes(`(${dpid}) ${net} status change: Port ${ofport} `)).length;

    // An unlabelled container: its port is opened at CreateEndpoint.
    const faucetFrom = statSync(FAUCET_LOG).size;
    const daemonFrom = statSync(DAEMON_LOG).size;
    const b = `${net}-b`;
    await runContainer(b, net);
    const pb = await portOf(b);
    await waitPing(b, ipA, 20_000);
    assert.equal(
      (await dockerRaw('exec', b, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ipA}:8080/`)).stdout.trim(),
      `hello from ${a}`,
    );
    assert.equal(openedEarly(pb.iface, daemonFrom), true, 'the port was opened at CreateEndpoint');
    // FAUCET has handled the link-up by now (traffic flows); give its log a moment all the same.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(
      statusChanges(pb.ofport, faucetFrom),
      1,
      `FAUCET acted on one event of port ${pb.ofport} (the ADD), not three`,
    );

    // A container whose label denies everything: not opened early, and never through.
    const c = `${net}-c`;
    const cFrom = statSync(DAEMON_LOG).size;
    await runContainer(c, net, ['--label', 'dovesnap.faucet.portacl=e2e-early-denyall']);
    const deadline = Date.now() + 4_000;
    while (Date.now() < deadline) {
      const r = await dockerRaw('exec', c, 'timeout', '2', 'wget', '-q', '-O', '-', `http://${ipA}:8080/`);
      assert.notEqual(r.stdout.trim(), `hello from ${a}`, 'the denied container reached the server');
    }
    const pc = await portOf(c);
    assert.equal(openedEarly(pc.iface, cFrom), false, 'a container with a port ACL waits for its own entry');
    await waitFor('the denied entry written', async () => {
      const doc = parse(readFileSync(FAUCET_CONFIG, 'utf8')) as {
        dps?: Record<string, { interfaces?: Record<string, { acls_in?: string[] }> }>;
      };
      return doc.dps?.[net]?.interfaces?.[String(pc.ofport)]?.acls_in?.includes('e2e-early-denyall') === true;
    });
    await waitFaucetSettled();
    assert.equal(await ping(c, ipA), false, 'still denied once FAUCET runs its entry');

    // Once that container is known, the next unlabelled one opens early again.
    const dFrom = statSync(DAEMON_LOG).size;
    const d = `${net}-d`;
    await runContainer(d, net);
    const pd = await portOf(d);
    await waitPing(d, ipA, 20_000);
    assert.equal(openedEarly(pd.iface, dFrom), true);
  });
});
