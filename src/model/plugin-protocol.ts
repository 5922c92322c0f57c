import { DovesnapError, ErrorCode } from '../util/errors.js';

/**
 * Docker's remote network driver protocol (libnetwork "remote" driver): request and response
 * shapes, and the narrowing of untrusted JSON into them. Field names are Docker's.
 */

export interface IpamData {
  readonly AddressSpace?: string;
  readonly Pool?: string;
  readonly Gateway?: string;
  readonly AuxAddresses?: Readonly<Record<string, string>>;
}

export interface CreateNetworkRequest {
  readonly NetworkID: string;
  readonly Options: Readonly<Record<string, unknown>>;
  readonly IPv4Data: readonly IpamData[];
  readonly IPv6Data: readonly IpamData[];
}

export interface NetworkRequest {
  readonly NetworkID: string;
}

/**
 * A swarm manager's AllocateNetwork: the `-o` options of a swarm-scoped network, sent only to a
 * driver whose Scope is `global` (libnetwork/cnmallocator, allocateDriverState).
 */
export interface AllocateNetworkRequest {
  readonly NetworkID: string;
  readonly Options: Readonly<Record<string, string>>;
}

export interface EndpointInterface {
  readonly Address?: string;
  readonly AddressIPv6?: string;
  readonly MacAddress?: string;
}

export interface CreateEndpointRequest {
  readonly NetworkID: string;
  readonly EndpointID: string;
  readonly Interface: EndpointInterface;
  readonly Options: Readonly<Record<string, unknown>>;
}

export interface CreateEndpointResponse {
  readonly Interface?: EndpointInterface;
}

export interface EndpointRequest {
  readonly NetworkID: string;
  readonly EndpointID: string;
}

export interface JoinRequest {
  readonly NetworkID: string;
  readonly EndpointID: string;
  readonly SandboxKey: string;
  readonly Options: Readonly<Record<string, unknown>>;
}

export interface StaticRoute {
  readonly Destination: string;
  readonly RouteType: number;
  readonly NextHop?: string;
}

export interface JoinResponse {
  readonly InterfaceName: { readonly SrcName: string; readonly DstPrefix: string };
  readonly Gateway?: string;
  readonly GatewayIPv6?: string;
  readonly StaticRoutes?: readonly StaticRoute[];
  readonly DisableGatewayService?: boolean;
}

export interface EndpointOperInfoResponse {
  readonly Value: Readonly<Record<string, unknown>>;
}

/** One published port from Join's `com.docker.network.portmap` option. */
export interface PortBinding {
  readonly Proto: number;
  readonly IP: string;
  readonly Port: number;
  readonly HostIP: string;
  readonly HostPort: number;
  readonly HostPortEnd: number;
}

/** What a driver does; the HTTP layer only decodes, calls and encodes. */
export interface NetworkDriver {
  createNetwork(req: CreateNetworkRequest): Promise<void>;
  deleteNetwork(req: NetworkRequest): Promise<void>;
  createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse>;
  endpointOperInfo(req: EndpointRequest): Promise<EndpointOperInfoResponse>;
  deleteEndpoint(req: EndpointRequest): Promise<void>;
  join(req: JoinRequest): Promise<JoinResponse>;
  leave(req: EndpointRequest): Promise<void>;
  programExternalConnectivity(
    req: EndpointRequest & { readonly Options?: Readonly<Record<string, unknown>> },
  ): Promise<void>;
  revokeExternalConnectivity(req: EndpointRequest): Promise<void>;
}

type Obj = Readonly<Record<string, unknown>>;

function obj(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new DovesnapError(ErrorCode.BadRequest, `${what} must be a JSON object`);
  return v as Obj;
}

function str(o: Obj, key: string, what: string, required = true): string {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new DovesnapError(ErrorCode.BadRequest, `${what} has no ${key}`);
    return '';
  }
  if (typeof v !== 'string') throw new DovesnapError(ErrorCode.BadRequest, `${what}.${key} must be a string`);
  return v;
}

