import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StateStore } from '../driver/state.js';
import type { FaucetConfigOutcome } from '../faucet/types.js';
import { PORT_INFO_LABELS, portInfo, type LeasedAddress } from './port-info.js';

/**
 * The daemon's Prometheus metrics (`GET /metrics` on the status server), all named
 * `dovesnap_…`. The modules that do the work report through the small observer functions
 * here; only this file knows prom-client.
 */

export interface DaemonMetrics {
  readonly registry: Registry;
  /** One Docker plugin call: its endpoint (`CreateEndpoint`), whether it succeeded, how long it took. */
  driverCall(endpoint: string, ok: boolean, seconds: number): void;
  /** A full reconcile pass finished. */
  reconcilePass(seconds: number): void;
  /** Something the reconciler or the collector repaired or removed (`network_gone`, `endpoint_gone`, `leftover_link`, …). */
  repaired(kind: string, count?: number): void;
  /** A FAUCET configuration write and what FAUCET made of it. */
  faucetConfig(outcome: FaucetConfigOutcome): void;
}

/** Plugin calls take milliseconds to tens of seconds (a FAUCET reload of a large switch). */
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(
  state: StateStore,
  dhcpStates: () => readonly string[] = () => [],
  leased?: LeasedAddress,
): DaemonMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dovesnap_' });
  const calls = new Counter({
    name: 'dovesnap_driver_operations_total',
    help: 'Docker network plugin calls, by endpoint and outcome',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: [registry],
  });
  const callSeconds = new Histogram({
    name: 'dovesnap_driver_operation_duration_seconds',
    help: 'How long Docker network plugin calls took, by endpoint',
    labelNames: ['endpoint'] as const,
    buckets: CALL_BUCKETS,
    registers: [registry],
  });
  const passes = new Counter({
    name: 'dovesnap_reconcile_passes_total',
    help: 'Full reconcile passes against Docker (at start and whenever the event stream reconnects)',
    registers: [registry],
  });
  const passSeconds = new Histogram({
    name: 'dovesnap_reconcile_pass_duration_seconds',
    help: 'How long full reconcile passes took',
    buckets: CALL_BUCKETS,
    registers: [registry],
  });
  const repairs = new Counter({
    name: 'dovesnap_reconcile_repairs_total',
    help: 'Things the reconciler and the leftover collector removed or repaired, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const faucetWrites = new Counter({
    name: 'dovesnap_faucet_config_writes_total',
    help: 'FAUCET configuration writes, by what FAUCET made of them (confirmed, rejected, timeout) or why none was made (invalid, failed)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'dovesnap_networks',
    help: 'dovesnap networks on this host',
    registers: [registry],
    collect() {
      this.set(state.allNetworks().length);
    },
  });
  new Gauge({
    name: 'dovesnap_endpoints',
    help: 'Container endpoints on dovesnap networks, by whether a container is running on them',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const all = state.allEndpoints();
      const joined = all.filter((e) => e.sandboxKey !== undefined).length;
      this.set({ state: 'joined' }, joined);
      this.set({ state: 'created' }, all.length - joined);
    },
  });
  new Gauge({
    name: 'dovesnap_dhcp_clients',
    help: 'DHCP clients of containers on ovs.bridge.dhcp networks, by state (bound, requesting, no lease, not running)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of ['bound', 'requesting', 'no lease', 'not running']) this.set({ state: s }, 0);
      for (const s of dhcpStates()) this.inc({ state: s });
    },
  });
  new Gauge({
    name: 'dovesnap_port_info',
    help: "The container behind each OpenFlow port of the local FAUCET's switches (always 1); join Gauge's of_port_* on (dp_id, dp_name, port)",
    labelNames: PORT_INFO_LABELS,
    registers: [registry],
    collect() {
      this.reset();
      for (const labels of portInfo(state, leased)) this.set(labels, 1);
    },
  });
  // Zero series for every outcome, so that a rate() over them exists before the first event.
  for (const o of ['confirmed', 'rejected', 'timeout', 'invalid', 'failed'] as const)
    faucetWrites.inc({ outcome: o }, 0);
  return {
    registry,
    driverCall(endpoint, ok, seconds) {
      calls.inc({ endpoint, outcome: ok ? 'ok' : 'error' });
      callSeconds.observe({ endpoint }, seconds);
    },
    reconcilePass(seconds) {
      passes.inc();
      passSeconds.observe(seconds);
    },
    repaired(kind, count = 1) {
      if (count > 0) repairs.inc({ kind }, count);
    },
    faucetConfig(outcome) {
      faucetWrites.inc({ outcome });
    },
  };
}
