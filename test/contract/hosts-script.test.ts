import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stackIdentity } from '../../src/driver/stack.js';

/**
 * scripts/hosts.sh's pure parts (`make hosts`, docs/hosts-harness.md), sourced: the lines it
 * prints, the daemons' environment, the stacking values each host would need, and the stack DP
 * names and DPIDs they lead to in the daemon's own code. test/e2e/hosts.test.ts runs the harness.
 */

const HOSTS = new URL('../../../scripts/hosts.sh', import.meta.url).pathname;
const exec = promisify(execFile);

async function sh(script: string, env: Record<string, string> = {}): Promise<string> {
  const r = await exec('bash', ['-c', `source "${HOSTS}"; ${script}`], {
    timeout: 20_000,
    env: { ...process.env, HOSTS_DAEMON_ENV: '', HOSTS_STACKING: '', HOSTS_CONFRPC: '1', ...env },
  });
  return r.stdout;
}

async function fails(args: string[]): Promise<string> {
  try {
    await exec(HOSTS, args, { timeout: 20_000 });
  } catch (err) {
    return String((err as { stderr?: unknown }).stderr);
  }
  assert.fail(`hosts.sh ${args.join(' ')} succeeded`);
}

describe('scripts/hosts.sh (sourced)', () => {
  it('prints the line a docker client and the status API use, per host', async () => {
    assert.equal(
      await sh('host_line 1; host_line 8'),
      'host1 DOCKER_HOST=unix:///run/dovesnap-hosts/h1/docker.sock STATUS=http://10.239.0.11:9401\n' +
        'host8 DOCKER_HOST=unix:///run/dovesnap-hosts/h8/docker.sock STATUS=http://10.239.0.18:9401\n',
    );
  });

  it('gives each host the STACKING_INTERFACES of a line of hosts, far ports in the order listed', async () => {
    assert.equal(await sh('stacking_interfaces 1 1'), '\n');
    assert.equal(
      await sh('stacking_interfaces 1 2; stacking_interfaces 2 2'),
      'dovesnap-dsh-h2:1:dsh-to-h2\ndovesnap-dsh-h1:1:dsh-to-h1\n',
    );
    assert.equal(
      await sh('for k in 1 2 3; do stacking_interfaces $k 3; done'),
      'dovesnap-dsh-h2:1:dsh-to-h2\n' +
        'dovesnap-dsh-h1:1:dsh-to-h1,dovesnap-dsh-h3:1:dsh-to-h3\n' +
        'dovesnap-dsh-h2:2:dsh-to-h2\n',
    );
  });

  it('names DPs as the daemon does, with a DPID of its own per host', async () => {
    const ids = new Set<bigint>();
    for (let k = 1; k <= 8; k += 1) {
      const [machineId, name] = (await sh(`host_machine_id ${k}; host_name ${k}`)).trim().split('\n');
      const identity = stackIdentity(name, machineId);
      assert.equal(identity.dpName, (await sh(`dovesnap_dp_name ${k}`)).trim());
      ids.add(identity.dpId);
      assert.equal((await sh(`host_machine_id ${k}`)).trim(), machineId, 'the same on every run');
    }
    assert.equal(ids.size, 8);
  });

  it("points each host's daemon at its own OVS, Docker and plugin directory, and at this machine's FAUCET", async () => {
    const env = (await sh('daemon_env 2 3')).trim().split('\n');
    for (const line of [
      'DOVESNAP_OVSDB=/run/dovesnap-hosts/h2/ovs/db.sock',
      'DOVESNAP_DOCKER_SOCK=/run/dovesnap-hosts/h2/docker.sock',
      'DOVESNAP_PLUGIN_DIR=/run/dovesnap-hosts/h2/plugins',
      'DOVESNAP_STATUS_ADDR=10.239.0.12:9401',
      'DOVESNAP_STATUS_ALLOW=10.239.0.0/24',
      'DOVESNAP_DEFAULT_CONTROLLERS=tcp:10.239.0.1:6653',
      'DOVESNAP_DATAPATH=netdev',
      'FAUCET_PREFIX=/var/lib/dovesnap-hosts/h2/faucet',
      'FAUCETCONFRPC_ADDR=10.239.0.1',
      'FAUCETCONFRPC_PORT=59999',
      'FAUCETCONFRPC_KEYDIR=/etc/dovesnap/confrpc',
    ])
      assert.ok(env.includes(line), `${line} in ${env.join(' ')}`);
    assert.ok(!env.some((l) => l.startsWith('STACKING_INTERFACES=')), 'stacking is off by default');
    const local = await sh('daemon_env 2 3', { HOSTS_CONFRPC: '0' });
    assert.ok(!local.includes('FAUCETCONFRPC_'), 'HOSTS_CONFRPC=0: the hosts write no FAUCET here');

    const stacked = (await sh('daemon_env 2 3', { HOSTS_STACKING: '1', HOSTS_DAEMON_ENV: 'DOVESNAP_LOG_LEVEL=debug' }))
      .trim()
      .split('\n');
    assert.ok(stacked.includes('STACKING_INTERFACES=dovesnap-dsh-h1:1:dsh-to-h1,dovesnap-dsh-h3:1:dsh-to-h3'));
    assert.ok(stacked.includes('STACK_PRIORITY1=dovesnap-dsh-h1'));
    assert.equal(stacked.at(-1), 'DOVESNAP_LOG_LEVEL=debug', 'HOSTS_DAEMON_ENV comes last, so it wins');
  });

  it('refuses a count out of range and a HOSTS_DAEMON_ENV item that is not NAME=VALUE', async () => {
    assert.match(await fails(['up', '9']), /N=9: expected a number of hosts from 1 to 8/);
    assert.match(await fails(['up', 'x']), /N=x: expected a number of hosts from 1 to 8/);
    await assert.rejects(
      sh('daemon_env 1 1', { HOSTS_DAEMON_ENV: 'oops' }),
      /HOSTS_DAEMON_ENV: 'oops' is not NAME=VALUE/,
    );
    await assert.rejects(sh('daemon_env 1 1', { HOSTS_CONFRPC: 'yes' }), /HOSTS_CONFRPC=yes: expected 1, 0 or auto/);
  });
});
