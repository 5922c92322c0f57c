import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKER, faucetYaml, must, onCleanup, run, waitFor } from './harness.js';
import { REPO, assertNothingLeft, census, lab, labMust, labNetworkIds, type HostCensus } from './lab-helpers.js';

/**
 * The defence example as shipped (`examples/defence-lab.yaml`): the office segment's traffic on
 * the capture node, the ACL on the firewall's port into the servers segment blocking SSH and
 * letting the web through, an ACL edited in place (no node restarts), and `down` taking the
 * lab's ACL out of faucet.yaml with everything else.
 */

const EXAMPLE = join(REPO, 'examples/defence-lab.yaml');

async function tcp(from: string, ip: string, port: number): Promise<string | undefined> {
  const r = await run(DOCKER, ['exec', from, 'sh', '-c', `timeout 4 nc ${ip} ${port} </dev/null`], 20_000);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

async function web(from: string): Promise<string | undefined> {
  const r = await run(DOCKER, ['exec', from, 'sh', '-c', 'timeout 5 wget -q -O - http://10.30.2.10/'], 20_000);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

const ids = async (): Promise<string[]> => (await run(DOCKER, ['logs', 'defence-ids'])).stdout.split('\n');
const containerId = (name: string): Promise<string> => must(DOCKER, ['inspect', '-f', '{{.Id}}', name]);

describe('dovesnap lab: the defence example', () => {
  let baseline: HostCensus;

  before(async () => {
    await lab(['down', 'defence']);
    baseline = await census();
    onCleanup(() => lab(['down', 'defence']));
  });

  it('up puts the lab ACL into faucet.yaml and on the firewall port', async () => {
    const r = await labMust(['up', EXAMPLE]);
    assert.match(r.stdout, /\+ acl lab-defence\.office-to-servers: add to faucet\.yaml/);
    assert.match(r.stdout, /2 networks created, 5 nodes created, 1 ACL changed/);
    assert.match(faucetYaml(), /^ {2}lab-defence\.office-to-servers:/m);
    const status = JSON.parse(
      await must(process.execPath, [`${REPO}/dist/src/cli/main.js`, 'status', '--json']),
    ) as Record<string, { NetworkName: string; Containers: Record<string, { Name: string; PortACLs: string[] }> }>;
    const servers = Object.values(status).find((n) => n.NetworkName === 'defence-servers');
    const fwPort = Object.values(servers?.Containers ?? {}).find((c) => c.Name.replace(/^\//, '') === 'defence-fw');
    assert.deepEqual(fwPort?.PortACLs, ['lab-defence.office-to-servers']);
  });

  it('the office reaches the web server through the firewall, but not its SSH port', async () => {
    assert.equal(
      await waitFor('alice gets the web page', () => web('defence-alice'), 30_000, 500),
      'web on the servers segment',
    );
    assert.equal(await tcp('defence-web', '127.0.0.1', 22), 'SSH-2.0-lab', 'the SSH stand-in answers locally');
    assert.equal(await tcp('defence-alice', '10.30.2.10', 22), undefined, 'the ACL drops SSH from the office');
    assert.equal(await tcp('defence-bob', '10.30.2.10', 22), undefined);
  });

  it("every packet between office hosts shows on the capture node's tcpdump", async () => {
    await must(DOCKER, ['exec', 'defence-alice', 'ping', '-c', '3', '-W', '2', '10.30.1.11']);
    await must(DOCKER, ['exec', '-d', 'defence-bob', 'sh', '-c', 'echo office-tcp | nc -l -p 9000']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await tcp('defence-alice', '10.30.1.11', 9000), 'office-tcp');
    const lines = await waitFor(
      'the IDS saw the pings and the TCP exchange',
      async () => {
        const l = await ids();
        const pings = l.filter((x) => /IP 10\.30\.1\.10 > 10\.30\.1\.11: ICMP echo request/.test(x)).length;
        const replies = l.filter((x) => /IP 10\.30\.1\.11 > 10\.30\.1\.10: ICMP echo reply/.test(x)).length;
        const syn = l.some((x) => /IP 10\.30\.1\.10\.\d+ > 10\.30\.1\.11\.9000: Flags \[S\]/.test(x));
        return pings >= 3 && replies >= 3 && syn ? l : undefined;
      },
      15_000,
      500,
    );
    assert.ok(
      lines.some((x) => /IP 10\.30\.1\.11\.9000 > 10\.30\.1\.10\.\d+: Flags \[S\.\]/.test(x)),
      'and the answer',
    );
    // The capture port is output only: nothing it sends reaches the segment.
    const r = await run(DOCKER, [
      'exec',
      'defence-ids',
      'sh',
      '-c',
      'ip addr add 10.30.1.99/24 dev eth1 && ping -c 2 -W 1 10.30.1.10',
    ]);
    assert.notEqual(r.code, 0, 'the capture node cannot talk on the segment');
  });

  it('an ACL edit changes the ACL in place: nodes keep running, and the rules now act the other way', async () => {
    const before = new Map<string, string>();
    for (const n of ['fw', 'web', 'alice', 'bob', 'ids']) before.set(n, await containerId(`defence-${n}`));
    const dir = mkdtempSync(join(tmpdir(), 'lab-defence-'));
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    const edited = join(dir, 'defence-lab.yaml');
    copyFileSync(EXAMPLE, edited);
    writeFileSync(
      edited,
      readFileSync(edited, 'utf8').replace('tcp_dst: 22, actions: { allow: 0 }', 'tcp_dst: 80, actions: { allow: 0 }'),
    );
    const r = await labMust(['up', edited]);
    assert.match(r.stdout, /lab defence: 1 change\n {2}~ acl lab-defence\.office-to-servers: change its rules/);
    for (const [n, id] of before) assert.equal(await containerId(`defence-${n}`), id, `${n} kept its container`);
    await waitFor(
      'SSH passes now',
      async () => (await tcp('defence-alice', '10.30.2.10', 22)) === 'SSH-2.0-lab' || undefined,
      20_000,
      500,
    );
    assert.equal(await web('defence-alice'), undefined, 'and the web is blocked');
  });

  it("down removes the lab, its ACL included, and leaves the operator's faucet.yaml as it was", async () => {
    const ids = await labNetworkIds('defence');
    const r = await labMust(['down', 'defence']);
    assert.match(r.stdout, /5 containers and 2 networks, 1 ACL removed/);
    assert.ok(!faucetYaml().includes('lab-defence.'), 'no ACL of the lab in faucet.yaml');
    await assertNothingLeft('defence', baseline, 'defence-', ids);
  });
});
