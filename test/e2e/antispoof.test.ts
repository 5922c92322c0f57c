import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  containerIp,
  createNetwork,
  docker,
  dockerRaw,
  FAUCET_CONFIG,
  httpGet,
  ping,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  addOperatorEntries,
} from './harness.js';

/**
 * ovs.bridge.antispoof, proven by traffic: a container that changes its MAC, takes another or
 * a peer's address, or sends gratuitous ARP for a peer's address reaches nobody and poisons no
 * ARP cache; an exempt container (dovesnap.faucet.antispoof=false) doing the same gets through
 * (which also shows that each check here can see the attack work). With an operator ACL, the
 * operator's rules still decide for the container's own traffic.
 */

const tag = uniqueName('as').slice(-6);
const net = `dst-as-${tag}`;
const aclNet = `dst-asacl-${tag}`;
const acl = `e2e-as-no8080-${tag}`;
const NO_8080 = `  ${acl}:
    - rule:
        dl_type: 0x800
        nw_proto: 6
        tcp_dst: 8080
        actions:
          allow: 0
    - rule:
        actions:
          allow: 1
`;

const exec = (c: string, ...cmd: string[]): Promise<string> => docker('exec', c, ...cmd);

/** The MAC `ip neigh` in `c` has for `ip`, if any. */
async function neighbourMac(c: string, ip: string): Promise<string | undefined> {
  const line = (await dockerRaw('exec', c, 'ip', 'neigh', 'show', ip)).stdout;
  return /lladdr ([0-9a-f:]{17})/.exec(line)?.[1];
}

async function macOf(c: string): Promise<string> {
  return (await exec(c, 'cat', '/sys/class/net/eth0/address')).trim();
}

/** Refreshes `witness`'s entry for `ip` (a ping), then waits out Linux's ARP locktime (1 s) so that an update would be taken. */
async function freshEntry(witness: string, ip: string): Promise<string> {
  await waitPing(witness, ip);
  const mac = await waitFor(`${witness} to know ${ip}`, () => neighbourMac(witness, ip));
  await new Promise((r) => setTimeout(r, 1_500));
  return mac;
}

/** `c` announces its own address with its (current) MAC, as a host does after a MAC change. */
async function announce(c: string, ip: string): Promise<void> {
  await exec(c, 'arping', '-U', '-c', '2', '-s', ip, '-I', 'eth0', ip).catch(() => undefined);
  await exec(c, 'ip', 'neigh', 'flush', 'dev', 'eth0');
}

