import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createNetwork,
  must,
  onCleanup,
  run,
  runContainer,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  status,
} from './harness.js';

/** `dovesnap graph` against the running daemon, as a user runs it. */

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

describe('dovesnap graph', () => {
  it('draws the live networks and containers as PNG, SVG and DOT; a bad output name is refused naming the option', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-graph-'));
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    const net = uniqueName('graph');
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat' }, [
      '--subnet',
      testSubnet().subnet,
    ]);
    const c = `${net}-web`;
    await runContainer(c, net);
    await waitFor('the container in the status API', async () =>
      Object.values(await status()).some((n) => Object.values(n.Containers).some((x) => x.Name === `/${c}`)),
    );
    const png = path.join(dir, 'wiring.png');
    assert.match(
      await must(process.execPath, [CLI, 'graph', '-o', png]),
      /wrote .*wiring\.png: \d+ networks? from 127\.0\.0\.1:9401/,
    );
    assert.deepEqual([...readFileSync(png).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG');
    const svg = path.join(dir, 'wiring.svg');
    await must(process.execPath, [CLI, 'graph', '-o', svg, '--status', '127.0.0.1:9401']);
    // Graphviz writes '-' in SVG text as a character reference.
    const svgText = readFileSync(svg, 'utf8').replace(/&#45;/g, '-');
    assert.match(svgText, /<svg[\s>]/);
    assert.ok(svgText.includes(c) && svgText.includes(net), 'the network and the container are drawn');
    const dot = path.join(dir, 'wiring.dot');
    await must(process.execPath, [CLI, 'graph', '-o', dot]);
    const dotText = readFileSync(dot, 'utf8');
    assert.ok(dotText.includes(`${c}\\n`) && dotText.includes('gateway (NAT to the host)'));
    // The default, as the original's: a PNG in the current directory.
    const r0 = await run('sh', ['-c', `cd ${dir} && ${process.execPath} ${CLI} graph`]);
    assert.equal(r0.code, 0, r0.stderr);
    assert.deepEqual([...readFileSync(path.join(dir, 'dovesnapviz.png')).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    // A host that cannot be read is drawn as such, beside the ones that can; none readable fails.
    // (Port 1 on loopback: nothing listens there.)
    const partial = await run(process.execPath, [CLI, 'graph', '-o', dot, '--status', '127.0.0.1:9401,127.0.0.1:1']);
    assert.equal(partial.code, 0, partial.stderr);
    assert.match(
      partial.stdout,
      /wrote .*wiring\.dot: \d+ networks? from 127\.0\.0\.1:9401 \(127\.0\.0\.1:1 not reachable\)/,
    );
    assert.match(partial.stderr, /127\.0\.0\.1:1 drawn as not reachable: cannot reach the dovesnap status API/);
    const partialDot = readFileSync(dot, 'utf8');
    assert.ok(partialDot.includes(`${c}\\n`), 'the reachable host is drawn');
    assert.match(partialDot, /"h1:down:127\.0\.0\.1:1" \[shape=note.*label="not drawn: cannot reach/);
    const none = await run(process.execPath, [
      CLI,
      'graph',
      '-o',
      path.join(dir, 'none.dot'),
      '--status',
      '127.0.0.1:1',
    ]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /cannot reach the dovesnap status API at http:\/\/127\.0\.0\.1:1/);
    assert.equal(existsSync(path.join(dir, 'none.dot')), false, 'no picture of nothing');
    const bad = await run(process.execPath, [CLI, 'graph', '-o', path.join(dir, 'wiring.jpg')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid value ".*wiring\.jpg" for option -o\/--output/);
  });
});
