import { DovesnapError, ErrorCode } from '../util/errors.js';
import type { PortBinding } from '../model/plugin-protocol.js';
import type { PublishedPort } from './state.js';
import { listenerCovers, type ListeningSocket, type Protocol } from '../net/listeners.js';
import { publishPaths, sameAddress, showHostAddress } from '../net/publish-paths.js';

/**
 * Host ports for `docker run -p`, chosen the way Docker's bridge driver chooses them: a fixed
 * port, the first free port of a range (`-p 8000-8010:80`), or a free ephemeral port (`-p 80`).
 * A port is free when no other published mapping holds it (on an overlapping address) and the
 * host itself does not listen on it; otherwise the mapping is refused, naming who has it.
 * Pure: the caller supplies what is taken.
 */

/** A host port another endpoint already publishes. */
export interface TakenPort {
  readonly protocol: Protocol;
  /** '' for every address. */
  readonly hostIp: string;
  readonly port: number;
  /** Who holds it, for the error message (e.g. the container's name). */
  readonly owner: string;
}

export const EPHEMERAL_FIRST = 49153;
export const EPHEMERAL_LAST = 65535;

function protocolOf(b: PortBinding): Protocol | undefined {
  if (b.Proto === 6) return 'tcp';
  if (b.Proto === 17) return 'udp';
  return undefined;
}

function anyAddress(ip: string): string {
  return ip === '0.0.0.0' || ip === '::' ? '' : ip;
}

function addressesOverlap(a: string, b: string): boolean {
  return a === '' || b === '' || sameAddress(a, b);
}

function showAddress(ip: string): string {
  return ip === '' ? '0.0.0.0' : showHostAddress(ip);
}

/** Why `port` cannot be used for `hostIp`, or undefined if it can. */
function holder(
  protocol: Protocol,
  hostIp: string,
  port: number,
  published: readonly TakenPort[],
  listeners: readonly ListeningSocket[],
): string | undefined {
  const p = published.find((x) => x.protocol === protocol && x.port === port && addressesOverlap(x.hostIp, hostIp));
  if (p !== undefined) return `already published by ${p.owner} on ${showAddress(p.hostIp)}:${port}`;
  const l = listeners.find((x) => x.protocol === protocol && x.port === port && listenerCovers(x.address, hostIp));
  if (l !== undefined) return `the host already listens on ${showHostAddress(l.address)}:${port}`;
  return undefined;
}

export function allocateHostPorts(
  bindings: readonly PortBinding[],
  published: readonly TakenPort[],
  listeners: readonly ListeningSocket[],
): PublishedPort[] {
  const taken: TakenPort[] = [...published];
  const out: PublishedPort[] = [];
  for (const b of bindings) {
    const protocol = protocolOf(b);
    if (protocol === undefined) {
      throw new DovesnapError(
        ErrorCode.BadOption,
        `cannot publish port ${b.Port} with IP protocol ${b.Proto}: dovesnap publishes tcp and udp ports only`,
      );
    }
    const hostIp = anyAddress(b.HostIP);
    const what = `${b.Port}/${protocol}`;
    if (publishPaths(hostIp) === undefined) {
      throw new DovesnapError(
        ErrorCode.BadOption,
        `cannot publish ${what} on host address ${JSON.stringify(b.HostIP)} (-p HOSTIP:HOSTPORT:${b.Port}): not an IP address`,
      );
    }
    let first = b.HostPort;
    let last = Math.max(b.HostPortEnd, b.HostPort);
    if (first <= 0) {
      first = EPHEMERAL_FIRST;
      last = EPHEMERAL_LAST;
    }
    let chosen: number | undefined;
    let lastReason = '';
    for (let port = first; port <= last; port++) {
      const why = holder(protocol, hostIp, port, taken, listeners);
      if (why === undefined) {
        chosen = port;
        break;
      }
      lastReason = why;
    }
    if (chosen === undefined) {
      const range = first === last ? `host port ${first}` : `host ports ${first}-${last}`;
      const reason = first === last ? `: ${lastReason}` : ': every port of the range is in use';
      throw new DovesnapError(
        ErrorCode.Conflict,
        `cannot publish ${what} on ${showAddress(hostIp)}, ${range}${reason}`,
      );
    }
    taken.push({ protocol, hostIp, port: chosen, owner: `this container (${what})` });
    out.push({ protocol, hostIp, hostPort: chosen, containerPort: b.Port });
  }
  return out;
}
