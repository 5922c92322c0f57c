import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestHost, onCleanup, run, upWithEnv, type TestHost } from './harness.js';

/**
 * The status API answers loopback and the networks of DOVESNAP_STATUS_ALLOW, judged by the
 * connection's peer address, and refuses everyone else with 403, whatever headers they send.
 * The "someone else" is a test host in a namespace the test makes, reaching the host over a veth.
 * It also answers only a Host header that names it (DNS rebinding): others get 421.
 */

/** GET from inside the test host: the status code, or 0 if there was no answer. */
async function statusCodeFrom(host: TestHost, url: string, headers: Record<string, string> = {}): Promise<number> {
  const script = `fetch(${JSON.stringify(url)},{headers:${JSON.stringify(headers)},signal:AbortSignal.timeout(4000)}).then(r=>{process.stdout.write(String(r.status))},()=>process.stdout.write('0'))`;
  const r = await host.exec([process.execPath, '-e', script], 10_000);
  return Number(r.stdout.trim() || '0');
}

/**
 * curl's status code for a GET with this Host header. The event stream never ends: curl gives
 * up after 2 s with the code it got (exit 28), which is what is asked.
 */
async function curlCode(url: string, host: string): Promise<number> {
  const r = await run(
    'curl',
    ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', '-H', `Host: ${host}`, url],
    10_000,
  );
  return Number(r.stdout.trim() || '0');
}

/** The paths a rebinding page would want, and the ones tools use. */
const PATHS = ['/', '/networks', '/host', '/healthz', '/metrics', '/live/snapshot', '/live/events'];
const FOREIGN = 'rebound.attacker.test';

describe('status API access', () => {
  it('refuses a Host that does not name it with 421 on every path, from loopback too, and answers its own names', async () => {
    for (const path of PATHS) {
      const url = `http://127.0.0.1:9401${path}`;
      assert.equal(await curlCode(url, `${FOREIGN}:9401`), 421, `${path} under a foreign name`);
      assert.equal(await curlCode(url, FOREIGN), 421, `${path} under a foreign name without a port`);
      for (const own of ['127.0.0.1:9401', 'localhost:9401', '[::1]:9401'])
        assert.equal(await curlCode(url, own), 200, `${path} as ${own}`);
    }
    const refused = await run('curl', ['-s', '-H', `Host: ${FOREIGN}`, 'http://127.0.0.1:9401/networks'], 10_000);
    assert.match(
      refused.stdout,
      /^421 Misdirected Request: Host "rebound\.attacker\.test" is not a name of this dovesnap status API/,
    );
  });

  it('refuses a host that is not allowed with 403 (X-Forwarded-For and X-Real-IP change nothing), and answers it once its network is allowed, under its own names only', async () => {
    const outside = await makeTestHost(`sa${process.pid % 1000}`);
    const url = `http://${outside.hostSideIp}:9401/networks`;
    onCleanup(() =>
      upWithEnv({
        DOVESNAP_STATUS_ADDR: undefined,
        DOVESNAP_STATUS_ALLOW: undefined,
        DOVESNAP_STATUS_HOSTS: undefined,
      }),
    );
    await upWithEnv({
      DOVESNAP_STATUS_ADDR: '0.0.0.0:9401',
      DOVESNAP_STATUS_ALLOW: undefined,
      DOVESNAP_STATUS_HOSTS: undefined,
    });
    assert.equal(await statusCodeFrom(outside, url), 403);
    assert.equal(
      await statusCodeFrom(outside, url, { 'X-Forwarded-For': '127.0.0.1', 'X-Real-IP': '127.0.0.1' }),
      403,
      'headers are not trusted',
    );
    assert.equal((await fetch('http://127.0.0.1:9401/networks')).status, 200, 'loopback is');
    await upWithEnv({
      DOVESNAP_STATUS_ADDR: '0.0.0.0:9401',
      DOVESNAP_STATUS_ALLOW: `${outside.prefix}.0/24`,
      DOVESNAP_STATUS_HOSTS: 'dovesnap.e2e.test',
    });
    assert.equal(await statusCodeFrom(outside, url), 200);
    assert.equal(await statusCodeFrom(outside, `http://${outside.hostSideIp}:9401/healthz`), 200);
    assert.equal((await fetch('http://127.0.0.1:9401/healthz')).status, 200, 'loopback still is');
    // On 0.0.0.0 the host's own addresses are its names, and DOVESNAP_STATUS_HOSTS adds some.
    assert.equal(await curlCode(url, `${outside.hostSideIp}:9401`), 200, 'the address of the interface');
    assert.equal(await curlCode(url, 'dovesnap.e2e.test:9401'), 200, 'a name of DOVESNAP_STATUS_HOSTS');
    assert.equal(await curlCode(url, '0.0.0.0:9401'), 200, 'the listen address, as scripts/up.sh asks it');
    assert.equal(await curlCode(url, `${outside.ip}:9401`), 421, "an address that is not the host's");
    assert.equal(await curlCode(url, FOREIGN), 421);
    assert.equal(await curlCode(`http://${outside.hostSideIp}:9401/live/events`, FOREIGN), 421);
  });
});
