import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ConfrpcSettings } from '../config/confrpc.js';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import {
  CALL_DEADLINE_MS,
  type ConfrpcApi,
  type ConfrpcConnection,
  ConfrpcError,
  type DpYaml,
  type InterfaceNumbers,
  type InterfacesYaml,
  confrpcKeyFiles,
  serverMessage,
} from './api.js';

/**
 * A client of faucetconfrpc (PyPI `faucetconfrpc`): gRPC with mutual TLS to the server that
 * keeps FAUCET's configuration on the controller's host. The service definition is loaded at
 * run time from the installed package (settings.proto), never copied here. Only the calls the
 * remote store (faucet/remote-store.ts) uses are wrapped, each with its own deadline. Loaded
 * only when FAUCETCONFRPC_ADDR is set: a daemon writing the local file holds no gRPC code.
 */

function readKeyFile(file: string, what: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `cannot read ${what} ${file} (${setting}): ${errorMessage(err)}; the keys are made on the controller's host and copied here (README, FAUCET on another host)`,
    );
  }
}

const UNREACHABLE = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED]);

type Callback = (err: grpc.ServiceError | null, reply?: unknown) => void;
type Method = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback) => void;

export interface ConfrpcClientOptions {
  readonly settings: ConfrpcSettings;
  /** faucetconfrpc.proto of the installed package. */
  readonly proto: string | undefined;
  readonly deadlineMs?: number;
}

/**
 * grpc-js gives TLS the target's host as the server name even when it is an IP address
 * (channel-credentials.js), which Node reports as DEP0123 on every connection to
 * FAUCETCONFRPC_ADDR given as an address; the certificate is still checked against that
 * address. Only this one warning is dropped, every other still reaches Node's own printer.
 */
let ipServernameWarningDropped = false;
function dropIpServernameWarning(): void {
  if (ipServernameWarningDropped) return;
  ipServernameWarningDropped = true;
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    if (warning.code === 'DEP0123') return;
    for (const print of printers) print(warning);
  });
}

export class ConfrpcClient implements ConfrpcApi {
  private readonly client: grpc.Client;
  private readonly deadlineMs: number;
  readonly target: string;

