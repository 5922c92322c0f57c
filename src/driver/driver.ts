import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { KeyedMutex } from '../util/mutex.js';
import { formatDpid, parseNetworkOptions } from '../model/options.js';
import { HOST_VETH_PREFIX, randomMac, vethNamesFor } from '../net/links.js';
import { applyCreateEndpoint, type EndpointApplyDeps } from './endpoint-apply.js';
import {
  createEndpointResponse,
  endpointMac,
  freePortNumber,
  noFreePortNumber,
  planCreateEndpoint,
  planJoin,
  planLeave,
  planRemoveEndpoint,
  type EndpointFacts,
} from './endpoint-plan.js';
import type { VSwitch } from '../ovs/vswitch.js';
import type {
  CreateEndpointRequest,
  CreateEndpointResponse,
  CreateNetworkRequest,
  EndpointOperInfoResponse,
  EndpointRequest,
  JoinRequest,
  JoinResponse,
  NetworkDriver,
  NetworkRequest,
} from '../model/plugin-protocol.js';
import { portBindingsFrom } from '../model/plugin-protocol.js';
import type { HostNet } from './host.js';
import { ExtId, portExternalIds } from './persist.js';
import type { NetworkRecord, StateStore } from './state.js';
import { ipv4Of, type NatView } from './nat-view.js';
import type { ListeningSocket } from '../net/listeners.js';
import type { EndpointRecord, PublishedPort } from './state.js';
import { allocateHostPorts, type TakenPort } from './port-mappings.js';
import { publishPaths, sameAddress } from '../net/publish-paths.js';
import { failpoint } from '../util/failpoints.js';
import { policyHolder, POLICY_LABELS, type LabelledContainer } from './early-open.js';
import { PortPool, READY_HOST_PREFIX, readyLinksOf } from './port-pool.js';
import type { FaucetView } from './faucet-api.js';
import { checkNetwork, dhcpProblem, stringOptions, unsupportedOption } from './network-checks.js';
import { planNetwork, type NetworkDefaults, type NetworkPlan } from './network-plan.js';
import { derivedDpid } from './dp-naming.js';

/** Also used by the narwhal driver. */
export { stringOptions };

export interface DriverSettings extends NetworkDefaults {
  readonly ofportTimeoutMs: number;
}

export interface DriverDeps {
  readonly vswitch: VSwitch;
  readonly host: HostNet;
  readonly state: StateStore;
  readonly faucet: FaucetView;
  readonly nat: NatView;
  readonly settings: DriverSettings;
  readonly logger: Logger;
  readonly random?: (n: number) => Uint8Array;
  /** DHCP clients of `ovs.bridge.dhcp` networks (absent: such networks get no client). */
  readonly dhcp?: DhcpLifecycle;
  /**
   * Containers Docker knows that carry a label (any state). Absent: ports are never opened at
   * CreateEndpoint (driver/early-open.ts).
   */
  readonly labelledContainers?: (key: string) => Promise<readonly LabelledContainer[]>;
  /** Most ready ports per network (driver/port-pool.ts); absent or 0: none. */
  readonly readyPorts?: number;
  /** How long after FAUCET went idle new ready ports are announced (default 1 s; tests use 0). */
  readonly readyPortsSettleMs?: number;
}

/** What the collector removed: host veths, OVS ports, and DOCKER-USER rule tags (network id prefixes). */
export interface Leftovers {
  readonly links: string[];
  readonly ports: string[];
  readonly forwardingTags: string[];
}

/** What the driver does to a container's DHCP client when the container leaves. */
export interface DhcpLifecycle {
  wants(ep: EndpointRecord): boolean;
  stop(ep: EndpointRecord, why: string, release: boolean): Promise<void>;
}

export class Driver implements NetworkDriver {
  private readonly lock = new KeyedMutex();
  /** Host ends of veths being made right now: not garbage, though not yet recorded. */
  private readonly creating = new Set<string>();
  private readonly random: (n: number) => Uint8Array;
  private readonly log: Logger;

  /** Ready ports, for networks that keep them (driver/port-pool.ts). */
  readonly pool: PortPool | undefined;
  /** What CreateEndpoint's plans are carried out with (driver/endpoint-apply.ts). */
  private readonly applyDeps: EndpointApplyDeps;

