import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { DEFAULT_STATUS_ALLOW, parseAllowList, type AllowList } from '../config/status-allow.js';
import { hostCheck, type HostCheck } from './host-check.js';
import { HttpApp } from '../util/http.js';
import type { Logger } from '../util/log.js';
import { formatDpid } from '../model/options.js';
import type { EndpointRecord, StateStore } from '../driver/state.js';
import type { DhcpStatus } from '../driver/dhcp-clients.js';
import { ExtId, HostPortKind } from '../driver/persist.js';
import type { LiveFeed } from './live.js';
import type {
  ContainerStatus,
  Health,
  HostPortStatus,
  HostStatus,
  NetworkStatus,
  NetworksStatus,
} from './documents.js';

const HOST_PORT_EXT_ID = ExtId.hostPort;
const NETWORK_EXT_ID = ExtId.networkId;

/** The status API's server; the documents it serves are in ./documents.ts. */

/** A ready port (driver/port-pool.ts): counted in ReadyPorts, not listed in HostPorts. */
const READY_KIND = 'ready';

/** How the status API names each kind of host port dovesnap marks (HostPortKind). */
const HOST_PORT_KINDS: Readonly<Record<(typeof HostPortKind)[keyof typeof HostPortKind], string>> = {
  [HostPortKind.added]: 'added',
  [HostPortKind.copro]: 'coprocessor',
  [HostPortKind.mirror]: 'mirror link',
  [HostPortKind.stack]: 'stack link',
  [HostPortKind.loopback]: 'loopback link',
};

function hostPortKindName(kind: string): string {
  return Object.hasOwn(HOST_PORT_KINDS, kind) ? HOST_PORT_KINDS[kind as keyof typeof HOST_PORT_KINDS] : kind;
}

/**
 * The bridge's ports other than containers', from OVSDB rows: dovesnap marks the ports it
 * adds (external_ids dovesnap-network-id and dovesnap-host-port); an unmarked port was added by hand.
 */
export function hostPortsStatus(
  bridgeName: string,
  ports: readonly {
    readonly name: string;
    readonly ofport: number | undefined;
    readonly externalIds: Readonly<Record<string, string>>;
  }[],
): HostPortStatus[] {
  const out: HostPortStatus[] = [];
  for (const p of ports) {
    if (p.name === bridgeName) continue;
    const kind = p.externalIds[HOST_PORT_EXT_ID];
    const marked = p.externalIds[NETWORK_EXT_ID] !== undefined;
    if (marked && (p.externalIds[ExtId.readyPort] ?? '') !== '' && (p.externalIds[ExtId.endpointId] ?? '') === '') {
      out.push({ Interface: p.name, OFPort: p.ofport ?? null, Kind: READY_KIND });
      continue;
    }
    if (marked && kind === undefined) continue; // a container's port
    const attached = p.externalIds[ExtId.attachContainer];
    const unmarkedKind = attached === undefined ? 'hand-added' : `attached to ${attached}`;
    out.push({
      Interface: p.name,
      OFPort: p.ofport ?? null,
      Kind: marked ? hostPortKindName(kind ?? HostPortKind.added) : unmarkedKind,
    });
  }
  return out.sort((a, b) => (a.OFPort ?? 0) - (b.OFPort ?? 0));
}

function stripMask(cidr: string | undefined): string {
  return cidr === undefined ? '' : (cidr.split('/')[0] ?? '');
}

/** The DHCP state of an endpoint, for endpoints of DHCP networks. */
export type DhcpStatusOf = (ep: EndpointRecord) => DhcpStatus | undefined;

export function networksStatus(
  state: StateStore,
  dhcp: DhcpStatusOf = () => undefined,
  hostPorts: ReadonlyMap<string, readonly HostPortStatus[]> = new Map(),
): NetworksStatus {
  const out: Record<string, NetworkStatus> = {};
  for (const n of state.allNetworks()) {
    const containers: Record<string, ContainerStatus> = {};
    for (const e of state.endpointsOf(n.id)) {
      const key = e.container?.id ?? e.id;
      const leased = dhcp(e);
      containers[key] = {
        Name: e.container?.name ?? '',
        Id: e.container?.id ?? '',
        EndpointID: e.id,
        MacAddress: e.mac,
        // On a DHCP network Docker assigns nothing: the address is the lease's.
        HostIP: stripMask(e.ipv4) || (leased?.Address ?? ''),
        OFPort: e.ofport ?? null,
        Interface: e.hostIf,
        Labels: e.container?.labels ?? {},
        // A capture port has no input ACL: FAUCET takes nothing in from it.
        PortACLs:
          e.labels?.capture === true
            ? []
            : e.labels?.portAcls.length
              ? e.labels.portAcls
              : n.options.defaultAcl
                ? [n.options.defaultAcl]
                : [],
        Mirrored: e.labels?.mirror === true && e.blockedReason === undefined,
        Capture: e.labels?.capture === true && e.blockedReason === undefined,
        Blocked: e.blockedReason ?? null,
        Ports:
          n.options.mode === 'flat' || e.sandboxKey === undefined
            ? []
            : e.published.map((p) => ({
                Protocol: p.protocol,
                HostIP: p.hostIp,
                HostPort: p.hostPort,
                ContainerPort: p.containerPort,
              })),
        Dhcp: leased ?? null,
      };
    }
    out[n.id] = {
      NetworkID: n.id,
      NetworkName: n.name ?? '',
      BridgeName: n.bridgeName,
      BridgeDpid: formatDpid(n.options.dpid),
      BridgeVLAN: n.options.vlan,
      Mode: n.options.mode,
      MTU: n.options.mtu ?? null,
      Userspace: n.datapathType === 'netdev',
      Controllers: n.controllers,
      Options: n.rawOptions,
      OvsLocalMac: n.options.ovsLocalMac ?? null,
      LbPort: n.options.lbport,
      MirrorTunnelVid: n.options.mirrorTunnelVid,
      PreallocatedPorts: n.options.preallocatePorts,
      HostPorts: (hostPorts.get(n.id) ?? []).filter((p) => p.Kind !== READY_KIND),
      ReadyPorts: (hostPorts.get(n.id) ?? []).filter((p) => p.Kind === READY_KIND).length,
      HostRoutes: n.options.hostRoutes.map((r) => ({ Prefix: r.prefix, Via: r.via })),
      Containers: containers,
    };
  }
  return out;
}

