/**
 * Proves against FAUCET itself (its own check_faucet_config and config parser) that what the
 * renderer emits is accepted, and that the fast validator agrees with FAUCET on the classes of
 * problem it claims to catch. Needs a virtualenv with `faucet` installed: $FAUCET_VENV
 * (default /opt/dovesnap/venv), else /tmp/vtest. Without one the tests fail: they never skip.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { gaugeConfig, initialFaucetConfig } from '../../src/faucet/initial-files.js';
import { renderFaucetConfig } from '../../src/faucet/render.js';
import type { FaucetDpSpec } from '../../src/faucet/types.js';
import { validateFaucetConfig } from '../../src/faucet/validate.js';
import { readFaucetConfigFacts } from '../../src/faucet/config-facts.js';
import { managedState } from '../../src/driver/faucet-desired.js';
import { StateStore, endpointRecord, type EndpointRecord, type NetworkRecord } from '../../src/driver/state.js';
import { parseContainerLabels } from '../../src/model/labels.js';
import { parseNetworkOptions } from '../../src/model/options.js';
import { BAD_CONFIGS, fixture, GOOD_CONFIGS, NET1, NET1_UPDATED, NET2, state } from '../unit/faucet/specs.js';

const run = promisify(execFile);

function faucetVenv(): string {
  const candidates = [process.env['FAUCET_VENV'] ?? '/opt/dovesnap/venv', '/tmp/vtest'];
  const found = candidates.find((venv) => existsSync(join(venv, 'bin', 'check_faucet_config')));
  if (found === undefined) {
    assert.fail(
      `FAUCET's check_faucet_config was not found in ${candidates.map((v) => `${v}/bin`).join(' or ')}; set FAUCET_VENV to a virtualenv with the PyPI package faucet installed`,
    );
  }
  return found;
}

let dir = '';
let seq = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dovesnap-faucet-contract-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeTemp(text: string, name = `faucet-${++seq}.yaml`): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Runs FAUCET's check_faucet_config binary; resolves to its verdict and output. */
async function checkFaucetConfig(text: string): Promise<{ ok: boolean; output: string }> {
  const path = await writeTemp(text);
  try {
    const { stdout } = await run(join(faucetVenv(), 'bin', 'check_faucet_config'), [path], { timeout: 60_000 });
    return { ok: true, output: stdout };
  } catch (err) {
    const { code, stdout } = err as { code?: unknown; stdout?: string };
    if (typeof code !== 'number') throw err;
    return { ok: false, output: stdout ?? '' };
  }
}

async function assertFaucetAccepts(text: string, what: string): Promise<void> {
  const { ok, output } = await checkFaucetConfig(text);
  assert.ok(ok, `FAUCET rejected ${what}: ${output.slice(0, 2000)}\n--- config ---\n${text}`);
}

/** FAUCET's own checker over many files in one Python process (its startup costs ~1 s). */
const BATCH_CHECK = `
import io, json, logging, sys, warnings
warnings.filterwarnings("ignore")
from faucet.check_faucet_config import check_config
for path in sys.argv[1:]:
    out = io.StringIO()
    ok = check_config([path], logging.CRITICAL, out)
    print(json.dumps({"path": path, "ok": bool(ok), "output": out.getvalue()[:500]}))
`;

async function checkMany(texts: readonly string[]): Promise<Array<{ ok: boolean; output: string }>> {
  const paths = await Promise.all(texts.map((text) => writeTemp(text)));
  const { stdout } = await run(join(faucetVenv(), 'bin', 'python'), ['-c', BATCH_CHECK, ...paths], {
    timeout: 120_000,
    maxBuffer: 16 << 20,
  });
  const results = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { path: string; ok: boolean; output: string });
  assert.deepEqual(
    results.map((r) => r.path),
    paths,
  );
  return results;
}

const OPERATOR = fixture('operator.yaml');

