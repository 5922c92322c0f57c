import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, PortRaiser } from '../../../src/driver/port-raiser.js';
import { endpointRecord, StateStore } from '../../../src/driver/state.js';
import { parseContainerLabels } from '../../../src/model/labels.js';
import { vethNamesFor } from '../../../src/net/links.js';
import { silentLogger } from '../../../src/util/log.js';
import { localNetwork } from '../../fakes/network-record.js';
import { FakeFaucet } from '../../fakes/fake-faucet.js';
import { FakeHostNet } from '../../fakes/fake-host.js';
import { FakeVSwitch } from '../../fakes/fake-vswitch.js';

/** A clock that moves only when told: timers fire on advance(), sleeps return at once. */
class ManualClock implements Clock {
  private t = 0;
  private due: { at: number; fn: () => void }[] = [];
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): () => void {
    const entry = { at: this.t + ms, fn };
    this.due.push(entry);
    return () => {
      this.due = this.due.filter((e) => e !== entry);
    };
  }
  async sleep(): Promise<void> {}
  advance(ms: number): void {
    this.t += ms;
    const ready = this.due.filter((e) => e.at <= this.t);
    this.due = this.due.filter((e) => e.at > this.t);
    for (const e of ready) e.fn();
  }
  get pending(): number {
    return this.due.length;
  }
}

const NET = 'a1'.repeat(32);
const VERIFY_AFTER_MS = 2_000;
const COLD_START_MS = 15_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A raiser on a network FAUCET runs (DP 0x10); FAUCET reports port 1 as `portUp` says. */
async function rig(portUp: (host: FakeHostNet, hostIf: string) => boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'dovesnap-raiser-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'faucet.yaml');
  await writeFile(configPath, 'dps:\n  net1:\n    dp_id: 16\n    interfaces:\n      1: {native_vlan: 100}\n');
  const fake = await FakeFaucet.start({ configPath });
  cleanups.push(() => fake.close());
  const rawOptions = { 'ovs.bridge.dpid': '0x10' };
  const net = localNetwork(NET, 'net1', rawOptions);
  const state = new StateStore();
  state.putNetwork(net);
  const host = new FakeHostNet();
  const add = async (id: string, ofport: number): Promise<string> => {
    const names = vethNamesFor(id);
    await host.createVeth({
      names,
      containerMac: '0e:00:00:00:00:01',
      mtu: undefined,
      disableContainerTxOffload: true,
    });
    state.putEndpoint(
      endpointRecord({
        id,
        networkId: NET,
        hostIf: names.host,
        containerIf: names.container,
        mac: '0e:00:00:00:00:01',
        ofport,
        container: { id: id.replace(/^e/, 'c'), name: `/c${ofport}`, labels: {} },
        labels: parseContainerLabels({}, 'net1'),
      }),
    );
    return names.host;
  };
  const clock = new ManualClock();
  const work: Promise<void>[] = [];
  const raiser = new PortRaiser({
    state,
    vswitch: new FakeVSwitch(),
    host,
    logger: silentLogger(),
    clock,
    metricsUrl: fake.metricsUrl,
    confirmTimeoutMs: 1_000,
    pollMs: 1,
    verifyAfterMs: VERIFY_AFTER_MS,
    coldStartWindowMs: COLD_START_MS,
    runningLabels: () => ({}),
    track: (p) => void work.push(p),
  });
  const first = await add('e1'.repeat(32), 1);
  fake.portStatus = () => [{ dpId: 0x10n, port: 1, description: '/c1', up: portUp(host, first) }];
  const settle = async (): Promise<void> => {
    while (work.length > 0) await Promise.all(work.splice(0));
  };
  return { raiser, clock, host, first, add, settle };
}

const downs = (host: FakeHostNet, name: string): number => host.downs.get(name) ?? 0;

describe('PortRaiser (an injected clock)', () => {
  it('checks a port raised in the cold-start window once verifyAfterMs have passed, and bounces it if FAUCET missed its link-up', async () => {
    // FAUCET, cold-starting the switch, misses the first link-up and sees the bounce.
    const r = await rig((host, name) => host.links.get(name)?.up === true && downs(host, name) > 0);
    await r.raiser.raise(new Set(['e1'.repeat(32)]));
    assert.equal(r.host.links.get(r.first)?.up, true);
    assert.equal(r.clock.pending, 1, 'one check waits');
    r.clock.advance(VERIFY_AFTER_MS - 1);
    await r.settle();
    assert.equal(downs(r.host, r.first), 0, 'not before its time');
    r.clock.advance(1);
    await r.settle();
    assert.equal(downs(r.host, r.first), 1, 'bounced once');
    r.clock.advance(VERIFY_AFTER_MS);
    await r.settle();
    assert.equal(downs(r.host, r.first), 1, 'FAUCET saw the bounce: no more');
    assert.equal(r.host.links.get(r.first)?.up, true);
  });

  it('at most three bounces for a port FAUCET never sees up', async () => {
    const r = await rig(() => false);
    await r.raiser.raise(new Set(['e1'.repeat(32)]));
    for (let i = 0; i < 5; i++) {
      r.clock.advance(VERIFY_AFTER_MS);
      await r.settle();
    }
    assert.equal(downs(r.host, r.first), 3);
    assert.equal(r.clock.pending, 0);
  });

  it('a switch is warm once it has run coldStartWindowMs; a port raised then is not checked', async () => {
    const r = await rig((host, name) => host.links.get(name)?.up === true);
    await r.raiser.raise(new Set(['e1'.repeat(32)]));
    assert.equal(r.raiser.warm(0x10n), false, 'just seen running');
    r.clock.advance(COLD_START_MS - 1);
    await r.settle();
    assert.equal(r.raiser.warm(0x10n), false);
    r.clock.advance(1);
    assert.equal(r.raiser.warm(0x10n), true);
    assert.equal(r.raiser.warm(0x11n), false, 'a switch never seen running is not');
    const second = await r.add('e2'.repeat(32), 2);
    await r.raiser.raise(new Set(['e2'.repeat(32)]));
    assert.equal(r.host.links.get(second)?.up, true);
    assert.equal(r.clock.pending, 0, 'no check for a port of a warm switch');
  });

  it('close() cancels the checks waiting', async () => {
    const r = await rig(() => false);
    await r.raiser.raise(new Set(['e1'.repeat(32)]));
    r.raiser.close();
    assert.equal(r.clock.pending, 0);
    r.clock.advance(VERIFY_AFTER_MS);
    await r.settle();
    assert.equal(downs(r.host, r.first), 0);
  });
});
