import type { DhcpStatus } from '../driver/dhcp-clients.js';

/**
 * The status API's documents: what `GET /networks`, `GET /host` and `GET /health` answer, and
 * what the CLI, the graph and the live view read. Their own module, so that those readers need
 * not import the server (the field names of `/networks` are the original dovesnap's).
 */

export interface ContainerStatus {
  readonly Name: string;
  readonly Id: string;
  readonly EndpointID: string;
  readonly MacAddress: string;
  readonly HostIP: string;
  readonly OFPort: number | null;
  readonly Interface: string;
  readonly Labels: Readonly<Record<string, string>>;
  readonly PortACLs: readonly string[];
  /** Whether FAUCET copies this port's traffic to the network's mirror link (label dovesnap.faucet.mirror). */
  readonly Mirrored: boolean;
  /**
   * Whether the port is a capture port (label dovesnap.faucet.capture): output-only, receiving a
   * copy of the traffic of every other port of the network. False while the port is blocked.
   */
  readonly Capture: boolean;
  /** Set when dovesnap keeps the port closed in FAUCET, with the reason. */
  readonly Blocked: string | null;
  /** Published ports (`docker run -p`), as the host's NAT rules have them. */
  readonly Ports: readonly PortStatus[];
  /** The DHCP client's state and lease, on ovs.bridge.dhcp networks (null elsewhere). */
  readonly Dhcp: DhcpStatus | null;
}

export interface PortStatus {
  readonly Protocol: 'tcp' | 'udp';
  readonly HostIP: string;
  readonly HostPort: number;
  readonly ContainerPort: number;
}

export interface NetworkStatus {
  readonly NetworkID: string;
  readonly NetworkName: string;
  readonly BridgeName: string;
  readonly BridgeDpid: string;
  readonly BridgeVLAN: number;
  readonly Mode: string;
  readonly MTU: number | null;
  readonly Userspace: boolean;
  readonly Controllers: readonly string[];
  /** The `ovs.bridge.*` options as given at create (defaults are not listed). */
  readonly Options: Readonly<Record<string, string>>;
  /** The MAC of the bridge's own interface when ovs.bridge.ovs_local_mac set it. */
  readonly OvsLocalMac: string | null;
  /** OpenFlow port of the link to the mirror bridge (ovs.bridge.lbport). */
  readonly LbPort: number;
  readonly MirrorTunnelVid: number;
  readonly PreallocatedPorts: number;
  /** The bridge's other ports: added, coprocessor, hand-added, mirror and stack links. */
  readonly HostPorts: readonly HostPortStatus[];
  /** Ready ports on the bridge, not yet taken by a container (driver/port-pool.ts). */
  readonly ReadyPorts: number;
  /**
   * The host's routes to prefixes behind containers of the network (ovs.bridge.host_routes).
   * Always given by this version; optional for clients of older daemons, which have none.
   */
  readonly HostRoutes?: readonly { readonly Prefix: string; readonly Via: string }[];
  readonly Containers: Readonly<Record<string, ContainerStatus>>;
}

export type NetworksStatus = Readonly<Record<string, NetworkStatus>>;

/** A port of the network's bridge that is not a container's. */
export interface HostPortStatus {
  readonly Interface: string;
  readonly OFPort: number | null;
  /** `added` (ovs.bridge.add_ports), `coprocessor`, `hand-added` (ovs-vsctl add-port), `attached to NAME` (dovesnap attach), `mirror link`, `stack link`. */
  readonly Kind: string;
}

/** `ok` serves; `starting` does not yet; `degraded` answers but cannot change anything (OVSDB lost). */
export type Health = { readonly status: 'ok' | 'starting' } | { readonly status: 'degraded'; readonly reason: string };

/** `GET /host`: this host's shared switches, beside the per-network document. */
export interface HostStatus {
  /**
   * The host's name: DOVESNAP_HOST_NAME with FAUCETCONFRPC_ADDR, else the host name. Always
   * given by this version; optional for clients of older daemons, which do not say.
   */
  readonly HostName?: string;
  /** The mirror bridge (MIRROR_BRIDGE_OUT), or null when there is none. */
  readonly MirrorBridge: {
    readonly Bridge: string;
    readonly Out: string;
    readonly In: string | null;
    /** Network ID -> OpenFlow port of its link on the mirror bridge. */
    readonly Links: Readonly<Record<string, number>>;
    /** Why it is not (fully) in place, or null. */
    readonly Problem: string | null;
  } | null;
  /** The stack switch (STACKING_INTERFACES), or null when stacking is off. */
  readonly Stack: {
    readonly DpName: string | null;
    readonly DpId: string | null;
    readonly Root: string;
    readonly Interfaces: readonly {
      readonly Interface: string;
      readonly OFPort: number | null;
      readonly RemoteDp: string;
      readonly RemotePort: number;
    }[];
    readonly MirrorInterface: string | null;
    readonly Problem: string | null;
    /** The stack switch's OpenFlow controllers. Always given by this version (optional as HostName). */
    readonly Controllers?: readonly string[];
  } | null;
}
