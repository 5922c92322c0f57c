import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerIp,
  createNetwork,
  docker,
  dockerRaw,
  httpGet,
  must,
  onCleanup,
  run,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  faucetYaml,
  DOCKER,
  IMAGE,
} from './harness.js';

/**
 * Regressions of issue 6 (the core's foundations), end to end on the real stack.
 */
describe('foundations, end to end', () => {
  it('many labelled containers started at once each get their own labels (defect 11)', async () => {
    const net = uniqueName('burst');
    const sub = testSubnet();
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', sub.subnet]);
    const n = 12;
    const names = Array.from({ length: n }, (_, i) => `${net}-${i}`);
    // Each container's MAC prefix is derived from its index: a mix-up shows as a wrong MAC.
    const prefixOf = (i: number): string => `0e:${(0x10 + i).toString(16)}`;
    await Promise.all(
      names.map((name, i) =>
        runContainer(name, net, ['--label', `dovesnap.faucet.mac_prefix=${prefixOf(i)}`, '--label', `e2e.index=${i}`]),
      ),
    );
    await waitFor(
      'every container resolved with its own labels',
      async () => {
        const st = Object.values(await status()).find((x) => x.NetworkName === net);
        const cs = Object.values(st?.Containers ?? {});
        if (cs.length !== n || cs.some((c) => c.Name === '')) return false;
        for (const c of cs) {
          const i = names.indexOf(c.Name.slice(1));
          assert.ok(i >= 0, `unknown container ${c.Name}`);
          assert.equal(
            (c as unknown as { Labels: Record<string, string> }).Labels['e2e.index'],
            String(i),
            `${c.Name} carries its own labels`,
          );
          assert.ok(
            c.MacAddress.startsWith(prefixOf(i)),
            `${c.Name}: status MAC ${c.MacAddress} has prefix ${prefixOf(i)}`,
          );
        }
        return true;
      },
      60_000,
      250,
    );
    for (const [i, name] of names.entries()) {
      const mac = await docker('exec', name, 'cat', '/sys/class/net/eth0/address');
      assert.ok(mac.startsWith(prefixOf(i)), `${name} has MAC ${mac}, not prefix ${prefixOf(i)}`);
    }
    await waitPing(names[0] ?? '', await containerIp(names[n - 1] ?? '', net), 20_000);
  });

  it('a network that outgrows its first spare entries keeps connecting every new container', async () => {
    const net = uniqueName('grow');
    const sub = testSubnet();
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', sub.subnet]);
    const first = `${net}-0`;
    await runContainer(first, net);
    const firstIp = await containerIp(first, net);
    // One after another, past the 8 spares a new network starts with and past their top-up.
    for (let i = 1; i <= 20; i++) {
      const name = `${net}-${i}`;
      await runContainer(name, net);
      await waitPing(name, firstIp, 20_000);
    }
  });

  it('a network of another controller is left out of the local faucet.yaml, and its ports come up at once (defect 7)', async () => {
    const net = uniqueName('remote');
    const sub = testSubnet();
    // Nothing listens on 6999: this stands for a FAUCET on another host.
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.controller': 'tcp:127.0.0.1:6999' }, [
      '--subnet',
      sub.subnet,
    ]);
    const c = `${net}-c`;
    const id = await runContainer(c, net);
    const st = await waitFor(
      'the container in status',
      async () => {
        const n = Object.values(await status()).find((x) => x.NetworkName === net);
        return Object.values(n?.Containers ?? {}).find((x) => x.Id === id);
      },
      10_000,
    );
    // The switch port is up without waiting for a FAUCET that will never configure it.
    await waitFor(
      `${st.Interface} up`,
      async () => (await must('ip', ['-o', 'link', 'show', 'dev', st.Interface])).includes(',UP'),
      3_000,
      50,
    );
    assert.ok(!faucetYaml().includes(`  ${net}:`), 'the network is not in the local faucet.yaml');
  });

  it('port mappings: a port already published or held by the host is refused with a clear error (defect 6)', async () => {
    const net = uniqueName('pmap');
    const sub = testSubnet();
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat' }, ['--subnet', sub.subnet]);
    const a = `${net}-a`;
    await runContainer(a, net, ['-p', '127.0.0.1:18491:8080']);
    await serveHttp(a);
    const dup = `${net}-dup`;
    onCleanup(() => run(DOCKER, ['rm', '-f', dup]));
    const r = await dockerRaw(
      'run',
      '-d',
      '--name',
      dup,
      '--net',
      net,
      '-p',
      '127.0.0.1:18491:8080',
      IMAGE,
      'sleep',
      '60',
    );
    assert.notEqual(r.code, 0, 'a second container may not take the same host port');
    assert.match(r.stderr, /18491/);
    assert.match(r.stderr, /already published/);
    // A range takes the next free port.
    const c = `${net}-range`;
    const cid = await runContainer(c, net, ['-p', '127.0.0.1:18491-18493:8080']);
    const ports = await waitFor('the range mapping in status', async () => {
      const n = Object.values(await status()).find((x) => x.NetworkName === net);
      const p = Object.values(n?.Containers ?? {}).find((x) => x.Id === cid)?.Ports ?? [];
      return p.length > 0 ? p : undefined;
    });
    assert.deepEqual(
      ports.map((p) => p.HostPort),
      [18492],
    );
    // The host's own listener (the status API on 9401) is not taken over.
    const held = `${net}-held`;
    onCleanup(() => run(DOCKER, ['rm', '-f', held]));
    const h = await dockerRaw(
      'run',
      '-d',
      '--name',
      held,
      '--net',
      net,
      '-p',
      '127.0.0.1:9401:8080',
      IMAGE,
      'sleep',
      '60',
    );
    assert.notEqual(h.code, 0);
    assert.match(h.stderr, /host already listens on 127\.0\.0\.1:9401/);
    assert.equal((await httpGet(a, 'http://127.0.0.1:8080/')) ?? '', `hello from ${a}`);
    const health = await must('curl', ['-s', 'http://127.0.0.1:9401/healthz']);
    assert.match(health, /"ok":true/, 'the status API still answers');
  });
});
