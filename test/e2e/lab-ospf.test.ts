import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, appendFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DOCKER,
  addFaucetEntries,
  faucetYaml,
  makeTestHost,
  must,
  onCleanup,
  run,
  serveClientAddress,
  waitFor,
  waitFaucetSettled,
  type TestHost,
} from './harness.js';
import { REPO, assertNothingLeft, census, lab, labMust, labNetworkIds, type HostCensus } from './lab-helpers.js';

/**
 * The OSPF lab of the seed, from `examples/ospf-lab.yaml` as shipped: built from nothing (the
 * router image included), OSPF converging between R1 and R2, H1 behind R2 reaching the host and
 * a test host beyond it through both routers (ping, TCP, traceroute), an edit that adds one
 * host and changes nothing else, and `down` leaving nothing, twice.
 */

const EXAMPLE = join(REPO, 'examples/ospf-lab.yaml');
const dexec = (container: string, ...args: string[]): Promise<string> =>
  must(DOCKER, ['exec', container, ...args], 60_000);

async function ospfNeighbourStates(router: string): Promise<string[]> {
  const r = await run(DOCKER, ['exec', router, 'vtysh', '-c', 'show ip ospf neighbor json'], 15_000);
  if (r.code !== 0) return [];
  const doc = JSON.parse(r.stdout) as { neighbors?: Record<string, { state?: string; nbrState?: string }[]> };
  return Object.values(doc.neighbors ?? {})
    .flat()
    .map((n) => n.nbrState ?? n.state ?? '');
}

async function ospfRoutes(router: string): Promise<string[]> {
  const r = await run(DOCKER, ['exec', router, 'vtysh', '-c', 'show ip route ospf json'], 15_000);
  if (r.code !== 0) return [];
  const doc = JSON.parse(r.stdout) as Record<string, { protocol: string; selected?: boolean }[]>;
  return Object.entries(doc)
    .filter(([, rs]) => rs.some((x) => x.protocol === 'ospf' && x.selected === true))
    .map(([p]) => p)
    .sort();
}

async function containerId(name: string): Promise<string> {
  return must(DOCKER, ['inspect', '-f', '{{.Id}}', name]);
}

/** A TCP service on the host's own uplink address: it answers with the client's address. */
function serveOnHost(address: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => s.end(`hello ${s.remoteAddress ?? '?'}\n`));
    server.on('error', reject);
    server.listen(0, address, () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0 });
    });
  });
}

