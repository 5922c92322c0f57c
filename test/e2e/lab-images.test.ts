import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureLabImage, labImageTag } from '../../src/lab/images.js';
import { DOCKER, docker, dockerRaw, must, onCleanup, run, uniqueName, waitFor } from './harness.js';

/**
 * `dovesnap lab image build`: the three recipes built (or found) on this host's engine, then each
 * image doing its job: FRR running OSPF with exactly NET_ADMIN, NET_RAW and SYS_ADMIN added and
 * stopping at once on `docker stop`; the busybox host's tools, TCP over its loopback seen by the
 * capture image's tcpdump in the same namespace. The images stay: they are the cache.
 */

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const FRR_CAPS = ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'];

/** `docker stop`'s wall time in seconds; the container must have stopped, with exit code 0. */
async function timedStop(name: string): Promise<number> {
  const t0 = Date.now();
  await docker('stop', name);
  const s = (Date.now() - t0) / 1000;
  assert.equal(
    await docker('inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', name),
    'false 0',
    `${name} stopped cleanly`,
  );
  return s;
}

describe('dovesnap lab image', () => {
  const tags = { frr: labImageTag('frr'), host: labImageTag('host'), capture: labImageTag('capture') };

  it('builds frr, host and capture once, and finds them the second time', async (t) => {
    const first = await run(process.execPath, [CLI, 'lab', 'image', 'build', 'frr', 'host', 'capture'], 20 * 60_000);
    assert.equal(first.code, 0, first.stderr);
    for (const line of first.stdout.trim().split('\n')) t.diagnostic(line);
    for (const [recipe, tag] of Object.entries(tags)) {
      assert.match(first.stdout, new RegExp(`^${recipe} +${tag} +(built|cached) +[\\d.]+ s +[\\d.]+ MB$`, 'm'));
    }
    const again = await must(process.execPath, [CLI, 'lab', 'image', 'build', '--quiet', 'frr', 'host', 'capture']);
    assert.deepEqual(
      again.split('\n').map((l) => l.split(/ +/)[2]),
      ['cached', 'cached', 'cached'],
    );
    const list = await must(process.execPath, [CLI, 'lab', 'image', 'list']);
    for (const tag of Object.values(tags)) assert.match(list, new RegExp(`^${tag} +\\w+ +current `, 'm'));
  });

  it('labels each image with its recipe and full hash', async () => {
    for (const [recipe, tag] of Object.entries(tags)) {
      const [r, hash] = (
        await docker(
          'image',
          'inspect',
          '--format',
          '{{index .Config.Labels "dovesnap.lab.recipe"}} {{index .Config.Labels "dovesnap.lab.recipe.hash"}}',
          tag,
        )
      ).split(' ');
      assert.equal(r, recipe);
      assert.match(hash ?? '', /^[0-9a-f]{64}$/);
      assert.equal(hash?.slice(0, 12), tag.split(':')[1]);
    }
  });

  it('lets one of two simultaneous builds of a recipe build, and the other wait and find its image', async () => {
    await docker('image', 'rm', tags.host);
    const said: string[][] = [[], []];
    const [a, b] = await Promise.all(
      [0, 1].map((i) => ensureLabImage('host', { onProgress: (m) => said[i]?.push(m) })),
    );
    assert.ok(a !== undefined && b !== undefined);
    assert.deepEqual([a.built, b.built].sort(), [false, true], JSON.stringify(said));
    const waiter = a.built ? said[1] : said[0];
    assert.ok(
      waiter?.some((m) => /waiting for another build of host/.test(m)),
      JSON.stringify(said),
    );
    assert.equal(a.tag, tags.host);
    assert.equal(b.tag, tags.host);
    await docker('run', '--rm', '--network', 'none', tags.host, 'true');
  });

  it('runs FRR with exactly NET_ADMIN, NET_RAW and SYS_ADMIN added: OSPF answers, and docker stop is quick', async (t) => {
    const name = uniqueName('labfrr');
    onCleanup(() => run(DOCKER, ['rm', '-f', name]));
    const dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-labfrr-'));
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    const conf = path.join(dir, 'frr.conf');
    writeFileSync(
      conf,
      [
        'frr defaults traditional',
        'hostname r1',
        '!',
        'interface lo',
        ' ip address 10.255.7.1/32',
        '!',
        'router ospf',
        ' ospf router-id 10.255.7.1',
        ' network 10.255.7.1/32 area 0',
        '!',
        '',
      ].join('\n'),
    );
    await docker('create', '--name', name, '--network', 'none', ...FRR_CAPS.flatMap((c) => ['--cap-add', c]), tags.frr);
    await docker('cp', conf, `${name}:/etc/frr/frr.conf`);
    await docker('start', name);
    const host = JSON.parse(await docker('inspect', '--format', '{{json .HostConfig}}', name)) as {
      CapAdd: string[] | null;
      Privileged: boolean;
    };
    assert.deepEqual([...(host.CapAdd ?? [])].map((c) => c.replace(/^CAP_/, '')).sort(), FRR_CAPS);
    assert.equal(host.Privileged, false);

    const t0 = Date.now();
    const ospf = await waitFor(
      'vtysh show ip ospf json',
      async () => {
        const r = await dockerRaw('exec', name, 'vtysh', '-c', 'show ip ospf json');
        if (r.code !== 0) return undefined;
        const doc = JSON.parse(r.stdout) as { routerId?: string };
        return doc.routerId === '10.255.7.1' ? doc : undefined;
      },
      30_000,
      250,
    );
    assert.equal(ospf.routerId, '10.255.7.1');
    t.diagnostic(`OSPF answered ${((Date.now() - t0) / 1000).toFixed(1)} s after docker start`);
    const ps = await docker('exec', name, 'ps', '-eo', 'user,comm');
    for (const d of ['watchfrr', 'zebra', 'ospfd', 'staticd'])
      assert.match(ps, new RegExp(`\\b${d}$`, 'm'), `${d} runs:\n${ps}`);
    assert.doesNotMatch(ps, /\bbgpd$/m, 'no bgpd: the configuration has no router bgp');
    assert.match(ps, /^frr +zebra$/m, 'zebra runs as frr');
    // The address came from zebra, so FRR did configure the kernel.
    assert.match(await docker('exec', name, 'ip', '-4', 'addr', 'show', 'dev', 'lo'), /10\.255\.7\.1\/32/);

    const s = await timedStop(name);
    t.diagnostic(`docker stop took ${s.toFixed(2)} s`);
    assert.ok(s <= 8, `docker stop took ${s} s: the entry point must handle SIGTERM`);
    const logs = await dockerRaw('logs', name);
    assert.match(logs.stderr, /dovesnap-frr: enabled: zebra ospfd staticd/);
    assert.match(logs.stdout, /ospfd 8\.4\.\d+ starting/, "FRR's log is the container's output");
  });

  it('host has ip, ping, nc, traceroute and udhcpc; TCP over its loopback is seen by the capture image', async (t) => {
    const h = uniqueName('labhost');
    const c = uniqueName('labcap');
    onCleanup(() => run(DOCKER, ['rm', '-f', h]));
    onCleanup(() => run(DOCKER, ['rm', '-f', c]));
    // The default commands: they keep running.
    await docker('run', '-d', '--name', h, '--network', 'none', tags.host);
    await docker(
      'exec',
      h,
      'sh',
      '-c',
      'for t in ip ping nc traceroute udhcpc; do command -v $t >/dev/null || { echo "$t missing"; exit 1; }; done',
    );
    assert.match(
      await docker('run', '--rm', '--network', 'none', tags.capture, 'tcpdump', '--version'),
      /tcpdump version 4\.\d+/,
    );
    assert.match(await docker('run', '--rm', '--network', 'none', tags.capture, 'tcpdump', '-D'), /\blo\b/);

    await docker(
      'run',
      '-d',
      '--name',
      c,
      '--network',
      `container:${h}`,
      tags.capture,
      'tcpdump',
      '-i',
      'lo',
      '-n',
      '-l',
      '-c',
      '1',
      'tcp dst port 8080 and tcp[tcpflags] & tcp-syn != 0',
    );
    await waitFor(
      'tcpdump listening',
      async () => /listening on lo/.test((await dockerRaw('logs', c)).stderr),
      15_000,
      200,
    );
    // A listener that comes back after each connection, and a client that cannot hang: on a loaded
    // machine (CI, 2026-12-07) one attempt could take the only listener and the rest found none.
    await docker('exec', '-d', h, 'sh', '-c', 'while :; do nc -l -p 8080 >> /tmp/got; done');
    await waitFor(
      'TCP to the host container on its loopback',
      async () => {
        await dockerRaw('exec', h, 'sh', '-c', 'echo lab-images-hello | timeout 5 nc 127.0.0.1 8080');
        return /lab-images-hello/.test((await dockerRaw('exec', h, 'cat', '/tmp/got')).stdout);
      },
      30_000,
      300,
    );
    await docker('wait', c);
    assert.match(await docker('logs', c), /127\.0\.0\.1\.\d+ > 127\.0\.0\.1\.8080: Flags \[S\]/);

    const s = await timedStop(h);
    t.diagnostic(`docker stop of the host image took ${s.toFixed(2)} s`);
    assert.ok(s <= 8);
    const idle = uniqueName('labidle');
    onCleanup(() => run(DOCKER, ['rm', '-f', idle]));
    await docker('run', '-d', '--name', idle, '--network', 'none', tags.capture);
    assert.equal(await docker('inspect', '--format', '{{.State.Running}}', idle), 'true');
    assert.ok((await timedStop(idle)) <= 8);
  });
});
