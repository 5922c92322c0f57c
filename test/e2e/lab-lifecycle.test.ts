import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKER, IMAGE, must, onCleanup, run } from './harness.js';
import {
  REPO,
  assertNothingLeft,
  census,
  lab,
  labMust,
  labNetworkIds,
  labelled,
  type HostCensus,
} from './lab-helpers.js';

/**
 * A lab's life beyond the happy path, on busybox nodes (no router image needed): an invalid file
 * makes nothing; `down` after an `up` killed half-way, and twice; two labs side by side, each
 * `down` touching only its own.
 */

const dir = mkdtempSync(join(tmpdir(), 'lab-life-'));

function labFile(name: string, octet: number): string {
  const node = (n: number, extra: string[] = []): string[] => [
    `  n${n}:`,
    `    image: ${IMAGE}`,
    '    cmd: sleep 3600',
    '    cap-add: [NET_ADMIN]',
    '    interfaces:',
    `      eth1: { network: seg, address: 10.236.${octet}.${n}/24 }`,
    ...extra,
  ];
  const text = [
    `name: ${name}`,
    'networks:',
    '  seg: {}',
    'links:',
    '  - endpoints: ["n1:eth2", "n2:eth2"]',
    `    addresses: ["10.236.${octet + 1}.1/30", "10.236.${octet + 1}.2/30"]`,
    'nodes:',
    ...node(1),
    ...node(2, ['    wait-for: [n1]']),
    // The daemon changes this node's MACs after it starts: the lab must find its interface all the same.
    ...node(3, ['    wait-for: [n2]', '    labels: { mac_prefix: "0e:99" }']),
    ...node(4, ['    wait-for: [n3]']),
    '',
  ].join('\n');
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, text);
  return path;
}

async function tcpBetween(from: string, to: string, toIp: string): Promise<string> {
  await must(DOCKER, ['exec', '-d', to, 'sh', '-c', 'echo lab-tcp-ok | nc -l -p 7070']);
  await new Promise((r) => setTimeout(r, 300));
  return (await run(DOCKER, ['exec', from, 'sh', '-c', `timeout 10 nc ${toIp} 7070 </dev/null`])).stdout.trim();
}

