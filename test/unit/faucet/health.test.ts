import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpuTicksFromStat,
  judgeFaucetHealth,
  judgeReload,
  reloadFaucet,
  type ReloadDeps,
} from '../../../src/faucet/health.js';
import type { FaucetConfigState } from '../../../src/faucet/metrics.js';

const URL = 'http://127.0.0.1:9302/metrics';
const loaded: FaucetConfigState = {
  files: ['/etc/faucet/faucet.yaml'],
  hashes: ['ab'],
  error: '',
  loadError: false,
  reloadRequests: 7,
};

describe('dovesnap faucet health', () => {
  it('is ok when FAUCET runs its file', () => {
    const h = judgeFaucetHealth(loaded, URL);
    assert.equal(h.state, 'ok');
    assert.match(h.detail, /\/etc\/faucet\/faucet\.yaml.*7 reload requests/);
  });

  it("is load-error when FAUCET rejects its file, with FAUCET's message", () => {
    const h = judgeFaucetHealth({ ...loaded, loadError: true, error: 'bad vlan', hashes: [] }, URL);
    assert.equal(h.state, 'load-error');
    assert.match(h.detail, /bad vlan/);
  });

  it("is unreachable when the metrics cannot be read, or are not FAUCET's", () => {
    assert.deepEqual(judgeFaucetHealth(new Error('connect ECONNREFUSED'), URL), {
      state: 'unreachable',
      detail: 'connect ECONNREFUSED',
    });
    const gauge = judgeFaucetHealth(
      { files: [], hashes: [], error: '', loadError: false, reloadRequests: undefined },
      URL,
    );
    assert.equal(gauge.state, 'unreachable');
    assert.match(gauge.detail, /not FAUCET's metrics/);
  });
});

describe('CPU ticks from /proc/PID/stat', () => {
  it('adds utime and stime, whatever the command is called', () => {
    const rest = 'S 1 2 3 0 -1 4194560 100 0 0 0 250 51 0 0 20 0 3 0 100 1000 10';
    assert.equal(cpuTicksFromStat(`4242 (python3) ${rest}`), 301);
    assert.equal(cpuTicksFromStat(`4242 (a) b (c) ${rest}`), 301);
    assert.equal(cpuTicksFromStat(''), undefined);
  });
});

describe('dovesnap faucet reload', () => {
  it('judges a reload handled, a busy FAUCET and a hung one', () => {
    const base = { pid: 9, before: 3, waitedS: 15 };
    assert.equal(judgeReload({ ...base, after: 4, ticksUsed: 0 }).outcome, 'reloaded');
    assert.deepEqual(judgeReload({ ...base, after: 3, ticksUsed: 700 }), {
      outcome: 'busy',
      pid: 9,
      detail: 'pid 9 is busy (no reload handled within 15 s, 7 s of CPU meanwhile)',
    });
    assert.deepEqual(judgeReload({ ...base, after: undefined, ticksUsed: 600 }), {
      outcome: 'hung',
      pid: 9,
      detail: 'pid 9 answers metrics but handles no events (reload requests 3 -> ?, idle)',
    });
  });

  /** A FAUCET whose counter moves `handledAfterMs` after the signal (never, if undefined). */
  function fakeFaucet(handledAfterMs: number | undefined, ticksPerPoll = 0) {
    let now = 0;
    let signalledAt: number | undefined;
    let ticks = 0;
    const polls: number[] = [];
    const deps: ReloadDeps = {
      reloads: async () => {
        polls.push(now);
        const handled =
          signalledAt !== undefined && handledAfterMs !== undefined && now - signalledAt >= handledAfterMs;
        return handled ? 6 : 5;
      },
      signal: async () => {
        signalledAt = now;
        return 321;
      },
      cpuTicks: async () => ticks,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
        ticks += ticksPerPoll;
      },
    };
    return { deps, polls };
  }

  it('returns as soon as the counter moves', async () => {
    const { deps, polls } = fakeFaucet(1000);
    const report = await reloadFaucet(deps, 15_000);
    assert.equal(report.outcome, 'reloaded');
    assert.equal(report.detail, 'pid 321 handled the reload request (reload requests 5 -> 6)');
    assert.equal(polls.at(-1), 1000);
  });

  it('waits the whole timeout for an idle FAUCET that never handles it: hung', async () => {
    const { deps, polls } = fakeFaucet(undefined, 1);
    const report = await reloadFaucet(deps, 15_000);
    assert.equal(report.outcome, 'hung');
    assert.equal(polls.at(-1), 15_000);
  });

  it('leaves a FAUCET that works hard meanwhile (60% of a core): busy; 30% is not', async () => {
    assert.equal((await reloadFaucet(fakeFaucet(undefined, 30).deps, 15_000)).outcome, 'busy');
    assert.equal((await reloadFaucet(fakeFaucet(undefined, 30).deps, 5_000)).outcome, 'busy');
    assert.equal((await reloadFaucet(fakeFaucet(undefined, 15).deps, 15_000)).outcome, 'hung');
  });

  it('refuses when the metrics have no reload counter (not FAUCET)', async () => {
    const { deps } = fakeFaucet(0);
    await assert.rejects(reloadFaucet({ ...deps, reloads: async () => undefined }, 1000), /reload_requests_total/);
  });
});
