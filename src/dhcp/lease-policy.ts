import { BlockList } from 'node:net';
import { Opt } from '../model/options.js';
import type { DhcpLease } from './lease.js';

/**
 * Which leases a DHCP network takes (`ovs.bridge.dhcp_server`, `ovs.bridge.dhcp_subnet`). A
 * lease is what anti-spoofing pins as the container's address: one from a rogue server, or
 * outside the network, would pin the wrong address and hand the container a rogue's router
 * and DNS servers.
 */

export interface LeasePolicy {
  /** The servers whose leases are taken (their option 54); empty: any. */
  readonly servers: readonly string[];
  /** `a.b.c.d/len` the leased address must lie in; undefined: any. */
  readonly subnet: string | undefined;
}

/** Why the lease is refused, naming the option it breaks; undefined: it is taken. */
export function leaseRefusal(lease: DhcpLease, policy: LeasePolicy): string | undefined {
  if (policy.servers.length > 0 && (lease.serverId === undefined || !policy.servers.includes(lease.serverId))) {
    const from = lease.serverId === undefined ? 'a server that gave no server identifier' : `server ${lease.serverId}`;
    return `the lease of ${lease.address} is from ${from}, not from ${Opt.dhcpServer}=${policy.servers.join(',')}`;
  }
  if (policy.subnet !== undefined && !inSubnet(lease.address, policy.subnet)) {
    return `the leased address ${lease.address} is outside ${Opt.dhcpSubnet}=${policy.subnet}`;
  }
  return undefined;
}

function inSubnet(address: string, subnet: string): boolean {
  const [net = '', len = ''] = subnet.split('/');
  const list = new BlockList();
  list.addSubnet(net, Number(len), 'ipv4');
  return list.check(address, 'ipv4');
}
