import { DovesnapError, ErrorCode } from '../util/errors.js';
import { parseBool, parseIntInRange } from '../model/options.js';
import { parseLinkAddress } from './addresses.js';
import { DEFAULT_HOST_IPV4, DEFAULT_HOST_IPV6 } from './spec.js';

/**
 * The options of a `-d narwhal` network (`docker network create -o KEY=VALUE`): parsed and
 * checked once, frozen. Unknown keys are refused. Pure.
 */

export const NarwhalOpt = {
  forwarding: 'narwhal.forwarding',
  nat: 'narwhal.nat',
  paranoid: 'narwhal.paranoid',
  mtu: 'narwhal.mtu',
  hostIpv4: 'narwhal.host_ipv4',
  hostIpv6: 'narwhal.host_ipv6',
} as const;

/** Docker's own name for a driver's MTU option (`-o com.docker.network.driver.mtu=…`), taken as narwhal.mtu. */
export const DOCKER_MTU_OPTION = 'com.docker.network.driver.mtu';

const KNOWN = new Set<string>([...Object.values(NarwhalOpt), DOCKER_MTU_OPTION]);

export interface NarwhalOptions {
  /** Containers are routed to and from other interfaces with their own addresses. */
  readonly forwarding: boolean;
  /** Containers reach other interfaces masqueraded to the host's address (IPv4). */
  readonly nat: boolean;
  readonly paranoid: boolean;
  readonly mtu: number | undefined;
  readonly hostIpv4: string;
  readonly hostIpv6: string;
}

export const MIN_MTU = 68;
export const MIN_IPV6_MTU = 1280;

export function parseNarwhalOptions(raw: Readonly<Record<string, unknown>>): NarwhalOptions {
  const str: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!KNOWN.has(k)) {
      throw new DovesnapError(
        ErrorCode.BadOption,
        `unknown option ${k} for a narwhal network; known options: ${[...KNOWN].sort().join(', ')}`,
      );
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw new DovesnapError(ErrorCode.BadOption, `invalid value for option ${k}: expected a string`);
    str[k] = String(v);
  }
  const bool = (k: string): boolean => (str[k] === undefined ? false : parseBool(str[k] ?? '', k));
  const mtuKey = str[NarwhalOpt.mtu] !== undefined ? NarwhalOpt.mtu : DOCKER_MTU_OPTION;
  const mtuRaw = str[mtuKey];
  const address = (k: string, family: 4 | 6, dflt: string): string => {
    const v = str[k];
    return v === undefined ? dflt : parseLinkAddress(v, family, `option ${k}`);
  };
  return Object.freeze({
    forwarding: bool(NarwhalOpt.forwarding),
    nat: bool(NarwhalOpt.nat),
    paranoid: bool(NarwhalOpt.paranoid),
    mtu: mtuRaw === undefined ? undefined : parseIntInRange(mtuRaw, mtuKey, MIN_MTU, 65535),
    hostIpv4: address(NarwhalOpt.hostIpv4, 4, DEFAULT_HOST_IPV4),
    hostIpv6: address(NarwhalOpt.hostIpv6, 6, DEFAULT_HOST_IPV6),
  });
}
