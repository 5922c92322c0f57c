import { badEnv, type Environment, nonEmpty } from './environment.js';

/**
 * DOVESNAP_STATUS_PEERS: the status APIs of the other hosts of a multi-host stack, whose networks
 * and ports the live view shows beside this host's (status/peers.ts fetches them). Each entry is
 * a base URL, `http://10.239.0.12:9401`: http or https, a host and a port, nothing else.
 */
export function statusPeersSetting(env: Environment): readonly string[] {
  const raw = nonEmpty(env, 'DOVESNAP_STATUS_PEERS');
  if (raw === undefined) return [];
  const peers: string[] = [];
  for (const entry of raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const base = peerBase(entry);
    if (base === undefined)
      throw badEnv(
        'DOVESNAP_STATUS_PEERS',
        raw,
        `${JSON.stringify(entry)} is not a status API address: expected http://HOST:PORT[,…] such as http://10.239.0.12:9401`,
      );
    if (!peers.includes(base)) peers.push(base);
  }
  return Object.freeze(peers);
}

const PEER = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})\/?$/;

/** `http://HOST:PORT` from an entry, or undefined when it has anything else (a path, a query, a user). */
function peerBase(entry: string): string | undefined {
  const m = PEER.exec(entry);
  const port = Number(m?.[3]);
  if (m === null || port < 1 || port > 65535) return undefined;
  try {
    // The URL parser checks the host (an IPv6 address, a name's labels) and writes it one way.
    const url = new URL(`${m[1]}://${m[2]}:${port}/`);
    return `${m[1]}://${url.hostname}:${port}`;
  } catch {
    return undefined;
  }
}
