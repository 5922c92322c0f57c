import { existsSync, readdirSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { badEnv, type Environment, nonEmpty } from './environment.js';

/**
 * Where FAUCET's configuration is written when it is another host's: through faucetconfrpc
 * (the original dovesnap's --faucetconfrpc_* flags, as FAUCETCONFRPC_* variables). Unset
 * FAUCETCONFRPC_ADDR: the local file, as before.
 */
export interface ConfrpcSettings {
  /** The server's name or address: what is dialled, and the name its certificate must carry. */
  readonly addr: string;
  readonly port: number;
  /** Holds `<client>.crt`, `<client>.key` and `<addr>-ca.crt`. */
  readonly keyDir: string;
  /** The client certificate's file name (without .crt/.key). */
  readonly client: string;
  /** Connection attempts at start-up before the daemon reports the server away (and goes on, pending). */
  readonly connRetries: number;
}

export const CONFRPC_DEFAULTS = Object.freeze({
  port: 59999,
  keyDir: '/etc/dovesnap/confrpc',
  client: 'faucetconfrpc',
  connRetries: 5,
});

/** The five variables, for `dovesnap settings --env` and the systemd unit (ADDR empty: off). */
export const CONFRPC_ENV_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  FAUCETCONFRPC_ADDR: '',
  FAUCETCONFRPC_PORT: String(CONFRPC_DEFAULTS.port),
  FAUCETCONFRPC_KEYDIR: CONFRPC_DEFAULTS.keyDir,
  FAUCETCONFRPC_CLIENT: CONFRPC_DEFAULTS.client,
  FAUCETCONFRPC_CONNRETRIES: String(CONFRPC_DEFAULTS.connRetries),
});

/** A DNS name (or an IP address, see isIP): what TLS can verify a certificate's SAN against. */
const DNS_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const FILE_BASE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function wholeNumber(env: Environment, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < min || n > max)
    throw badEnv(name, raw, `expected a whole number from ${min} to ${max}`);
  return n;
}

/** The FAUCETCONFRPC_* settings; undefined when FAUCETCONFRPC_ADDR is unset (the local file). */
export function confrpcSettings(env: Environment): ConfrpcSettings | undefined {
  const addr = nonEmpty(env, 'FAUCETCONFRPC_ADDR');
  const port = wholeNumber(env, 'FAUCETCONFRPC_PORT', CONFRPC_DEFAULTS.port, 1, 65535);
  const connRetries = wholeNumber(env, 'FAUCETCONFRPC_CONNRETRIES', CONFRPC_DEFAULTS.connRetries, 1, 1000);
  const keyDir = nonEmpty(env, 'FAUCETCONFRPC_KEYDIR') ?? CONFRPC_DEFAULTS.keyDir;
  if (!path.isAbsolute(keyDir)) throw badEnv('FAUCETCONFRPC_KEYDIR', keyDir, 'expected an absolute directory');
  const client = nonEmpty(env, 'FAUCETCONFRPC_CLIENT') ?? CONFRPC_DEFAULTS.client;
  if (!FILE_BASE.test(client))
    throw badEnv(
      'FAUCETCONFRPC_CLIENT',
      client,
      'expected the client certificate file name without .crt (letters, digits, _ . -)',
    );
  if (addr === undefined) return undefined;
  if ((isIP(addr) === 0 && !DNS_NAME.test(addr)) || addr.length > 253)
    throw badEnv(
      'FAUCETCONFRPC_ADDR',
      addr,
      "expected the faucetconfrpc server's host name or IP address (the name its certificate carries), without a port",
    );
  return Object.freeze({ addr, port, keyDir, client, connRetries });
}

/** Where `make up` (and the docs) install faucetconfrpc: its own virtualenv. */
export const CONFRPC_VENV = '/opt/dovesnap/confrpc-venv';

/**
 * DOVESNAP_CONFRPC_PROTO: faucetconfrpc's service definition. Default: the one the installed
 * PyPI package ships, found in CONFRPC_VENV (never a copy of ours). Undefined when neither exists.
 */
export function confrpcProtoPath(env: Environment = process.env, venv = CONFRPC_VENV): string | undefined {
  const given = nonEmpty(env, 'DOVESNAP_CONFRPC_PROTO');
  if (given !== undefined) return given;
  const lib = path.join(venv, 'lib');
  let pythons: string[];
  try {
    pythons = readdirSync(lib)
      .filter((d) => d.startsWith('python3'))
      .sort();
  } catch {
    return undefined;
  }
  for (const py of pythons.reverse()) {
    const proto = path.join(lib, py, 'site-packages/faucetconfrpc/protos/faucetconfrpc/faucetconfrpc.proto');
    if (existsSync(proto)) return proto;
  }
  return undefined;
}
