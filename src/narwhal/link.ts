import { settledPeerInNetns, type LinkInfo, type VethAdd } from '../net/links.js';
import type { NarwhalHost } from './host.js';
import { ingressChain, linkForwardChain } from './names.js';
import {
  containerCommands,
  containerSysctls,
  hostCommands,
  hostLinkLocalRoute,
  hostSysctls,
  linkLocals,
  neighbourCommands,
  parseObservedInterface,
  type ContainerPlanOptions,
  type ObservedInterface,
} from './plan.js';
import { deleteChainScript, ingressChainScript, linkDockerUserRules, linkForwardScript } from './rules.js';
import type { RoutedLink } from './spec.js';

/**
 * Building and removing a routed link on the host, in steps the command and the driver share.
 * Each step is idempotent; callers order them and roll back.
 */

/**
 * Why IPv6 will not be routed for a link that should forward, or undefined: Linux forwards
 * IPv6 host-wide only, except for an interface's `force_forwarding` (Linux 6.17+).
 */
export function ipv6ForwardingProblem(host: NarwhalHost): string | undefined {
  if (
    host.readSysctl('ipv6/conf/all/force_forwarding') !== undefined ||
    host.readSysctl('ipv6/conf/all/forwarding') === '1'
  )
    return undefined;
  return 'this kernel has no per-interface IPv6 forwarding (force_forwarding, Linux 6.17) and net.ipv6.conf.all.forwarding is 0: IPv6 will not be routed to or from other interfaces until you set it to 1';
}

/** The veth pair, both ends with their MACs (and MTU); the container end goes into `peerNetnsPid`'s namespace if given. */
export function routedVeth(link: RoutedLink, containerIf: string, peerNetnsPid?: number): VethAdd {
  return {
    host: link.hostIf,
    hostMac: link.hostMac,
    peer: containerIf,
    peerMac: link.containerMac,
    mtu: link.mtu,
    peerNetnsPid,
  };
}

export async function configureHostSide(host: NarwhalHost, link: RoutedLink): Promise<void> {
  await host.sysctls(hostSysctls(link));
  for (const args of hostCommands(link)) await host.ip(args);
  if (
    link.ipv6 !== undefined &&
    (await host.ip(['-6', 'route', 'show', 'fe80::/64', 'dev', link.hostIf])).trim() === ''
  ) {
    await host.ip(hostLinkLocalRoute(link.hostIf));
  }
}

export async function observeInterface(host: NarwhalHost, ifname: string, netns: string): Promise<ObservedInterface> {
  const observed = parseObservedInterface(await host.ip(['-json', 'addr', 'show', 'dev', ifname], netns));
  if (observed === undefined) throw new Error(`no interface ${ifname} in ${netns}`);
  return observed;
}

/**
 * The container end, inside its namespace, then the host end's neighbours for the container's
 * link-local addresses (known only once the container end is up): the host answers a
 * container that talks to fe80::1 from its link-local address.
 */
export async function configureContainerSide(
  host: NarwhalHost,
  link: RoutedLink,
  netns: string,
  ifname: string,
  opts: ContainerPlanOptions,
): Promise<void> {
  await host.sysctls(containerSysctls(link, ifname), netns);
  const before = await observeInterface(host, ifname, netns);
  for (const args of containerCommands(link, ifname, before, opts)) await host.ip(args, netns);
  if (link.ipv6 === undefined) return;
  const after = await observeInterface(host, ifname, netns);
  for (const args of neighbourCommands(link.hostIf, link.containerMac, linkLocals(after))) await host.ip(args);
}

/**
 * The link's own filters: --paranoid's ingress chain, and for a command link (`perLinkForwarding`)
 * either the drop of everything routed to or from it or, with --forwarding, its DOCKER-USER
 * accepts. (A driver link's forwarding is its network's: see rules.ts.)
 */
export async function applyLinkFilters(host: NarwhalHost, link: RoutedLink, perLinkForwarding: boolean): Promise<void> {
  await host.nft(link.paranoid ? ingressChainScript(link) : deleteChainScript('netdev', ingressChain(link.hostIf)));
  if (!perLinkForwarding) return;
  if (link.forwarding) {
    await host.nft(deleteChainScript('inet', linkForwardChain(link.hostIf)));
    await host.insertDockerUserRules(linkDockerUserRules(link.hostIf));
  } else {
    await host.deleteDockerUserRules(linkDockerUserRules(link.hostIf));
    await host.nft(linkForwardScript(link.hostIf));
  }
}

/** Removes every filter of the link (whichever kind it had); succeeds if there are none. */
export async function removeLinkFilters(host: NarwhalHost, ifname: string, perLinkForwarding: boolean): Promise<void> {
  await host.nft(deleteChainScript('netdev', ingressChain(ifname)));
  if (!perLinkForwarding) return;
  await host.nft(deleteChainScript('inet', linkForwardChain(ifname)));
  await host.deleteDockerUserRules(linkDockerUserRules(ifname));
}

/**
 * The container end of `hostIf` inside `netns`, once Docker has finished placing it: renamed
 * from `tempName` and up (libnetwork brings it up last). Undefined while Docker is still at it;
 * `why` says what was seen.
 */
export function settledPeer(
  host: NarwhalHost,
  hostIf: string,
  tempName: string,
  netns: string,
  why?: (s: string) => void,
): Promise<LinkInfo | undefined> {
  const settled = (inside: LinkInfo): boolean => inside.ifname !== tempName && inside.up;
  return settledPeerInNetns(hostIf, netns, { host, settled, ...(why === undefined ? {} : { why }) });
}
