import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestHost, onCleanup, upWithEnv, type TestHost } from './harness.js';

/**
 * The status API answers loopback and the networks of DOVESNAP_STATUS_ALLOW, judged by the
 * connection's peer address, and refuses everyone else with 403, whatever headers they send.
 * The "someone else" is a test host in a namespace the test makes, reaching the host over a veth.
 */

/** GET from inside the test host: the status code, or 0 if there was no answer. */
async function statusCodeFrom(host: TestHost, url: string, headers: Record<string, string> = {}): Promise<number> {
  const script = `fetch(${JSON.stringify(url)},{headers:${JSON.stringify(headers)},signal:AbortSignal.timeout(4000)}).then(r=>{process.stdout.write(String(r.status))},()=>process.stdout.write('0'))`;
  const r = await host.exec([process.execPath, '-e', script], 10_000);
  return Number(r.stdout.trim() || '0');
}

describe('status API access', () => {
  it('refuses a host that is not allowed with 403 (X-Forwarded-For and X-Real-IP change nothing), and answers it once its network is allowed', async () => {
    const outside = await makeTestHost(`sa${process.pid % 1000}`);
    const url = `http://${outside.hostSideIp}:9401/networks`;
    onCleanup(() => upWithEnv({ DOVESNAP_STATUS_ADDR: undefined, DOVESNAP_STATUS_ALLOW: undefined }));
    await upWithEnv({ DOVESNAP_STATUS_ADDR: '0.0.0.0:9401', DOVESNAP_STATUS_ALLOW: undefined });
    assert.equal(await statusCodeFrom(outside, url), 403);
    assert.equal(await statusCodeFrom(outside, url, { 'X-Forwarded-For': '127.0.0.1', 'X-Real-IP': '127.0.0.1' }), 403, 'headers are not trusted');
    assert.equal((await fetch('http://127.0.0.1:9401/networks')).status, 200, 'loopback is');
    await upWithEnv({ DOVESNAP_STATUS_ADDR: '0.0.0.0:9401', DOVESNAP_STATUS_ALLOW: `${outside.prefix}.0/24` });
    assert.equal(await statusCodeFrom(outside, url), 200);
    assert.equal(await statusCodeFrom(outside, `http://${outside.hostSideIp}:9401/healthz`), 200);
    assert.equal((await fetch('http://127.0.0.1:9401/healthz')).status, 200, 'loopback still is');
  });
});
