import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildPluginApp, PLUGIN_CONTENT_TYPE } from '../../../src/plugin/server.js';
import type { NetworkDriver } from '../../../src/model/plugin-protocol.js';
import { DovesnapError, ErrorCode } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';

function recordingDriver(calls: [string, unknown][]): NetworkDriver {
  const rec = (name: string) => async (req: unknown) => {
    calls.push([name, req]);
  };
  return {
    createNetwork: async (req) => {
      calls.push(['createNetwork', req]);
      if (req.Options['com.docker.network.generic'] === undefined)
        throw new DovesnapError(ErrorCode.BadOption, 'option ovs.bridge.dpid is required');
    },
    deleteNetwork: rec('deleteNetwork'),
    createEndpoint: async (req) => {
      calls.push(['createEndpoint', req]);
      return { Interface: { MacAddress: '0e:00:00:00:00:01' } };
    },
    endpointOperInfo: async () => ({ Value: {} }),
    deleteEndpoint: rec('deleteEndpoint'),
    join: async () => ({ InterfaceName: { SrcName: 'dscx', DstPrefix: 'eth' }, DisableGatewayService: true }),
    leave: rec('leave'),
    programExternalConnectivity: rec('program'),
    revokeExternalConnectivity: rec('revoke'),
  };
}

describe('plugin HTTP API', () => {
  it('activates with an empty body and no content type', async () => {
    const app = buildPluginApp(recordingDriver([]), silentLogger());
    const res = await app.inject({ method: 'POST', url: '/Plugin.Activate' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { Implements: ['NetworkDriver'] });
    assert.ok(String(res.headers['content-type']).startsWith(PLUGIN_CONTENT_TYPE));
  });

  it('reports local scope', async () => {
    const app = buildPluginApp(recordingDriver([]), silentLogger());
    const res = await app.inject({ method: 'POST', url: '/NetworkDriver.GetCapabilities', payload: '' });
    assert.deepEqual(res.json(), { Scope: 'local', ConnectivityScope: 'local' });
  });

  it('reports the capabilities it is given (DOVESNAP_CONNECTIVITY_SCOPE=global for Swarm)', async () => {
    const app = buildPluginApp(recordingDriver([]), silentLogger(), undefined, {
      Scope: 'local',
      ConnectivityScope: 'global',
    });
    const res = await app.inject({ method: 'POST', url: '/NetworkDriver.GetCapabilities', payload: '' });
    assert.deepEqual(res.json(), { Scope: 'local', ConnectivityScope: 'global' });
  });

  it("gives a swarm manager's AllocateNetwork its options back, for every host's CreateNetwork", async () => {
    const app = buildPluginApp(recordingDriver([]), silentLogger());
    const body = {
      NetworkID: 'wn08da18g7gnq0b3e8nxz3k2a',
      Options: { 'ovs.bridge.vlan': '200', 'com.docker.network.driver.mtu': '9000' },
      IPv4Data: [{ AddressSpace: '', Pool: '10.231.240.0/24', Gateway: '10.231.240.1/24' }],
      IPv6Data: [],
    };
    const res = await app.inject({
      method: 'POST',
      url: '/NetworkDriver.AllocateNetwork',
      payload: JSON.stringify(body),
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { Options: body.Options });
    const bad = await app.inject({
      method: 'POST',
      url: '/NetworkDriver.AllocateNetwork',
      payload: JSON.stringify({ NetworkID: 'x', Options: { 'ovs.bridge.vlan': 200 } }),
    });
    assert.equal(bad.statusCode, 500);
    assert.match(
      String((bad.json() as { Err?: unknown }).Err),
      /AllocateNetwork\.Options\.ovs\.bridge\.vlan must be a string/,
    );
  });

  it("decodes Docker's vendor content type and passes typed requests on", async () => {
    const calls: [string, unknown][] = [];
    const app = buildPluginApp(recordingDriver(calls), silentLogger());
    const body = {
      NetworkID: 'n1',
      EndpointID: 'e1',
      Interface: { Address: '10.0.0.2/24', AddressIPv6: '', MacAddress: '' },
      Options: {},
    };
    const res = await app.inject({
      method: 'POST',
      url: '/NetworkDriver.CreateEndpoint',
      headers: { 'content-type': 'application/vnd.docker.plugins.v1.2+json' },
      payload: JSON.stringify(body),
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { Interface: { MacAddress: '0e:00:00:00:00:01' } });
    assert.deepEqual(calls[0], [
      'createEndpoint',
      {
        NetworkID: 'n1',
        EndpointID: 'e1',
        Interface: { Address: '10.0.0.2/24', AddressIPv6: '', MacAddress: '' },
        Options: {},
      },
    ]);
  });

  it('answers a driver error as {"Err": ...} with the message a person can act on', async () => {
    const app = buildPluginApp(recordingDriver([]), silentLogger());
    const res = await app.inject({
      method: 'POST',
      url: '/NetworkDriver.CreateNetwork',
      payload: JSON.stringify({ NetworkID: 'n1', Options: {} }),
    });
    assert.equal(res.statusCode, 500);
    assert.deepEqual(res.json(), { Err: 'option ovs.bridge.dpid is required' });
  });

  it('answers a malformed request as an error, not a crash', async () => {
    const app = buildPluginApp(recordingDriver([]), silentLogger());
    const missing = await app.inject({
      method: 'POST',
      url: '/NetworkDriver.Join',
      payload: JSON.stringify({ NetworkID: 'n1' }),
    });
    assert.match(missing.json<{ Err: string }>().Err, /Join has no EndpointID/);
    const notJson = await app.inject({
      method: 'POST',
      url: '/NetworkDriver.Leave',
      headers: { 'content-type': 'application/json' },
      payload: '{nope',
    });
    assert.equal(notJson.statusCode >= 400, true);
  });

  it('accepts the calls a local driver does nothing for', async () => {
    const app = buildPluginApp(recordingDriver([]), silentLogger());
    for (const url of ['/NetworkDriver.DiscoverNew', '/NetworkDriver.DiscoverDelete', '/NetworkDriver.FreeNetwork']) {
      const res = await app.inject({ method: 'POST', url, payload: '{}' });
      assert.equal(res.statusCode, 200, url);
      assert.deepEqual(res.json(), {});
    }
    const alloc = await app.inject({ method: 'POST', url: '/NetworkDriver.AllocateNetwork', payload: '{}' });
    assert.deepEqual(alloc.json(), { Options: {} });
  });

  it('answers a call Docker resent without its body (moby/moby#39331) with why, and does nothing', async () => {
    const calls: [string, unknown][] = [];
    const app = buildPluginApp(recordingDriver(calls), silentLogger());
    for (const call of [
      'CreateNetwork',
      'DeleteNetwork',
      'CreateEndpoint',
      'EndpointOperInfo',
      'DeleteEndpoint',
      'Join',
      'Leave',
      'ProgramExternalConnectivity',
      'RevokeExternalConnectivity',
    ]) {
      const res = await app.inject({
        method: 'POST',
        url: `/NetworkDriver.${call}`,
        headers: { 'content-type': PLUGIN_CONTENT_TYPE },
        payload: '',
      });
      assert.equal(res.statusCode, 500, call);
      const err = res.json<{ Err: string }>().Err;
      assert.match(err, new RegExp(`^${call}: Docker sent this call without its request body`), call);
      assert.match(err, /moby\/moby#39331/);
      assert.match(err, /run the command again/);
    }
    assert.deepEqual(calls, [], 'no driver call was made');
  });
});
