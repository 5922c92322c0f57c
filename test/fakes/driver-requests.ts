/** Docker's requests to the driver, as the driver's unit tests send them. */
import type { CreateNetworkRequest } from '../../src/model/plugin-protocol.js';

export const TEST_NETWORK_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
export const TEST_ENDPOINT_ID = 'e1e2e3e4e5e6e7e8e9e0f1f2f3f4f5f6f7f8f9f0a1a2a3a4a5a6a7a8a9a0b1b2';

/** An internal network on 10.9.0.0/24 with the given `-o` options. */
export function createNetworkRequest(generic: Record<string, string>, id = TEST_NETWORK_ID): CreateNetworkRequest {
  return {
    NetworkID: id,
    Options: { 'com.docker.network.generic': generic, 'com.docker.network.internal': true },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.9.0.0/24', Gateway: '10.9.0.1/24' }],
    IPv6Data: [],
  };
}