/** Makes `ip` the only address of `c`'s eth0 (Linux drops secondaries with the primary). */
async function onlyAddress(c: string, ip: string): Promise<void> {
  const now = (await exec(c, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'))
    .split('\n')
    .map((l) => /inet ([0-9./]+)/.exec(l)?.[1])
    .filter((x) => x !== undefined);
  for (const cidr of now) await dockerRaw('exec', c, 'ip', 'addr', 'del', cidr, 'dev', 'eth0');
  await exec(c, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
}

/**
 * `from` claims `ip` with gratuitous ARP (-U requests, -A replies). busybox arping binds to the
 * sender address, so `from` holds it (as a /32) while it sends.
 */
async function gratuitousArp(from: string, ip: string): Promise<void> {
  await exec(from, 'ip', 'addr', 'add', `${ip}/32`, 'dev', 'eth0');
  try {
    for (const mode of ['-U', '-A']) {
      const r = await dockerRaw('exec', from, 'arping', mode, '-c', '2', '-s', ip, '-I', 'eth0', ip);
      assert.doesNotMatch(r.stderr, /bind|can't|cannot/i, `arping ${mode} from ${from}: ${r.stderr}`);
    }
  } finally {
    await dockerRaw('exec', from, 'ip', 'addr', 'del', `${ip}/32`, 'dev', 'eth0');
  }
}

describe('anti-spoofing (ovs.bridge.antispoof), by traffic', () => {
  const sub = testSubnet();
  const a = `${net}-a`;
  const b = `${net}-b`;
  const w = `${net}-w`;
  const c = `${net}-c`;
  let ipA = '';
  let ipB = '';
  let ipW = '';
  let ipC = '';
  const spare = `${sub.prefix}.200`;

  before(async () => {
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.antispoof': 'true' }, [
      '--subnet',
      sub.subnet,
    ]);
    await runContainer(a, net, ['--cap-add', 'NET_ADMIN']);
    await runContainer(b, net);
    await runContainer(w, net, ['--cap-add', 'NET_ADMIN']);
    await runContainer(c, net, ['--cap-add', 'NET_ADMIN', '--label', 'dovesnap.faucet.antispoof=false']);
    const ips = await Promise.all([a, b, w, c].map((x) => containerIp(x, net)));
    [ipA = '', ipB = '', ipW = '', ipC = ''] = ips;
    await serveHttp(b);
  });

  it('refuses a bad value at create, naming the option and the value, and creates nothing', async () => {
    const name = `${net}-bad`;
    const r = await dockerRaw(
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      `ovs.bridge.dpid=${testDpid()}`,
      '-o',
      'ovs.bridge.antispoof=maybe',
      name,
    );
    if (r.code === 0) await dockerRaw('network', 'rm', name);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /"maybe".*ovs\.bridge\.antispoof/);
    assert.equal((await dockerRaw('network', 'inspect', name)).code, 1);
  });

  it('lets every container reach the others as itself, over ICMP and TCP; the guarded ports carry their own ACL', async () => {
    for (const from of [a, w, c]) {
      await waitPing(from, ipB);
      assert.equal(
        await waitFor(`TCP ${from} -> b`, () => httpGet(from, `http://${ipB}:8080/`), 30_000),
        `hello from ${b}`,
      );
    }
    const st = Object.values(await status()).find((n) => n.NetworkName === net);
    const ofport = (name: string): number | null | undefined =>
      Object.values(st?.Containers ?? {}).find((x) => x.Name === `/${name}`)?.OFPort;
    const yaml = readFileSync(FAUCET_CONFIG, 'utf8');
    assert.ok(yaml.includes(`dovesnap-antispoof-${net}-${ofport(a)}-`), 'a guarded port has its own ACL');
    assert.ok(!yaml.includes(`dovesnap-antispoof-${net}-${ofport(c)}-`), 'the exempt c has none');
  });

  it("a's gratuitous ARP for b's address does not poison the witness's cache; TCP to b still works", async () => {
    const bMac = await macOf(b);
    assert.equal(await freshEntry(w, ipB), bMac);
    await gratuitousArp(a, ipB);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await neighbourMac(w, ipB), bMac, "the witness still has b's MAC for b");
    assert.equal(await httpGet(w, `http://${ipB}:8080/`), `hello from ${b}`);
  });

  it('a with a changed MAC reaches nobody; with its own MAC back it does again', async () => {
    const own = await macOf(a);
    await exec(a, 'ip', 'link', 'set', 'eth0', 'address', '0e:de:ad:be:ef:01');
    try {
      await announce(a, ipA);
      assert.equal(
        (await dockerRaw('exec', a, 'arping', '-c', '2', '-w', '3', '-I', 'eth0', ipB)).code === 0,
        false,
        'no ARP answer',
      );
      assert.equal(await ping(a, ipB), false);
      assert.equal(await ping(a, ipW), false);
      assert.equal(await httpGet(a, `http://${ipB}:8080/`), undefined);
      assert.notEqual(await neighbourMac(b, ipA), '0e:de:ad:be:ef:01', "b never took a's new MAC");
    } finally {
      await exec(a, 'ip', 'link', 'set', 'eth0', 'address', own);
    }
    await announce(a, ipA);
    await waitPing(a, ipB, 15_000);
    assert.equal(await httpGet(a, `http://${ipB}:8080/`), `hello from ${b}`);
  });

  it("a from a second address, or from the witness's address, gets nothing through", async () => {
    await exec(a, 'ip', 'addr', 'add', `${spare}/24`, 'dev', 'eth0');
    try {
      assert.equal(
        (await dockerRaw('exec', a, 'ping', '-c', '1', '-W', '1', '-I', spare, ipB)).code === 0,
        false,
        'from a second address',
      );
      await onlyAddress(a, spare);
      assert.equal(await ping(a, ipB), false);
      assert.equal(await httpGet(a, `http://${ipB}:8080/`), undefined);
      await onlyAddress(a, ipW);
      assert.equal(await ping(a, ipB), false);
      assert.equal(await httpGet(a, `http://${ipB}:8080/`), undefined);
    } finally {
      await onlyAddress(a, ipA);
    }
    // the witness's own address was never taken over
    assert.equal(await httpGet(w, `http://${ipB}:8080/`), `hello from ${b}`);
    await waitPing(a, ipB, 15_000);
  });

  it('the exempt container c does get through: a changed MAC, a second address, and its gratuitous ARP poisons the witness', async () => {
    const own = await macOf(c);
    await exec(c, 'ip', 'link', 'set', 'eth0', 'address', '0e:de:ad:be:ef:02');
    try {
      await announce(c, ipC);
      await waitPing(c, ipB, 15_000);
      assert.equal(await httpGet(c, `http://${ipB}:8080/`), `hello from ${b}`);
      assert.equal(await neighbourMac(b, ipC), '0e:de:ad:be:ef:02', "b took c's new MAC");
    } finally {
      await exec(c, 'ip', 'link', 'set', 'eth0', 'address', own);
      await announce(c, ipC);
    }
    try {
      await onlyAddress(c, spare);
      await waitPing(c, ipB, 15_000);
      assert.equal(await httpGet(c, `http://${ipB}:8080/`), `hello from ${b}`);
    } finally {
      await onlyAddress(c, ipC);
    }
    const bMac = await macOf(b);
    assert.equal(await freshEntry(w, ipB), bMac);
    await gratuitousArp(c, ipB);
    const poisoned = await waitFor(
      "the witness to take c's MAC for b",
      async () => (await neighbourMac(w, ipB)) === own,
      10_000,
    );
    assert.equal(poisoned, true);
    // and mend the witness's cache (the test's own container) before anything else uses it
    await exec(w, 'ip', 'neigh', 'flush', 'dev', 'eth0');
  });
});

