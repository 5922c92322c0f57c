import { DovesnapError, ErrorCode } from '../util/errors.js';
import { parseAclName, parseBool } from './options.js';

/**
 * Container labels of the original dovesnap (`dovesnap.faucet.*`). Each may be given once for
 * every network (`value`) or per network (`net1:value1/net2:value2`); the per-network form wins
 * for the networks it names, and networks it does not name get nothing.
 */

export const Label = {
  portacl: 'dovesnap.faucet.portacl',
  mirror: 'dovesnap.faucet.mirror',
  macPrefix: 'dovesnap.faucet.mac_prefix',
  antispoof: 'dovesnap.faucet.antispoof',
} as const;

export interface ContainerNetworkLabels {
  /** ACL names for the port's `acls_in`, in order; empty means the network's default ACL applies. */
  readonly portAcls: readonly string[];
  readonly mirror: boolean;
  /** 1 to 5 bytes that replace the start of the interface's MAC address. */
  readonly macPrefix: readonly number[] | undefined;
  /** Overrides the network's `ovs.bridge.antispoof` for this port; undefined: the network decides. */
  readonly antispoof?: boolean | undefined;
}

function badLabel(label: string, value: string, expected: string): DovesnapError {
  return new DovesnapError(ErrorCode.BadLabel, `invalid value ${JSON.stringify(value)} for label ${label}: ${expected}`);
}

/**
 * Splits `net1:v1/net2:v2` into a map, or returns the bare value for all networks.
 * A bare value can itself contain no ':' for the labels we define, which keeps this unambiguous.
 */
function perNetwork(label: string, value: string, networkName: string): string | undefined {
  const v = value.trim();
  // A MAC prefix is itself colon-separated: a value of only hex digits and colons is the bare form.
  if (!v.includes(':') || (label === Label.macPrefix && /^[0-9a-fA-F:]+$/.test(v))) return v;
  const found = new Map<string, string>();
  for (const part of v.split('/')) {
    const idx = part.indexOf(':');
    if (idx <= 0) throw badLabel(label, value, `${JSON.stringify(part)} must be NETWORK:VALUE`);
    const net = part.slice(0, idx).trim();
    if (found.has(net)) throw badLabel(label, value, `network ${net} is named twice`);
    found.set(net, part.slice(idx + 1).trim());
  }
  return found.get(networkName);
}

export function parseMacPrefix(value: string, label: string = Label.macPrefix): number[] {
  const v = value.trim().toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){0,4}$/.test(v)) throw badLabel(label, value, 'expected 1 to 5 bytes such as 0e:99');
  const bytes = v.split(':').map((b) => parseInt(b, 16));
  if (((bytes[0] ?? 0) & 1) === 1) throw badLabel(label, value, 'the first byte makes a multicast address; use an even first byte such as 0e');
  return bytes;
}

/** The option parsers speak of "option"; for labels the code and wording must say "label". */
function asLabel<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DovesnapError && err.code === ErrorCode.BadOption) {
      throw new DovesnapError(ErrorCode.BadLabel, err.message.replace(' for option ', ' for label '), { cause: err });
    }
    throw err;
  }
}

export function parseContainerLabels(labels: Readonly<Record<string, string>>, networkName: string): ContainerNetworkLabels {
  return asLabel(() => parseLabels(labels, networkName));
}

function parseLabels(labels: Readonly<Record<string, string>>, networkName: string): ContainerNetworkLabels {
  let portAcls: string[] = [];
  const aclRaw = labels[Label.portacl];
  if (aclRaw !== undefined) {
    const v = perNetwork(Label.portacl, aclRaw, networkName);
    if (v !== undefined && v !== '') {
      portAcls = v.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => parseAclName(s, Label.portacl));
    }
  }
  let mirror = false;
  const mirrorRaw = labels[Label.mirror];
  if (mirrorRaw !== undefined) {
    const v = perNetwork(Label.mirror, mirrorRaw, networkName);
    if (v !== undefined && v !== '') mirror = parseBool(v, Label.mirror);
  }
  let antispoof: boolean | undefined;
  const antispoofRaw = labels[Label.antispoof];
  if (antispoofRaw !== undefined) {
    const v = perNetwork(Label.antispoof, antispoofRaw, networkName);
    if (v !== undefined && v !== '') antispoof = parseBool(v, Label.antispoof);
  }
  let macPrefix: number[] | undefined;
  const macRaw = labels[Label.macPrefix];
  if (macRaw !== undefined) {
    const v = perNetwork(Label.macPrefix, macRaw, networkName);
    if (v !== undefined && v !== '') macPrefix = parseMacPrefix(v);
  }
  return Object.freeze({ portAcls: Object.freeze(portAcls), mirror, macPrefix, ...(antispoof === undefined ? {} : { antispoof }) });
}

/** Replaces the first bytes of `mac` with `prefix`. */
export function applyMacPrefix(mac: string, prefix: readonly number[]): string {
  const bytes = mac.split(':');
  prefix.forEach((b, i) => {
    bytes[i] = b.toString(16).padStart(2, '0');
  });
  return bytes.join(':');
}
