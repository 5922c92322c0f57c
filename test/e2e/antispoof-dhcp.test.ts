import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createNetwork, docker, dockerRaw, faucetYaml, runContainer, status, testDpid, uniqueName, waitFor } from './harness.js';
import { makeLan } from './dhcp-lan.js';

/**
 * ovs.bridge.antispoof on a DHCP network, against a real DHCP server (udhcpd in a namespace the
 * test makes, behind an added port): the port's MAC is pinned from the start and its IP when the
 * lease arrives; with the lease, the container reaches the LAN's server as itself, and from any
 * other address (even one of the pool) it reaches nothing.
 */

async function leaseOf(container: string): Promise<string | undefined> {
  const id = (await docker('inspect', '-f', '{{.Id}}', container)).trim();
  for (const n of Object.values(await status())) {
    const c = n.Containers[id] as unknown as { Dhcp: { State: string; Address: string | null } | null } | undefined;
    if (c?.Dhcp?.State === 'bound' && c.Dhcp.Address !== null) return c.Dhcp.Address;
  }
  return undefined;
}

async function reaches(from: string, ip: string): Promise<boolean> {
  return (await dockerRaw('exec', from, 'ping', '-c', '1', '-W', '1', ip)).code === 0;
}

async function fetchesPage(from: string, ip: string): Promise<boolean> {
  const r = await dockerRaw('exec', from, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ip}:8080/`);
  return r.code === 0 && r.stdout.includes('hello from the LAN server');
}

/**
 * Makes `other` the container's only address and tries ICMP and TCP to the server. The client
 * puts its lease back at a renewal: a try that overlapped one is made again.
 */
async function fromOtherAddress(c: string, other: string, leased: string, server: string): Promise<{ pinged: boolean; fetched: boolean }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    await docker('exec', c, 'ip', 'addr', 'flush', 'dev', 'eth0');
    await docker('exec', c, 'ip', 'addr', 'add', `${other}/24`, 'dev', 'eth0');
    await docker('exec', c, 'ip', 'neigh', 'flush', 'dev', 'eth0');
    const pinged = await reaches(c, server);
    const fetched = await fetchesPage(c, server);
    const now = await docker('exec', c, 'ip', '-4', 'addr', 'show', 'dev', 'eth0');
    if (now.includes(`inet ${other}/24`) && !now.includes(`inet ${leased}/`)) return { pinged, fetched };
  }
  throw new Error(`the address ${other} did not hold long enough to try`);
}

async function dhcpNetwork(tag: string, antispoof: boolean): Promise<{ net: string; server: string; prefix: string }> {
  const lan = await makeLan(`${antispoof ? 'asd' : 'asn'}${tag}`, []);
  const net = `dst-${antispoof ? 'asd' : 'asn'}-${tag}`;
  await createNetwork(
    net,
    { 'ovs.bridge.dhcp': 'true', 'ovs.bridge.mode': 'flat', 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.add_ports': lan.port, ...(antispoof ? { 'ovs.bridge.antispoof': 'true' } : {}) },
    ['--internal', '--ipam-driver', 'null'],
  );
  return { net, server: `${lan.prefix}.1`, prefix: lan.prefix };
}

describe('anti-spoofing on a DHCP network', () => {
  it('opens the leased address once the lease arrives, and only it', async () => {
    const tag = uniqueName('asd').slice(-6);
    const { net, server, prefix } = await dhcpNetwork(tag, true);
    const a = `${net}-a`;
    await runContainer(a, net, ['--cap-add', 'NET_ADMIN']);
    const leased = await waitFor(`a lease for ${a}`, () => leaseOf(a), 60_000, 250);
    // The lease reaches FAUCET's file (the port's ACL names the address), then traffic flows.
    await waitFor('the leased address in the port ACL', async () => faucetYaml().includes(`ipv4_src: ${leased}`), 30_000, 250);
    await waitFor(`${a} reaches the LAN server`, () => reaches(a, server), 30_000, 250);
    assert.ok(await fetchesPage(a, server), 'TCP to the LAN server as itself');

    // Another address of the pool, not leased to it: nothing gets through.
    const spoofed = await fromOtherAddress(a, `${prefix}.149`, leased, server);
    assert.deepEqual(spoofed, { pinged: false, fetched: false }, 'ICMP and TCP from an address not leased are dropped');

    // Its own address back: through again.
    await docker('exec', a, 'ip', 'addr', 'flush', 'dev', 'eth0');
    await docker('exec', a, 'ip', 'addr', 'add', `${leased}/24`, 'dev', 'eth0');
    await waitFor(`${a} reaches the server again as itself`, () => reaches(a, server), 20_000, 250);
    assert.ok(await fetchesPage(a, server));
  });

  it('without the option, the same spoofed address does get through (the check above can see it)', async () => {
    const tag = uniqueName('asn').slice(-6);
    const { net, server, prefix } = await dhcpNetwork(tag, false);
    const b = `${net}-b`;
    await runContainer(b, net, ['--cap-add', 'NET_ADMIN']);
    const leased = await waitFor(`a lease for ${b}`, () => leaseOf(b), 60_000, 250);
    await waitFor(`${b} reaches the LAN server`, () => reaches(b, server), 30_000, 250);
    const spoofed = await fromOtherAddress(b, `${prefix}.148`, leased, server);
    assert.deepEqual(spoofed, { pinged: true, fetched: true });
  });
});
