import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  FAUCET_CONFIG,
  containerIp,
  createNetwork,
  runContainer,
  testDpid,
  testSubnet,
  uniqueName,
  waitFor,
  waitPing,
} from './harness.js';

/** Gauge watches dovesnap's switches with no hand configuration: a container's port shows up in its metrics. */

const GAUGE_METRICS = process.env['DOVESNAP_GAUGE_METRICS'] ?? 'http://127.0.0.1:9303/metrics';
const GAUGE_CONFIG = FAUCET_CONFIG.replace(/faucet\.yaml$/, 'gauge.yaml');

describe('Gauge', () => {
  it("gauge.yaml covers every switch's ports, and a container's port counters appear in Gauge's metrics, named after it", async () => {
    const g = parse(readFileSync(GAUGE_CONFIG, 'utf8')) as {
      watchers: Record<string, { type: string; all_dps?: boolean }>;
    };
    for (const type of ['port_state', 'port_stats']) {
      assert.ok(
        Object.values(g.watchers).some((w) => w.type === type && w.all_dps === true),
        `a ${type} watcher of every DP`,
      );
    }
    const net = uniqueName('gauge');
    await createNetwork(net, { 'ovs.bridge.dpid': testDpid() }, ['--subnet', testSubnet().subnet]);
    const a = `${net}-a`;
    const b = `${net}-b`;
    await runContainer(a, net);
    await runContainer(b, net);
    await waitPing(a, await containerIp(b, net));
    // Gauge hears of the container's name within GAUGE_RELOAD_SPACING_MS (35 s), and polls
    // port stats every 30 s.
    const line = await waitFor(
      `Gauge's counters of ${a}'s port`,
      async () => {
        const text = await (await fetch(GAUGE_METRICS)).text();
        return text
          .split('\n')
          .find(
            (l) =>
              l.startsWith('of_port_rx_packets{') &&
              l.includes(`dp_name="${net}"`) &&
              l.includes(`port_description="/${a} `),
          );
      },
      150_000,
      1000,
    );
    assert.ok(Number(line.slice(line.lastIndexOf(' ') + 1)) > 0, `packets counted: ${line}`);
  });
});
