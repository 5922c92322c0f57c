import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  containerIp, createNetwork, dockerRaw, faucetYaml, must, onCleanup, ping, run, runContainer, status, testDpid, testSubnet, uniqueName,
  waitFor, waitFaucetSettled, waitPing, hupFaucet, faucetState, sha256, FAUCET_CONFIG, DOCKER,
} from './harness.js';

/**
 * The operator owns faucet.yaml: their ACLs, VLANs, DPs and comments survive every change
 * dovesnap makes; a change FAUCET refuses is reported and the last good file stays in force.
 */

const operatorDpid = testDpid();
const OPERATOR_BLOCK = `# --- operator block (e2e): this comment must survive ---
acls:
  e2e-allow:   # allow everything
    - rule:
        actions:
          allow: 1
  e2e-out99:
    - rule:
        actions:
          output:
            port: 99
vlans:
  e2e-office:
    vid: 3901
    description: "operator VLAN, untouched by dovesnap"
`;
const OPERATOR_DP = `  e2e-operator-dp:   # an operator switch
    dp_id: ${operatorDpid}
    hardware: Open vSwitch
    interfaces:
      1:
        native_vlan: e2e-office
`;

describe("the operator's faucet.yaml", () => {
  let original = '';

  before(async () => {
    await waitFaucetSettled();
    original = readFileSync(FAUCET_CONFIG, 'utf8');
    // Registered first, so it runs after this file's containers and networks are gone (only
    // then can the ACLs their ports use go), and even when a test fails.
    onCleanup(async () => {
      await waitFor('no DP of this test left', async () => !readFileSync(FAUCET_CONFIG, 'utf8').includes(`  ${net}:`), 30_000).catch(() => undefined);
      const now = readFileSync(FAUCET_CONFIG, 'utf8');
      const restored = now.replace(OPERATOR_BLOCK, '').replace(OPERATOR_DP, '');
      writeFileSync(FAUCET_CONFIG, restored === now ? original : restored);
      hupFaucet();
    });
    // Operator edits: a block of their own on top, and a DP of their own under dps:.
    const withDp = original.replace(/^dps:\n/m, `dps:\n${OPERATOR_DP}`);
    assert.notEqual(withDp, original, 'faucet.yaml has a dps: map');
    writeFileSync(FAUCET_CONFIG, `${OPERATOR_BLOCK}${withDp}`);
    hupFaucet();
    const want = sha256(readFileSync(FAUCET_CONFIG, 'utf8'));
    await waitFor('FAUCET loads the operator edit', async () => (await faucetState()).hash.includes(want));
  });

  const net = uniqueName('fcfg');
  const { subnet } = testSubnet();
  const a = `${net}-a`;
  const b = `${net}-b`;
  const bad = `${net}-bad`;

  it('keeps every operator byte while dovesnap adds its DP and ports', async () => {
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', subnet]);
    await runContainer(a, net, ['--label', 'dovesnap.faucet.portacl=e2e-allow']);
    await runContainer(b, net);
    await waitPing(a, await containerIp(b, net));
    const text = faucetYaml();
    assert.ok(text.startsWith(OPERATOR_BLOCK), 'operator block verbatim, comments included');
    assert.ok(text.includes(OPERATOR_DP), 'operator DP verbatim');
    assert.match(text, new RegExp(`\\n  ${net}:\\n`));
    assert.match(text, /acls_in:\s*\n?\s*-?\s*\[?e2e-allow/);
    const st = await faucetState();
    assert.equal(st.loadError, false);
    assert.ok(st.hash.includes(sha256(text)), 'FAUCET runs exactly this file');
  });

  it('refuses a network whose DPID an operator DP already has', async () => {
    const r = await dockerRaw('network', 'create', '-d', 'dovesnap', '-o', `ovs.bridge.dpid=${operatorDpid}`, `${net}-clash`);
    if (r.code === 0) await run(DOCKER, ['network', 'rm', `${net}-clash`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /e2e-operator-dp/);
  });

  it('reports a change FAUCET refuses, keeps the last good config, and keeps the bad port closed', async () => {
    const before = faucetYaml();
    await runContainer(bad, net, ['--label', 'dovesnap.faucet.portacl=e2e-out99']);
    const blocked = await waitFor('port reported blocked', async () => {
      const n = Object.values(await status()).find((x) => x.NetworkName === net);
      return Object.values(n?.Containers ?? {}).find((c) => c.Name === `/${bad}` && c.Blocked !== null);
    }, 30_000);
    assert.match(blocked.Blocked ?? '', /FAUCET refused/);
    assert.match(blocked.Blocked ?? '', /output port undefined|e2e-out99/);
    // The restore and FAUCET's reload of it follow the refusal by a moment.
    const text = await waitFor('FAUCET back on the file on disk', async () => {
      const st = await faucetState();
      const t = faucetYaml();
      return !st.loadError && st.hash.includes(sha256(t)) ? t : undefined;
    });
    assert.ok(!text.includes(`/${bad} `), 'the refused port is not in the config');
    assert.equal(text, before, 'the last good file is back, byte for byte');
    assert.equal(await ping(bad, await containerIp(a, net)), false, 'the refused port stays closed');
    await waitPing(a, await containerIp(b, net));
    const log = await must('tail', ['-n', '400', '/var/log/dovesnap/dovesnap.log']);
    assert.match(log, /FAUCET rejected the configuration/);
  });

  it('still applies later changes after a refusal', async () => {
    const c = `${net}-c`;
    await runContainer(c, net);
    await waitPing(c, await containerIp(b, net));
  });
});
