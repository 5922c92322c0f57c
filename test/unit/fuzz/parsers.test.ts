/**
 * Property-based fuzzing (fast-check) of every parser of outside input: network options,
 * container labels, Docker's request bodies and port maps, faucet.yaml, attach's command line,
 * and the plugin HTTP API. The properties: nothing but a DovesnapError ever escapes (no
 * TypeError, no RangeError, no hang), and the error names what was wrong.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseNetworkOptions, Opt } from '../../../src/model/options.js';
import { ComposeLabel, parseContainerLabels, Label } from '../../../src/model/labels.js';
import { decode, portBindingsFrom } from '../../../src/model/plugin-protocol.js';
import { readFaucetConfigFacts } from '../../../src/faucet/config-facts.js';
import { parseAttachArgs } from '../../../src/attach/spec.js';
import { buildPluginApp } from '../../../src/plugin/server.js';
import { Driver } from '../../../src/driver/driver.js';
import { FakeFaucetView } from '../../fakes/fake-faucet-view.js';
import { StateStore } from '../../../src/driver/state.js';
import { createNatView } from '../../../src/driver/nat-view.js';
import { isDovesnapError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';
import { FakeHostNet } from '../../fakes/fake-host.js';

const RUNS = { numRuns: 400 };

/** Values that look like what users type, and what they should not. */
const value = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '',
    'true',
    'false',
    '0',
    '1',
    '4094',
    '4095',
    '-1',
    '0x1',
    '0xffffffffffffffffff',
    'flat',
    'nat',
    'routed',
    'tcp:127.0.0.1:6653',
    'eth0/1/acl/20',
    'a,b,,c',
    '../../etc',
    '"; rm -rf /',
    'x\ny: 1',
    '${HOME}',
    '0e:99',
    'ff:ff:ff:ff:ff:ff',
  ),
  fc.integer().map(String),
);

function expectDovesnapError(f: () => unknown, mustName: readonly string[]): void {
  try {
    f();
  } catch (err) {
    assert.ok(isDovesnapError(err), `not a DovesnapError: ${String(err)}`);
    const message = (err as Error).message;
    if (mustName.length > 0)
      assert.ok(
        mustName.some((n) => message.includes(n)),
        `the error names none of ${mustName.join(', ')}: ${message}`,
      );
  }
}

describe('fuzz: parsers never throw anything but a DovesnapError naming the culprit', () => {
  it('network options', () => {
    const key = fc.oneof(
      fc.constantFrom(...Object.values(Opt)),
      fc.string().map((s) => `ovs.bridge.${s}`),
    );
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (opts) => {
        // A required option missing is named too.
        expectDovesnapError(() => parseNetworkOptions(opts), [...Object.keys(opts), Opt.dpid]);
      }),
      RUNS,
    );
  });

  it('container labels', () => {
    const key = fc.oneof(fc.constantFrom(...Object.values(Label), ComposeLabel.project), fc.string());
    const name = fc.string({ maxLength: 20 });
    // A plain name, or the names of a Compose network.
    const network = fc.oneof(
      name,
      fc.record({ name, compose: fc.option(fc.record({ project: name, network: name }), { nil: undefined }) }),
    );
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 5 }), network, (labels, net) => {
        expectDovesnapError(() => parseContainerLabels(labels, net), Object.keys(labels));
      }),
      RUNS,
    );
  });

  it("Docker's request bodies and port maps", () => {
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          NetworkID: value,
          EndpointID: value,
          SandboxKey: value,
          Options: fc.jsonValue(),
          Interface: fc.jsonValue(),
          IPv4Data: fc.jsonValue(),
          IPv6Data: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(body, (b) => {
        for (const d of [
          () => decode.createNetwork(b),
          () => decode.createEndpoint(b),
          () => decode.join(b),
          () => decode.endpoint(b, 'Leave'),
          () => decode.network(b, 'DeleteNetwork'),
        ])
          expectDovesnapError(d, []);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => {
        for (const p of portBindingsFrom({ 'com.docker.network.portmap': raw }))
          assert.ok(p.Port > 0 && Number.isFinite(p.HostPort));
      }),
      RUNS,
    );
  });

  it('faucet.yaml text', () => {
    const base =
      'acls:\n  allow:\n    - rule:\n        actions:\n          allow: true\ndps:\n  sw1:\n    dp_id: 1\n    interfaces:\n      1:\n        native_vlan: 100\n        acls_in: [allow]\n';
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc
        .tuple(fc.nat({ max: base.length }), fc.nat({ max: base.length }), fc.string({ maxLength: 12 }))
        .map(([a, b, s]) => base.slice(0, Math.min(a, b)) + s + base.slice(Math.max(a, b))),
    );
    fc.assert(
      fc.property(text, (t) => {
        expectDovesnapError(() => readFaucetConfigFacts(t), []);
      }),
      RUNS,
    );
  });

  it("attach's command line", () => {
    const arg = fc.oneof(
      value,
      fc.constantFrom(
        '-i',
        '-l',
        '-a',
        '--wait',
        '--direct-phys',
        '--persist',
        'route',
        'dhcp',
        'dhcp:-O 42',
        'udhcpc-f',
        '0/0',
        '10.0.0.2/24@10.0.0.1',
        'U:x@5',
        'mac:02:00:00:00:00:01',
      ),
    );
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 8 }), (argv) => {
        expectDovesnapError(() => parseAttachArgs(argv), []);
      }),
      RUNS,
    );
  });
});

