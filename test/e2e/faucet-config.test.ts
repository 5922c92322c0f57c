import { parse } from 'yaml';
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  containerIp,
  createNetwork,
  dockerRaw,
  faucetYaml,
  must,
  onCleanup,
  ping,
  run,
  runContainer,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitFaucetSettled,
  waitPing,
  hupFaucet,
  faucetState,
  sha256,
  FAUCET_CONFIG,
  DOCKER,
  addOperatorEntries,
} from './harness.js';

/**
 * The operator owns faucet.yaml: their ACLs, VLANs, DPs and comments survive every change
 * dovesnap makes; a change FAUCET refuses is reported and the last good file stays in force.
 */

const operatorDpid = testDpid();
// The operator's own entries, added into their existing `acls:` and `vlans:` maps (or new ones).
const OPERATOR_ACLS = `  # --- operator ACLs (e2e): this comment must survive ---
  e2e-allow:   # allow everything
    - rule:
        actions:
          allow: 1
  e2e-out99:
    - rule:
        actions:
          output:
            port: 99
`;
const OPERATOR_VLANS = `  e2e-office:
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

/** faucet.yaml without dovesnap's spare and ready-port entries (see README, DOVESNAP_SPARE_PORTS, DOVESNAP_READY_PORTS). */
function withoutSpares(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const m = /^( *)\d+:$/.exec(line);
    if (
      m !== null &&
      ['description: dovesnap spare port', 'description: dovesnap ready port'].includes((lines[i + 1] ?? '').trim())
    ) {
      const indent = (m[1] ?? '').length;
      i++;
      while (i + 1 < lines.length && /^ */.exec(lines[i + 1] ?? '')![0].length > indent) i++;
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

describe("the operator's faucet.yaml", () => {
  let original = '';

  before(async () => {
    await waitFaucetSettled();
    original = readFileSync(FAUCET_CONFIG, 'utf8');
    // Operator edits: ACLs and a VLAN of their own, and a DP of their own under dps:.
    assert.match(original, /^dps:\n/m, 'faucet.yaml has a dps: map');
    await addOperatorEntries(`  ${net}:`, [
      ['acls', OPERATOR_ACLS],
      ['vlans', OPERATOR_VLANS],
      ['dps', OPERATOR_DP],
    ]);
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
    assert.ok(text.includes(OPERATOR_ACLS), 'operator ACLs verbatim, comments included');
    assert.ok(text.includes(OPERATOR_VLANS), 'operator VLAN verbatim');
    assert.ok(text.includes(OPERATOR_DP), 'operator DP verbatim');
    assert.match(text, new RegExp(`\\n  ${net}:\\n`));
    assert.match(text, /acls_in:\s*\n?\s*-?\s*\[?e2e-allow/);
    const st = await faucetState();
    assert.equal(st.loadError, false);
    assert.ok(st.hash.includes(sha256(text)), 'FAUCET runs exactly this file');
  });

  it('refuses a network whose DPID an operator DP already has', async () => {
    const r = await dockerRaw(
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      `ovs.bridge.dpid=${operatorDpid}`,
      `${net}-clash`,
    );
    if (r.code === 0) await run(DOCKER, ['network', 'rm', `${net}-clash`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /e2e-operator-dp/);
  });

  it('refuses a network named like an operator DP: removed from Docker, the DP untouched (defect 1)', async () => {
    const before = faucetYaml();
    const r = await dockerRaw(
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      `ovs.bridge.dpid=${testDpid()}`,
      'e2e-operator-dp',
    );
    onCleanup(() => run(DOCKER, ['network', 'rm', 'e2e-operator-dp']));
    // Docker names a network to its driver only after the create, so the refusal follows it.
    if (r.code === 0) {
      await waitFor(
        'the network removed again',
        async () => (await dockerRaw('network', 'inspect', 'e2e-operator-dp')).code !== 0,
        15_000,
      );
    }
    assert.ok(faucetYaml().includes(OPERATOR_DP), 'the operator DP is untouched');
    // The other network's ready ports and names may land meanwhile (background writes): what
    // must not change is which DPs the file holds.
    const dpNames = (text: string): string[] =>
      Object.keys((parse(text) as { dps?: Record<string, unknown> }).dps ?? {}).sort();
    assert.deepEqual(dpNames(faucetYaml()), dpNames(before));
    const log = await must('tail', ['-n', '200', '/var/log/dovesnap/dovesnap.log']);
    assert.match(log, /network refused/);
    assert.match(log, /already has a DP named e2e-operator-dp/);
  });

  it('reports a change FAUCET refuses, keeps the last good config, and keeps the bad port closed', async () => {
    // Container names reach FAUCET's file a moment after their ports open (spare entries): let
    // them land first, so that "the last good file" is a settled one.
    const before = await waitFor('the port names written', async () => {
      const t = faucetYaml();
      return t.includes(`/${a} `) && t.includes(`/${b} `) ? t : undefined;
    });
    await runContainer(bad, net, ['--label', 'dovesnap.faucet.portacl=e2e-out99']);
    const blocked = await waitFor(
      'port reported blocked',
      async () => {
        const n = Object.values(await status()).find((x) => x.NetworkName === net);
        return Object.values(n?.Containers ?? {}).find((c) => c.Name === `/${bad}` && c.Blocked !== null);
      },
      30_000,
    );
    assert.match(blocked.Blocked ?? '', /FAUCET refused/);
    assert.match(blocked.Blocked ?? '', /output port undefined|e2e-out99/);
    // The restore and FAUCET's reload of it follow the refusal by a moment.
    const text = await waitFor('FAUCET back on the file on disk', async () => {
      const st = await faucetState();
      const t = faucetYaml();
      return !st.loadError && st.hash.includes(sha256(t)) ? t : undefined;
    });
    assert.ok(!text.includes(`/${bad} `), 'the refused port is not in the config');
    // The retry leaves the refused port's number out of the spare entries too (a port kept
    // closed is never a spare); everything else is the last good file, byte for byte.
    assert.equal(withoutSpares(text), withoutSpares(before), 'the last good file is back, byte for byte');
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

describe('FAUCET and Gauge as `make up` runs them', () => {
  it('load dovesnap_faucet_sighup, and a SIGHUP is still a reload request FAUCET handles', async () => {
    for (const name of ['faucet', 'gauge']) {
      const pid = readFileSync(`/run/dovesnap/${name}.pid`, 'utf8').trim();
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      assert.ok(
        cmdline.includes('dovesnap_faucet_sighup'),
        `${name} (pid ${pid}) runs with the non-blocking SIGHUP handler: ${cmdline.join(' ')}`,
      );
    }
    const reloads = async (): Promise<number> => {
      const text = await (
        await fetch('http://127.0.0.1:9302/metrics?name[]=faucet_config_reload_requests_total')
      ).text();
      return Number(/^faucet_config_reload_requests_total (\S+)/m.exec(text)?.[1] ?? NaN);
    };
    const before = await reloads();
    assert.ok(Number.isFinite(before), 'FAUCET reports its reload requests');
    hupFaucet();
    await waitFor('FAUCET to handle the SIGHUP', async () => ((await reloads()) > before ? true : undefined), 15_000);
  });

  it("answer `dovesnap faucet health` and `faucet reload` (make up's checks), and `host datapath` is what make up recorded", async () => {
    const cli = new URL('../../src/cli/main.js', import.meta.url).pathname;
    assert.match(await must(process.execPath, [cli, 'faucet', 'health']), /^ok: FAUCET runs its configuration/);
    assert.match(
      await must(process.execPath, [cli, 'faucet', 'reload', '--timeout', '15']),
      /^reloaded: pid \d+ handled the reload request/,
    );
    assert.equal(
      (await must(process.execPath, [cli, 'host', 'datapath'])).trim(),
      readFileSync('/run/dovesnap/datapath', 'utf8').trim(),
    );
  });
});
