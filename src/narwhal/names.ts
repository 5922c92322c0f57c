import { DovesnapError, ErrorCode } from '../util/errors.js';

/**
 * Names of what narwhal makes, each telling what it belongs to, so that the collector can
 * decide from the name alone whether its owner still exists.
 *
 * - Driver links: host end `nw` + 6 hex of the network + 7 of the endpoint (15 bytes, Linux's
 *   limit); the container end, until Docker renames it, `nx` + the same. All host ends of a
 *   network match `nw<net6>*`, which is how forwarding rules name a network's containers.
 * - Command links: `nw-` + 12 hex of the container (narwhal's `nw-CONTAINER`), or the name given.
 * - nftables chains: `in_<link>` (netdev ingress filter of --paranoid), `fwd_<link>` (a command
 *   link that may not forward), `net_<id12>` and `nat_<id12>` (a driver network), where
 *   `<link>` is the interface name with `_` written `_u` and `-` written `_d` (chain names
 *   allow neither quoting nor dashes).
 * - DOCKER-USER rules: comment `narwhal link <ifname>` or `narwhal net <id12>`.
 */

export const DRIVER_NAME = 'narwhal';
/** The netdev table of the ingress filters and the inet table of forwarding and NAT. */
export const NFT_TABLE = 'narwhal';

const DRIVER_LINK = /^nw[0-9a-f]{13}$/;

export interface DriverLinkNames {
  readonly host: string;
  readonly container: string;
}

function hex(id: string, n: number, what: string): string {
  const s = id.slice(0, n).toLowerCase();
  if (!new RegExp(`^[0-9a-f]{${n}}$`).test(s))
    throw new DovesnapError(ErrorCode.BadRequest, `${what} ${JSON.stringify(id)} is not a hex ID`);
  return s;
}

export function driverLinkNames(networkId: string, endpointId: string): DriverLinkNames {
  const tail = `${hex(networkId, 6, 'network ID')}${hex(endpointId, 7, 'endpoint ID')}`;
  return { host: `nw${tail}`, container: `nx${tail}` };
}

/** What every host end of the network's containers starts with. */
export function networkLinkPrefix(networkId: string): string {
  return `nw${hex(networkId, 6, 'network ID')}`;
}

export function isDriverLinkName(name: string): boolean {
  return DRIVER_LINK.test(name);
}

/** The command's default host end: narwhal's `nw-CONTAINER`, with the container's short ID. */
export function commandLinkName(containerId: string): string {
  return `nw-${containerId.slice(0, 12)}`;
}

export function escapeChainPart(ifname: string): string {
  return ifname.replace(/_/g, '_u').replace(/-/g, '_d');
}

export function unescapeChainPart(part: string): string | undefined {
  let out = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    if (c !== '_') {
      out += c;
      continue;
    }
    const next = part[++i];
    if (next === 'u') out += '_';
    else if (next === 'd') out += '-';
    else return undefined;
  }
  return out;
}

export const ingressChain = (ifname: string): string => `in_${escapeChainPart(ifname)}`;
export const linkForwardChain = (ifname: string): string => `fwd_${escapeChainPart(ifname)}`;
export const networkChain = (networkId: string): string => `net_${networkId.slice(0, 12)}`;
export const natChain = (networkId: string): string => `nat_${networkId.slice(0, 12)}`;

export type ChainOwner =
  | { readonly kind: 'link'; readonly ifname: string }
  | { readonly kind: 'network'; readonly id12: string };

/** Whose chain this is, from its name; undefined for a name narwhal does not make. */
export function chainOwner(chain: string): ChainOwner | undefined {
  const link = /^(?:in|fwd)_(.+)$/.exec(chain);
  if (link?.[1] !== undefined) {
    const ifname = unescapeChainPart(link[1]);
    return ifname === undefined ? undefined : { kind: 'link', ifname };
  }
  const net = /^(?:net|nat)_([0-9a-f]{12})$/.exec(chain);
  return net?.[1] === undefined ? undefined : { kind: 'network', id12: net[1] };
}

export const linkRuleTag = (ifname: string): string => `narwhal link ${ifname}`;
export const networkRuleTag = (networkId: string): string => `narwhal net ${networkId.slice(0, 12)}`;

/** The owner a DOCKER-USER rule's comment names; undefined if it is not narwhal's. */
export function ruleTagOwner(comment: string): ChainOwner | undefined {
  const link = /^narwhal link (\S+)$/.exec(comment);
  if (link?.[1] !== undefined) return { kind: 'link', ifname: link[1] };
  const net = /^narwhal net ([0-9a-f]{12})$/.exec(comment);
  return net?.[1] === undefined ? undefined : { kind: 'network', id12: net[1] };
}
