import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dpHostSetting } from '../../../src/config/host-name.js';
import { derivedDpid, dpHolders } from '../../../src/driver/dp-naming.js';
import { managedState } from '../../../src/driver/faucet-desired.js';
import { checkNetwork, type NetworkCheckDeps } from '../../../src/driver/network-checks.js';
import { planNetwork } from '../../../src/driver/network-plan.js';
import { bridgeExternalIds, ExtId, restoreFromBridge } from '../../../src/driver/persist.js';
import { StateStore, type NetworkRecord } from '../../../src/driver/state.js';
import { readFaucetConfigFacts } from '../../../src/faucet/config-facts.js';
import { parseNetworkOptions } from '../../../src/model/options.js';
import type { CreateNetworkRequest } from '../../../src/model/plugin-protocol.js';
import type { BridgeState } from '../../../src/ovs/vswitch.js';
import { isDovesnapError } from '../../../src/util/errors.js';

/**
 * The naming rule of several hosts sharing one FAUCET, wired through: the setting, a network's
 * plan and record, its DP in the rendered configuration, the record's round trip through
 * OVSDB, and the checks at `docker network create`. Each case also shows the local file's
 * behaviour unchanged.
 */

const ID = 'c0ffee'.padEnd(64, '1');

function request(options: Record<string, string>): CreateNetworkRequest {
  return {
    NetworkID: ID,
    Options: { 'com.docker.network.generic': options },
    IPv4Data: [],
    IPv6Data: [],
  } as unknown as CreateNetworkRequest;
}

function plan(raw: Record<string, string>, dpHost: string | undefined): NetworkRecord {
  const options = parseNetworkOptions(raw, dpHost === undefined ? undefined : derivedDpid(dpHost, ID));
  return planNetwork(request(raw), options, raw, {
    defaultControllers: ['tcp:10.239.0.1:6653'],
    localFaucetControllers: ['tcp:10.239.0.1:6653'],
    hostDatapath: 'netdev',
    dpHost,
  }).record;
}

describe('DOVESNAP_HOST_NAME', () => {
  const cases: [string, Record<string, string>, boolean, string | RegExp | undefined][] = [
    ['local file, unset: no host part', {}, false, undefined],
    ['local file, set: refused (it would do nothing)', { DOVESNAP_HOST_NAME: 'h1' }, false, /needs FAUCETCONFRPC_ADDR/],
    ['remote, unset: the host name', {}, true, 'dsh-h1'],
    ['remote, set', { DOVESNAP_HOST_NAME: 'rack2.lab' }, true, 'rack2.lab'],
    [
      'remote, not a host name',
      { DOVESNAP_HOST_NAME: 'a@b' },
      true,
      /invalid value "a@b" for environment variable DOVESNAP_HOST_NAME/,
    ],
  ];
  for (const [what, env, remote, want] of cases)
    it(what, () => {
      if (want instanceof RegExp) assert.throws(() => dpHostSetting(env, remote, () => 'dsh-h1'), want);
      else
        assert.equal(
          dpHostSetting(env, remote, () => 'dsh-h1'),
          want,
        );
    });
  it('remote, a host name that cannot be a host part: asks for the setting', () => {
    assert.throws(() => dpHostSetting({}, true, () => 'bad host'), /set DOVESNAP_HOST_NAME/);
  });
});

describe('a network on a host of a shared FAUCET', () => {
  it('local file: ovs.bridge.dpid is still required, and the DP is named after the network', () => {
    assert.throws(() => plan({}, undefined), /option ovs\.bridge\.dpid is required/);
    const n = { ...plan({ 'ovs.bridge.dpid': '0x7' }, undefined), name: 'web' };
    assert.equal(n.dpHost, undefined);
    assert.equal(bridgeExternalIds(n)[ExtId.dpHost], undefined, 'no new external id on a local network');
    const s = new StateStore();
    s.putNetwork(n);
    assert.deepEqual(
      managedState(s, '', new Set(), new Map()).dps.map((d) => [d.name, d.dpId]),
      [['web', 0x7n]],
    );
  });

  it('remote: without ovs.bridge.dpid the DPID is derived; the DP is web@h1', () => {
    const n = { ...plan({}, 'h1'), name: 'web' };
    assert.equal(n.dpHost, 'h1');
    assert.equal(n.options.dpid, derivedDpid('h1', ID));
    const s = new StateStore();
    s.putNetwork(n);
    assert.deepEqual(
      managedState(s, '', new Set(), new Map()).dps.map((d) => [d.name, d.dpId, d.description]),
      [['web@h1', derivedDpid('h1', ID), `dovesnap network ${ID}`]],
    );
  });

  it('remote: an explicit ovs.bridge.dpid wins', () => {
    assert.equal(plan({ 'ovs.bridge.dpid': '0x42' }, 'h1').options.dpid, 0x42n);
  });

  it('remote: the host part and the derived DPID survive a restart (OVSDB external_ids)', () => {
    const n = { ...plan({}, 'h1'), name: 'web' };
    const bridge: BridgeState = {
      name: n.bridgeName,
      uuid: 'u',
      datapathType: 'netdev',
      dpid: undefined,
      controllers: n.controllers,
      failMode: 'secure',
      externalIds: Object.fromEntries(Object.entries(bridgeExternalIds(n)).filter(([, v]) => v !== '')),
      ports: [],
    } as unknown as BridgeState;
    const back = restoreFromBridge(bridge);
    assert.ok(back !== undefined && !('error' in back));
    assert.equal(back.network.dpHost, 'h1');
    assert.equal(back.network.options.dpid, derivedDpid('h1', ID));
    assert.equal(back.network.options.given.has('ovs.bridge.dpid'), false);
  });
});

