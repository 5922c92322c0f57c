import { derivedDpid } from '../../src/driver/dp-naming.js';
import { managedState } from '../../src/driver/faucet-desired.js';
import { StateStore, type NetworkRecord } from '../../src/driver/state.js';
import { type StackFacts, stackIdentity } from '../../src/driver/stack.js';
import { type Claims, NO_CLAIMS } from '../../src/faucet/remote-plan.js';
import type { ManagedFaucetState } from '../../src/faucet/types.js';
import { parseNetworkOptions } from '../../src/model/options.js';

/**
 * Hosts of one shared FAUCET as their daemons see themselves (several hosts: docs/multi-host.md):
 * host K has one network (no ovs.bridge.dpid: derived) linked to its stack switch
 * `dovesnap-hK`, and the stack switches are cabled in a line, port 10+J of host K's switch to
 * port 10+K of host J's.
 */
export interface StackedHost {
  readonly name: string;
  readonly state: StateStore;
  readonly stack: StackFacts;
  claims: Claims;
}

export function stackedHost(k: number, n: number, root: string, networkName = 'web'): StackedHost {
  const name = `h${k}`;
  const id = `${k}${k}`.repeat(32);
  const rawOptions = { 'ovs.bridge.vlan': '240' };
  const record: NetworkRecord = {
    id,
    name: networkName,
    options: parseNetworkOptions(rawOptions, derivedDpid(name, id)),
    rawOptions,
    bridgeName: `ovsbr-${id.slice(0, 5)}`,
    datapathType: 'netdev',
    controllers: ['tcp:10.239.0.1:6653'],
    ipv4: [],
    internal: false,
    localFaucet: true,
    dpHost: name,
  };
  const state = new StateStore();
  state.putNetwork(record);
  const identity = stackIdentity(name, `${k}`.repeat(32));
  const neighbours = [k - 1, k + 1].filter((j) => j >= 1 && j <= n);
  return {
    name,
    state,
    claims: NO_CLAIMS,
    stack: {
      dpName: identity.dpName,
      dpId: identity.dpId,
      priority1: root,
      interfaces: neighbours.map((j) => ({
        remoteDp: `dovesnap-h${j}`,
        remotePort: 10 + k,
        interface: `veth${k}${j}`,
        ofport: 10 + j,
      })),
      links: new Map([[id, { networkPort: 65000, stackPort: 2 }]]),
      loopbacks: new Map(),
      mirror: undefined,
    },
  };
}

/** What the host's daemon wants FAUCET's configuration to hold, given the server's text. */
export function desiredOf(h: StackedHost, serverText: string): ManagedFaucetState {
  return managedState(h.state, serverText, new Set(), new Map(), new Map(), h.stack);
}
