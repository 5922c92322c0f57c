import type { NetworkRecord } from '../../src/driver/state.js';
import { defaultBridgeName, parseNetworkOptions } from '../../src/model/options.js';

/** A network the local FAUCET configures (netdev bridge, no subnet; no controllers of its own unless `more` says). */
export function localNetwork(
  id: string,
  name: string | undefined,
  rawOptions: Record<string, string>,
  more: Partial<NetworkRecord> = {},
): NetworkRecord {
  return {
    id,
    name,
    options: parseNetworkOptions(rawOptions),
    rawOptions,
    bridgeName: defaultBridgeName(id),
    datapathType: 'netdev',
    controllers: [],
    ipv4: [],
    internal: false,
    localFaucet: true,
    ...more,
  };
}