describe("anti-spoofing with the operator's ACL", () => {
  const sub = testSubnet();
  const x = `${aclNet}-x`;
  const y = `${aclNet}-y`;

  before(async () => {
    await addOperatorEntries(aclNet, [['acls', NO_8080]]);
  });

  it("the operator's rule still decides for the container's own traffic (TCP 8080 blocked, 80 allowed); spoofed traffic is dropped", async () => {
    await createNetwork(
      aclNet,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.antispoof': 'true', 'ovs.bridge.default_acl': acl },
      ['--subnet', sub.subnet],
    );
    await runContainer(x, aclNet, ['--cap-add', 'NET_ADMIN']);
    await runContainer(y, aclNet);
    const [ipX, ipY] = await Promise.all([containerIp(x, aclNet), containerIp(y, aclNet)]);
    await serveHttp(y, 80);
    await serveHttp(y, 8080);
    await waitPing(x, ipY);
    assert.equal(await waitFor('TCP x -> y:80', () => httpGet(x, `http://${ipY}:80/`), 30_000), `hello from ${y}`);
    assert.equal(await httpGet(x, `http://${ipY}:8080/`), undefined, 'the operator ACL drops TCP 8080');
    await exec(x, 'ip', 'addr', 'add', `${sub.prefix}.200/24`, 'dev', 'eth0');
    await exec(x, 'ip', 'addr', 'del', `${ipX}/24`, 'dev', 'eth0');
    try {
      assert.equal(
        await httpGet(x, `http://${ipY}:80/`),
        undefined,
        'from another address, not even what the operator allows',
      );
      assert.equal(await ping(x, ipY), false);
    } finally {
      await dockerRaw('exec', x, 'ip', 'addr', 'flush', 'dev', 'eth0');
      await exec(x, 'ip', 'addr', 'add', `${ipX}/24`, 'dev', 'eth0');
    }
    await waitPing(x, ipY, 15_000);
    assert.equal(await httpGet(x, `http://${ipY}:80/`), `hello from ${y}`);
  });
});
