import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import {
  containerIp,
  createNetwork,
  faucetYaml,
  must,
  ovsVsctl,
  run,
  runContainer,
  serveHttp,
  testDpid,
  testSubnet,
  uniqueName,
  vethIntoNamespace,
  waitFor,
} from './harness.js';

/**
 * `ovs.bridge.add_ports`: a host interface joins the network as a FAUCET port. The "physical"
 * interface here is one end of a veth whose other end sits in a network namespace the test
 * makes: a test host outside Docker, on the same VLAN as the containers.
 */
describe('host ports (ovs.bridge.add_ports)', () => {
  const net = uniqueName('hp');
  const tag = net.slice(-6);
  const ns = `dstns${tag}`;
  const outside = `dsto${tag}`;
  const inside = `dsti${tag}`;
  const { subnet, prefix } = testSubnet();
  const hostIp = `${prefix}.200`;
  const c1 = `${net}-c1`;

  it('puts a host interface on the bridge at the requested OpenFlow port, in FAUCET', async () => {
    await vethIntoNamespace(ns, outside, inside);
    await must('ip', ['-n', ns, 'addr', 'add', `${hostIp}/24`, 'dev', inside]);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // The userspace datapath leaves checksums to the sender (see docs/troubleshooting.md).
    await must('ip', ['netns', 'exec', ns, 'ethtool', '-K', inside, 'tx', 'off']);

    const id = await createNetwork(net, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.add_ports': `${outside}/40` }, [
      '--subnet',
      subnet,
    ]);
    const bridge = `ovsbr-${id.slice(0, 5)}`;
    assert.equal(await ovsVsctl('port-to-br', outside), bridge);
    assert.equal(await ovsVsctl('get', 'Interface', outside, 'ofport'), '40');
    const dp = await waitFor('DP with the host port', async () => {
      const d = (
        parse(faucetYaml()) as {
          dps?: Record<string, { interfaces: Record<string, { description?: string; native_vlan?: number }> }>;
        }
      ).dps?.[net];
      return d?.interfaces['40'] ? d : undefined;
    });
    assert.equal(dp.interfaces['40']?.description, `Physical interface ${outside}`);
    assert.equal(Number(dp.interfaces['40']?.native_vlan), 100);
  });

  it('lets the outside host and a container talk, ping and TCP', async () => {
    await runContainer(c1, net);
    const ip1 = await containerIp(c1, net);
    await waitFor(
      'outside host pings the container',
      async () => (await run('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', '1', '-W', '1', ip1])).code === 0,
    );
    await serveHttp(c1);
    const page = await waitFor('TCP from the outside host', async () => {
      const r = await run('ip', [
        'netns',
        'exec',
        ns,
        'timeout',
        '5',
        'busybox',
        'wget',
        '-q',
        '-O',
        '-',
        `http://${ip1}:8080/`,
      ]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    });
    assert.equal(page, `hello from ${c1}`);
  });
});