  constructor(private readonly deps: DriverDeps) {
    this.random = deps.random ?? ((n) => randomBytes(n));
    this.log = deps.logger.child({ component: 'driver' });
    this.applyDeps = {
      vswitch: deps.vswitch,
      host: deps.host,
      state: deps.state,
      log: this.log,
      ofportTimeoutMs: deps.settings.ofportTimeoutMs,
      creating: this.creating,
      openedEarly: (id) => deps.faucet.openedEarly?.(id),
    };
    const ceiling = deps.readyPorts ?? 0;
    this.pool =
      ceiling > 0 && deps.labelledContainers !== undefined && deps.faucet.runsReady !== undefined
        ? new PortPool({
            vswitch: deps.vswitch,
            host: deps.host,
            logger: deps.logger,
            random: this.random,
            ceiling,
            underLock: (net, work) => this.lock.run(`net:${net.id}`, work),
            // Not a spare's number: FAUCET programs a spare's port on its ADD, which costs it a
            // rebuild of the VLAN's flooding per port (seconds at 500), and the spares then move
            // (a reload); seen at N = 500 when a top-up's ports landed on 50 spares.
            freeOfport: (net) => this.freeOfport(net, deps.faucet.spareNumbers?.(net.id) ?? []),
            endpointCount: (id) => deps.state.endpointsOf(id).length,
            network: (id) => deps.state.network(id),
            programmed: (id, port) => deps.faucet.runsReady?.(id, port) === true,
            requestSync: (reason) => this.requestSync(reason),
            faucetIdle: () => deps.faucet.idle?.() ?? Promise.resolve(),
            ofportTimeoutMs: deps.settings.ofportTimeoutMs,
            ...(deps.readyPortsSettleMs === undefined ? {} : { settleMs: deps.readyPortsSettleMs }),
          })
        : undefined;
    if (this.pool !== undefined) {
      const pool = this.pool;
      // A network gets its ready ports once it has a name (FAUCET's DP needs one), and more as they are taken.
      deps.state.subscribe((change) => {
        const net =
          change.kind === 'network'
            ? change.record
            : change.record?.pooled === true
              ? deps.state.network(change.networkId)
              : undefined;
        if (net !== undefined && net.name !== undefined) pool.replenish(net);
      });
    }
  }

  async createNetwork(req: CreateNetworkRequest): Promise<void> {
    const { state, settings } = this.deps;
    const rawOptions = stringOptions(req.Options['com.docker.network.generic']);
    // Several hosts sharing one FAUCET: a network without ovs.bridge.dpid gets one from the host and its ID.
    const dpHost = settings.dpHost;
    const options = parseNetworkOptions(
      rawOptions,
      dpHost === undefined ? undefined : derivedDpid(dpHost, req.NetworkID),
    );
    const why = unsupportedOption(options);
    if (why !== undefined) throw new DovesnapError(ErrorCode.BadOption, why);
    const dhcpWhy = dhcpProblem(options, req);
    if (dhcpWhy !== undefined) throw new DovesnapError(ErrorCode.BadOption, dhcpWhy);

    // One lock for all creates: uniqueness of DPIDs and bridge names is a property of the set.
    const created = await this.lock.run('networks', async () => {
      if (state.network(req.NetworkID) !== undefined) return undefined;
      const plan = planNetwork(req, options, rawOptions, settings);
      await checkNetwork(this.deps, plan.record, settings.hostDatapath);
      await this.applyCreateNetwork(plan);
      return plan.record;
    });
    // Before the create returns, so before Docker names the network and its DP is written.
    if (created !== undefined) await this.pool?.makeFirst(created);
  }

