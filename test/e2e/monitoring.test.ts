import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerIp,
  createNetwork,
  docker,
  runContainer,
  testDpid,
  testSubnet,
  uniqueName,
  upWithEnv,
  waitFor,
  waitPing,
} from './harness.js';
import { panelQueries, variableQueries } from '../fixtures/dashboard-queries.js';

/**
 * `make up MONITORING=1`: Prometheus scrapes FAUCET, Gauge and dovesnap, and its recording rules
 * name each port's counters after its container; a container's traffic stays queryable after it
 * is gone. Every query of the shipped Grafana dashboard runs against this Prometheus.
 */

const PROMETHEUS = process.env['DOVESNAP_PROMETHEUS_URL'] ?? 'http://127.0.0.1:9090';

interface Sample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value?: readonly [number, string];
  readonly values?: readonly (readonly [number, string])[];
}
interface ApiAnswer<T> {
  readonly status: 'success' | 'error';
  readonly data: T;
  readonly error?: string;
}

async function api<T>(path: string, params: Readonly<Record<string, string>>): Promise<T> {
  const res = await fetch(`${PROMETHEUS}${path}?${new URLSearchParams(params).toString()}`);
  const body = (await res.json()) as ApiAnswer<T>;
  assert.equal(body.status, 'success', `${path} ${JSON.stringify(params)}: ${body.error ?? res.status}`);
  return body.data;
}

const query = async (expr: string, time?: number): Promise<Sample[]> =>
  (
    await api<{ result: Sample[] }>('/api/v1/query', {
      query: expr,
      ...(time === undefined ? {} : { time: String(time) }),
    })
  ).result;

const value = (s: Sample | undefined): number => Number(s?.value?.[1] ?? NaN);
const now = (): number => Date.now() / 1000;

describe('monitoring (make up MONITORING=1)', () => {
  it("records a container's port counters under its name, keeps them after it is removed, and answers every query of the Grafana dashboard", async () => {
    await upWithEnv({ MONITORING: '1' });
    assert.equal((await fetch(`${PROMETHEUS}/-/ready`)).status, 200, 'Prometheus ready');
    // A Prometheus that has just started (the test before may have restarted it) is ready before
    // it has loaded its scrape targets: wait for them rather than read an empty list.
    const activeJobs = async (): Promise<(string | undefined)[]> =>
      (
        await api<{ activeTargets: { labels: Record<string, string> }[] }>('/api/v1/targets', { state: 'active' })
      ).activeTargets.map((t) => t.labels['job']);
    await waitFor(
      'Prometheus scraping faucet, gauge and dovesnap',
      async () => {
        const jobs = await activeJobs();
        return ['faucet', 'gauge', 'dovesnap'].every((job) => jobs.includes(job)) || undefined;
      },
      30_000,
      500,
    ).catch(async (err: unknown) => {
      assert.fail(`${String(err)}; Prometheus scrapes: ${(await activeJobs()).join(', ')}`);
    });

    const net = uniqueName('mon');
    const dpid = testDpid();
    await createNetwork(net, { 'ovs.bridge.dpid': dpid }, ['--subnet', testSubnet().subnet]);
    const a = `${net}-a`;
    const b = `${net}-b`;
    await runContainer(a, net);
    await runContainer(b, net);
    const aIp = await containerIp(a, net);
    const bIp = await containerIp(b, net);
    await waitPing(a, bIp);
    const started = now();
    // 40 frames of 1042 bytes (1000 of payload, ICMP, IP and Ethernet headers) from a to b.
    await docker('exec', a, 'ping', '-c', '40', '-i', '0.2', '-s', '1000', bIp);

    // Gauge polls port counters every 30 s (and forgets them each time FAUCET's file changes);
    // Prometheus scrapes and evaluates every 10 s.
    const sentSelector = `dovesnap:container_port_rx_bytes{container="${a}"}`;
    const recorded = await waitFor(
      `Prometheus to record what ${a} sent`,
      async () => {
        const [s] = await query(sentSelector);
        return value(s) >= 40 * 1042 ? s : undefined;
      },
      240_000,
      2000,
    );
    assert.deepEqual(
      { ...recorded.metric },
      {
        __name__: 'dovesnap:container_port_rx_bytes',
        container: a,
        container_id: await docker('inspect', '-f', '{{.Id}}', a),
        network: net,
        network_id: await docker('network', 'inspect', '-f', '{{.Id}}', net),
        dp_name: net,
        dp_id: dpid,
        port: recorded.metric['port'] ?? '?',
      },
    );
    const [info] = await query(`dovesnap_port_info{container="${a}"}`);
    assert.equal(info?.metric['ip'], aIp, 'the info series carries the address');
    assert.equal(info?.metric['port'], recorded.metric['port']);
    await waitFor(
      `a rate of what ${a} sent`,
      async () => (await query(`dovesnap:container_port_rx_bytes:rate2m{container="${a}"}`)).length === 1,
      60_000,
      2000,
    );

    // Every query of the dashboard evaluates; the container variable offers the container.
    for (const q of panelQueries())
      await query(q.concrete).catch((err: unknown) =>
        assert.fail(`dashboard panel "${q.title}": ${q.concrete}: ${String(err)}`),
      );
    for (const v of variableQueries()) {
      const values = await api<string[]>(`/api/v1/label/${v.label}/values`, {
        'match[]': v.selector,
        start: String(started - 60),
        end: String(now()),
      });
      assert.ok(
        values.includes(v.label === 'container' ? a : net),
        `variable ${v.name} offers ${v.label === 'container' ? a : net}: ${values.join(', ')}`,
      );
    }

    const sent = value(recorded);
    await docker('rm', '-f', a);
    await waitFor(
      `${a}'s series to leave the present`,
      async () => (await query(sentSelector)).length === 0,
      60_000,
      2000,
    );

    // Gone, and still there: its counters over the last minutes, a range query from when it
    // ran, and which port, MAC and address it had.
    const [kept] = await query(`max_over_time(${sentSelector}[15m])`);
    assert.ok(value(kept) >= sent, `max_over_time after removal: ${value(kept)} >= ${sent}`);
    assert.equal(kept?.metric['container'], a);
    const range = (
      await api<{ result: Sample[] }>('/api/v1/query_range', {
        query: sentSelector,
        start: String(started),
        end: String(now()),
        step: '10',
      })
    ).result;
    assert.equal(range.length, 1, 'one series over the range');
    assert.ok(
      (range[0]?.values ?? []).some(([, v]) => Number(v) >= sent),
      'the range query returns the recorded counter',
    );
    const [had] = await query(`max_over_time(dovesnap_port_info{container="${a}"}[15m])`);
    assert.equal(had?.metric['ip'], aIp);
    assert.equal(had?.metric['port'], recorded.metric['port']);
    const [offered] = await api<string[]>('/api/v1/label/container/values', {
      'match[]': 'dovesnap:container_port_rx_bytes',
      start: String(started),
      end: String(now()),
    }).then((vs) => vs.filter((v) => v === a));
    assert.equal(offered, a, "the dashboard's container variable still offers it for a range that covers it");
  });
});
