import type { NetworkRecord } from '../../src/core/state.js';
import { parseNetworkOptions } from '../../src/model/options.js';

/**
 * A network's record as the driver keeps it, for tests of pure code: a named, internal network
 * of the local FAUCET on the userspace datapath, 10.9.0.0/24, with the given `-o` options.
 */
export function networkRecord(
  id: string,
  rawOptions: Readonly<Record<string, string>>,
  patch: Partial<NetworkRecord> = {},
): NetworkRecord {
  return {
    id,
    name: 'net1',
    options: parseNetworkOptions(rawOptions),
    rawOptions,
    bridgeName: `ovsbr-${id.slice(0, 5)}`,
    datapathType: 'netdev',
    controllers: ['tcp:127.0.0.1:6653'],
    ipv4: [{ AddressSpace: 'LocalDefault', Pool: '10.9.0.0/24', Gateway: '10.9.0.1/24' }],
    internal: true,
    localFaucet: true,
    ...patch,
  };
}
