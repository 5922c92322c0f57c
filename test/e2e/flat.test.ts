import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  bridgeExists,
  containerIp,
  containerPortsOn,
  peerName,
  createNetwork,
  docker,
  faucetYaml,
  hostLinks,
  httpGet,
  must,
  ovsVsctl,
  run,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  DOCKER,
} from './harness.js';

interface FaucetPort {
  description?: string;
  native_vlan?: number | string;
  acls_in?: string[];
}
interface FaucetDp {
  dp_id: number | string;
  interfaces: Record<string, FaucetPort>;
  description?: string;
}

function dps(): Record<string, FaucetDp> {
  return (parse(faucetYaml()) as { dps?: Record<string, FaucetDp> }).dps ?? {};
}

function dpidNum(v: number | string): bigint {
  return BigInt(v);
}

describe('flat network on the real stack', () => {
  const net = uniqueName('flat');
  const dpid = testDpid();
  const { subnet, prefix } = testSubnet();
  const c1 = `${net}-c1`;
  const c2 = `${net}-c2`;
  let netId = '';

  it('creates the network: a secure OVS bridge under FAUCET with the DPID', async () => {
    netId = await createNetwork(net, { 'ovs.bridge.dpid': dpid }, ['--subnet', subnet]);
    const bridge = `ovsbr-${netId.slice(0, 5)}`;
    assert.ok(await bridgeExists(bridge), `bridge ${bridge} exists`);
    assert.equal(await ovsVsctl('get', 'Bridge', bridge, 'fail_mode'), 'secure');
    const unquote = (s: string): string => s.replace(/^"(.*)"$/, '$1');
    assert.equal(
      unquote(await ovsVsctl('get', 'Bridge', bridge, 'other_config:datapath-id')),
      dpidNum(dpid).toString(16).padStart(16, '0'),
    );
    // Once FAUCET runs the new DP, dovesnap reconnects the switch (vswitch.ts
    // reconnectControllers): its Controller rows go and come back, so a read in between is empty.
    const controllers = await waitFor(
      `bridge ${bridge} has its controllers`,
      async () => {
        const c = await ovsVsctl('get-controller', bridge);
        return c === '' ? undefined : c;
      },
      10_000,
    );
    assert.match(controllers, /tcp:127\.0\.0\.1:6653/);
    assert.equal(unquote(await ovsVsctl('get', 'Bridge', bridge, 'external_ids:dovesnap-network-id')), netId);
  });

  it('connects two containers: ping and TCP both ways through FAUCET', async () => {
    await runContainer(c1, net);
    await runContainer(c2, net);
    const ip1 = await containerIp(c1, net);
    const ip2 = await containerIp(c2, net);
    assert.ok(ip1.startsWith(prefix) && ip2.startsWith(prefix), `${ip1} ${ip2} in ${subnet}`);
    await waitPing(c1, ip2);
    await waitPing(c2, ip1);
    await serveHttp(c2);
    await serveHttp(c1);
    assert.equal(await waitFor('TCP c1 -> c2', () => httpGet(c1, `http://${ip2}:8080/`)), `hello from ${c2}`);
    assert.equal(await waitFor('TCP c2 -> c1', () => httpGet(c2, `http://${ip1}:8080/`)), `hello from ${c1}`);
  });

  it("puts each container's port in FAUCET's config under the network's DP", async () => {
    const id1 = await docker('inspect', '-f', '{{.Id}}', c1);
    const id2 = await docker('inspect', '-f', '{{.Id}}', c2);
    const dp = await waitFor('DP with both ports', async () => {
      const d = dps()[net];
      return d !== undefined && Object.values(d.interfaces).filter((p) => p.description?.startsWith('/')).length === 2
        ? d
        : undefined;
    });
    assert.equal(dpidNum(dp.dp_id), dpidNum(dpid));
    const containerPorts = Object.values(dp.interfaces).filter((p) => p.description?.startsWith('/'));
    assert.deepEqual(
      containerPorts.map((p) => p.description).sort(),
      [`/${c1} ${id1.slice(0, 5)}`, `/${c2} ${id2.slice(0, 5)}`].sort(),
    );
    for (const p of containerPorts) assert.equal(Number(p.native_vlan), 100);
    // FAUCET really holds flows for the bridge: it is connected and programmed.
    const bridge = `ovsbr-${netId.slice(0, 5)}`;
    await waitFor('controller connected', async () =>
      (await ovsVsctl('--columns=is_connected', 'list', 'Controller')).includes('true'),
    );
    const flows = await must('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-flows', bridge]);
    assert.match(flows, /table=\d+/);
    assert.ok(flows.split('\n').length > 5, 'FAUCET installed its pipeline');
  });

  it('describes the network and its containers in the status API and `dovesnap status`', async () => {
    const s = await status();
    const n = s[netId];
    assert.ok(n, 'network in /networks');
    assert.equal(n.NetworkName, net);
    assert.equal(n.BridgeName, `ovsbr-${netId.slice(0, 5)}`);
    const cs = Object.values(n.Containers);
    assert.equal(cs.length, 2);
    const one = cs.find((c) => c.Name === `/${c1}`);
    assert.ok(one);
    assert.equal(one.HostIP, await containerIp(c1, net));
    assert.equal(
      one.MacAddress,
      await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").MacAddress}}`, c1),
    );
    assert.ok((one.OFPort ?? 0) > 0);
    const text = await must('dovesnap', ['status']);
    assert.match(text, new RegExp(net));
    assert.match(text, new RegExp(c1));
    const json = JSON.parse(await must('dovesnap', ['status', '--json'])) as Record<string, unknown>;
    assert.ok(json[netId]);
  });

  it('removes containers and the network without leaving a veth, port or FAUCET entry', async () => {
    const bridge = `ovsbr-${netId.slice(0, 5)}`;
    const ports = [...(await containerPortsOn(bridge)).keys()];
    assert.equal(ports.length, 2);
    await docker('rm', '-f', c1, c2);
    await waitFor('container ports gone', async () => (await containerPortsOn(bridge)).size === 0);
    await waitFor('container ports gone from FAUCET', async () =>
      Object.values(dps()[net]?.interfaces ?? {}).every((p) => !p.description?.startsWith('/')),
    );
    await docker('network', 'rm', net);
    await waitFor('DP gone from FAUCET', async () => dps()[net] === undefined);
    assert.equal(await bridgeExists(bridge), false);
    const links = await hostLinks('ds');
    for (const p of ports) {
      assert.ok(!links.includes(p), `veth ${p} removed`);
      assert.ok(!links.includes(peerName(p)), `peer of ${p} removed`);
    }
    assert.equal((await status())[netId], undefined);
    assert.notEqual((await run(DOCKER, ['network', 'inspect', net])).code, 0);
  });
});