describe('dovesnap lab: the OSPF example', () => {
  let baseline: HostCensus;
  let testHost: TestHost;
  const ids = new Map<string, string>();

  before(async () => {
    // A lab left by an interrupted earlier run goes first; then what the host has is the baseline.
    await lab(['down', 'ospf']);
    // The operator's own ACL, which the lab must leave alone.
    const edit = addFaucetEntries(
      'acls',
      '  lab-test-operator-acl:\n    - rule:\n        actions:\n          allow: 1\n',
    );
    onCleanup(async () => {
      edit.remove();
      await waitFaucetSettled();
    });
    await waitFaucetSettled();
    testHost = await makeTestHost(`lab${process.pid % 1000}`);
    await serveClientAddress(testHost, 8080);
    baseline = await census();
    onCleanup(async () => {
      await lab(['down', 'ospf']);
    });
  });

  it('up from nothing builds the images it needs and the whole lab, and says what it did', async () => {
    const r = await labMust(['up', EXAMPLE]);
    assert.match(r.stdout, /\+ network ospf-uplink: create/);
    assert.match(r.stdout, /\+ network ospf-r1-eth2-r2-eth1: create/);
    assert.match(r.stdout, /\+ node ospf-h1: create/);
    assert.match(r.stdout, /lab ospf is up \([0-9.]+ s\): 3 networks created, 3 nodes created/);
    assert.match(r.stderr, /node r1: name the interfaces eth1, eth2/);
    for (const n of ['r1', 'r2', 'h1']) ids.set(n, await containerId(`ospf-${n}`));
    // The declared names and addresses, not Docker's.
    assert.match(await dexec('ospf-r1', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth2'), /inet 192\.168\.102\.1\/24/);
    assert.match(await dexec('ospf-r2', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth1'), /inet 192\.168\.102\.2\/24/);
    assert.match(await dexec('ospf-h1', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth1'), /inet 192\.168\.103\.2\/24/);
    // The host routes the inner prefixes via R1.
    assert.match(await must('ip', ['route', 'show', '192.168.103.0/24']), /via 192\.168\.101\.2/);
  });

  it("OSPF converges: both routers Full, and each has the other's prefixes from OSPF", async () => {
    for (const r of ['ospf-r1', 'ospf-r2']) {
      await waitFor(
        `${r} has a Full OSPF neighbour`,
        async () => (await ospfNeighbourStates(r)).some((s) => s.startsWith('Full')),
        60_000,
        500,
      );
    }
    await waitFor(
      'r1 learned 192.168.103.0/24',
      async () => (await ospfRoutes('ospf-r1')).includes('192.168.103.0/24'),
      30_000,
      500,
    );
    await waitFor(
      'r2 learned the default route and the uplink',
      async () => {
        const routes = await ospfRoutes('ospf-r2');
        return routes.includes('0.0.0.0/0') && routes.includes('192.168.101.0/24');
      },
      30_000,
      500,
    );
  });

  it("H1 reaches the host's uplink address and a test host behind the host, by ping and TCP, through R2 and R1", async () => {
    await waitFor(
      'h1 pings 192.168.101.1',
      async () => (await run(DOCKER, ['exec', 'ospf-h1', 'ping', '-c', '1', '-W', '1', '192.168.101.1'])).code === 0,
      30_000,
      500,
    );
    const { server, port } = await serveOnHost('192.168.101.1');
    onCleanup(async () => server.close());
    const reply = await dexec('ospf-h1', 'sh', '-c', `timeout 10 nc 192.168.101.1 ${port} </dev/null`);
    assert.match(
      reply,
      /hello (::ffff:)?192\.168\.103\.2/,
      'the host sees H1 itself (routed, not NATed, inside the lab)',
    );

    await must(DOCKER, ['exec', 'ospf-h1', 'ping', '-c', '2', '-W', '2', testHost.ip]);
    const seen = await dexec(
      'ospf-h1',
      'sh',
      '-c',
      `timeout 10 wget -q -O - http://${testHost.ip}:8080/cgi-bin/whoami`,
    );
    assert.equal(seen.trim(), testHost.hostSideIp, 'the test host sees H1 masqueraded to the host');

    const trace = await dexec('ospf-h1', 'traceroute', '-n', '-m', '5', '-w', '2', '-q', '1', '192.168.101.1');
    const hops = trace
      .split('\n')
      .map((l) => /^\s*\d+\s+(\S+)/.exec(l)?.[1])
      .filter((h): h is string => h !== undefined);
    assert.deepEqual(hops, ['192.168.103.1', '192.168.102.1', '192.168.101.1'], trace);
  });

  it("status lists nodes with their interfaces, the networks and links, and the routers' OSPF neighbours", async () => {
    const text = (await labMust(['status', 'ospf'])).stdout;
    assert.match(
      text,
      /r1\s+router\s+running\s+ospf-r1\s+eth1 192\.168\.101\.2\/24 \(uplink\), eth2 192\.168\.102\.1\/24 \(r1-eth2-r2-eth1\)/,
    );
    assert.match(text, /h1\s+host\s+running/);
    assert.match(text, /r1-eth2-r2-eth1\s+link\s+flat/);
    assert.match(text, /r2\s+192\.168\.102\.1\s+Full/);
    const json = JSON.parse((await labMust(['status', EXAMPLE, '--json'])).stdout) as {
      name: string;
      nodes: { name: string; state: string }[];
      networks: unknown[];
    };
    assert.equal(json.name, 'ospf');
    assert.deepEqual(
      json.nodes.map((n) => `${n.name} ${n.state}`),
      ['h1 running', 'r1 running', 'r2 running'],
    );
    assert.equal(json.networks.length, 3);
    const all = (await labMust(['status'])).stdout;
    assert.match(all, /^ospf: 3\/3 nodes running, 3 networks/m);
  });

  it('graph draws the lab', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-graph-'));
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    const r = await labMust(['graph', 'ospf', '-o', join(dir, 'ospf.svg')]);
    assert.match(r.stdout, /wrote .*ospf\.svg: lab ospf, 3 nodes, 3 networks/);
    // Graphviz writes '-' as an entity in SVG text.
    const svg = readFileSync(join(dir, 'ospf.svg'), 'utf8').replace(/&#45;/g, '-');
    for (const text of ['r1', 'r2', 'h1', 'ospf-uplink', '192.168.102.1/24'])
      assert.ok(svg.includes(text), `the picture shows ${text}`);
  });

  it('up again unchanged changes nothing; an added host is the only change, and it reaches the uplink', async () => {
    const same = await labMust(['up', EXAMPLE]);
    assert.match(same.stdout, /lab ospf is up to date: nothing to change/);

    const dir = mkdtempSync(join(tmpdir(), 'lab-edit-'));
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    const edited = join(dir, 'ospf-lab.yaml');
    copyFileSync(EXAMPLE, edited);
    appendFileSync(
      edited,
      [
        '  h2:',
        '    kind: host',
        '    interfaces:',
        '      eth1: { network: inside, address: 192.168.103.3/24 }',
        '    routes: [default via 192.168.103.1]',
        '',
      ].join('\n'),
    );
    const dry = await labMust(['up', '--dry-run', edited]);
    assert.match(dry.stdout, /lab ospf: 1 change\n {2}\+ node ospf-h2: create \(new\)/);
    assert.notEqual((await run(DOCKER, ['inspect', 'ospf-h2'])).code, 0, 'the dry run made nothing');

    const r = await labMust(['up', edited]);
    assert.match(r.stdout, /1 node created, 6 unchanged/);
    for (const [n, id] of ids) assert.equal(await containerId(`ospf-${n}`), id, `${n} kept its container`);
    await waitFor(
      'h2 pings 192.168.101.1',
      async () => (await run(DOCKER, ['exec', 'ospf-h2', 'ping', '-c', '1', '-W', '1', '192.168.101.1'])).code === 0,
      30_000,
      500,
    );
    const seen = await dexec(
      'ospf-h2',
      'sh',
      '-c',
      `timeout 10 wget -q -O - http://${testHost.ip}:8080/cgi-bin/whoami`,
    );
    assert.equal(seen.trim(), testHost.hostSideIp);
  });

  it('down removes everything the lab made and nothing else; down again is a no-op', async () => {
    const operatorBefore = faucetYaml().includes('lab-test-operator-acl:');
    const ids = await labNetworkIds('ospf');
    assert.equal(ids.length, 3);
    assert.match(
      (await run('nft', ['list', 'ruleset'])).stdout,
      new RegExp(`dovesnap ${ids.map((i) => i.slice(0, 12)).join('|dovesnap ')}`),
      'the uplink has NAT rules while up',
    );
    const r = await labMust(['down', 'ospf']);
    assert.match(r.stdout, /lab ospf is down \([0-9.]+ s\): 4 containers and 3 networks removed/);
    await assertNothingLeft('ospf', baseline, 'ospf-', ids);
    assert.ok(
      !/192\.168\.10[123]\./.test((await run('nft', ['list', 'ruleset'])).stdout),
      'no nftables rule of the lab',
    );
    assert.equal(faucetYaml().includes('lab-test-operator-acl:'), operatorBefore, "the operator's ACL is still there");
    const again = await labMust(['down', EXAMPLE]);
    assert.match(again.stdout, /lab ospf: nothing to remove/);
  });
});
