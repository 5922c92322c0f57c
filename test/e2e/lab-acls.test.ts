import { randomBytes } from 'node:crypto';
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  addFaucetEntries,
  containerIp,
  createNetwork,
  docker,
  faucetState,
  faucetYaml,
  httpGet,
  hupFaucet,
  onCleanup,
  ping,
  run,
  runContainer,
  serveHttp,
  sha256,
  status,
  testDpid,
  uniqueName,
  waitFaucetSettled,
  waitFor,
  waitPing,
  DOCKER,
} from './harness.js';
import {
  AclStillUsedError,
  labAclName,
  labAclsIn,
  removeLabAcls,
  syncLabAcls,
  type LabAcls,
} from '../../src/lab/faucet-acls.js';
import { ErrorCode, isDovesnapError } from '../../src/util/errors.js';

/**
 * A lab's own ACLs (lab/faucet-acls.ts) on the real FAUCET: synced into faucet.yaml beside an
 * operator's ACL, loaded by FAUCET (its metrics show the file's hash), a refused one rolled
 * back, used by a network's default_acl and a container's portacl label and proven by traffic
 * (ping, TCP 8080 through, TCP 8081 dropped), kept while in use, and removed exactly at the end.
 */

const TCP = { dl_type: 0x800, ip_proto: 6 };
/** ARP, ICMP and TCP 8080 both ways; nothing else (8081 included). */
const WEB: readonly unknown[] = [
  { rule: { dl_type: 0x806, actions: { allow: 1 } } },
  { rule: { dl_type: 0x800, ip_proto: 1, actions: { allow: 1 } } },
  { rule: { ...TCP, tcp_dst: 8080, actions: { allow: 1 } } },
  { rule: { ...TCP, tcp_src: 8080, actions: { allow: 1 } } },
  { rule: { ...TCP, tcp_dst: 8081, actions: { allow: 0 } } },
  { rule: { actions: { allow: 0 } } },
];
/** ARP and ICMP only. */
const PING_ONLY: readonly unknown[] = [
  { rule: { dl_type: 0x806, actions: { allow: 1 } } },
  { rule: { dl_type: 0x800, ip_proto: 1, actions: { allow: 1 } } },
  { rule: { actions: { allow: 0 } } },
];

/** The bytes of a top-level section, from its key's line to the next top-level key. */
function sectionText(text: string, key: string): string {
  const m = new RegExp(`^${key}:.*\\n(?:(?:[ \\t#].*)?\\n)*`, 'm').exec(text);
  return m?.[0] ?? '';
}