describe('FAUCET accepts what the renderer emits', () => {
  it('the initial config (placeholder only)', async () => {
    await assertFaucetAccepts(initialFaucetConfig(), 'the initial config');
  });

  it('an operator file with dovesnap DPs added (LOCAL port, mirror, output_only, coprocessor, acls_in, acls_out, hex dp_id)', async () => {
    await assertFaucetAccepts(renderFaucetConfig(OPERATOR, state([NET1, NET2])), 'operator + NET1 + NET2');
  });

  it('the same file after an update and after a partial removal', async () => {
    const updated = renderFaucetConfig(renderFaucetConfig(OPERATOR, state([NET1, NET2])), state([NET1_UPDATED, NET2]));
    const partial = renderFaucetConfig(updated, state([NET2]));
    await Promise.all([
      assertFaucetAccepts(updated, 'the updated file'),
      assertFaucetAccepts(partial, 'the file without NET1'),
    ]);
  });

  it('a removal that leaves only the placeholder', async () => {
    // The initial file has no ACLs, so these networks use none.
    const plain1: FaucetDpSpec = { ...NET1, ports: NET1.ports.map(({ aclsIn: _unused, ...port }) => port) };
    const plain2: FaucetDpSpec = { ...NET2, vlans: [] };
    const withNets = renderFaucetConfig(initialFaucetConfig(), state([plain1, plain2]));
    await assertFaucetAccepts(withNets, 'initial + NET1 + NET2');
    const removed = renderFaucetConfig(withNets, state([]));
    assert.equal(removed, initialFaucetConfig());
    await assertFaucetAccepts(removed, 'the config after removing every network');
  });

  it('names and descriptions YAML could misread', async () => {
    const odd: FaucetDpSpec = {
      name: '1_000',
      dpId: 0xffffffffffffffffn,
      description: 'tabs\tnew\nlines "quotes" \'single\' #hash: colon \u0085 \u2028 ünïcode',
      ports: [
        { number: 4294967294, description: 'yes', nativeVlan: 4095 },
        { number: 0xf0000000, description: '0x10', nativeVlan: 1, taggedVlans: [2, 3] },
      ],
    };
    const other: FaucetDpSpec = {
      name: 'on',
      dpId: 2n,
      description: '~',
      ports: [{ number: 1, description: 'null', nativeVlan: 7 }],
    };
    await assertFaucetAccepts(renderFaucetConfig('', state([odd, other], new Set(['1_000', 'on']))), 'odd names');
  });

  it("dovesnap's anti-spoofing ACLs: alone, built from the operator's ACLs (old field names, meters), on a DHCP network before and after the lease", async () => {
    const facts = readFaucetConfigFacts(OPERATOR);
    const net = (id: string, name: string, raw: Record<string, string>): NetworkRecord => {
      const rawOptions = { 'ovs.bridge.antispoof': 'true', ...raw };
      return {
        id,
        name,
        options: parseNetworkOptions(rawOptions),
        rawOptions,
        bridgeName: `ovsbr-${id.slice(0, 5)}`,
        datapathType: 'netdev',
        controllers: [],
        ipv4: [],
        internal: false,
        localFaucet: true,
      };
    };
    const ep = (
      n: number,
      networkId: string,
      labels: Record<string, string>,
      patch: Partial<EndpointRecord> = {},
    ): EndpointRecord => {
      const id = `${n}`.padStart(2, '0').repeat(32);
      return endpointRecord({
        id,
        networkId,
        hostIf: `dsp${n}`,
        containerIf: `dsc${n}`,
        mac: `0e:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
        ipv4: `10.9.0.${n}/24`,
        ipv6: `fd00::${n}/64`,
        ofport: n,
        container: { id: `c${id.slice(1)}`, name: `/c${n}`, labels },
        labels: parseContainerLabels(labels, networkId === 'a'.repeat(64) ? 'guarded' : 'leased'),
        ...patch,
      });
    };
    const s = new StateStore();
    s.putNetwork(
      net('a'.repeat(64), 'guarded', { 'ovs.bridge.dpid': '0x61', 'ovs.bridge.default_acl': 'rate-limited' }),
    );
    s.putNetwork(net('b'.repeat(64), 'leased', { 'ovs.bridge.dpid': '0x62', 'ovs.bridge.dhcp': 'true' }));
    s.putEndpoint(ep(1, 'a'.repeat(64), {}));
    s.putEndpoint(ep(2, 'a'.repeat(64), { 'dovesnap.faucet.portacl': 'block-ssh,allow-all' }));
    s.putEndpoint(
      ep(3, 'a'.repeat(64), { 'dovesnap.faucet.antispoof': 'false', 'dovesnap.faucet.portacl': 'allow-all' }),
    );
    s.putEndpoint(ep(4, 'b'.repeat(64), {}, { ipv4: undefined, ipv6: undefined }));
    s.putEndpoint(ep(5, 'b'.repeat(64), {}, { ipv4: undefined, ipv6: undefined, leasedIpv4: '192.168.50.5' }));
    const managed = managedState(s, facts, facts.acls, new Map());
    assert.equal(managed.acls?.length, 4);
    const text = renderFaucetConfig(OPERATOR, managed);
    assert.deepEqual(
      validateFaucetConfig(text).filter((p) => p.severity === 'error'),
      [],
    );
    await assertFaucetAccepts(text, 'the anti-spoofing ACLs');
    const bare = renderFaucetConfig(
      initialFaucetConfig(),
      managedState(s, initialFaucetConfig(), new Set(), new Map()),
    );
    await assertFaucetAccepts(bare, 'the anti-spoofing ACLs without operator ACLs');
  });

  it('capture ports (label dovesnap.faucet.capture): beside containers, add_ports, a mirror-labelled port on the mirror link, ready ports, spares, a second capture port, an anti-spoofing network', async () => {
    const facts = readFaucetConfigFacts(OPERATOR);
    const net = (id: string, name: string, raw: Record<string, string>): NetworkRecord => {
      const rawOptions = { 'ovs.bridge.dpid': id === 'a'.repeat(64) ? '0x71' : '0x72', ...raw };
      return {
        id,
        name,
        options: parseNetworkOptions(rawOptions),
        rawOptions,
        bridgeName: `ovsbr-${id.slice(0, 5)}`,
        datapathType: 'netdev',
        controllers: [],
        ipv4: [],
        internal: false,
        localFaucet: true,
      };
    };
    const A = 'a'.repeat(64);
    const B = 'b'.repeat(64);
    const ep = (n: number, networkId: string, labels: Record<string, string>): EndpointRecord => {
      const id = `${networkId.slice(0, 1)}${n}`.repeat(32);
      return endpointRecord({
        id,
        networkId,
        hostIf: `dsp${id.slice(0, 4)}`,
        containerIf: `dsc${id.slice(0, 4)}`,
        mac: `0e:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
        ipv4: `10.9.0.${n}/24`,
        ofport: n,
        container: { id: `c${id.slice(1)}`, name: `/c${n}`, labels },
        labels: parseContainerLabels(labels, networkId === A ? 'lab' : 'guarded'),
      });
    };
    const s = new StateStore();
    s.putNetwork(
      net(A, 'lab', {
        'ovs.bridge.mode': 'nat',
        'ovs.bridge.default_acl': 'allow-all',
        'ovs.bridge.add_ports': 'eno1/8,trunk/9//t20+t30',
      }),
    );
    s.putNetwork(net(B, 'guarded', { 'ovs.bridge.antispoof': 'true' }));
    s.putEndpoint(ep(1, A, {}));
    s.putEndpoint(ep(2, A, { 'dovesnap.faucet.mirror': 'true' }));
    s.putEndpoint(ep(3, A, { 'dovesnap.faucet.capture': 'true' }));
    s.putEndpoint(ep(4, A, { 'dovesnap.faucet.capture': 'lab:true' }));
    s.putEndpoint(ep(1, B, {}));
    s.putEndpoint(ep(2, B, { 'dovesnap.faucet.capture': 'true' }));
    const hostPort = (name: string, ofport: number, ids: Record<string, string>) => ({
      name,
      ofport,
      externalIds: { 'dovesnap-network-id': A, ...ids },
    });
    const bridgePorts = new Map([
      [
        A,
        [
          hostPort('eno1', 8, { 'dovesnap-host-port': 'true' }),
          hostPort('trunk', 9, { 'dovesnap-host-port': 'true' }),
          hostPort(`dsmn${A.slice(0, 10)}`, 99, { 'dovesnap-host-port': 'mirror' }),
          hostPort('dsqaaaaaaaaaaaa', 5, { 'dovesnap-ready-port': 'dsraaaaaaaaaaaa' }),
        ],
      ],
    ]);
    const managed = managedState(s, facts, facts.acls, bridgePorts, new Map([[A, [6, 7]]]));
    const lab = managed.dps.find((d) => d.name === 'lab');
    assert.deepEqual(lab?.ports.find((p) => p.number === 3)?.mirror, [1, 2, 5, 6, 7, 8, 9]);
    assert.deepEqual(
      lab?.ports.find((p) => p.number === 99)?.mirror,
      [2],
      'port 2 has two mirror destinations: the mirror link and the capture ports',
    );
    const text = renderFaucetConfig(OPERATOR, managed);
    assert.doesNotMatch(text, /capture/, "dovesnap's own mark is never written");
    assert.deepEqual(
      validateFaucetConfig(text).filter((p) => p.severity === 'error'),
      [],
    );
    await assertFaucetAccepts(text, 'capture ports');
    // And the check can fail: a capture list naming a port the DP lacks is refused by FAUCET too.
    assert.equal(
      text.split('mirror: [1, 2, 5, 6, 7, 8, 9]').length,
      3,
      'both capture ports of lab list the same ports',
    );
    const { ok, output } = await checkFaucetConfig(
      text.replace('mirror: [1, 2, 5, 6, 7, 8, 9]', 'mirror: [1, 2, 5, 6, 7, 8, 9, 77]'),
    );
    assert.equal(ok, false, 'FAUCET refuses a mirror of an undefined port');
    assert.match(output, /port mirror not defined/);
  });

  it('and rejects, like the validator, a DP naming an undefined ACL', async () => {
    const bad: FaucetDpSpec = {
      ...NET1,
      ports: [{ number: 1, description: 'c', nativeVlan: 300, aclsIn: ['no-such-acl'] }],
    };
    const text = renderFaucetConfig(OPERATOR, state([bad]));
    assert.ok(validateFaucetConfig(text).some((p) => p.code === 'acl-undefined'));
    const { ok, output } = await checkFaucetConfig(text);
    assert.equal(ok, false);
    assert.match(output, /missing ACL no-such-acl/);
  });
});

