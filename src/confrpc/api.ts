import path from 'node:path';
import type { ConfrpcSettings } from '../config/confrpc.js';

/**
 * What the remote FAUCET store needs of faucetconfrpc, without gRPC (client.ts is the real one,
 * loaded only when it is used; tests fake it).
 */

/** Why a call failed: the server was not reached (try again later), or it answered with an error. */
export class ConfrpcError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'refused',
    readonly method: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfrpcError';
  }
}

export interface DpYaml {
  readonly name: string;
  readonly yaml: string;
}

export interface InterfacesYaml {
  readonly dp: string;
  readonly ports: readonly { readonly number: number; readonly yaml: string }[];
}

export interface InterfaceNumbers {
  readonly dp: string;
  readonly ports: readonly number[];
}

/** The calls the remote store makes; ConfrpcClient is the real one, tests may fake it. */
export interface ConfrpcApi {
  /** faucet.yaml as the server dumps it ('' if it has none). */
  getConfigFile(): Promise<string>;
  /** Merge `yaml` into the file (dicts merged key by key, lists and scalars replaced), after deleting `delKeys` if given. */
  setConfigFile(
    yaml: string,
    opts: { readonly merge: boolean; readonly delKeys?: readonly (string | number)[] },
  ): Promise<void>;
  /** Replace whole DPs. */
  setDps(dps: readonly DpYaml[]): Promise<void>;
  /** Delete whole DPs (the server also deletes the far ends of their stack ports). */
  delDps(names: readonly string[]): Promise<void>;
  /** Replace single interfaces of DPs. */
  setDpInterfaces(dps: readonly InterfacesYaml[]): Promise<void>;
  /** Delete single interfaces of DPs (the server also drops them from the DP's mirror lists). */
  delDpInterfaces(dps: readonly InterfaceNumbers[]): Promise<void>;
}

/** An open client, as the daemon hands it to the FAUCET view (client.ts opens it). */
export interface ConfrpcConnection {
  readonly api: ConfrpcApi;
  /** ADDR:PORT. */
  readonly target: string;
  /** FAUCETCONFRPC_CONNRETRIES. */
  readonly attempts: number;
  /** Tries `attempts` times to reach the server; whether it answered. */
  connect(onFailure: (attempt: number, err: unknown) => void): Promise<boolean>;
  close(): void;
}

/** Default per-call deadline: the server validates the whole configuration on each write. */
export const CALL_DEADLINE_MS = 30_000;

/** The key files of `settings` (the original dovesnap's layout). */
export function confrpcKeyFiles(s: Pick<ConfrpcSettings, 'keyDir' | 'client' | 'addr'>): {
  cert: string;
  key: string;
  ca: string;
} {
  return {
    cert: path.join(s.keyDir, `${s.client}.crt`),
    key: path.join(s.keyDir, `${s.client}.key`),
    ca: path.join(s.keyDir, `${s.addr}-ca.crt`),
  };
}

/**
 * The server's own message out of a gRPC error's details. faucetconfrpc puts
 * `peer_ip:… peer_id:… request:<the whole request> error <message>` there: the request can be
 * a whole DP, so only the message is kept.
 */
export function serverMessage(details: string): string {
  const known = /\berror ((?:Cannot set FAUCET config|Unable to find key|Invalid config|YAML error|Error:).*)$/s.exec(
    details,
  );
  if (known?.[1] !== undefined) return known[1].trim();
  const at = details.lastIndexOf(' error ');
  const text = at >= 0 && details.startsWith('peer_ip:') ? details.slice(at + 7) : details;
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}
