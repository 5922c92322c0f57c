import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerIp,
  containerPortsOn,
  createNetwork,
  docker,
  endpointPort,
  hostLinks,
  httpGet,
  peerName,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  ping,
} from './harness.js';

async function portCount(bridge: string): Promise<number> {
  return (await containerPortsOn(bridge)).size;
}

describe('container lifecycle on dovesnap networks', () => {
  const netA = uniqueName('lca');
  const netB = uniqueName('lcb');
  const a = testSubnet();
  const b = testSubnet();
  let bridgeA = '';
  let bridgeB = '';
  const peer = `${netA}-peer`;

  it('sets up two networks and a peer serving HTTP on the first', async () => {
    bridgeA = `ovsbr-${(await createNetwork(netA, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mtu': '1400' }, ['--subnet', a.subnet])).slice(0, 5)}`;
    bridgeB = `ovsbr-${(await createNetwork(netB, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', b.subnet])).slice(0, 5)}`;
    await runContainer(peer, netA);
    await serveHttp(peer);
  });

  it('applies the network MTU to container interfaces', async () => {
    assert.equal(await docker('exec', peer, 'cat', '/sys/class/net/eth0/mtu'), '1400');
  });

  it('honours --ip and --mac-address', async () => {
    const name = `${netA}-fixed`;
    const ip = `${a.prefix}.77`;
    await runContainer(name, netA, ['--ip', ip, '--mac-address', '0e:00:00:00:77:77']);
    assert.equal(await containerIp(name, netA), ip);
    assert.match(await docker('exec', name, 'cat', '/sys/class/net/eth0/address'), /^0e:00:00:00:77:77$/);
    const peerIp = await containerIp(peer, netA);
    await waitPing(name, peerIp);
    assert.equal(await waitFor('TCP to peer', () => httpGet(name, `http://${peerIp}:8080/`)), `hello from ${peer}`);
  });

  it('replaces the MAC prefix given by the dovesnap.faucet.mac_prefix label', async () => {
    const name = `${netA}-pfx`;
    await runContainer(name, netA, ['--label', 'dovesnap.faucet.mac_prefix=0e:99']);
    await waitFor('MAC prefix applied', async () =>
      (await docker('exec', name, 'cat', '/sys/class/net/eth0/address')).startsWith('0e:99:'),
    );
    await waitPing(name, await containerIp(peer, netA));
    const c = Object.values(
      (await status())[await docker('network', 'inspect', '-f', '{{.Id}}', netA)]?.Containers ?? {},
    ).find((x) => x.Name === `/${name}`);
    assert.ok(c?.MacAddress.startsWith('0e:99:'));
  });

  it('survives stop, start and restart, with the port removed while stopped', async () => {
    const name = `${netA}-cycle`;
    await runContainer(name, netA);
    const peerIp = await containerIp(peer, netA);
    await waitPing(name, peerIp);
    const before = await portCount(bridgeA);
    await docker('stop', '-t', '0', name);
    await waitFor('port removed on stop', async () => (await portCount(bridgeA)) === before - 1);
    await docker('start', name);
    await waitPing(name, peerIp);
    assert.equal(await portCount(bridgeA), before);
    await docker('restart', '-t', '0', name);
    await waitPing(name, peerIp);
    assert.equal(
      await waitFor('TCP after restart', () => httpGet(name, `http://${peerIp}:8080/`)),
      `hello from ${peer}`,
    );
    assert.equal(await portCount(bridgeA), before);
  });

  it('connects and disconnects a running container, and serves a container on two networks', async () => {
    const name = `${netB}-multi`;
    const other = `${netB}-other`;
    await runContainer(other, netB);
    await runContainer(name, netA);
    await docker('network', 'connect', netB, name);
    await waitPing(name, await containerIp(other, netB));
    await waitPing(name, await containerIp(peer, netA));
    assert.equal(await docker('exec', name, 'sh', '-c', 'ls /sys/class/net | grep -c eth'), '2');
    const n = await status();
    const onB = Object.values(n[await docker('network', 'inspect', '-f', '{{.Id}}', netB)]?.Containers ?? {}).map(
      (c) => c.Name,
    );
    assert.ok(onB.includes(`/${name}`));
    await docker('network', 'disconnect', netB, name);
    await waitFor('port gone from B', async () => (await portCount(bridgeB)) === 1);
    assert.equal(await ping(name, await containerIp(other, netB)), false);
    await waitPing(name, await containerIp(peer, netA));
  });

  it('rm -f of a running container leaves no veth or port', async () => {
    const name = `${netA}-gone`;
    const id = await runContainer(name, netA);
    await waitPing(name, await containerIp(peer, netA));
    const ep = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${netA}").EndpointID}}`, id);
    const before = await portCount(bridgeA);
    const port = await endpointPort(ep);
    assert.ok(port !== undefined, 'the endpoint has its OVS port');
    await docker('rm', '-f', name);
    await waitFor('port removed', async () => (await portCount(bridgeA)) === before - 1);
    const links = await hostLinks('ds');
    assert.ok(!links.includes(port));
    assert.ok(!links.includes(peerName(port)));
  });
});
