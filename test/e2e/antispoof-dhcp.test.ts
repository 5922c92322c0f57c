import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createNetwork,
  docker,
  dockerRaw,
  faucetYaml,
  runContainer,
  startCapture,
  status,
  testDpid,
  uniqueName,
  waitFor,
} from './harness.js';
import { makeLan } from './dhcp-lan.js';

/**
 * ovs.bridge.antispoof on a DHCP network, against a real DHCP server (udhcpd in a namespace the
 * test makes, behind an added port): the port's MAC is pinned from the start and its IP when the
 * lease arrives; with the lease, the container reaches the LAN's server as itself, and from any
 * other address (even one of the pool) it reaches nothing.
 */

interface DhcpState {
  State: string;
  Reason: string | null;
  Address: string | null;
  Server: string | null;
}

async function dhcpOf(container: string): Promise<DhcpState | undefined> {
  const id = (await docker('inspect', '-f', '{{.Id}}', container)).trim();
  for (const n of Object.values(await status())) {
    const c = n.Containers[id] as unknown as { Dhcp: DhcpState | null } | undefined;
    if (c?.Dhcp !== undefined && c.Dhcp !== null) return c.Dhcp;
  }
  return undefined;
}

async function leaseOf(container: string): Promise<string | undefined> {
  const d = await dhcpOf(container);
  return d?.State === 'bound' && d.Address !== null ? d.Address : undefined;
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
async function fromOtherAddress(
  c: string,
  other: string,
  leased: string,
  server: string,
): Promise<{ pinged: boolean; fetched: boolean }> {
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

/**
 * An address of the pool (`.100`–`.150`) that is not the lease: `.host`, or the next one when the
 * server happened to lease exactly that (a fixed `.148` failed one run in 51 that way).
 */
function notLeased(prefix: string, leased: string, host: number): string {
  return `${prefix}.${`${prefix}.${host}` === leased ? host + 1 : host}`;
}

async function dhcpNetwork(
  tag: string,
  antispoof: boolean,
  more: Readonly<Record<string, (prefix: string) => string>> = {},
): Promise<{ net: string; server: string; prefix: string; lanPort: string }> {
  const lan = await makeLan(`${antispoof ? 'asd' : 'asn'}${tag}`, []);
  const net = `dst-${antispoof ? 'asd' : 'asn'}-${tag}`;
  const extra = Object.fromEntries(Object.entries(more).map(([k, v]) => [k, v(lan.prefix)]));
  await createNetwork(
    net,
    {
      'ovs.bridge.dhcp': 'true',
      'ovs.bridge.mode': 'flat',
      'ovs.bridge.dpid': testDpid(),
      'ovs.bridge.add_ports': lan.port,
      ...(antispoof ? { 'ovs.bridge.antispoof': 'true' } : {}),
      ...extra,
    },
    ['--internal', '--ipam-driver', 'null'],
  );
  return { net, server: `${lan.prefix}.1`, prefix: lan.prefix, lanPort: lan.port };
}

/** The container's MAC on its (only) interface. */
async function macOf(container: string): Promise<string> {
  return (await docker('exec', container, 'cat', '/sys/class/net/eth0/address')).trim();
}

/** busybox udhcpd in the container, handing out `.200`-`.210` of the LAN with itself as router and DNS server. */
async function rogueServer(container: string, prefix: string, self: string): Promise<void> {
  const conf = [
    `start ${prefix}.200`,
    `end ${prefix}.210`,
    'interface eth0',
    'lease_file /tmp/udhcpd.leases',
    'pidfile /tmp/udhcpd.pid',
    'option subnet 255.255.255.0',
    `option router ${self}`,
    `option dns ${self}`,
    '',
  ].join('\n');
  await docker(
    'exec',
    container,
    'sh',
    '-c',
    `printf '%s' '${conf}' > /tmp/udhcpd.conf && : > /tmp/udhcpd.leases && udhcpd -a 100 /tmp/udhcpd.conf`,
  );
  await waitFor(
    `udhcpd running in ${container}`,
    async () => (await dockerRaw('exec', container, 'pidof', 'udhcpd')).code === 0,
    5000,
    100,
  );
}

describe('anti-spoofing on a DHCP network', () => {
  it('opens the leased address once the lease arrives, and only it', async () => {
    const tag = uniqueName('asd').slice(-6);
    const { net, server, prefix } = await dhcpNetwork(tag, true);
    const a = `${net}-a`;
    await runContainer(a, net, ['--cap-add', 'NET_ADMIN']);
    const leased = await waitFor(`a lease for ${a}`, () => leaseOf(a), 60_000, 250);
    // The lease reaches FAUCET's file (the port's ACL names the address), then traffic flows.
    await waitFor(
      'the leased address in the port ACL',
      async () => faucetYaml().includes(`ipv4_src: ${leased}`),
      30_000,
      250,
    );
    await waitFor(`${a} reaches the LAN server`, () => reaches(a, server), 30_000, 250);
    assert.ok(await fetchesPage(a, server), 'TCP to the LAN server as itself');

    // Another address of the pool, not leased to it: nothing gets through.
    const spoofed = await fromOtherAddress(a, notLeased(prefix, leased, 149), leased, server);
    assert.deepEqual(spoofed, { pinged: false, fetched: false }, 'ICMP and TCP from an address not leased are dropped');

    // Its own address back: through again.
    await docker('exec', a, 'ip', 'addr', 'flush', 'dev', 'eth0');
    await docker('exec', a, 'ip', 'addr', 'add', `${leased}/24`, 'dev', 'eth0');
    await waitFor(`${a} reaches the server again as itself`, () => reaches(a, server), 20_000, 250);
    assert.ok(await fetchesPage(a, server));
  });

  it('a container running a DHCP server answers no one: its offers are dropped at its port, and the victim leases from the network server', async () => {
    const tag = uniqueName('asr').slice(-6);
    const { net, server, prefix, lanPort } = await dhcpNetwork(tag, true, {
      'ovs.bridge.dhcp_server': (p) => `${p}.1`,
      'ovs.bridge.dhcp_subnet': (p) => `${p}.0/24`,
    });
    const rogue = `${net}-rogue`;
    await runContainer(rogue, net);
    const rogueIp = await waitFor(`a lease for ${rogue}`, () => leaseOf(rogue), 60_000, 250);
    await waitFor(
      'the rogue leased address in its port ACL',
      async () => faucetYaml().includes(`ipv4_src: ${rogueIp}`),
      30_000,
      250,
    );
    await rogueServer(rogue, prefix, rogueIp);
    const rogueMac = await macOf(rogue);

    // The LAN port sees what the VLAN floods: the victim's DISCOVER, and any offer broadcast to it.
    const cap = await startCapture(lanPort);
    const victim = `${net}-victim`;
    await runContainer(victim, net);
    const victimMac = await macOf(victim);
    const leased = await waitFor(`a lease for ${victim}`, () => leaseOf(victim), 60_000, 250);
    const host = Number(leased.split('.')[3]);
    assert.ok(
      leased.startsWith(`${prefix}.`) && host >= 100 && host <= 150,
      `the victim's address ${leased} is from the network server's pool`,
    );
    assert.equal((await dhcpOf(victim))?.Server, server);
    await cap.waitLine(
      "the victim's DISCOVER on the LAN",
      new RegExp(`^\\S+ ${victimMac} > ff:ff:ff:ff:ff:ff, .*\\.68 > 255\\.255\\.255\\.255\\.67: `),
      10_000,
    );
    // The rogue saw that DISCOVER too, and udhcpd answers it within its 100 ms ARP check.
    await new Promise((r) => setTimeout(r, 3000));
    cap.stop();
    const fromRogue = cap.lines.filter((l) => l.includes(rogueMac) && /\.67 > \S+\.68: /.test(l));
    assert.deepEqual(fromRogue, [], 'no DHCP reply of the rogue left its port');

    await waitFor(
      'the victim leased address in its port ACL',
      async () => faucetYaml().includes(`ipv4_src: ${leased}`),
      30_000,
      250,
    );
    await waitFor(`${victim} reaches the LAN server`, () => reaches(victim, server), 30_000, 250);
    assert.ok(await fetchesPage(victim, server), 'TCP from the victim to the LAN server');
  });

  it('refuses a lease from a server that is not ovs.bridge.dhcp_server: not pinned, and the status says why', async () => {
    const tag = uniqueName('asw').slice(-6);
    const { net, prefix } = await dhcpNetwork(tag, true, { 'ovs.bridge.dhcp_server': (p) => `${p}.2` });
    const c = `${net}-c`;
    await runContainer(c, net);
    const refused = await waitFor(
      `the lease of ${c} refused`,
      async () => {
        const d = await dhcpOf(c);
        return d?.State === 'no lease' &&
          d.Reason?.includes(`from server ${prefix}.1, not from ovs.bridge.dhcp_server=${prefix}.2`) === true
          ? d
          : undefined;
      },
      60_000,
      100,
    );
    assert.equal(refused.Address, null);
    // It keeps asking, and is never bound nor pinned.
    await new Promise((r) => setTimeout(r, 5000));
    assert.notEqual((await dhcpOf(c))?.State, 'bound');
    assert.doesNotMatch(
      faucetYaml(),
      new RegExp(`ipv4_src: ${prefix.replace(/\./g, '\\.')}\\.`),
      'no address of the LAN pinned',
    );
  });

  it('without the option, the same spoofed address does get through (the check above can see it)', async () => {
    const tag = uniqueName('asn').slice(-6);
    const { net, server, prefix } = await dhcpNetwork(tag, false);
    const b = `${net}-b`;
    await runContainer(b, net, ['--cap-add', 'NET_ADMIN']);
    const leased = await waitFor(`a lease for ${b}`, () => leaseOf(b), 60_000, 250);
    await waitFor(`${b} reaches the LAN server`, () => reaches(b, server), 30_000, 250);
    const spoofed = await fromOtherAddress(b, notLeased(prefix, leased, 148), leased, server);
    assert.deepEqual(spoofed, { pinged: true, fetched: true });
  });
});
