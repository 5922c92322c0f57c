import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import type { DhcpSupervisor } from '../dhcp/supervisor.js';
import type { DhcpLease, DhcpReport } from '../dhcp/lease.js';
import { leaseRefusal } from '../dhcp/lease-policy.js';
import { onLink, type ReleaseRequest } from '../dhcp/release.js';
import type { Engine } from '../engine/client.js';
import type { EndpointRecord, StateStore } from './state.js';

/**
 * The DHCP clients of the containers on `ovs.bridge.dhcp=true` networks, as owned resources
 * of their endpoints: started once Docker has put the container's interface in place (and
 * dovesnap has given it the MAC it keeps), adopted after a daemon restart, stopped and their
 * leases released when the container leaves, collected when their endpoint is gone. The
 * process side (udhcpc, restarts, reports) is the supervisor's.
 */

export interface DhcpHostOps {
  /** The container's interface inside its namespace once Docker has finished with it (see links.ts). */
  settledPeerInNetns(hostIf: string, netns: string): Promise<{ readonly ifname: string } | undefined>;
  linkExists(name: string): Promise<boolean>;
  release(req: ReleaseRequest): Promise<void>;
  /** Waits until the namespace knows (or gave up on) the MAC of `ip`: see links.ts waitNeighbourSettled. */
  waitNeighbourSettled(netns: string, ifname: string, ip: string, timeoutMs: number): Promise<boolean>;
}

export interface DhcpClientsDeps {
  readonly supervisor: DhcpSupervisor;
  readonly state: StateStore;
  readonly host: DhcpHostOps;
  readonly engine: Pick<Engine, 'inspectContainer'>;
  readonly logger: Logger;
  /** How long to wait for Docker to finish putting the interface into the container. */
  readonly settleMs?: number;
  /** A container's leased address changed (`EndpointRecord.leasedIpv4`): anti-spoofing ACLs pin it. */
  readonly onLeaseChanged?: (endpointId: string) => void;
}

/** A container's DHCP state as the status API shows it. */
export interface DhcpStatus {
  /** bound: has a lease; requesting: asking; no lease: asked and got none (see Reason); not running: the client is being restarted. */
  readonly State: 'bound' | 'requesting' | 'no lease' | 'not running';
  readonly Reason: string | null;
  readonly Address: string | null;
  readonly PrefixLength: number | null;
  readonly Router: string | null;
  readonly Dns: readonly string[];
  readonly Domain: string | null;
  /** The DHCP server's address (option 54). */
  readonly Server: string | null;
  readonly LeaseSeconds: number | null;
  /** When the lease was obtained or last renewed (ISO 8601). */
  readonly LeasedAt: string | null;
  readonly ExpiresAt: string | null;
  readonly ClientPid: number | null;
  readonly Restarts: number;
  /** Whether the lease's DNS servers were written to the container's resolv.conf, or why not. */
  readonly ResolvConf: string;
}

interface ResolvTarget {
  readonly path: string | undefined;
  /** Why the lease's DNS settings are not written (the user gave --dns, Docker has no file). */
  readonly skip: string | undefined;
  applied: string | undefined;
}

const SETTLE_POLL_MS = 100;

/** resolv.conf for a lease: its name servers and domain; Docker's `options` lines are kept. */
export function resolvConfFor(lease: DhcpLease, ifname: string, dockers: string): string {
  const options = dockers.split('\n').filter((l) => /^\s*options\s/.test(l));
  return [
    `# written by dovesnap from the DHCP lease of ${ifname} (server ${lease.serverId ?? 'unknown'})`,
    ...(lease.domain === undefined ? [] : [`search ${lease.domain}`]),
    ...lease.dns.map((d) => `nameserver ${d}`),
    ...options,
    '',
  ].join('\n');
}

export class DhcpClients {
  private readonly log: Logger;
  private readonly resolv = new Map<string, ResolvTarget>();
  private readonly ifnames = new Map<string, string>();
  /** The last lease refused, per endpoint, until one is taken: the client is ended and restarted meanwhile. */
  private readonly refusals = new Map<string, string>();

