import http from 'node:http';
import { engineRequest, type EngineReply } from './request.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { dockerSocketPath } from '../config/environment.js';

/**
 * The few Docker Engine API calls dovesnap needs, over the engine's unix socket with node's own
 * HTTP client. Called from the event-driven reconciler, not from driver handlers (Docker holds
 * its locks while it waits on those), with one exception: listContainersWithLabel, which Docker
 * answers without any container's lock.
 */

export interface EngineNetwork {
  readonly Id: string;
  readonly Name: string;
  readonly Driver: string;
  readonly Internal?: boolean;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly Options?: Readonly<Record<string, string>>;
  readonly IPAM?: { readonly Config?: readonly { readonly Subnet?: string; readonly Gateway?: string }[] };
  readonly Containers?: Readonly<
    Record<
      string,
      {
        readonly Name?: string;
        readonly EndpointID?: string;
        readonly MacAddress?: string;
        readonly IPv4Address?: string;
      }
    >
  >;
}

export interface EngineContainerNetwork {
  readonly NetworkID?: string;
  readonly EndpointID?: string;
  readonly IPAddress?: string;
  readonly MacAddress?: string;
  readonly Gateway?: string;
}

export interface EngineContainer {
  readonly Id: string;
  readonly Name: string;
  readonly State?: { readonly Pid?: number; readonly Running?: boolean };
  readonly Config?: { readonly Labels?: Readonly<Record<string, string>> | null };
  /** The host's copy of the container's /etc/resolv.conf (bind-mounted into it). */
  readonly ResolvConfPath?: string;
  readonly HostConfig?: {
    readonly Dns?: readonly string[] | null;
    readonly DnsSearch?: readonly string[] | null;
    readonly NetworkMode?: string;
  };
  readonly NetworkSettings?: {
    readonly SandboxKey?: string;
    readonly Networks?: Readonly<Record<string, EngineContainerNetwork>>;
  };
}

/** One row of GET /containers/json. */
export interface EngineContainerSummary {
  readonly Id: string;
  readonly Names?: readonly string[] | null;
  readonly Labels?: Readonly<Record<string, string>> | null;
}

export interface EngineEvent {
  readonly Type: string;
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes?: Readonly<Record<string, string>> };
  readonly time?: number;
  readonly timeNano?: number;
}

export interface Engine {
  ping(): Promise<void>;
  listNetworks(): Promise<EngineNetwork[]>;
  inspectNetwork(id: string): Promise<EngineNetwork | undefined>;
  inspectContainer(id: string): Promise<EngineContainer | undefined>;
  /**
   * Every container, in any state, that carries the label `key`. Docker answers this from its
   * in-memory view of containers, without taking any container's lock, so unlike inspect it
   * may be asked while Docker waits on a driver handler; `timeoutMs` bounds it all the same.
   */
  listContainersWithLabel(key: string, timeoutMs?: number): Promise<EngineContainerSummary[]>;
  /** DELETE /networks/{id}; succeeds if the network is already gone. */
  removeNetwork(id: string): Promise<void>;
  /**
   * Calls `onEvent` for each event until the signal aborts or the stream ends; resolves then.
   * A line that is not an event, or an `onEvent` that throws, goes to `onError` with the line;
   * the stream goes on.
   */
  streamEvents(
    filters: Readonly<Record<string, readonly string[]>>,
    onEvent: (e: EngineEvent) => void,
    signal: AbortSignal,
    onError: (err: unknown, line: string) => void,
  ): Promise<void>;
}

export class DockerEngine implements Engine {
  constructor(
    private readonly socketPath = dockerSocketPath(),
    private readonly timeoutMs = 10_000,
  ) {}

  async ping(): Promise<void> {
    await this.request('GET', '/_ping');
  }

  async listNetworks(): Promise<EngineNetwork[]> {
    return (await this.json<EngineNetwork[]>('GET', '/networks')) ?? [];
  }

  inspectNetwork(id: string): Promise<EngineNetwork | undefined> {
    return this.json<EngineNetwork>('GET', `/networks/${encodeURIComponent(id)}`);
  }

  inspectContainer(id: string): Promise<EngineContainer | undefined> {
    return this.json<EngineContainer>('GET', `/containers/${encodeURIComponent(id)}/json`);
  }

  async listContainersWithLabel(key: string, timeoutMs?: number): Promise<EngineContainerSummary[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [key] }));
    return (
      (await this.json<EngineContainerSummary[]>('GET', `/containers/json?all=1&filters=${filters}`, timeoutMs)) ?? []
    );
  }

  async removeNetwork(id: string): Promise<void> {
    await this.request('DELETE', `/networks/${encodeURIComponent(id)}`, true);
  }

  streamEvents(
    filters: Readonly<Record<string, readonly string[]>>,
    onEvent: (e: EngineEvent) => void,
    signal: AbortSignal,
    onError: (err: unknown, line: string) => void,
  ): Promise<void> {
    const path = `/events?filters=${encodeURIComponent(JSON.stringify(filters))}`;
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path, method: 'GET', signal }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new DovesnapError(ErrorCode.Engine, `docker events answered ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line === '') continue;
            let event: EngineEvent;
            try {
              event = JSON.parse(line) as EngineEvent;
            } catch (err) {
              onError(err, line);
              continue;
            }
            try {
              onEvent(event);
            } catch (err) {
              onError(err, line);
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      });
      req.on('error', (err) =>
        signal.aborted
          ? resolve()
          : reject(new DovesnapError(ErrorCode.Engine, `docker events: ${err.message}`, { cause: err })),
      );
      req.end();
    });
  }

  private async json<T>(method: string, path: string, timeoutMs?: number): Promise<T | undefined> {
    const { status, body } = await this.request(method, path, true, timeoutMs);
    if (status === 404) return undefined;
    return JSON.parse(body) as T;
  }

  private request(method: string, path: string, allow404 = false, timeoutMs = this.timeoutMs): Promise<EngineReply> {
    return engineRequest(this.socketPath, method, path, { accept: allow404 ? [404] : [], timeoutMs });
  }
}