const SHARED = `dps:
  core: {dp_id: 0x10, interfaces: {1: {native_vlan: 100}}}
  web@h2:
    dp_id: 0x20
    description: dovesnap network ${'e'.repeat(64)}
    interfaces: {1: {native_vlan: 100}}
`;

function deps(text: string, remote: boolean): NetworkCheckDeps {
  const facts = readFaucetConfigFacts(text);
  return {
    state: { allNetworks: () => [] },
    vswitch: { getBridge: async () => undefined, listBridges: async () => [] },
    host: { linkExists: async () => true, ipv4Routes: async () => [] },
    faucet: {
      foreignDps: async () => new Map([['core', 0x10n]]),
      definedAcls: async () => new Set(),
      aclUsage: async () => ({ input: new Set(), output: new Set() }),
      ...(remote ? { dpHolders: async () => dpHolders(facts) } : {}),
    },
  } as unknown as NetworkCheckDeps;
}

async function refusal(p: Promise<void>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    assert.ok(isDovesnapError(err));
    return err.message;
  }
}

describe('docker network create: DPID collisions in the shared configuration', () => {
  it("remote: another host's network DP holds the given DPID: refused, naming the option, value and holder", async () => {
    const why = await refusal(checkNetwork(deps(SHARED, true), plan({ 'ovs.bridge.dpid': '0x20' }, 'h1'), 'netdev'));
    assert.equal(
      why,
      `invalid value "0x20" for option ovs.bridge.dpid: FAUCET's configuration already has DP web@h2 with dp_id 0x20, held by network web of host h2; choose another ovs.bridge.dpid`,
    );
  });
  it("remote: the operator's DP holds it", async () => {
    const why = await refusal(checkNetwork(deps(SHARED, true), plan({ 'ovs.bridge.dpid': '0x10' }, 'h1'), 'netdev'));
    assert.match(why ?? '', /held by the operator's DP core/);
  });
  it('remote: a free DPID, given or derived, is accepted', async () => {
    assert.equal(await refusal(checkNetwork(deps(SHARED, true), plan({}, 'h1'), 'netdev')), undefined);
    assert.equal(
      await refusal(checkNetwork(deps(SHARED, true), plan({ 'ovs.bridge.dpid': '0x99' }, 'h1'), 'netdev')),
      undefined,
    );
  });
  it('remote: a derived DPID another network of this host has (the first 6 hex digits of both IDs alike)', async () => {
    const d = deps(SHARED, true);
    const mine = {
      ...plan({}, 'h1'),
      id: ID.replace(/1+$/, (m) => '2'.repeat(m.length)),
      bridgeName: 'ovsbr-other',
      name: 'db',
    };
    (d as { state: unknown }).state = { allNetworks: () => [mine] };
    const why = await refusal(checkNetwork(d, plan({}, 'h1'), 'netdev'));
    assert.match(
      why ?? '',
      /^the DPID dovesnap derived for this network on host h1 \(0xd5e[0-9a-f]{12}\) is already used by network db; set ovs\.bridge\.dpid to choose one$/,
    );
  });
  it("local file: the operator's DPs only, with the message as before", async () => {
    const why = await refusal(
      checkNetwork(deps(SHARED, false), plan({ 'ovs.bridge.dpid': '0x10' }, undefined), 'netdev'),
    );
    assert.equal(
      why,
      `invalid value "0x10" for option ovs.bridge.dpid: FAUCET's configuration already has DP core with that dp_id`,
    );
  });
});