describe('the validator agrees with FAUCET', () => {
  it('FAUCET rejects every file the validator rejects, and accepts every file it accepts', async () => {
    const results = await checkMany([...BAD_CONFIGS.map((c) => c.text), ...GOOD_CONFIGS.map((c) => c.text)]);
    const disagreements: string[] = [];
    BAD_CONFIGS.forEach((c, i) => {
      if (results[i]?.ok !== false) disagreements.push(`FAUCET accepts "${c.name}", which the validator rejects`);
    });
    GOOD_CONFIGS.forEach((c, i) => {
      const result = results[BAD_CONFIGS.length + i];
      if (result?.ok !== true) disagreements.push(`FAUCET rejects "${c.name}": ${result?.output ?? ''}`);
    });
    assert.deepEqual(disagreements, []);
  });
});

describe('Gauge accepts the gauge.yaml', () => {
  it('is parsed by the parser Gauge runs on (re)load, with a watcher class for each watcher', async () => {
    const faucetPath = await writeTemp(renderFaucetConfig(OPERATOR, state([NET1, NET2])), 'faucet-for-gauge.yaml');
    const gaugePath = await writeTemp(
      gaugeConfig({ faucetConfigPath: faucetPath, prometheusPort: 9303, prometheusAddr: '127.0.0.1' }),
      'gauge.yaml',
    );
    // gauge.py _load_config: watcher_parser(config) then watcher_factory(conf) for each watcher.
    const script = `
import json, sys, warnings
warnings.filterwarnings("ignore")
from faucet.config_parser import watcher_parser
from faucet.watcher import watcher_factory
_, files, _, confs = watcher_parser(sys.argv[1], "gauge-contract", None)
print(json.dumps({"files": files, "watchers": sorted({(c.name, c.dp.name, c.db_type, c.prometheus_port, watcher_factory(c).__name__) for c in confs})}))
`;
    const { stdout } = await run(join(faucetVenv(), 'bin', 'python'), ['-c', script, gaugePath], { timeout: 60_000 });
    const parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
      files: string[];
      watchers: Array<[string, string, string, number, string]>;
    };
    assert.deepEqual(parsed.files, [faucetPath]);
    const dps = new Set(parsed.watchers.map((w) => w[1]));
    assert.deepEqual([...dps].sort(), ['core-sw1', 'dovesnet1', 'dovesnet2']);
    const kinds = new Set(parsed.watchers.map((w) => `${w[0]}:${w[2]}:${w[3]}:${w[4]}`));
    assert.deepEqual([...kinds].sort(), [
      'flow_table_poller:prometheus:9303:GaugeFlowTablePrometheusPoller',
      'port_stats_poller:prometheus:9303:GaugePortStatsPrometheusPoller',
      'port_status_poller:prometheus:9303:GaugePortStatePrometheusPoller',
    ]);
  });
});
