import fs from 'node:fs';
import type { DatapathType } from '../ovs/vswitch.js';
import { createVeth, deleteLink, getLink, setLinkUp, setPeerMacInNetns, type VethSpec } from '../net/links.js';

/** The host operations the driver needs, as an interface so that unit tests can use a fake. */
export interface HostNet {
  createVeth(spec: VethSpec): Promise<void>;
  deleteLink(name: string): Promise<void>;
  linkExists(name: string): Promise<boolean>;
  setPeerMacInNetns(hostIf: string, netns: string, mac: string): Promise<string>;
  setLinkUp(name: string): Promise<void>;
}

export const realHostNet: HostNet = {
  createVeth,
  deleteLink,
  linkExists: async (name) => (await getLink(name)) !== undefined,
  setPeerMacInNetns,
  setLinkUp,
};

/**
 * The kernel datapath needs the openvswitch module; where it is missing (containers, some
 * VMs) only the userspace "netdev" datapath works. DOVESNAP_DATAPATH overrides the guess.
 */
export function detectDatapath(env: NodeJS.ProcessEnv = process.env): DatapathType {
  const forced = env['DOVESNAP_DATAPATH'];
  if (forced === 'netdev' || forced === 'system') return forced;
  return fs.existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
}
