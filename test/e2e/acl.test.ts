import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerIp,
  createNetwork,
  docker,
  dockerRaw,
  must,
  ping,
  run,
  runContainer,
  serveHttp,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  FAUCET_CONFIG,
  DOCKER,
  addOperatorEntries,
} from './harness.js';

/**
 * FAUCET ACLs through dovesnap, proven by traffic: default_acl, nat_acl, vlan_out_acl, the
 * portacl label (one or several ACLs, per network), an undefined ACL keeping a port closed,
 * and a meter that really limits the rate.
 */

/** Drops ICMP, allows the rest; used twice, under two names, since FAUCET needs one ACL per direction. */
const NO_ICMP = `    - rule:
        dl_type: 0x800
        nw_proto: 1
        actions:
          allow: 0
    - rule:
        actions:
          allow: 1
`;

// Entries for the operator's own `meters:` and `acls:` maps (which may already exist).
const E2E_METERS = `  e2e-1mbps:
    meter_id: 71
    entry:
      flags: [KBPS]
      bands:
        - type: DROP
          rate: 1000
`;
const E2E_ACLS = `  e2e-denyall:
    - rule:
        actions:
          allow: 0
  e2e-allowall:
    - rule:
        actions:
          allow: 1
  e2e-limit:
    - rule:
        actions:
          meter: e2e-1mbps
          allow: 1
  e2e-no-icmp:
${NO_ICMP}  e2e-out-no-icmp:
${NO_ICMP}`;

