/**
 * A routed link, narwhal's model: one veth pair per container, ARP off on both ends, the host
 * end holding a link-scoped host address per family (169.254.0.1, fe80::1) with the
 * container's address as its peer, and nothing else on that layer 2. What the command and the
 * driver build, described once. Pure.
 */

export const DEFAULT_HOST_IPV4 = '169.254.0.1';
export const DEFAULT_HOST_IPV6 = 'fe80::1';

export interface RoutedLink {
  /** The host end's name. */
  readonly hostIf: string;
  readonly hostMac: string;
  /** The container end's MAC: the only source MAC --paranoid lets in. */
  readonly containerMac: string;
  /** The container's addresses, bare (no prefix length); at least one is set. */
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  /** The host end's addresses: the container's next hops. */
  readonly hostIpv4: string;
  readonly hostIpv6: string;
  readonly mtu: number | undefined;
  /**
   * Whether the host routes packets that come in from the container to other interfaces: IPv4
   * `forwarding` of the host end, IPv6 `force_forwarding` (where the kernel has it). Packets
   * to and from the host itself never need it.
   */
  readonly forwarding: boolean;
  /** Source filtering on the host end's ingress (see paranoid.ts). */
  readonly paranoid: boolean;
}

/** The subnets a driver network routes to the container through the host (none for the command). */
export interface RoutedSubnets {
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
}