  constructor(private readonly deps: DhcpClientsDeps) {
    this.log = deps.logger.child({ component: 'dhcp' });
  }

  /**
   * Whether the endpoint belongs to a DHCP network, and is not a capture port: FAUCET drops what
   * a capture port sends (label dovesnap.faucet.capture), so its client could only retry for ever.
   */
  wants(ep: EndpointRecord): boolean {
    return this.deps.state.network(ep.networkId)?.options.dhcp === true && ep.labels?.capture !== true;
  }

  /** Why the endpoint's network does not take this lease (its dhcp_server, dhcp_subnet); undefined: it does. */
  private refusal(ep: EndpointRecord, lease: DhcpLease): string | undefined {
    const o = this.deps.state.network(ep.networkId)?.options;
    return o === undefined ? undefined : leaseRefusal(lease, { servers: o.dhcpServers, subnet: o.dhcpSubnet });
  }

  /**
   * Starts (or adopts) the endpoint's client. Needs the container (its name is the host name
   * sent, its MAC is settled by then) and its sandbox. Idempotent.
   */
  async start(endpointId: string): Promise<void> {
    const ep = this.deps.state.endpoint(endpointId);
    if (ep === undefined || !this.wants(ep) || ep.sandboxKey === undefined || ep.container === undefined) return;
    const sandbox = ep.sandboxKey;
    const deadline = Date.now() + (this.deps.settleMs ?? 10_000);
    let inside: { readonly ifname: string } | undefined;
    for (;;) {
      inside = await this.deps.host.settledPeerInNetns(ep.hostIf, sandbox).catch(() => undefined);
      if (inside !== undefined || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
    }
    // Left while we waited: nothing to start.
    const now = this.deps.state.endpoint(endpointId);
    if (now === undefined || now.sandboxKey !== sandbox) return;
    if (inside === undefined) {
      this.log.error(
        { endpoint: endpointId, port: ep.hostIf, sandbox },
        'the container interface never appeared in its namespace: no DHCP client',
      );
      return;
    }
    this.ifnames.set(endpointId, inside.ifname);
    const hostIf = ep.hostIf;
    this.deps.supervisor.ensure({
      endpointId,
      netns: sandbox,
      ifname: inside.ifname,
      // The interface is the host veth's peer, whatever the container (or a lab) renames it to.
      resolveIfname: async () =>
        (await this.deps.host.settledPeerInNetns(hostIf, sandbox).catch(() => undefined))?.ifname,
      hostname: ep.container.name,
    });
    if (!this.resolv.has(endpointId)) this.resolv.set(endpointId, await this.resolvTarget(ep.container.id));
    const report = this.deps.supervisor.status(endpointId).report;
    if (report !== undefined) await this.reported(endpointId, report);
  }

  /** The interface's name now as the client knows it (it follows renames), else the name it was started on. */
  private ifnameOf(endpointId: string): string | undefined {
    return this.deps.supervisor.ifnameOf(endpointId) ?? this.ifnames.get(endpointId);
  }

  private async resolvTarget(containerId: string): Promise<ResolvTarget> {
    try {
      const c = await this.deps.engine.inspectContainer(containerId);
      if ((c?.HostConfig?.Dns?.length ?? 0) > 0)
        return { path: undefined, skip: 'the container was given --dns', applied: undefined };
      if (c?.ResolvConfPath === undefined || c.ResolvConfPath === '')
        return { path: undefined, skip: 'Docker keeps no resolv.conf for this container', applied: undefined };
      return { path: c.ResolvConfPath, skip: undefined, applied: undefined };
    } catch (err) {
      return {
        path: undefined,
        skip: `Docker did not say where its resolv.conf is: ${errorMessage(err)}`,
        applied: undefined,
      };
    }
  }

  /**
   * A new report from a client: logs it, and writes the lease's DNS servers into the
   * container's resolv.conf. Docker's copy on the host is bind-mounted into the container, so
   * it is written in place (same inode), from the host, without entering the container.
   */
  async reported(endpointId: string, report: DhcpReport): Promise<void> {
    const ep = this.deps.state.endpoint(endpointId);
    if (ep === undefined) return;
    const offered = report.lease;
    this.log.info(
      {
        endpoint: endpointId,
        container: ep.container?.name,
        event: report.event,
        address: offered?.address,
        server: offered?.serverId,
        message: report.message,
      },
      'DHCP client event',
    );
    const refused = offered === undefined ? undefined : this.refusal(ep, offered);
    if (refused !== undefined) {
      // Not pinned, not written into resolv.conf; the client gives it back and asks again.
      this.log.warn(
        {
          endpoint: endpointId,
          container: ep.container?.name,
          address: offered?.address,
          server: offered?.serverId,
          why: refused,
        },
        'DHCP lease refused; the client asks again',
      );
      this.refusals.set(endpointId, refused);
      this.deps.supervisor.askAgain(endpointId);
    }
    const lease = refused === undefined ? offered : undefined;
    if (lease !== undefined) this.refusals.delete(endpointId);
    if (ep.leasedIpv4 !== lease?.address) {
      this.deps.state.updateEndpoint(endpointId, { leasedIpv4: lease?.address });
      this.deps.onLeaseChanged?.(endpointId);
    }
    const target = this.resolv.get(endpointId);
    if (lease === undefined || lease.dns.length === 0 || target?.path === undefined) return;
    try {
      const dockers = await readFile(target.path, 'utf8');
      const wanted = resolvConfFor(lease, this.ifnameOf(endpointId) ?? 'eth0', dockers);
      if (dockers !== wanted) await writeFile(target.path, wanted);
      target.applied = `${lease.dns.join(', ')}${lease.domain === undefined ? '' : ` (search ${lease.domain})`}`;
    } catch (err) {
      this.log.warn(
        { endpoint: endpointId, path: target.path, err: errorMessage(err) },
        'could not write the lease DNS servers into resolv.conf',
      );
    }
  }

  /**
   * Stops the endpoint's client, which releases its lease on the way out (`udhcpc -R`) while
   * the interface is still in the container. With `release`, a lease the client could not give
   * back itself, because Docker had already moved the interface back to the host (engines
   * differ in the order of Leave and that move), is released from the host through it.
   */
  async stop(ep: EndpointRecord, why: string, release: boolean): Promise<void> {
    this.resolv.delete(ep.id);
    this.refusals.delete(ep.id);
    const ifname = this.ifnameOf(ep.id);
    this.ifnames.delete(ep.id);
    const last = await this.deps.supervisor.stop(ep.id);
    if (last === undefined) return;
    const lease = last.lease;
    if (!release || lease === undefined) {
      this.log.info({ endpoint: ep.id, why }, 'DHCP client stopped');
      return;
    }
    // The client's DHCPRELEASE is unicast: if the server's MAC was not known yet, it waits in the
    // container's kernel for the ARP reply, and Docker removes the interface as soon as Leave
    // returns. Wait for that reply (seen: a container connected to the network, disconnected
    // before it had talked to the server, released nothing).
    const nextHop =
      lease.serverId === undefined ? undefined : onLink(lease, lease.serverId) ? lease.serverId : lease.router;
    const waitStarted = Date.now();
    let arp: string | undefined;
    if (ep.sandboxKey !== undefined && ifname !== undefined && nextHop !== undefined) {
      arp = (await this.deps.host.waitNeighbourSettled(ep.sandboxKey, ifname, nextHop, 2000).catch(() => false))
        ? `settled after ${Date.now() - waitStarted} ms`
        : 'not settled';
    }
    if (!(await this.deps.host.linkExists(ep.containerIf))) {
      // Still in the container (Docker 20.10 calls Leave first): the client released it on its way out.
      this.log.info(
        { endpoint: ep.id, why, address: lease.address, arp },
        'DHCP client stopped; it released its lease from the container',
      );
      return;
    }
    try {
      await this.deps.host.release({ link: ep.containerIf, mac: ep.mac, lease });
      this.log.info(
        { endpoint: ep.id, why, address: lease.address, server: lease.serverId },
        'DHCP client stopped and lease released',
      );
    } catch (err) {
      this.log.warn(
        { endpoint: ep.id, why, address: lease.address, err: errorMessage(err) },
        'DHCP lease not released; it runs out on its own',
      );
    }
  }

  /** Clients whose endpoint is gone (removed while the daemon was down): stopped. */
  async collect(): Promise<string[]> {
    const gone: string[] = [];
    for (const id of this.deps.supervisor.onDisk()) {
      const ep = this.deps.state.endpoint(id);
      if (ep !== undefined && this.wants(ep) && ep.sandboxKey !== undefined) continue;
      await this.deps.supervisor.stop(id);
      gone.push(id);
    }
    if (gone.length > 0) this.log.warn({ endpoints: gone }, 'stopped DHCP clients of endpoints that no longer exist');
    return gone;
  }

  status(ep: EndpointRecord): DhcpStatus | undefined {
    if (!this.wants(ep)) return undefined;
    const s = this.deps.supervisor.status(ep.id);
    const offered = s.report?.lease;
    const refusedNow = offered === undefined ? undefined : this.refusal(ep, offered);
    const lease = refusedNow === undefined ? offered : undefined;
    const refused = lease === undefined ? (refusedNow ?? this.refusals.get(ep.id)) : undefined;
    const target = this.resolv.get(ep.id);
    let state: DhcpStatus['State'];
    let reason: string | null = null;
    if (ep.sandboxKey === undefined) {
      state = 'not running';
      reason = 'the container is not running';
    } else if (refused !== undefined) {
      // Its client is ended on purpose and started again with backoff: the refusal is the news.
      state = 'no lease';
      reason = `${refused}; refused, asking again`;
    } else if (s.pid === undefined) {
      state = 'not running';
      reason = this.deps.supervisor.watches(ep.id)
        ? `the DHCP client is not running; it is started again with backoff (restarts so far: ${s.restarts})`
        : 'the DHCP client has not been started yet';
    } else if (lease !== undefined) {
      state = 'bound';
    } else if (s.report?.event === 'nak') {
      state = 'no lease';
      reason = `the server refused the request (DHCPNAK${s.report.message === undefined ? '' : `: ${s.report.message}`}); asking again`;
    } else if (s.report?.event === 'leasefail') {
      state = 'no lease';
      reason = 'no DHCP server answered (no offer); asking again every few seconds';
    } else {
      state = 'requesting';
      reason = 'asking for a lease';
    }
    const leasedAt = lease !== undefined ? s.reportAt : undefined;
    return {
      State: state,
      Reason: reason,
      Address: lease?.address ?? null,
      PrefixLength: lease?.prefixLength ?? null,
      Router: lease?.router ?? null,
      Dns: lease?.dns ?? [],
      Domain: lease?.domain ?? null,
      Server: lease?.serverId ?? null,
      LeaseSeconds: lease?.leaseSeconds ?? null,
      LeasedAt: leasedAt?.toISOString() ?? null,
      ExpiresAt:
        leasedAt !== undefined && lease?.leaseSeconds !== undefined
          ? new Date(leasedAt.getTime() + lease.leaseSeconds * 1000).toISOString()
          : null,
      ClientPid: s.pid ?? null,
      Restarts: s.restarts,
      ResolvConf:
        target === undefined
          ? 'not applied: no lease yet'
          : target.skip !== undefined
            ? `not applied: ${target.skip}`
            : target.applied !== undefined
              ? `applied: ${target.applied}`
              : lease !== undefined && lease.dns.length === 0
                ? 'not applied: the lease offers no DNS servers'
                : 'not applied: no lease yet',
    };
  }
}
