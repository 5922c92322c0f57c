import fs from 'node:fs';
import type { DatapathType } from '../ovs/vswitch.js';
import { readFile } from 'node:fs/promises';
import {
  configureGateway,
  createVeth,
  createVethsUp,
  deleteLink,
  getLink,
  hostLinkExists,
  hostLinkNames,
  setLinkDown,
  setLinkMac,
  setLinkUp,
  setPeerMacInNetns,
  type VethSpec,
} from '../net/links.js';
import {
  allowForwarding,
  enableIpv4Forwarding,
  forwardingTags,
  revokeForwarding,
  revokeForwardingTag,
  type GatewayMode,
} from '../net/forwarding.js';
import { applyNftScript } from '../net/nft.js';
import { hostListeners, type ListeningSocket } from '../net/listeners.js';
import { deleteRoute, listIpv4Routes, replaceRoute, type RouteEntry } from '../net/routes.js';
import { forcedDatapath, type Environment } from '../config/environment.js';

/** The host operations the driver needs, as an interface so that unit tests can use a fake. */
export interface HostNet {
  createVeth(spec: VethSpec): Promise<void>;
  /** Several pairs with both ends up (ready ports), all or none (net/links.ts createVethsUp). */
  createVethsUp(specs: readonly VethSpec[]): Promise<void>;
  deleteLink(name: string): Promise<void>;
  linkExists(name: string): Promise<boolean>;
  /** Whether the host's link is up with carrier (false also when it does not exist). */
  linkIsUp(name: string): Promise<boolean>;
  /** Names of the host's links that start with `prefix`. */
  linkNames(prefix: string): Promise<string[]>;
  setPeerMacInNetns(hostIf: string, netns: string, mac: string): Promise<string>;
  setLinkUp(name: string): Promise<void>;
  setLinkDown(name: string): Promise<void>;
  /** Sets a host link's MAC (a ready port's container end, which is up). */
  setLinkMac(name: string, mac: string): Promise<void>;
  /** A host link's MAC, lower case (undefined: no such link); read from sysfs, no `ip` spawned. */
  linkMac(name: string): Promise<string | undefined>;
  configureGateway(bridge: string, cidr: string, opts: { disableTxOffload: boolean }): Promise<void>;
  enableIpv4Forwarding(): Promise<boolean>;
  allowForwarding(networkId: string, bridge: string, mode: GatewayMode): Promise<boolean>;
  revokeForwarding(networkId: string, bridge: string): Promise<void>;
  /** Network ID prefixes (12 characters) that DOCKER-USER rules are tagged with. */
  forwardingTags(): Promise<string[]>;
  /** Removes every DOCKER-USER rule with this tag; returns how many. */
  revokeForwardingTag(tag: string): Promise<number>;
  applyNftScript(script: string): Promise<void>;
  /** Sockets the host listens on (TCP) or has bound (UDP). */
  listeners(): Promise<ListeningSocket[]>;
  /** The host's main IPv4 routing table. */
  ipv4Routes(): Promise<RouteEntry[]>;
  /** `ip route replace PREFIX via VIA dev DEV`. */
  replaceRoute(prefix: string, via: string, dev: string): Promise<void>;
  /** Removes exactly that route; succeeds when it (or DEV) is gone. */
  deleteRoute(prefix: string, via: string, dev: string): Promise<void>;
}

export const realHostNet: HostNet = {
  createVeth,
  createVethsUp,
  deleteLink,
  linkExists: async (name) => (await getLink(name)) !== undefined,
  linkIsUp: async (name) =>
    hostLinkExists(name) &&
    (await readFile(`/sys/class/net/${name}/operstate`, 'utf8').catch(() => '')).trim() === 'up',
  linkNames: hostLinkNames,
  setPeerMacInNetns,
  setLinkUp,
  setLinkDown,
  setLinkMac,
  linkMac: async (name) => {
    if (!/^[\w.-]+$/.test(name)) return undefined;
    const mac = (await readFile(`/sys/class/net/${name}/address`, 'utf8').catch(() => '')).trim().toLowerCase();
    return mac === '' ? undefined : mac;
  },
  configureGateway,
  enableIpv4Forwarding: () => enableIpv4Forwarding(),
  allowForwarding,
  revokeForwarding,
  forwardingTags,
  revokeForwardingTag,
  applyNftScript,
  listeners: () => hostListeners(),
  ipv4Routes: listIpv4Routes,
  replaceRoute,
  deleteRoute,
};

/**
 * The kernel datapath needs the openvswitch module; where it is missing (containers, some
 * VMs) only the userspace "netdev" datapath works. DOVESNAP_DATAPATH overrides the guess.
 */
export function detectDatapath(env?: Environment): DatapathType {
  return forcedDatapath(env) ?? (fs.existsSync('/sys/module/openvswitch') ? 'system' : 'netdev');
}