function optObj(o: Obj, key: string): Obj {
  const v = o[key];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}

function ipamList(o: Obj, key: string): IpamData[] {
  const v = o[key];
  if (!Array.isArray(v)) return [];
  return v.map((d) => {
    const e = obj(d, key);
    return {
      AddressSpace: typeof e['AddressSpace'] === 'string' ? e['AddressSpace'] : undefined,
      Pool: typeof e['Pool'] === 'string' ? e['Pool'] : undefined,
      Gateway: typeof e['Gateway'] === 'string' ? e['Gateway'] : undefined,
    } satisfies IpamData;
  });
}

export const decode = {
  createNetwork(body: unknown): CreateNetworkRequest {
    const o = obj(body, 'CreateNetwork request');
    return {
      NetworkID: str(o, 'NetworkID', 'CreateNetwork'),
      Options: optObj(o, 'Options'),
      IPv4Data: ipamList(o, 'IPv4Data'),
      IPv6Data: ipamList(o, 'IPv6Data'),
    };
  },
  allocateNetwork(body: unknown): AllocateNetworkRequest {
    const o = obj(body, 'AllocateNetwork request');
    const options: Record<string, string> = {};
    // Docker's type for these is map[string]string; anything else did not come from Docker.
    for (const [k, v] of Object.entries(optObj(o, 'Options'))) {
      if (typeof v !== 'string')
        throw new DovesnapError(ErrorCode.BadRequest, `AllocateNetwork.Options.${k} must be a string`);
      options[k] = v;
    }
    return { NetworkID: str(o, 'NetworkID', 'AllocateNetwork', false), Options: options };
  },
  network(body: unknown, what: string): NetworkRequest {
    const o = obj(body, `${what} request`);
    return { NetworkID: str(o, 'NetworkID', what) };
  },
  createEndpoint(body: unknown): CreateEndpointRequest {
    const o = obj(body, 'CreateEndpoint request');
    const i = optObj(o, 'Interface');
    return {
      NetworkID: str(o, 'NetworkID', 'CreateEndpoint'),
      EndpointID: str(o, 'EndpointID', 'CreateEndpoint'),
      Interface: {
        Address: str(i, 'Address', 'CreateEndpoint.Interface', false),
        AddressIPv6: str(i, 'AddressIPv6', 'CreateEndpoint.Interface', false),
        MacAddress: str(i, 'MacAddress', 'CreateEndpoint.Interface', false),
      },
      Options: optObj(o, 'Options'),
    };
  },
  endpoint(body: unknown, what: string): EndpointRequest {
    const o = obj(body, `${what} request`);
    return { NetworkID: str(o, 'NetworkID', what), EndpointID: str(o, 'EndpointID', what) };
  },
  join(body: unknown): JoinRequest {
    const o = obj(body, 'Join request');
    return {
      NetworkID: str(o, 'NetworkID', 'Join'),
      EndpointID: str(o, 'EndpointID', 'Join'),
      SandboxKey: str(o, 'SandboxKey', 'Join'),
      Options: optObj(o, 'Options'),
    };
  },
};

/** Port bindings from Join options; entries that are not well formed are dropped, not guessed at. */
export function portBindingsFrom(options: Readonly<Record<string, unknown>>): PortBinding[] {
  const raw = options['com.docker.network.portmap'];
  if (!Array.isArray(raw)) return [];
  const out: PortBinding[] = [];
  for (const r of raw) {
    if (typeof r !== 'object' || r === null) continue;
    const p = r as Obj;
    const num = (k: string): number => (typeof p[k] === 'number' ? (p[k] as number) : 0);
    const s = (k: string): string => (typeof p[k] === 'string' ? (p[k] as string) : '');
    if (num('Port') <= 0) continue;
    out.push({
      Proto: num('Proto'),
      IP: s('IP'),
      Port: num('Port'),
      HostIP: s('HostIP'),
      HostPort: num('HostPort'),
      HostPortEnd: num('HostPortEnd'),
    });
  }
  return out;
}
