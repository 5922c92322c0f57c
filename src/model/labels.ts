import { DovesnapError, ErrorCode } from '../util/errors.js';
import { parseAclName, parseBool } from './options.js';

/**
 * Container labels of the original dovesnap (`dovesnap.faucet.*`). Each may be given once for
 * every network (`value`) or per network (`net1:value1/net2:value2`); the per-network form wins
 * for the networks it names, and networks it does not name get nothing.
 *
 * A NET part names a network by its Docker name, or, for a container of a Docker Compose project,
 * by the name the project's compose file gives it (Compose names the network `PROJECT_NET` and
 * labels it with both parts). The Docker name is looked up first: a label naming both gives the
 * value of the Docker name. The short name reaches only the container's own project's networks.
 */

export const Label = {
  portacl: 'dovesnap.faucet.portacl',
  mirror: 'dovesnap.faucet.mirror',
  macPrefix: 'dovesnap.faucet.mac_prefix',
  antispoof: 'dovesnap.faucet.antispoof',
  capture: 'dovesnap.faucet.capture',
} as const;

/** Docker Compose's labels on networks and containers. */
export const ComposeLabel = {
  project: 'com.docker.compose.project',
  network: 'com.docker.compose.network',
} as const;

/** A network's place in a Docker Compose project: the project, and its name in the compose file. */
export interface ComposeNetwork {
  readonly project: string;
  readonly network: string;
}

/** The network's Compose identity from its Docker labels; undefined for a network Compose did not make. */
export function composeNetworkOf(
  labels: Readonly<Record<string, string>> | null | undefined,
): ComposeNetwork | undefined {
  const project = labels?.[ComposeLabel.project];
  const network = labels?.[ComposeLabel.network];
  if (project === undefined || project === '' || network === undefined || network === '') return undefined;
  return { project, network };
}

/** The names a NET part of a per-network label may use for one network. */
export interface NetworkNames {
  readonly name: string;
  readonly compose?: ComposeNetwork | undefined;
}

export interface ContainerNetworkLabels {
  /** ACL names for the port's `acls_in`, in order; empty means the network's default ACL applies. */
  readonly portAcls: readonly string[];
  readonly mirror: boolean;
  /** 1 to 5 bytes that replace the start of the interface's MAC address. */
  readonly macPrefix: readonly number[] | undefined;
  /** Overrides the network's `ovs.bridge.antispoof` for this port; undefined: the network decides. */
  readonly antispoof?: boolean | undefined;
  /**
   * The port is a capture port: output-only, and FAUCET's mirror destination for every other
   * port of the network (driver/faucet-desired.ts). Present only when true.
   */
  readonly capture?: true;
}

function badLabel(label: string, value: string, expected: string): DovesnapError {
  return new DovesnapError(
    ErrorCode.BadLabel,
    `invalid value ${JSON.stringify(value)} for label ${label}: ${expected}`,
  );
}

/**
 * Splits `net1:v1/net2:v2` into a map, or returns the bare value for all networks.
 * A bare value can itself contain no ':' for the labels we define, which keeps this unambiguous.
 */
function perNetwork(
  label: string,
  value: string,
  network: NetworkNames,
  project: string | undefined,
): string | undefined {
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
  const byName = found.get(network.name);
  if (byName !== undefined || network.compose === undefined || network.compose.project !== project) return byName;
  return found.get(network.compose.network);
}

export function parseMacPrefix(value: string, label: string = Label.macPrefix): number[] {
  const v = value.trim().toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){0,4}$/.test(v)) throw badLabel(label, value, 'expected 1 to 5 bytes such as 0e:99');
  const bytes = v.split(':').map((b) => parseInt(b, 16));
  if (((bytes[0] ?? 0) & 1) === 1)
    throw badLabel(label, value, 'the first byte makes a multicast address; use an even first byte such as 0e');
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

/** `network`: the network's Docker name, or its names (the Docker name and its Compose identity). */
export function parseContainerLabels(
  labels: Readonly<Record<string, string>>,
  network: string | NetworkNames,
): ContainerNetworkLabels {
  const names = typeof network === 'string' ? { name: network } : network;
  return asLabel(() => parseLabels(labels, names));
}

function parseLabels(labels: Readonly<Record<string, string>>, network: NetworkNames): ContainerNetworkLabels {
  const project = labels[ComposeLabel.project];
  const forThis = (label: string, raw: string): string | undefined => perNetwork(label, raw, network, project);
  let portAcls: string[] = [];
  const aclRaw = labels[Label.portacl];
  if (aclRaw !== undefined) {
    const v = forThis(Label.portacl, aclRaw);
    if (v !== undefined && v !== '') {
      portAcls = v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .map((s) => parseAclName(s, Label.portacl));
    }
  }
  let mirror = false;
  const mirrorRaw = labels[Label.mirror];
  if (mirrorRaw !== undefined) {
    const v = forThis(Label.mirror, mirrorRaw);
    if (v !== undefined && v !== '') mirror = parseBool(v, Label.mirror);
  }
  let antispoof: boolean | undefined;
  const antispoofRaw = labels[Label.antispoof];
  if (antispoofRaw !== undefined) {
    const v = forThis(Label.antispoof, antispoofRaw);
    if (v !== undefined && v !== '') antispoof = parseBool(v, Label.antispoof);
  }
  let capture = false;
  const captureRaw = labels[Label.capture];
  if (captureRaw !== undefined) {
    const v = forThis(Label.capture, captureRaw);
    if (v !== undefined && v !== '') capture = parseBool(v, Label.capture);
  }
  // A capture port takes in nothing (FAUCET drops what arrives on an output-only port): an ACL
  // on it would filter nothing, and there is nothing of it for the mirror link to copy. Saying
  // so beats a port that silently does half of what its labels ask.
  if (capture && mirror) {
    throw badLabel(
      Label.capture,
      captureRaw ?? '',
      `a capture port receives nothing to mirror; label ${Label.mirror} cannot be true for the same network`,
    );
  }
  if (capture && portAcls.length > 0) {
    throw badLabel(
      Label.capture,
      captureRaw ?? '',
      `a capture port is output-only and takes no ACL; label ${Label.portacl} cannot name one for the same network`,
    );
  }
  let macPrefix: number[] | undefined;
  const macRaw = labels[Label.macPrefix];
  if (macRaw !== undefined) {
    const v = forThis(Label.macPrefix, macRaw);
    if (v !== undefined && v !== '') macPrefix = parseMacPrefix(v);
  }
  return Object.freeze({
    portAcls: Object.freeze(portAcls),
    mirror,
    macPrefix,
    ...(antispoof === undefined ? {} : { antispoof }),
    ...(capture ? { capture: true as const } : {}),
  });
}

/** Replaces the first bytes of `mac` with `prefix`. */
export function applyMacPrefix(mac: string, prefix: readonly number[]): string {
  const bytes = mac.split(':');
  prefix.forEach((b, i) => {
    bytes[i] = b.toString(16).padStart(2, '0');
  });
  return bytes.join(':');
}