  /** Makes the network `plan` describes; a failure removes all of it again (the one teardown). */
  private async applyCreateNetwork(plan: NetworkPlan): Promise<void> {
    const { state, vswitch, settings } = this.deps;
    const { record, bridge, hostPorts } = plan;
    try {
      await failpoint('createNetwork.beforeBridge');
      await vswitch.ensureBridge(bridge);
      for (const p of hostPorts) await vswitch.addPort(p);
      // FAUCET's configuration lists an added port by its number: the create is done only
      // once ovs-vswitchd has numbered every one (or said why it cannot).
      for (const p of hostPorts) await vswitch.waitOfport(p.name, settings.ofportTimeoutMs);
      await failpoint('createNetwork.afterBridge');
      if (plan.gateway) await this.setUpGateway(record);
      state.putNetwork(record);
      if (plan.gateway) await failpoint('createNetwork.beforeNat');
      if (plan.gateway) await this.deps.nat.sync(`network ${record.id.slice(0, 12)} created`);
    } catch (err) {
      this.log.warn({ network: record.id, err: errorMessage(err) }, 'network creation failed; rolling back');
      await this.teardownNetwork(record, 'creation failed').catch((e: unknown) =>
        this.log.error({ network: record.id, err: errorMessage(e) }, 'rollback incomplete'),
      );
      throw err;
    }
    this.log.info(
      {
        network: record.id,
        bridge: record.bridgeName,
        dpid: formatDpid(record.options.dpid),
        datapathType: record.datapathType,
        controllers: record.controllers,
        localFaucet: record.localFaucet,
      },
      'network created',
    );
  }

  /**
   * The gateway of a nat or routed network: Docker's gateway address on the bridge's own
   * interface, IPv4 forwarding on, the network's traffic let through Docker's FORWARD
   * policy, and its host routes (`ovs.bridge.host_routes`) to the prefixes behind its
   * containers. Re-run at every start (all of it is idempotent).
   */
  async setUpGateway(n: NetworkRecord): Promise<void> {
    const ip = ipv4Of(n);
    if (n.options.mode === 'flat' || ip === undefined) return;
    await this.deps.host.configureGateway(n.bridgeName, ip.gatewayCidr, {
      disableTxOffload: n.datapathType === 'netdev',
    });
    if (await this.deps.host.enableIpv4Forwarding()) this.log.info('enabled IPv4 forwarding (net.ipv4.ip_forward=1)');
    const added = await this.deps.host.allowForwarding(n.id, n.bridgeName, n.options.mode);
    // Once the gateway address is on the bridge: each next hop is on the bridge's link then.
    for (const r of n.options.hostRoutes) await this.deps.host.replaceRoute(r.prefix, r.via, n.bridgeName);
    const hostRoutes = n.options.hostRoutes.map((r) => `${r.prefix} via ${r.via}`);
    this.log.info(
      {
        network: n.id,
        bridge: n.bridgeName,
        gateway: ip.gatewayCidr,
        mode: n.options.mode,
        dockerUserRules: added,
        ...(hostRoutes.length > 0 ? { hostRoutes } : {}),
      },
      'gateway ready',
    );
  }

  async deleteNetwork(req: NetworkRequest): Promise<void> {
    await this.removeNetwork(req.NetworkID, 'deleted');
  }

  /**
   * Removes a network and everything dovesnap made for it: Docker's DeleteNetwork, and the
   * reconciler for networks Docker deleted while dovesnap was down. Succeeds if it is gone.
   */
  async removeNetwork(networkId: string, why: string): Promise<void> {
    await this.lock.run('networks', async () => {
      const net = this.deps.state.network(networkId);
      if (net === undefined) return;
      await this.lock.run(`net:${net.id}`, () => this.teardownNetwork(net, why));
      this.log.info({ network: net.id, bridge: net.bridgeName, why }, 'network removed');
    });
  }