  constructor(opts: ConfrpcClientOptions) {
    const s = opts.settings;
    if (opts.proto === undefined)
      throw new DovesnapError(
        ErrorCode.BadOption,
        "faucetconfrpc's service definition (faucetconfrpc.proto) was not found: install faucetconfrpc in /opt/dovesnap/confrpc-venv (make up does), or point DOVESNAP_CONFRPC_PROTO at the file (FAUCETCONFRPC_ADDR is set, so dovesnap needs it)",
      );
    let definition: protoLoader.PackageDefinition;
    try {
      definition = protoLoader.loadSync(opts.proto, { keepCase: true, longs: String, defaults: true });
    } catch (err) {
      throw new DovesnapError(
        ErrorCode.BadOption,
        `cannot load faucetconfrpc's service definition ${opts.proto} (DOVESNAP_CONFRPC_PROTO): ${errorMessage(err)}`,
      );
    }
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      faucetconfserver?: { FaucetConfServer?: grpc.ServiceClientConstructor };
    };
    const Service = loaded.faucetconfserver?.FaucetConfServer;
    if (Service === undefined)
      throw new DovesnapError(
        ErrorCode.BadOption,
        `${opts.proto} (DOVESNAP_CONFRPC_PROTO) does not define faucetconfserver.FaucetConfServer`,
      );
    const files = confrpcKeyFiles(s);
    const cert = readKeyFile(files.cert, 'the client certificate', 'FAUCETCONFRPC_KEYDIR, FAUCETCONFRPC_CLIENT');
    const key = readKeyFile(files.key, 'the client key', 'FAUCETCONFRPC_KEYDIR, FAUCETCONFRPC_CLIENT');
    const ca = readKeyFile(files.ca, "the server's CA certificate", 'FAUCETCONFRPC_KEYDIR, FAUCETCONFRPC_ADDR');
    let credentials: grpc.ChannelCredentials;
    try {
      // TLS 1.3 only: the server (Python grpc) cannot be told a minimum, so the client insists.
      credentials = grpc.credentials.createFromSecureContext(
        createSecureContext({ ca, cert, key, minVersion: 'TLSv1.3' }),
      );
    } catch (err) {
      throw new DovesnapError(
        ErrorCode.BadOption,
        `the faucetconfrpc keys in ${s.keyDir} (FAUCETCONFRPC_KEYDIR) are not usable: ${errorMessage(err)}`,
      );
    }
    this.target = `${s.addr.includes(':') ? `[${s.addr}]` : s.addr}:${s.port}`;
    dropIpServernameWarning();
    this.deadlineMs = opts.deadlineMs ?? CALL_DEADLINE_MS;
    // The target is ADDR itself, so the certificate is checked against ADDR (DNS or IP SAN).
    this.client = new Service(this.target, credentials, {
      // Reconnect soon after the server comes back (grpc-js backs off up to 2 min by default).
      'grpc.max_reconnect_backoff_ms': 5_000,
      'grpc.initial_reconnect_backoff_ms': 500,
    });
  }

  /** Waits until the channel is connected, or `ms` passed; throws ConfrpcError('unreachable'). */
  waitReady(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + ms, (err) => {
        if (err === undefined || err === null) resolve();
        else reject(new ConfrpcError('unreachable', 'connect', `${this.target}: ${errorMessage(err)}`));
      });
    });
  }

  close(): void {
    this.client.close();
  }

  private call<R>(name: string, request: object): Promise<R> {
    const method = (this.client as unknown as Record<string, Method>)[name];
    if (method === undefined) return Promise.reject(new ConfrpcError('refused', name, `the server has no ${name}`));
    return new Promise<R>((resolve, reject) => {
      method.call(
        this.client,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + this.deadlineMs },
        (err: grpc.ServiceError | null, reply?: unknown) => {
          if (err === null) {
            resolve(reply as R);
            return;
          }
          const kind = UNREACHABLE.has(err.code) ? 'unreachable' : 'refused';
          const detail = kind === 'refused' ? serverMessage(err.details) : err.details;
          reject(new ConfrpcError(kind, name, `faucetconfrpc ${name} at ${this.target}: ${detail}`));
        },
      );
    });
  }

  async getConfigFile(): Promise<string> {
    const reply = await this.call<{ config_yaml?: string }>('GetConfigFile', {});
    return reply.config_yaml ?? '';
  }

  async setConfigFile(
    yaml: string,
    opts: { readonly merge: boolean; readonly delKeys?: readonly (string | number)[] },
  ): Promise<void> {
    await this.call('SetConfigFile', {
      config_yaml: yaml,
      merge: opts.merge,
      del_config_yaml_keys: opts.delKeys === undefined ? '' : JSON.stringify(opts.delKeys),
    });
  }

  async setDps(dps: readonly DpYaml[]): Promise<void> {
    await this.call('SetDps', { dp_config: dps.map((d) => ({ dp_name: d.name, config_yaml: d.yaml })) });
  }

  async delDps(names: readonly string[]): Promise<void> {
    await this.call('DelDps', { interfaces_config: names.map((name) => ({ name })) });
  }

  async setDpInterfaces(dps: readonly InterfacesYaml[]): Promise<void> {
    await this.call('SetDpInterfaces', {
      interfaces_config: dps.map((d) => ({
        dp_name: d.dp,
        interface_config: d.ports.map((p) => ({ port_no: p.number, config_yaml: p.yaml })),
      })),
    });
  }

  async delDpInterfaces(dps: readonly InterfaceNumbers[]): Promise<void> {
    await this.call('DelDpInterfaces', {
      interfaces_config: dps.map((d) => ({ name: d.dp, interfaces: d.ports.map((port_no) => ({ port_no })) })),
      delete_empty_dp: false,
    });
  }
}

/** The client the daemon uses (FAUCETCONFRPC_*): throws, naming the setting, if its keys or the service definition cannot be read. */
export function openConfrpc(settings: ConfrpcSettings & { readonly proto: string | undefined }): ConfrpcConnection {
  const client = new ConfrpcClient({ settings, proto: settings.proto });
  return {
    api: client,
    target: client.target,
    attempts: settings.connRetries,
    connect: (onFailure) => connectWithRetries(client, settings.connRetries, 2_000, onFailure),
    close: () => client.close(),
  };
}

/**
 * Connects at start-up: `attempts` tries (FAUCETCONFRPC_CONNRETRIES) of `eachMs` each. Resolves
 * with whether the server answered; a server that did not is reported by the caller, which goes
 * on (writes stay pending and are retried).
 */
export async function connectWithRetries(
  client: Pick<ConfrpcClient, 'waitReady' | 'getConfigFile'>,
  attempts: number,
  eachMs = 2_000,
  onFailure?: (attempt: number, err: unknown) => void,
): Promise<boolean> {
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    try {
      await client.waitReady(eachMs);
      await client.getConfigFile();
      return true;
    } catch (err) {
      onFailure?.(attempt, err);
    }
  }
  return false;
}