describe('fuzz: the plugin HTTP API', () => {
  it('answers random JSON on every endpoint with a result or {"Err": "…"}, and keeps serving', async () => {
    const state = new StateStore();
    const host = new FakeHostNet();
    const driver = new Driver({
      vswitch: new FakeVSwitch(),
      host,
      state,
      faucet: new FakeFaucetView(),
      nat: createNatView(state, host, silentLogger()),
      settings: {
        defaultControllers: ['tcp:127.0.0.1:6653'],
        localFaucetControllers: ['tcp:127.0.0.1:6653'],
        hostDatapath: 'netdev',
        ofportTimeoutMs: 50,
      },
      logger: silentLogger(),
      random: (n) => new Uint8Array(n).fill(7),
    });
    const app = buildPluginApp(driver, silentLogger());
    const endpoints = [
      'Plugin.Activate',
      'NetworkDriver.GetCapabilities',
      'NetworkDriver.CreateNetwork',
      'NetworkDriver.DeleteNetwork',
      'NetworkDriver.CreateEndpoint',
      'NetworkDriver.EndpointOperInfo',
      'NetworkDriver.DeleteEndpoint',
      'NetworkDriver.Join',
      'NetworkDriver.Leave',
      'NetworkDriver.ProgramExternalConnectivity',
      'NetworkDriver.RevokeExternalConnectivity',
      'NetworkDriver.DiscoverNew',
      'NetworkDriver.Nonsense',
    ];
    const payload = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string(),
      fc
        .record(
          {
            NetworkID: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), value),
            EndpointID: value,
            Options: fc.jsonValue(),
            IPv4Data: fc.jsonValue(),
            Interface: fc.jsonValue(),
            SandboxKey: value,
          },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
    );
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...endpoints), payload, async (url, body) => {
          const res = await app.inject({
            method: 'POST',
            url: `/${url}`,
            payload: body,
            headers: { 'content-type': 'application/vnd.docker.plugins.v1.2+json' },
          });
          assert.ok([200, 404, 500].includes(res.statusCode), `status ${res.statusCode} for ${url}`);
          const parsed = JSON.parse(res.body) as Record<string, unknown>;
          if (res.statusCode !== 200)
            assert.ok(
              typeof (parsed['Err'] ?? parsed['message']) === 'string' &&
                String(parsed['Err'] ?? parsed['message']).length > 0,
              `an error message for ${url}: ${res.body}`,
            );
        }),
        { numRuns: 300 },
      );
      // Still serving after all of it.
      const ok = await app.inject({ method: 'POST', url: '/NetworkDriver.GetCapabilities', payload: '{}' });
      assert.equal(ok.statusCode, 200);
    } finally {
      await app.close();
    }
  });
});
