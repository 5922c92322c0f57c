import http from 'node:http';
import { engineRequest } from '../engine/request.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { dockerSocketPath } from '../config/environment.js';

/**
 * The Docker Engine API calls `dovesnap lab` makes: networks and containers it creates, finds
 * by label, connects, starts, runs commands in and removes. Through the engine's socket, not a
 * `docker` client, so that a client newer than the engine (which refuses some options) or
 * older than it makes no difference.
 */

export interface LabNetworkCreate {
  readonly Name: string;
  readonly Driver: string;
  readonly Internal: boolean;
  readonly Options: Readonly<Record<string, string>>;
  readonly Labels: Readonly<Record<string, string>>;
  readonly IPAM: {
    readonly Driver: string;
    readonly Config: readonly { readonly Subnet: string; readonly Gateway?: string }[];
  };
}

export interface EndpointSettings {
  readonly IPAMConfig?: { readonly IPv4Address: string };
}

export interface LabContainerCreate {
  readonly Hostname: string;
  readonly Image: string;
  readonly Entrypoint: readonly string[];
  readonly Cmd: readonly string[];
  readonly Env: readonly string[];
  readonly Labels: Readonly<Record<string, string>>;
  readonly HostConfig: {
    readonly NetworkMode: string;
    readonly CapAdd: readonly string[];
    readonly Sysctls: Readonly<Record<string, string>>;
    readonly Binds: readonly string[];
  };
  readonly NetworkingConfig: { readonly EndpointsConfig: Readonly<Record<string, EndpointSettings>> };
}

export interface LabContainerInfo {
  readonly Id: string;
  readonly Name: string;
  readonly State: {
    readonly Status: string;
    readonly Running: boolean;
    readonly Pid: number;
    readonly ExitCode?: number;
  };
  readonly Config: { readonly Labels?: Readonly<Record<string, string>> | null; readonly Image?: string };
  readonly Image: string;
  readonly NetworkSettings: {
    readonly Networks?: Readonly<
      Record<
        string,
        {
          readonly NetworkID?: string;
          readonly EndpointID?: string;
          readonly MacAddress?: string;
          readonly IPAddress?: string;
          readonly IPPrefixLen?: number;
        }
      >
    > | null;
  };
}

export interface LabNetworkInfo {
  readonly Id: string;
  readonly Name: string;
  readonly Driver: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly Options?: Readonly<Record<string, string>> | null;
  readonly Internal?: boolean;
  readonly IPAM?: {
    readonly Driver?: string;
    readonly Config?: readonly { readonly Subnet?: string; readonly Gateway?: string }[] | null;
  } | null;
}

export interface ImageInfo {
  readonly Id: string;
  readonly Config?: { readonly Entrypoint?: readonly string[] | null; readonly Cmd?: readonly string[] | null } | null;
}

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

const q = encodeURIComponent;

export class LabDocker {
  constructor(readonly socketPath = dockerSocketPath()) {}

  private async json<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T | undefined> {
    const r = await engineRequest(this.socketPath, method, path, { json: body, accept: [404], timeoutMs });
    if (r.status === 404) return undefined;
    return (r.body === '' ? undefined : JSON.parse(r.body)) as T;
  }

  async containersLabelled(
    label: string,
  ): Promise<{ Id: string; Names: string[]; Labels: Record<string, string>; State: string }[]> {
    const filters = q(JSON.stringify({ label: [label] }));
    return (await this.json('GET', `/containers/json?all=1&filters=${filters}`)) ?? [];
  }

  async networksLabelled(label: string): Promise<LabNetworkInfo[]> {
    const filters = q(JSON.stringify({ label: [label] }));
    return (await this.json('GET', `/networks?filters=${filters}`)) ?? [];
  }

  inspectContainer(idOrName: string): Promise<LabContainerInfo | undefined> {
    return this.json('GET', `/containers/${q(idOrName)}/json`);
  }

  inspectNetwork(idOrName: string): Promise<LabNetworkInfo | undefined> {
    return this.json('GET', `/networks/${q(idOrName)}`);
  }

  inspectImage(name: string): Promise<ImageInfo | undefined> {
    return this.json('GET', `/images/${q(name)}/json`);
  }