export interface StatusAppOptions {
  readonly state: StateStore;
  readonly logger: Logger;
  readonly health: () => Health;
  readonly host?: () => HostStatus | Promise<HostStatus>;
  readonly dhcp?: DhcpStatusOf;
  readonly metrics?: Registry;
  readonly allow?: AllowList;
  /** Which Host headers are served (default: those of a server on 127.0.0.1). */
  readonly hosts?: HostCheck;
  readonly hostPorts?: () => Promise<ReadonlyMap<string, readonly HostPortStatus[]>>;
  /** The live view's feed: serves the page at `/` and its events. */
  readonly live?: LiveFeed;
}

const LIVE_PAGE = new URL('../../../web/live.html', import.meta.url);
/** How often an idle event stream carries a comment, so that proxies do not close it. */
const KEEPALIVE_MS = 15_000;

export function buildStatusApp(opts: StatusAppOptions): HttpApp {
  const { state, logger, health, dhcp = () => undefined, metrics, live } = opts;
  const host = opts.host ?? (() => ({ MirrorBridge: null, Stack: null }));
  const allow = opts.allow ?? parseAllowList(DEFAULT_STATUS_ALLOW);
  const hosts = opts.hosts ?? hostCheck({ listenHost: '127.0.0.1' });
  const hostPorts = opts.hostPorts ?? (async () => new Map());
  const log = logger.child({ component: 'status-api' });
  const app = new HttpApp(log);
  // The connection's own peer, never a header the client wrote; a real status code, not 200.
  app.guard((req) => {
    const peer = req.remoteAddress;
    if (!allow.allows(peer)) {
      log.warn({ peer, url: req.path }, 'status API request refused: peer not in DOVESNAP_STATUS_ALLOW');
      return {
        status: 403,
        body: {
          error: 'Forbidden',
          message: `${peer ?? 'this address'} is not allowed to read the dovesnap status API (DOVESNAP_STATUS_ALLOW: ${allow.text})`,
        },
      };
    }
    // A browser's request under a name that is not this server's (DNS rebinding; status/host-check.ts).
    const host = req.headers.host;
    if (hosts.allows(host)) return undefined;
    const shown = host === undefined ? 'no Host header' : `Host ${JSON.stringify(host.slice(0, 100))}`;
    log.warn(
      { peer, host: host?.slice(0, 100), url: req.path },
      'status API request refused: Host is not a name of this server (DOVESNAP_STATUS_HOSTS)',
    );
    return {
      status: 421,
      body: `421 Misdirected Request: ${shown} is not a name of this dovesnap status API; it answers to localhost, loopback, the address it listens on, and the names in DOVESNAP_STATUS_HOSTS\n`,
    };
  });
  app.get('/networks', async () => ({ body: networksStatus(state, dhcp, await hostPorts().catch(() => new Map())) }));
  if (metrics !== undefined) {
    app.get('/metrics', async () => ({
      headers: { 'content-type': metrics.contentType },
      body: await metrics.metrics(),
    }));
  }
  app.get('/host', async () => ({ body: await host() }));
  app.get('/healthz', () => {
    const h = health();
    return { status: h.status === 'ok' ? 200 : 503, body: { ok: h.status === 'ok', ...h } };
  });
  if (live !== undefined) addLiveRoutes(app, live);
  return app;
}

/** `/` (the page), `/live/events` (server-sent events), `/live/snapshot` and `/live/traffic` (JSON). */
function addLiveRoutes(app: HttpApp, live: LiveFeed): void {
  let page: Buffer | undefined;
  const streams = new Set<ServerResponse>();
  app.get('/', async () => {
    page ??= await readFile(LIVE_PAGE);
    return { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }, body: page };
  });
  // Browsers ask for it; a 404 would show as an error in the page's console.
  app.get('/favicon.ico', () => ({ status: 204 }));
  app.get('/live/snapshot', async () => ({ body: await live.snapshot() }));
  app.get('/live/traffic', async () => ({ body: await live.traffic() }));
  app.stream('/live/events', (req, res) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    streams.add(res);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    const remove = live.add((event, data) => {
      res.write(`event: ${event}\ndata: ${data}\n\n`);
    });
    req.on('close', () => {
      clearInterval(keepalive);
      remove();
      streams.delete(res);
    });
  });
  // Open streams would keep close() waiting for ever.
  app.onClose(() => {
    live.close();
    for (const res of streams) res.end();
    streams.clear();
  });
}
