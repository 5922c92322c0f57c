import type { EndpointRecord, StateStore } from '../driver/state.js';
import { formatDpid } from '../model/options.js';
import { faucetDpName } from '../driver/dp-naming.js';

/**
 * `dovesnap_port_info`: one series (value 1) per container port on a switch of the local
 * FAUCET, naming the container behind each OpenFlow port. Its first three labels are the ones
 * Gauge puts on its port counters (`of_port_rx_bytes{dp_id, dp_name, port, port_description}`:
 * `dp_id` as Python's hex(), `port` the OpenFlow number as text), so that a PromQL join
 * `of_port_rx_bytes * on (dp_id, dp_name, port) group_left (container) dovesnap_port_info`
 * names Gauge's counters after their container from the first scrape (FAUCET's
 * port_description names the container only once dovesnap rewrites the spare entry's
 * description, up to a minute later). Prometheus stores the info series too, so which
 * container had which port, MAC and address stays queryable after it has gone.
 */
export const PORT_INFO_LABELS = [
  'dp_id',
  'dp_name',
  'port',
  'network',
  'network_id',
  'container',
  'container_id',
  'interface',
  'mac',
  'ip',
] as const;

export type PortInfo = Readonly<Record<(typeof PORT_INFO_LABELS)[number], string>>;

/** The address an endpoint leased by DHCP, for endpoints whose address Docker did not assign. */
export type LeasedAddress = (e: EndpointRecord) => string | null | undefined;

export function portInfo(state: StateStore, leased: LeasedAddress = () => undefined): PortInfo[] {
  const out: PortInfo[] = [];
  for (const n of state.allNetworks()) {
    // Gauge watches the switches of the local FAUCET's configuration only, under their DP name.
    if (n.name === undefined || !n.localFaucet) continue;
    for (const e of state.endpointsOf(n.id)) {
      if (e.ofport === undefined || e.container === undefined) continue;
      out.push({
        dp_id: formatDpid(n.options.dpid),
        dp_name: faucetDpName(n) ?? n.name,
        port: String(e.ofport),
        network: n.name,
        network_id: n.id,
        container: e.container.name.replace(/^\//, ''),
        container_id: e.container.id,
        interface: e.hostIf,
        mac: e.mac,
        ip: e.ipv4?.split('/')[0] || (leased(e) ?? ''),
      });
    }
  }
  return out;
}