async function wgetSeconds(from: string, url: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await dockerRaw('exec', from, 'timeout', '30', 'wget', '-q', '-O', '/dev/null', url);
  assert.equal(r.code, 0, `wget ${url}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

describe('FAUCET ACLs, by traffic', () => {
  before(async () => {
    await addOperatorEntries(`dst-acl-${tag}`, [
      ['meters', E2E_METERS],
      ['acls', E2E_ACLS],
    ]);
  });

  const tag = uniqueName('acl').slice(-6);
  const net = `dst-acl-${tag}`;
  const sub = testSubnet();

  it('refuses ACL options naming an ACL FAUCET does not define', async () => {
    for (const opt of ['ovs.bridge.default_acl', 'ovs.bridge.nat_acl', 'ovs.bridge.vlan_out_acl']) {
      const name = `${net}-bad`;
      const r = await dockerRaw(
        'network',
        'create',
        '-d',
        'dovesnap',
        '-o',
        `ovs.bridge.dpid=${testDpid()}`,
        '-o',
        'ovs.bridge.mode=nat',
        '-o',
        `${opt}=e2e-missing`,
        name,
      );
      if (r.code === 0) await run(DOCKER, ['network', 'rm', name]);
      assert.notEqual(r.code, 0, opt);
      assert.match(r.stderr, new RegExp(`e2e-missing.*${opt.replace(/\./g, '\\.')}`));
    }
  });

  it('default_acl denyall: no peer, no gateway; portacl allowall opens a port', async () => {
    await createNetwork(
      net,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat', 'ovs.bridge.default_acl': 'e2e-denyall' },
      ['--subnet', sub.subnet],
    );
    const denied = `${net}-denied`;
    const a = `${net}-a`;
    const b = `${net}-b`;
    await runContainer(a, net, ['--label', 'dovesnap.faucet.portacl=e2e-allowall']);
    await runContainer(b, net, ['--label', `dovesnap.faucet.portacl=${net}:e2e-allowall`]);
    await runContainer(denied, net);
    const ipA = await containerIp(a, net);
    await waitPing(b, ipA);
    await waitPing(a, `${sub.prefix}.1`);
    await serveHttp(a);
    assert.equal(
      await waitFor(
        'TCP b -> a',
        async () =>
          (await dockerRaw('exec', b, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ipA}:8080/`)).stdout.trim() ||
          undefined,
      ),
      `hello from ${a}`,
    );
    // the denied container's port is up in FAUCET (it has a config) but its ACL drops all
    const st = Object.values(await status()).find((n) => n.NetworkName === net);
    const d = Object.values(st?.Containers ?? {}).find((c) => c.Name === `/${denied}`);
    assert.deepEqual(d?.PortACLs, ['e2e-denyall']);
    assert.equal(await ping(denied, ipA), false);
    assert.equal(await ping(denied, `${sub.prefix}.1`), false);
    assert.notEqual(
      (await dockerRaw('exec', denied, 'timeout', '3', 'wget', '-q', '-O', '-', `http://${ipA}:8080/`)).code,
      0,
    );
  });

  it('several ACLs on one port apply in order', async () => {
    const c = `${net}-multi`;
    await runContainer(c, net, ['--label', 'dovesnap.faucet.portacl=e2e-no-icmp,e2e-allowall']);
    const ipA = await containerIp(`${net}-a`, net);
    await waitFor(
      'TCP allowed',
      async () =>
        (await dockerRaw('exec', c, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ipA}:8080/`)).code === 0,
    );
    assert.equal(await ping(c, ipA), false, 'ICMP dropped by the first ACL');
  });

  it('a label naming an undefined ACL keeps the port closed, and says why', async () => {
    const c = `${net}-undef`;
    await runContainer(c, net, ['--label', 'dovesnap.faucet.portacl=e2e-nosuch']);
    const blocked = await waitFor('blocked in status', async () => {
      const st = Object.values(await status()).find((n) => n.NetworkName === net);
      return Object.values(st?.Containers ?? {}).find((x) => x.Name === `/${c}` && x.Blocked !== null);
    });
    assert.match(blocked.Blocked ?? '', /e2e-nosuch/);
    assert.equal(await ping(c, await containerIp(`${net}-a`, net)), false);
    assert.match(
      await must('tail', ['-n', '300', '/var/log/dovesnap/dovesnap.log']),
      /port kept closed in FAUCET.*e2e-nosuch|e2e-nosuch.*port kept closed/,
    );
  });

  it('a meter ACL installs a meter in the switch and limits the rate', async () => {
    const srv = `${net}-srv`;
    const fast = `${net}-fast`;
    await runContainer(srv, net, ['--label', 'dovesnap.faucet.portacl=e2e-limit']);
    await runContainer(fast, net, ['--label', 'dovesnap.faucet.portacl=e2e-allowall']);
    // 256 KiB: about 2 s at 1 Mbit/s, milliseconds without the meter.
    await docker(
      'exec',
      srv,
      'sh',
      '-c',
      'mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/blob bs=1024 count=256 2>/dev/null && httpd -p 8080 -h /tmp/www',
    );
    await docker(
      'exec',
      fast,
      'sh',
      '-c',
      'mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/blob bs=1024 count=256 2>/dev/null && httpd -p 8080 -h /tmp/www',
    );
    const client = `${net}-a`;
    await waitPing(client, await containerIp(srv, net));
    const bridge = `ovsbr-${(await docker('network', 'inspect', '-f', '{{.Id}}', net)).slice(0, 5)}`;
    const meters = await must('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-meters', bridge]);
    assert.match(meters, /meter=71\s+kbps.*rate=1000/s);
    const limited = await wgetSeconds(client, `http://${await containerIp(srv, net)}:8080/blob`);
    const unlimited = await wgetSeconds(client, `http://${await containerIp(fast, net)}:8080/blob`);
    assert.ok(limited > 1.2, `metered transfer took ${limited.toFixed(2)} s, expected about 2 s`);
    assert.ok(unlimited < limited / 3, `unmetered ${unlimited.toFixed(2)} s vs metered ${limited.toFixed(2)} s`);
  });

  it('nat_acl filters what the gateway port sends into the network', async () => {
    const n3 = `${net}-gw`;
    const s3 = testSubnet();
    await createNetwork(
      n3,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.mode': 'nat', 'ovs.bridge.nat_acl': 'e2e-denyall' },
      ['--subnet', s3.subnet],
    );
    const z = `${n3}-z`;
    await runContainer(z, n3);
    // The gateway's replies enter the network through its port: with denyall nothing comes back.
    assert.equal(await ping(z, `${s3.prefix}.1`), false);
    const other = `${n3}-other`;
    await runContainer(other, n3);
    await waitPing(z, await containerIp(other, n3));
  });

  it('refuses vlan_out_acl naming an ACL that ports already use on input', async () => {
    // e2e-no-icmp is a port ACL above: FAUCET 1.10 crashes when one ACL serves both directions.
    const name = `${net}-both`;
    const r = await dockerRaw(
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      `ovs.bridge.dpid=${testDpid()}`,
      '-o',
      'ovs.bridge.vlan_out_acl=e2e-no-icmp',
      name,
    );
    if (r.code === 0) await run(DOCKER, ['network', 'rm', name]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /e2e-no-icmp.*ovs\.bridge\.vlan_out_acl.*already used as an input ACL/);
  });

  it("vlan_out_acl filters what leaves the VLAN, through FAUCET's egress pipeline", async () => {
    const n2 = `${net}-out`;
    const s2 = testSubnet();
    await createNetwork(
      n2,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.vlan_out_acl': 'e2e-out-no-icmp', 'ovs.bridge.vlan': '321' },
      ['--subnet', s2.subnet],
    );
    const x = `${n2}-x`;
    const y = `${n2}-y`;
    await runContainer(x, n2);
    await runContainer(y, n2);
    await serveHttp(y);
    const ipY = await containerIp(y, n2);
    await waitFor(
      'TCP passes the output ACL',
      async () =>
        (await dockerRaw('exec', x, 'timeout', '5', 'wget', '-q', '-O', '-', `http://${ipY}:8080/`)).code === 0,
    );
    assert.equal(await ping(x, ipY), false, 'ICMP dropped on output');
    const egress = await must('sh', ['-c', `grep -c 'egress_pipeline: true' ${FAUCET_CONFIG}`]);
    assert.equal(egress, '1');
    await docker('rm', '-f', x, y);
    await docker('network', 'rm', n2);
  });

  it("refuses vlan_out_acl on a VLAN another network uses, and a network on a VLAN that carries one (FAUCET's VLANs are shared by VID); nothing is made", async () => {
    const bridges = await must('ovs-vsctl', ['list-br']);
    // The suite's network runs on VLAN 100, the default: the ACL would filter its traffic too.
    const shared = `${net}-shr`;
    const r = await dockerRaw(
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      `ovs.bridge.dpid=${testDpid()}`,
      '-o',
      'ovs.bridge.vlan_out_acl=e2e-out-no-icmp',
      shared,
    );
    if (r.code === 0) await run(DOCKER, ['network', 'rm', shared]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /invalid value "e2e-out-no-icmp" for option ovs\.bridge\.vlan_out_acl: VLAN 100 is also used by /,
    );

    const own = `${net}-own`;
    await createNetwork(
      own,
      { 'ovs.bridge.dpid': testDpid(), 'ovs.bridge.vlan_out_acl': 'e2e-out-no-icmp', 'ovs.bridge.vlan': '322' },
      ['--subnet', testSubnet().subnet],
    );
    const joiner = `${net}-join`;
    const j = await dockerRaw(
      'network',
      'create',
      '-d',
      'dovesnap',
      '-o',
      `ovs.bridge.dpid=${testDpid()}`,
      '-o',
      'ovs.bridge.vlan=322',
      joiner,
    );
    if (j.code === 0) await run(DOCKER, ['network', 'rm', joiner]);
    assert.notEqual(j.code, 0);
    assert.match(
      j.stderr,
      new RegExp(
        `invalid value "322" for option ovs\\.bridge\\.vlan: VLAN 322 carries network (${own}|[0-9a-f]{12})'s output ACL e2e-out-no-icmp`,
      ),
    );
    await docker('network', 'rm', own);
    assert.notEqual((await run(DOCKER, ['network', 'inspect', shared])).code, 0);
    assert.notEqual((await run(DOCKER, ['network', 'inspect', joiner])).code, 0);
    await waitFor('no bridge left', async () => (await must('ovs-vsctl', ['list-br'])) === bridges, 10_000);
  });
});
