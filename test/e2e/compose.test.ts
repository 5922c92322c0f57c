import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  addOperatorEntries,
  bridgeExists,
  docker,
  faucetYaml,
  httpGet,
  IMAGE,
  onCleanup,
  ping,
  status,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
  type RunResult,
  type StatusNetwork,
} from './harness.js';

/**
 * Docker Compose, the client most users create networks with: `up` with `driver: dovesnap`,
 * `driver_opts`, an IPAM subnet and a static address, a label that names the network as the
 * compose file does (Compose calls it PROJECT_labnet), and `down` leaving nothing. Run with
 * Debian's docker-compose 1.29 and with Compose v5 (scripts/compose/build-v5.sh); both are
 * installed by scripts/install-test-deps.sh, and a missing one fails the test.
 */

interface ComposeTool {
  readonly label: string;
  readonly bin: string;
  readonly version: RegExp;
  readonly install: string;
}

const COMPOSES: readonly ComposeTool[] = [
  {
    label: "Debian's docker-compose 1.29",
    bin: process.env['DOVESNAP_COMPOSE_V1'] ?? '/usr/bin/docker-compose',
    version: /^docker-compose version 1\.29\./,
    install: 'scripts/install-test-deps.sh (Debian package docker-compose)',
  },
  {
    label: 'Compose v5.6.0',
    bin: process.env['DOVESNAP_COMPOSE_V5'] ?? '/opt/dovesnap/compose/v5.6.0/docker-compose',
    version: /^Docker Compose version v5\.6\.0$/,
    install: 'scripts/install-test-deps.sh (scripts/compose/build-v5.sh)',
  },
];

/** Drops TCP to port 81 from the labelled container; the rest passes. */
const aclEntries = (acl: string): string => `  ${acl}:
    - rule:
        dl_type: 0x800
        nw_proto: 6
        tcp_dst: 81
        actions:
          allow: 0
    - rule:
        actions:
          allow: 1
`;

function composeFile(o: { dpid: string; vlan: number; subnet: string; webIp: string; acl: string }): string {
  return `services:
  web:
    image: ${IMAGE}
    command: ["sh", "-c", "mkdir -p /www && echo hello-compose > /www/index.html && httpd -p 81 -h /www && httpd -f -p 80 -h /www"]
    stop_signal: SIGKILL
    networks:
      labnet:
        ipv4_address: ${o.webIp}
  client:
    image: ${IMAGE}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    labels:
      dovesnap.faucet.portacl: "labnet:${o.acl}"
    networks:
      - labnet
networks:
  labnet:
    driver: dovesnap
    driver_opts:
      ovs.bridge.dpid: "${o.dpid}"
      ovs.bridge.vlan: "${o.vlan}"
    ipam:
      driver: default
      config:
        - subnet: ${o.subnet}
`;
}