  /**
   * The one teardown of a network, for a delete, a failed create and a network Docker forgot:
   * container links, the bridge (with its ports), the forwarding rules, the model, the NAT
   * table and FAUCET's DP. Every step succeeds if its object is already gone, so a teardown
   * interrupted by a crash is finished by the next one. Callers hold the locks.
   */
  private async teardownNetwork(net: NetworkRecord, why: string): Promise<void> {
    const { state, vswitch, host } = this.deps;
    for (const ep of state.endpointsOf(net.id)) {
      if (this.deps.dhcp?.wants(ep) === true) await this.deps.dhcp.stop(ep, `network ${why}`, false);
      await host.deleteLink(ep.hostIf);
      state.removeEndpoint(ep.id);
    }
    // Deleting the bridge removes its ports, not the veths behind them (ready ports made while
    // DOVESNAP_READY_PORTS was on included).
    for (const name of readyLinksOf(net.id, (await vswitch.getBridge(net.bridgeName))?.ports ?? []))
      await host.deleteLink(name);
    // The kernel drops them with the bridge's interface; removed first all the same, so that
    // none outlives the network if the bridge's removal fails (or the interface lingers).
    for (const r of net.options.hostRoutes) {
      await host
        .deleteRoute(r.prefix, r.via, net.bridgeName)
        .catch((err: unknown) =>
          this.log.warn(
            { network: net.id, route: `${r.prefix} via ${r.via}`, err: errorMessage(err) },
            'host route not removed now; it goes with the bridge',
          ),
        );
    }
    await vswitch.deleteBridge(net.bridgeName);
    await failpoint('deleteNetwork.afterBridge');
    if (net.options.mode !== 'flat') await host.revokeForwarding(net.id, net.bridgeName);
    const known = state.network(net.id) !== undefined;
    state.removeNetwork(net.id);
    if (net.options.mode !== 'flat') await this.deps.nat.sync(`network ${net.id.slice(0, 12)} ${why}`);
    if (known && net.name !== undefined && net.localFaucet) this.requestSync(`network ${net.name} ${why}`);
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse> {
    const net = this.requireNetwork(req.NetworkID);
    const known = this.deps.state.endpoint(req.EndpointID);
    if (known !== undefined) return createEndpointResponse(req, known.mac);
    const mac = endpointMac(req, () => randomMac(this.random));
    const { host } = vethNamesFor(req.EndpointID);

    return this.lock.run(`net:${net.id}`, async () => {
      this.creating.add(host);
      try {
        const plan = planCreateEndpoint(
          req,
          net,
          await this.endpointFacts(net, (req.Interface.MacAddress ?? '') !== ''),
          mac,
        );
        return await applyCreateEndpoint(this.applyDeps, net, plan);
      } finally {
        this.creating.delete(host);
      }
    });
  }

  /** What CreateEndpoint decides on (driver/endpoint-plan.ts), read once under the network's lock. */
  private async endpointFacts(net: NetworkRecord, dockerMac: boolean): Promise<EndpointFacts> {
    const { vswitch, faucet } = this.deps;
    const ports = (await vswitch.getBridge(net.bridgeName))?.ports ?? [];
    const ready = this.pool?.pick(net, ports);
    const freeNumber = freePortNumber(ports, net.options, faucet.mirroredNumbers?.(net.id) ?? []);
    const spareRuns = freeNumber !== undefined && faucet.runsSpare?.(net.id, freeNumber) === true;
    // Docker is asked only where its answer can change what is done.
    const mayOpenEarly = (ready !== undefined || spareRuns) && (await this.mayOpenEarly(net));
    const readyMac = ready !== undefined && !dockerMac ? await this.deps.host.linkMac(ready.containerIf) : undefined;
    return { ready, freeNumber, spareRuns, mayOpenEarly, readyMac };
  }

  /**
   * Whether a port whose entry is the network's default may carry traffic before its container
   * is known: on a network without anti-spoofing, while no container Docker knows could be
   * joining with a label that changes its port. Any doubt (Docker slow or failing) says no.
   */
  private async mayOpenEarly(net: NetworkRecord): Promise<boolean> {
    const list = this.deps.labelledContainers;
    const name = net.name;
    if (list === undefined || name === undefined || !net.localFaucet || net.options.antispoof) return false;
    try {
      const found = (await Promise.all(POLICY_LABELS.map((key) => list(key)))).flat();
      const resolvedHere = new Set(
        this.deps.state.endpointsOf(net.id).flatMap((e) => (e.container === undefined ? [] : [e.container.id])),
      );
      const holder = policyHolder(found, { name, compose: net.compose }, resolvedHere);
      if (holder !== undefined)
        this.log.debug(
          { network: name, container: holder },
          'a container with port labels may be joining: the port opens once its entry is known',
        );
      return holder === undefined;
    } catch (err) {
      this.log.debug(
        { network: name, err: errorMessage(err) },
        'could not list labelled containers: the port opens once its entry is known',
      );
      return false;
    }
  }

  /** The lowest port number free on the bridge for a ready port (driver/endpoint-plan.ts), and not in `avoid`. */
  private async freeOfport(net: NetworkRecord, avoid: Iterable<number>): Promise<number> {
    const ports = (await this.deps.vswitch.getBridge(net.bridgeName))?.ports ?? [];
    const n = freePortNumber(ports, net.options, [...avoid, ...(this.deps.faucet.mirroredNumbers?.(net.id) ?? [])]);
    if (n === undefined) throw new DovesnapError(ErrorCode.Conflict, noFreePortNumber(net.bridgeName));
    return n;
  }

  async endpointOperInfo(req: EndpointRequest): Promise<EndpointOperInfoResponse> {
    const ep = this.deps.state.endpoint(req.EndpointID);
    const net = this.deps.state.network(req.NetworkID);
    if (ep === undefined || net === undefined) return { Value: {} };
    return { Value: { 'ovs.bridge': net.bridgeName, 'ovs.port': ep.hostIf, 'ovs.ofport': ep.ofport ?? -1 } };
  }

  async deleteEndpoint(req: EndpointRequest): Promise<void> {
    await this.removeEndpoint(req.NetworkID, req.EndpointID, 'deleted');
  }

  /**
   * Removes an endpoint's port, veth, model entry, port mappings and FAUCET interface: Docker's
   * DeleteEndpoint, and the reconciler for endpoints Docker forgot. Succeeds if already gone.
   */
  async removeEndpoint(networkId: string, endpointId: string, why: string): Promise<void> {
    const { state, vswitch, host, dhcp } = this.deps;
    const net = state.network(networkId);
    const ep = state.endpoint(endpointId);
    const plan = planRemoveEndpoint(net, ep, endpointId, ep !== undefined && dhcp?.wants(ep) === true);
    const { hostIf, bridge } = plan;
    const work = async (): Promise<void> => {
      if (plan.stopDhcp && ep !== undefined) await dhcp?.stop(ep, `endpoint ${why}`, true);
      if (bridge !== undefined) {
        await vswitch.deletePort(bridge, hostIf).catch((err: unknown) => {
          // Docker never retries a DeleteEndpoint it was refused: its endpoint would stay here
          // for good. The port, marked with this endpoint's id, is the collector's once OVSDB answers.
          this.log.warn(
            { endpoint: endpointId, port: hostIf, err: errorMessage(err) },
            'OVS port not removed now; it is collected once OVSDB answers',
          );
        });
      }
      await failpoint('deleteEndpoint.afterPort');
      await host.deleteLink(hostIf);
      state.removeEndpoint(endpointId);
    };
    if (net === undefined) await work();
    else await this.lock.run(`net:${net.id}`, work);
    this.log.info({ network: networkId, endpoint: endpointId, port: hostIf, why }, 'endpoint removed');
    if (plan.faucetSync !== undefined) this.requestSync(plan.faucetSync);
    if (plan.natSync !== undefined) await this.deps.nat.sync(plan.natSync);
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    const joinedAt = Date.now();
    const net = this.requireNetwork(req.NetworkID);
    const ep = this.deps.state.endpoint(req.EndpointID);
    if (ep === undefined)
      throw new DovesnapError(
        ErrorCode.NotFound,
        `endpoint ${req.EndpointID} is not known to dovesnap (was it created before a restart that lost it?)`,
      );
    const plan = planJoin(net, ep, portBindingsFrom(req.Options));
    if (plan.unpublishable) {
      this.log.warn(
        { endpoint: ep.id, network: net.id },
        'port mappings need ovs.bridge.mode=nat or routed: a flat network has no gateway; they are not published',
      );
    }
    let published: PublishedPort[] = [];
    if (plan.bindings.length > 0) {
      // Under one lock, so that two containers asking for the same port cannot both get it.
      published = await this.lock.run('ports', async () => {
        const listeners = this.withoutOwnProxies(await this.deps.host.listeners());
        const chosen = allocateHostPorts(plan.bindings, this.publishedPorts(ep.id), listeners);
        this.deps.state.updateEndpoint(ep.id, { published: chosen });
        return chosen;
      });
    }
    await failpoint('join.beforePersist');
    const updated = this.deps.state.updateEndpoint(ep.id, { sandboxKey: req.SandboxKey, published, joinedAt });
    if (updated !== undefined) await this.persist(updated);
    await failpoint('join.done');
    if (plan.raiseNow) await this.deps.host.setLinkUp(ep.hostIf);
    if (published.length > 0) await this.publishOrWithdraw(ep.id, ep.hostIf);
    return plan.response;
  }

  /**
   * Puts the endpoint's new mappings in place, or, when they cannot be, withdraws them before
   * Join fails: a mapping that is not there must not hold its host port, nor stay in the state
   * that every later NAT sync renders.
   */
  private async publishOrWithdraw(endpointId: string, hostIf: string): Promise<void> {
    try {
      await this.deps.nat.sync(`port mappings of ${hostIf}`);
      const unserved = this.deps.nat.unserved(endpointId);
      if (unserved.length > 0) throw new DovesnapError(ErrorCode.HostCommand, `cannot publish ${unserved.join('; ')}`);
    } catch (err) {
      const updated = this.deps.state.updateEndpoint(endpointId, { published: [] });
      if (updated !== undefined) await this.persist(updated);
      await this.deps.nat.sync(`port mappings of ${hostIf} withdrawn: ${errorMessage(err)}`).catch(() => undefined);
      throw err;
    }
  }

  /** Host ports that endpoints other than `except` publish. */
  private publishedPorts(except: string): TakenPort[] {
    const out: TakenPort[] = [];
    for (const e of this.deps.state.allEndpoints()) {
      if (e.id === except) continue;
      const owner = e.container?.name ?? `endpoint ${e.id.slice(0, 12)}`;
      for (const p of e.published) out.push({ protocol: p.protocol, hostIp: p.hostIp, port: p.hostPort, owner });
    }
    return out;
  }

  /**
   * dovesnap's own port proxies listen for the ports it publishes (on 127.0.0.1, other loopback
   * and IPv6 addresses): those sockets are not the host's services (and a port still held by an
   * endpoint's mapping is found as that mapping).
   */
  private withoutOwnProxies(listeners: readonly ListeningSocket[]): ListeningSocket[] {
    const ours: { protocol: string; address: string; port: number }[] = [];
    for (const e of this.deps.state.allEndpoints()) {
      for (const p of e.published) {
        const address = publishPaths(p.hostIp)?.proxy;
        if (address !== undefined) ours.push({ protocol: p.protocol, address, port: p.hostPort });
      }
    }
    return listeners.filter(
      (l) => !ours.some((o) => o.protocol === l.protocol && o.port === l.port && sameAddress(o.address, l.address)),
    );
  }

  async leave(req: EndpointRequest): Promise<void> {
    const { state, dhcp } = this.deps;
    const ep = state.endpoint(req.EndpointID);
    if (ep === undefined) return;
    const plan = planLeave(ep, dhcp?.wants(ep) === true);
    await failpoint('leave.start');
    // Before Docker deletes the veth (DeleteEndpoint follows), while the lease can still be released through it.
    if (plan.stopDhcp) await dhcp?.stop(ep, 'container left the network', true);
    const updated = state.updateEndpoint(ep.id, { sandboxKey: undefined });
    if (updated !== undefined) await this.persist(updated);
    if (plan.natSync !== undefined) await this.deps.nat.sync(plan.natSync);
  }

  /** Port mappings came with Join and are in place by now; this only makes sure. */
  async programExternalConnectivity(req: EndpointRequest): Promise<void> {
    const ep = this.deps.state.endpoint(req.EndpointID);
    if ((ep?.published.length ?? 0) > 0) await this.deps.nat.sync(`external connectivity of ${ep?.hostIf}`);
  }

  async revokeExternalConnectivity(req: EndpointRequest): Promise<void> {
    const ep = this.deps.state.endpoint(req.EndpointID);
    if (ep === undefined || ep.published.length === 0) return;
    const updated = this.deps.state.updateEndpoint(ep.id, { published: [] });
    if (updated !== undefined) await this.persist(updated);
    await this.deps.nat.sync(`external connectivity of ${ep.hostIf} revoked`);
  }

  /** Every change to an endpoint reaches OVSDB before Docker hears back: a restart right after must see it. */
  private async persist(e: EndpointRecord): Promise<void> {
    await this.deps.vswitch.setPortExternalIds(e.hostIf, portExternalIds(e));
  }

  /**
   * Removes what carries dovesnap's marks but belongs to nothing dovesnap knows: veth pairs
   * whose endpoint was never recorded (the daemon killed between making the pair and adding
   * its port; Docker sends no DeleteEndpoint for a failed CreateEndpoint), and DOCKER-USER
   * rules of networks that no longer exist. Run at start, before serving, and periodically.
   */
  async collectGarbage(): Promise<Leftovers> {
    const { state, host, vswitch } = this.deps;
    return this.lock.run('networks', async () => {
      // Decided against the model as it is now: an endpoint may have been recorded meanwhile.
      const unknown = (hostIf: string): boolean =>
        !this.creating.has(hostIf) && !state.allEndpoints().some((e) => e.hostIf === hostIf);
      const links: string[] = [];
      for (const name of await host.linkNames(HOST_VETH_PREFIX)) {
        if (!unknown(name)) continue;
        await host.deleteLink(name);
        links.push(name);
      }
      // Ready ports not on a known network's bridge: made when the daemon died, or their network is gone.
      const readyHere = new Set<string>();
      for (const net of state.allNetworks()) {
        for (const name of readyLinksOf(net.id, (await vswitch.getBridge(net.bridgeName))?.ports ?? []))
          readyHere.add(name);
      }
      for (const name of await host.linkNames(READY_HOST_PREFIX)) {
        if (readyHere.has(name) || !unknown(name) || this.pool?.isBeingMade(name) === true) continue;
        await host.deleteLink(name);
        links.push(name);
      }
      // Ports of endpoints removed while OVSDB was away, or of a creation rolled back then.
      const ports: string[] = [];
      for (const net of state.allNetworks()) {
        const bridge = await vswitch.getBridge(net.bridgeName);
        for (const p of bridge?.ports ?? []) {
          const id = p.externalIds[ExtId.endpointId];
          if (id === undefined || state.endpoint(id) !== undefined || !unknown(p.name)) continue;
          await vswitch.deletePort(net.bridgeName, p.name);
          ports.push(p.name);
        }
      }
      // Ready ports whose veth is gone: a top-up rolled back while OVSDB was away removed its veth
      // but could not remove its port, which would then be announced with nothing behind it. The
      // bridges are read before the links are listed: a port's veth exists before the port does,
      // so one made in between is never taken for such a port.
      const readyPorts: { bridge: string; name: string }[] = [];
      for (const net of state.allNetworks()) {
        for (const name of readyLinksOf(net.id, (await vswitch.getBridge(net.bridgeName))?.ports ?? []))
          readyPorts.push({ bridge: net.bridgeName, name });
      }
      const readyVeths = new Set(await host.linkNames(READY_HOST_PREFIX));
      for (const { bridge, name } of readyPorts) {
        if (readyVeths.has(name) || this.pool?.isBeingMade(name) === true) continue;
        await vswitch.deletePort(bridge, name);
        ports.push(name);
      }
      const tags: string[] = [];
      const networks = new Set(state.allNetworks().map((n) => n.id.slice(0, 12)));
      for (const tag of await host.forwardingTags()) {
        if (networks.has(tag)) continue;
        await host.revokeForwardingTag(tag);
        tags.push(tag);
      }
      if (links.length > 0 || ports.length > 0 || tags.length > 0)
        this.log.warn(
          { links, ports, forwardingTags: tags },
          'removed leftovers that belong to no known network or endpoint',
        );
      return { links, ports, forwardingTags: tags };
    });
  }

  private requireNetwork(id: string): NetworkRecord {
    const net = this.deps.state.network(id);
    if (net === undefined)
      throw new DovesnapError(ErrorCode.NotFound, `network ${id} is not a dovesnap network known to this daemon`);
    return net;
  }

  private requestSync(reason: string): void {
    this.deps.faucet
      .sync(reason)
      .catch((err: unknown) => this.log.error({ reason, err: errorMessage(err) }, 'FAUCET configuration not applied'));
  }
}