  async createNetwork(spec: LabNetworkCreate): Promise<string> {
    // Creating a dovesnap network waits for FAUCET to load its configuration.
    const r = await this.json<{ Id: string }>('POST', '/networks/create', { ...spec, CheckDuplicate: true }, 120_000);
    if (r === undefined)
      throw new DovesnapError(
        ErrorCode.Engine,
        `docker could not create network ${spec.Name}: the driver ${spec.Driver} is not available`,
      );
    return r.Id;
  }

  async removeNetwork(id: string): Promise<void> {
    await engineRequest(this.socketPath, 'DELETE', `/networks/${q(id)}`, { accept: [404], timeoutMs: 120_000 });
  }

  async createContainer(name: string, spec: LabContainerCreate): Promise<string> {
    const r = await this.json<{ Id: string }>('POST', `/containers/create?name=${q(name)}`, spec, 60_000);
    if (r === undefined)
      throw new DovesnapError(
        ErrorCode.Engine,
        `docker could not create container ${name}: image ${spec.Image} is not on this host`,
      );
    return r.Id;
  }

  async connect(networkId: string, containerId: string, settings: EndpointSettings): Promise<void> {
    await engineRequest(this.socketPath, 'POST', `/networks/${q(networkId)}/connect`, {
      json: { Container: containerId, EndpointConfig: settings },
      timeoutMs: 120_000,
    });
  }

  async start(id: string): Promise<void> {
    // 304: already running.
    await engineRequest(this.socketPath, 'POST', `/containers/${q(id)}/start`, { accept: [304], timeoutMs: 120_000 });
  }

  async removeContainer(id: string): Promise<void> {
    await engineRequest(this.socketPath, 'DELETE', `/containers/${q(id)}?force=1&v=1`, {
      accept: [404],
      timeoutMs: 120_000,
    });
  }

  /** The last `tail` lines the container wrote (both streams, in order); '' when there are none or it is gone. */
  logs(id: string, tail: number): Promise<string> {
    return new Promise((resolve) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path: `/containers/${q(id)}/logs?stdout=1&stderr=1&tail=${tail}`,
          method: 'GET',
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if ((res.statusCode ?? 0) >= 300) return resolve('');
            const { stdout, stderr } = demultiplex(Buffer.concat(chunks));
            resolve(`${stdout}${stderr}`);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(''));
      req.end();
    });
  }

  /** Runs `cmd` in the container and collects its output (Docker multiplexes both streams into one). */
  async exec(id: string, cmd: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
    const created = await this.json<{ Id: string }>('POST', `/containers/${q(id)}/exec`, {
      Cmd: cmd,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    if (created === undefined) throw new DovesnapError(ErrorCode.NotFound, `container ${id} is gone`);
    const { stdout, stderr } = await this.execOutput(created.Id, timeoutMs);
    const info = await this.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${q(created.Id)}/json`);
    return { exitCode: info?.ExitCode ?? -1, stdout, stderr };
  }

  private execOutput(execId: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
    const payload = JSON.stringify({ Detach: false, Tty: false });
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path: `/exec/${q(execId)}/start`,
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if ((res.statusCode ?? 0) >= 300) {
              reject(
                new DovesnapError(
                  ErrorCode.Engine,
                  `docker exec answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').trim()}`,
                ),
              );
              return;
            }
            resolve(demultiplex(Buffer.concat(chunks)));
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(new DovesnapError(ErrorCode.Timeout, `docker exec did not finish within ${timeoutMs} ms`)),
      );
      req.on('error', (err) =>
        reject(
          err instanceof DovesnapError
            ? err
            : new DovesnapError(ErrorCode.Engine, `docker exec: ${err.message}`, { cause: err }),
        ),
      );
      req.end(payload);
    });
  }
}

/**
 * Docker's attach stream without a TTY: frames of an 8-byte header (stream type, three zero
 * bytes, big-endian length) and the payload. A stream that does not start like a frame is taken
 * as plain output.
 */
export function demultiplex(buf: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const kind = buf[i];
    if ((kind !== 0 && kind !== 1 && kind !== 2) || buf[i + 1] !== 0 || buf[i + 2] !== 0 || buf[i + 3] !== 0) {
      return { stdout: buf.toString('utf8'), stderr: '' };
    }
    const len = buf.readUInt32BE(i + 4);
    const frame = buf.subarray(i + 8, i + 8 + len);
    (kind === 2 ? err : out).push(frame);
    i += 8 + len;
  }
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