describe("a lab's own ACLs in faucet.yaml, on the real FAUCET", () => {
  const tag = uniqueName('labacl').slice(-6);
  const lab = `e2e-${randomBytes(2).toString('hex')}`;
  const net = `dst-labacl-${tag}`;
  // A /24 of 10.231.0.0/16 that testSubnet() (100..249 and wrapping to 0..) and the fixed ranges of other files never give.
  const prefix = '10.231.251';
  const web = labAclName(lab, 'web');
  const pingOnly = labAclName(lab, 'ping-only');
  const operatorAcl = `  ${net}-operator:   # the operator's own ACL: every byte of it stays\n    - rule:\n        actions:\n          allow: 1\n`;
  const acls: LabAcls = new Map([
    ['web', WEB],
    ['ping-only', PING_ONLY],
  ]);
  let aclsBefore = '';

  before(async () => {
    await waitFaucetSettled();
    const edit = addFaucetEntries('acls', operatorAcl);
    // Registered first, so they run last: after the containers and the network are gone.
    onCleanup(async () => {
      edit.remove();
      hupFaucet();
    });
    onCleanup(() => removeLabAcls(lab).catch(() => undefined));
    hupFaucet();
    await waitFaucetSettled();
    aclsBefore = sectionText(faucetYaml(), 'acls');
    assert.ok(aclsBefore.includes(operatorAcl));
  });

  it('syncs two ACLs, and FAUCET runs the file with them; again: nothing to do', async () => {
    const result = await syncLabAcls(lab, acls);
    assert.deepEqual(result, { added: [pingOnly, web].sort(), changed: [], removed: [] });
    const text = faucetYaml();
    assert.deepEqual(labAclsIn(text, lab).sort(), [pingOnly, web].sort());
    assert.ok(text.includes(operatorAcl));
    await waitFor(
      "FAUCET running the file with the lab's ACLs",
      async () => {
        const now = faucetYaml();
        const s = await faucetState();
        return labAclsIn(now, lab).length === 2 && !s.loadError && s.hash.includes(sha256(now));
      },
      5000,
    );
    assert.deepEqual(await syncLabAcls(lab, acls), { added: [], changed: [], removed: [] });
  });

  it('FAUCET refusing a rule: the previous file is back and FAUCET runs it, the error names the ACL', async () => {
    const bad = new Map([...acls, ['bad', [{ rule: { ...TCP, tcp_dport: 22, actions: { allow: 0 } } }]]]);
    // Without FAUCET's checker in front, so that FAUCET itself is the one to refuse it.
    await assert.rejects(
      syncLabAcls(lab, bad, { check: null }),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.FaucetRejected) &&
        err.message.includes(labAclName(lab, 'bad')) &&
        /previous file was restored/.test(err.message),
    );
    assert.ok(!faucetYaml().includes(labAclName(lab, 'bad')));
    await waitFor(
      'FAUCET running the restored file',
      async () => {
        const s = await faucetState();
        return !s.loadError && s.hash.includes(sha256(faucetYaml()));
      },
      30_000,
    );
    // With the checker: refused before anything is written.
    await assert.rejects(
      syncLabAcls(lab, bad),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.FaucetInvalid) &&
        /check_faucet_config refuses .*\.bad: .*tcp_dport/.test(err.message),
    );
  });

  it('the ACLs act on traffic: default_acl lets ping and TCP 8080 through, not 8081; portacl ping-only', async () => {
    await createNetwork(
      net,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat', 'ovs.bridge.default_acl': web },
      ['--subnet', `${prefix}.0/24`],
    );
    const a = `${net}-a`;
    const b = `${net}-b`;
    const c = `${net}-c`;
    await Promise.all([
      runContainer(a, net),
      runContainer(b, net),
      runContainer(c, net, ['--label', `dovesnap.faucet.portacl=${pingOnly}`]),
    ]);
    await serveHttp(a, 8080);
    await serveHttp(a, 8081);
    const ipA = await containerIp(a, net);
    await waitPing(b, ipA);
    await waitPing(c, ipA);
    assert.equal(await waitFor('TCP 8080 b -> a', async () => httpGet(b, `http://${ipA}:8080/`)), `hello from ${a}`);
    // Both servers answer inside a: only the ACL stands between b and 8081.
    assert.equal(await httpGet(a, 'http://127.0.0.1:8081/'), `hello from ${a}`);
    assert.equal(await httpGet(b, `http://${ipA}:8081/`), undefined, "TCP 8081 dropped by the lab's ACL");
    assert.equal(await httpGet(c, `http://${ipA}:8080/`), undefined, 'TCP from the ping-only port dropped');
    assert.ok(await ping(c, ipA));
    const ours = Object.values(await status()).find((n) => n.NetworkName === net);
    const portAcls = Object.values(ours?.Containers ?? {}).find((x) => x.Name === `/${c}`)?.PortACLs;
    assert.deepEqual(portAcls, [pingOnly]);
  });

  it("keeps ACLs the network and the container still use, then removes exactly the lab's once they are gone", async () => {
    await assert.rejects(
      removeLabAcls(lab, { referenceWaitMs: 0 }),
      (err: unknown) =>
        err instanceof AclStillUsedError && err.message.includes(web) && err.message.includes(`dps.${net}.interfaces`),
    );
    assert.deepEqual(labAclsIn(faucetYaml(), lab).sort(), [pingOnly, web].sort());

    await run(DOCKER, ['rm', '-f', `${net}-a`, `${net}-b`, `${net}-c`]);
    await docker('network', 'rm', net);
    // The daemon takes the network's DP out a moment after the rm returns: removeLabAcls waits for it.
    assert.deepEqual(await removeLabAcls(lab), [pingOnly, web].sort());
    const text = faucetYaml();
    assert.deepEqual(labAclsIn(text, lab), []);
    assert.equal(
      sectionText(text, 'acls'),
      aclsBefore,
      "the acls: section is byte for byte what it was, the operator's ACL included",
    );
    await waitFor(
      'FAUCET running the file without them',
      async () => {
        const now = faucetYaml();
        const s = await faucetState();
        return labAclsIn(now, lab).length === 0 && !s.loadError && s.hash.includes(sha256(now));
      },
      5000,
    );
    assert.deepEqual(await removeLabAcls(lab), []);
  });
});
