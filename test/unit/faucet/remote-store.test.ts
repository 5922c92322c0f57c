import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { FaucetConfigState } from '../../../src/faucet/metrics.js';
import { PENDING, RemoteFaucetStore } from '../../../src/faucet/remote-store.js';
import { sha256Hex } from '../../../src/faucet/store.js';
import type { FaucetDpSpec, ManagedFaucetState } from '../../../src/faucet/types.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';
import { FakeConfrpc } from '../../fakes/fake-confrpc.js';

const OPERATOR = 'dps:\n  core:\n    dp_id: 1\n    interfaces:\n      1:\n        native_vlan: 100\n';

function want(ports: number[], name = 'net1'): ManagedFaucetState {
  const dp: FaucetDpSpec = {
    name,
    dpId: 0x10n,
    description: `dovesnap network ${name}`,
    ports: ports.map((number) => ({ number, description: `p${number}`, nativeVlan: 200 })),
  };
  return { dps: [dp], owned: new Set([name]) };
}

const clock = { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };

describe('RemoteFaucetStore', () => {
  it('coalesces a burst: applies of one tick share one write, the newest state wins', async () => {
    const api = new FakeConfrpc(OPERATOR);
    const store = new RemoteFaucetStore({ api, target: 'fake:1' });
    const results = await Promise.all([
      store.apply(want([1])),
      store.apply(want([1, 2])),
      store.apply(want([1, 2, 3])),
    ]);
    assert.deepEqual(
      results.map((r) => r.callers),
      [3, 3, 3],
    );
    assert.equal(api.calls.filter((c) => c !== 'GetConfigFile').length, 1, 'one write');
    assert.match(api.text, /3:/);
    assert.equal(results[0]?.confirmed, false, 'no metrics: written, not confirmed');
    assert.equal(store.cachedText(), api.text);
  });

  it('server away: FAUCET configuration pending at once, a retry is asked for with a growing delay, then it converges', async () => {
    const api = new FakeConfrpc(OPERATOR);
    const asked: number[] = [];
    const started = Date.now();
    const store = new RemoteFaucetStore({
      api,
      target: 'fake:1',
      retry: () => asked.push(Date.now() - started),
      retryMs: { first: 20, max: 40 },
    });
    api.down = true;
    await assert.rejects(
      store.apply(want([1])),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.FaucetTimeout) &&
        err.message.startsWith(`${PENDING}:`) &&
        /fake:1/.test(err.message),
    );
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(asked.length, 1);
    api.down = false;
    const r = await store.apply(want([1]));
    assert.equal(r.written, true);
    assert.match(api.text, /net1/);
    store.close();
  });

  it("a refusal is FaucetRejected with the server's message; the operator's entries stay", async () => {
    const api = new FakeConfrpc(OPERATOR);
    api.refuse = (doc) =>
      (doc.get('dps') as Map<unknown, unknown>).has('net1') ? 'Invalid config: bad DP net1' : undefined;
    const store = new RemoteFaucetStore({ api, target: 'fake:1' });
    await assert.rejects(
      store.apply(want([1])),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.FaucetRejected) && /Invalid config: bad DP net1/.test(err.message),
    );
    assert.doesNotMatch(api.text, /net1/);
    assert.match(api.text, /core/);
  });

  it('confirms when FAUCET reports the hash of the text the server wrote', async () => {
    const api = new FakeConfrpc(OPERATOR);
    let loaded = sha256Hex(api.text);
    let reads = 0;
    const readState = async (): Promise<FaucetConfigState> => {
      reads += 1;
      // FAUCET's stat reload picks the new file up a little later.
      if (reads > 2) loaded = sha256Hex(api.text);
      return { files: ['/etc/faucet/faucet.yaml'], hashes: [loaded], loadError: false, error: '' } as FaucetConfigState;
    };
    const store = new RemoteFaucetStore({ api, target: 'fake:1', readState, pollIntervalMs: 5, clock });
    const r = await store.apply(want([1]));
    assert.deepEqual([r.written, r.confirmed], [true, true]);
    assert.equal(r.sha256, sha256Hex(api.text));
    // Unchanged: nothing written, FAUCET runs it.
    const again = await store.apply(want([1]));
    assert.deepEqual([again.written, again.confirmed], [false, true]);
  });

  it('FAUCET refusing what the server wrote is FaucetRejected; silence is FaucetTimeout', async () => {
    const api = new FakeConfrpc(OPERATOR);
    let reads = 0;
    const refusing = async (): Promise<FaucetConfigState> => {
      reads += 1;
      return reads === 1
        ? ({ files: [], hashes: ['old'], loadError: false, error: '', reloadRequests: 1 } as FaucetConfigState)
        : ({
            files: [],
            hashes: ['old'],
            loadError: true,
            error: 'DP net1: bad',
            reloadRequests: 2,
          } as FaucetConfigState);
    };
    const store = new RemoteFaucetStore({ api, target: 'fake:1', readState: refusing, pollIntervalMs: 5, clock });
    await assert.rejects(
      store.apply(want([1])),
      (err: unknown) => isDovesnapError(err, ErrorCode.FaucetRejected) && /DP net1: bad/.test(err.message),
    );
    const silent = new RemoteFaucetStore({
      api,
      target: 'fake:1',
      readState: async () =>
        ({ files: [], hashes: ['old'], loadError: false, error: '' }) as unknown as FaucetConfigState,
      pollIntervalMs: 5,
      confirmTimeoutMs: 30,
      clock,
    });
    await assert.rejects(
      silent.apply(want([1, 2])),
      (err: unknown) => isDovesnapError(err, ErrorCode.FaucetTimeout) && /FAUCET_CONFIG_STAT_RELOAD/.test(err.message),
    );
  });

  it("FAUCET's window to confirm grows to three times its last load, as the local store's", async () => {
    const api = new FakeConfrpc(OPERATOR);
    let reloadAt = 0;
    let answer = true;
    let shown = 'old';
    const readState = async (): Promise<FaucetConfigState> => {
      // FAUCET shows a new text 25 ms after it was written (the window is 30 ms), then no more.
      if (reloadAt === 0) reloadAt = Date.now();
      if (answer && Date.now() - reloadAt >= 25) shown = sha256Hex(api.text);
      return { files: [], hashes: [shown], loadError: false, error: '' } as unknown as FaucetConfigState;
    };
    const store = new RemoteFaucetStore({
      api,
      target: 'fake:1',
      readState,
      pollIntervalMs: 5,
      confirmTimeoutMs: 30,
      clock,
    });
    assert.equal((await store.apply(want([1]))).confirmed, true);
    answer = false;
    await assert.rejects(store.apply(want([1, 2])), (err: unknown) => {
      const ms = Number(/within (\d+) ms/.exec(err instanceof Error ? err.message : '')?.[1]);
      return isDovesnapError(err, ErrorCode.FaucetTimeout) && ms >= 60;
    });
  });
});