/** Runs the Compose tool on the project's file, the project named by COMPOSE_PROJECT_NAME. */
function compose(tool: ComposeTool, dir: string, project: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, COMPOSE_PROJECT_NAME: project };
    execFile(
      tool.bin,
      ['-f', join(dir, 'compose.yaml'), ...args],
      { cwd: dir, env, timeout: 180_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function composeMust(tool: ComposeTool, dir: string, project: string, args: readonly string[]): Promise<string> {
  const r = await compose(tool, dir, project, args);
  assert.equal(r.code, 0, `${tool.bin} ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

const byProject = (project: string): string => `label=com.docker.compose.project=${project}`;

function dpOf(name: string): { interfaces?: Record<string, { description?: string; acls_in?: string[] }> } | undefined {
  return (
    parse(faucetYaml()) as {
      dps?: Record<string, { interfaces?: Record<string, { description?: string; acls_in?: string[] }> }>;
    }
  ).dps?.[name];
}

for (const tool of COMPOSES) {
  describe(`Docker Compose: ${tool.label}`, () => {
    const tag = uniqueName('compose').slice(-6);
    const project = `dst-compose-${tag}`;
    const acl = `e2e-compose-${tag}`;
    const sub = testSubnet();
    const webIp = `${sub.prefix}.10`;
    const network = `${project}_labnet`;

    before(async () => {
      await addOperatorEntries(project, [['acls', aclEntries(acl)]]);
    });

    it('is installed, at the pinned version', async () => {
      assert.ok(existsSync(tool.bin), `${tool.bin} is missing: run ${tool.install}`);
      const r = await compose(tool, tmpdir(), project, ['version']);
      assert.equal(r.code, 0, `${tool.bin} version: ${r.stderr}`);
      assert.match(r.stdout.trim().split('\n')[0] ?? '', tool.version);
    });

    it('up: driver_opts, the subnet, a static address, a label by the compose-file name; traffic; down leaves nothing', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dovesnap-compose-'));
      onCleanup(async () => {
        await compose(tool, dir, project, ['down', '--remove-orphans', '--timeout', '1']);
        rmSync(dir, { recursive: true, force: true });
      });
      writeFileSync(
        join(dir, 'compose.yaml'),
        composeFile({ dpid: testDpid(), vlan: 3000 + randomInt(0, 900), subnet: sub.subnet, webIp, acl }),
      );
      await composeMust(tool, dir, project, ['up', '-d']);

      const web = await composeMust(tool, dir, project, ['ps', '-q', 'web']);
      const client = await composeMust(tool, dir, project, ['ps', '-q', 'client']);
      assert.match(web, /^[0-9a-f]{64}$/);
      assert.match(client, /^[0-9a-f]{64}$/);
      assert.equal(
        await docker('network', 'ls', '--filter', byProject(project), '--format', '{{.Name}} {{.Driver}}'),
        `${network} dovesnap`,
      );
      assert.equal(
        await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, web),
        webIp,
      );
      const clientIp = await docker(
        'inspect',
        '-f',
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
        client,
      );
      assert.ok(clientIp.startsWith(`${sub.prefix}.`), `client address ${clientIp} in ${sub.subnet}`);

      // The label named the network `labnet`, as the compose file does: the port has the ACL.
      const net = await waitFor(
        'the network in the status API with the ACL on the client',
        async () => {
          const n = Object.values(await status()).find((s: StatusNetwork) => s.NetworkName === network);
          return n !== undefined && Object.values(n.Containers).some((c) => c.Id === client && c.PortACLs.includes(acl))
            ? n
            : undefined;
        },
        30_000,
      );
      assert.deepEqual(
        Object.values(net.Containers).find((c) => c.Id === web)?.PortACLs,
        [],
        'web has no ACL of its own',
      );
      const clientName = await docker('inspect', '-f', '{{.Name}}', client);
      await waitFor(
        'the ACL on the client port in faucet.yaml',
        async () =>
          Object.values(dpOf(network)?.interfaces ?? {}).some(
            (i) => i.description?.includes(clientName.replace(/^\//, '')) === true && i.acls_in?.includes(acl) === true,
          ),
        30_000,
      );

      await waitPing(client, webIp);
      assert.ok(await ping(web, clientIp), 'web pings client');
      assert.equal(
        await waitFor('TCP from client to web:80', () => httpGet(client, `http://${webIp}:80/`), 30_000),
        'hello-compose',
      );
      // The ACL at work: port 81 is served (from web itself) but dropped from the labelled client.
      assert.equal(await httpGet(web, 'http://127.0.0.1:81/'), 'hello-compose');
      assert.equal(await httpGet(client, `http://${webIp}:81/`), undefined, 'the ACL drops TCP to port 81');

      const bridge = net.BridgeName;
      assert.ok(await bridgeExists(bridge));
      await composeMust(tool, dir, project, ['down', '--timeout', '1']);
      assert.equal(await docker('ps', '-a', '-q', '--filter', byProject(project)), '', 'no container left');
      assert.equal(await docker('network', 'ls', '-q', '--filter', byProject(project)), '', 'no network left');
      await waitFor(`bridge ${bridge} removed`, async () => !(await bridgeExists(bridge)), 30_000);
      await waitFor(`FAUCET DP ${network} removed`, async () => dpOf(network) === undefined, 30_000);
      assert.equal(
        Object.values(await status()).find((s) => s.NetworkName === network),
        undefined,
        'not in the status API',
      );
    });
  });
}