describe('dovesnap lab: validation, interrupted up, down, labs side by side', () => {
  let baseline: HostCensus;
  const fileA = labFile('lifea', 10);
  const fileB = labFile('lifeb', 20);

  before(async () => {
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    await lab(['down', 'lifea']);
    await lab(['down', 'lifeb']);
    await lab(['down', 'lifec']);
    baseline = await census();
    onCleanup(() => lab(['down', 'lifea']));
    onCleanup(() => lab(['down', 'lifeb']));
  });

  it('an invalid file is refused with file:line:column and the key path, and nothing is made', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      [
        'name: lifea',
        'nodes:',
        '  n1:',
        `    image: ${IMAGE}`,
        '    interfaces:',
        '      eth1: { network: seg, adress: 10.0.0.1/24 }',
        '',
      ].join('\n'),
    );
    const r = await lab(['up', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /bad\.yaml:6:29: nodes\.n1\.interfaces\.eth1\.adress: unknown key "adress" \(did you mean "address"\?\)/,
    );
    writeFileSync(
      bad,
      [
        'name: lifea',
        'nodes:',
        '  n1:',
        `    image: ${IMAGE}`,
        '    interfaces:',
        '      eth1: { network: seg, address: 10.0.0.1/24 }',
        '',
      ].join('\n'),
    );
    const r2 = await lab(['up', bad]);
    assert.equal(r2.code, 2, r2.stderr);
    assert.match(r2.stderr, /bad\.yaml:6:24: nodes\.n1\.interfaces\.eth1\.network: unknown network "seg"/);
    assert.deepEqual(await labelled('lifea'), []);
  });

  it('down after an up killed half-way removes everything it had made', async () => {
    const child = spawn(process.execPath, [`${REPO}/dist/src/cli/main.js`, 'lab', 'up', fileA], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const killed = new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        // Mid-way: two networks made, n1 up, n2's container made but not yet set up.
        if (/node n2: start the container/.test(err)) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    await killed;
    assert.match(err, /node n2: start the container/, 'the up got half-way before it was killed');
    const left = await labelled('lifea');
    assert.ok(
      left.includes('container lifea-n1') && left.includes('network lifea-seg'),
      `half a lab is there: ${left.join(', ')}`,
    );
    assert.ok(!left.includes('container lifea-n4'));

    // A second up finishes the job: n2 never got through its gate, so it is made anew.
    const up = await labMust(['up', fileA]);
    // Killed at its start, n2's container was either started (Docker 20.10, then it waits at its
    // gate: not finished) or still only created (Docker 29 takes longer to start one: not running).
    assert.match(
      up.stdout,
      /~ node lifea-n2: recreate \((its set-up was not finished|it is not running)\)|\+ node lifea-n2: create/,
    );
    assert.match(up.stdout, /\+ node lifea-n4: create/);
    assert.equal(await tcpBetween('lifea-n4', 'lifea-n1', '10.236.10.1'), 'lab-tcp-ok');
    assert.match(
      await must(DOCKER, ['exec', 'lifea-n3', 'cat', '/sys/class/net/eth1/address']),
      /^0e:99:/,
      'mac_prefix applied, and eth1 named all the same',
    );
    assert.equal(await tcpBetween('lifea-n3', 'lifea-n1', '10.236.10.1'), 'lab-tcp-ok');
    assert.equal(
      await tcpBetween('lifea-n2', 'lifea-n1', '10.236.11.1'),
      'lab-tcp-ok',
      'TCP over the point-to-point link',
    );

    // Killed again, then down.
    const child2 = spawn(process.execPath, [`${REPO}/dist/src/cli/main.js`, 'lab', 'up', fileA], { stdio: 'ignore' });
    child2.kill('SIGKILL');
    await new Promise((r) => child2.on('exit', r));
    const ids = await labNetworkIds('lifea');
    const down = await labMust(['down', 'lifea']);
    assert.match(down.stdout, /lab lifea is down .*4 containers and 2 networks removed/);
    await assertNothingLeft('lifea', baseline, 'lifea-', ids);
    assert.match((await labMust(['down', 'lifea'])).stdout, /lab lifea: nothing to remove/);
  });

  it('a node whose command exits at once fails the up, naming the node, the step and its output, and is removed', async () => {
    const file = join(dir, 'lifec.yaml');
    writeFileSync(
      file,
      [
        'name: lifec',
        'networks:',
        '  seg: {}',
        'nodes:',
        '  n1:',
        `    image: ${IMAGE}`,
        '    cmd: sleep 3600',
        '    interfaces: { eth1: { network: seg, address: 10.236.30.1/24 } }',
        '  n2:',
        `    image: ${IMAGE}`,
        '    cmd: echo lab-bye; exit 3',
        '    interfaces: { eth1: { network: seg, address: 10.236.30.2/24 } }',
        '',
      ].join('\n'),
    );
    onCleanup(() => lab(['down', 'lifec']));
    const r = await lab(['up', file]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(
      r.stderr,
      /node n2: start the workload: its command exited at once \(code 3\): lab-bye; a node's command must keep running/,
    );
    assert.deepEqual(
      await labelled('lifec'),
      ['container lifec-n1', 'network lifec-seg'],
      'n2 is removed whole; n1 and the network stay for the next up',
    );
    const ids = await labNetworkIds('lifec');
    await labMust(['down', 'lifec']);
    await assertNothingLeft('lifec', baseline, 'lifec-', ids);
  });

  it('two labs side by side: each keeps to its own objects', async () => {
    await labMust(['up', fileA]);
    await labMust(['up', fileB]);
    const status = JSON.parse((await labMust(['status', '--json'])).stdout) as { name: string; nodes: unknown[] }[];
    assert.deepEqual(
      status.filter((s) => s.name.startsWith('life')).map((s) => `${s.name} ${s.nodes.length}`),
      ['lifea 4', 'lifeb 4'],
    );
    await labMust(['down', fileA]);
    assert.deepEqual(await labelled('lifea'), []);
    assert.equal((await labelled('lifeb')).length, 6, 'lab lifeb untouched: 4 containers, 2 networks');
    assert.equal(await tcpBetween('lifeb-n3', 'lifeb-n1', '10.236.20.1'), 'lab-tcp-ok');
    const ids = await labNetworkIds('lifeb');
    await labMust(['down', 'lifeb']);
    await assertNothingLeft('lifeb', baseline, 'lifeb-', ids);
  });
});
