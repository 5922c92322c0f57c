import { isLocalFaucet } from '../config/settings.js';
import { defaultBridgeName, type HostPortOption, type NetworkOptions } from '../model/options.js';
import type { BridgeSpec, DatapathType, PortSpec } from '../ovs/vswitch.js';
import type { CreateNetworkRequest } from '../model/plugin-protocol.js';
import { bridgeExternalIds, ExtId, HostPortKind } from './persist.js';
import type { NetworkRecord } from './state.js';

/**
 * What CreateNetwork makes, decided before anything is made. Pure: the network's record, its
 * bridge and the host ports its options add, from Docker's request, the parsed options and the
 * daemon's settings. Whether the network may be made at all is driver/network-checks.ts's.
 */

/** The daemon's settings a network's plan depends on (DriverSettings). */
export interface NetworkDefaults {
  /** Controllers for networks created without ovs.bridge.controller. Empty: standalone (OVS learns). */
  readonly defaultControllers: readonly string[];
  /** OpenFlow addresses of this host's FAUCET: networks controlled by it go into faucet.yaml. */
  readonly localFaucetControllers: readonly string[];
  readonly hostDatapath: DatapathType;
  /** With FAUCET's configuration shared by several hosts: this host's part of DP names (driver/dp-naming.ts). */
  readonly dpHost?: string | undefined;
}

export interface NetworkPlan {
  readonly record: NetworkRecord;
  readonly bridge: BridgeSpec;
  /** `add_ports` and `add_copro_ports`, numbered by ovs-vswitchd before the create is done. */
  readonly hostPorts: readonly PortSpec[];
  /** A nat or routed network: Docker's gateway address on the bridge, and the NAT rules. */
  readonly gateway: boolean;
}

/** `ovs.bridge.userspace` picks the datapath; unset, the host's (driver/network-checks.ts refuses a kernel one where there is none). */
export function datapathFor(options: NetworkOptions, hostDatapath: DatapathType): DatapathType {
  if (options.userspace === undefined) return hostDatapath;
  return options.userspace ? 'netdev' : 'system';
}

export function planNetwork(
  req: CreateNetworkRequest,
  options: NetworkOptions,
  rawOptions: Readonly<Record<string, string>>,
  defaults: NetworkDefaults,
): NetworkPlan {
  const controllers = options.controllers ?? defaults.defaultControllers;
  const record: NetworkRecord = {
    id: req.NetworkID,
    name: undefined,
    options,
    rawOptions,
    bridgeName: options.bridgeName ?? defaultBridgeName(req.NetworkID),
    datapathType: datapathFor(options, defaults.hostDatapath),
    controllers,
    ipv4: req.IPv4Data,
    internal: req.Options['com.docker.network.internal'] === true,
    localFaucet: isLocalFaucet(controllers, defaults.localFaucetControllers),
    ...(defaults.dpHost === undefined ? {} : { dpHost: defaults.dpHost }),
  };
  const hostPort = (p: HostPortOption, kind: string): PortSpec => ({
    bridge: record.bridgeName,
    name: p.interface,
    ofportRequest: p.ofport,
    externalIds: { [ExtId.networkId]: record.id, [ExtId.hostPort]: kind },
  });
  return {
    record,
    bridge: {
      name: record.bridgeName,
      datapathType: record.datapathType,
      dpid: options.dpid,
      controllers,
      failMode: controllers.length > 0 ? 'secure' : 'standalone',
      mtu: options.mtu,
      localMac: options.ovsLocalMac,
      externalIds: bridgeExternalIds(record),
    },
    hostPorts: [
      ...options.addPorts.map((p) => hostPort(p, HostPortKind.added)),
      ...options.addCoproPorts.map((p) => hostPort(p, HostPortKind.copro)),
    ],
    gateway: options.mode !== 'flat',
  };
}
