import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { KeyedMutex } from '../util/mutex.js';
import {
  defaultBridgeName,
  formatDpid,
  Opt,
  parseNetworkOptions,
  type NetworkOptions,
  type OptionName,
} from '../model/options.js';
import { HOST_VETH_PREFIX, randomMac, vethNamesFor } from '../net/links.js';
import type { DatapathType, VSwitch } from '../ovs/vswitch.js';
import type {
  CreateEndpointRequest,
  CreateEndpointResponse,
  CreateNetworkRequest,
  EndpointOperInfoResponse,
  IpamData,
  EndpointRequest,
  JoinRequest,
  JoinResponse,
  NetworkDriver,
  NetworkRequest,
} from '../model/plugin-protocol.js';
import { portBindingsFrom } from '../model/plugin-protocol.js';
import type { HostNet } from './host.js';
import { bridgeExternalIds, ExtId, HostPortKind, portExternalIds } from './persist.js';
import { endpointRecord, type NetworkRecord, type StateStore } from './state.js';
import { ipv4Of, type NatView } from './nat-view.js';
import { ONE_WAY, type AclUsage } from './faucet-desired.js';
import type { ListeningSocket } from '../net/listeners.js';
import type { EndpointRecord, PublishedPort } from './state.js';
import { allocateHostPorts, type TakenPort } from './port-mappings.js';
import { publishPaths, sameAddress } from '../net/publish-paths.js';
import { isLocalFaucet } from '../config/settings.js';
import { failpoint } from '../util/failpoints.js';
import { policyHolder, POLICY_LABELS, type LabelledContainer } from './early-open.js';
import { heldPortNumbers, lowestFreePortNumber } from './port-numbers.js';
import { vlanSharingProblem } from './vlan-sharing.js';
import { PortPool, READY_HOST_PREFIX, readyLinksOf, type ReadyPort } from './port-pool.js';
import { hostRoutesProblem, subnetRoutedProblem, type RoutedNetwork } from './host-routes.js';

/** What the driver needs to know of FAUCET's configuration, and how it asks for a re-render. */
export interface FaucetView {
  /** DPs defined in faucet.yaml that dovesnap does not manage: name → dp_id. */
  foreignDps(): Promise<Map<string, bigint>>;
  /** Why a network may not be called `name` in FAUCET's configuration; undefined if it may. */
  dpNameConflict(name: string): Promise<string | undefined>;
  /** ACL names faucet.yaml defines. */
  definedAcls(): Promise<Set<string>>;
  /** Which ACLs faucet.yaml uses on input and on output. */
  aclUsage(): Promise<AclUsage>;
  /** The VIDs the operator's own `vlans:` entries and DPs use (core/vlan-sharing.ts). Absent: none. */
  operatorVlans?(): Promise<ReadonlySet<number>>;
  /** Re-render and apply FAUCET's config from the current state; the promise settles when FAUCET confirmed it. */
  sync(reason: string): Promise<void>;
  /**
   * Whether FAUCET runs, right now, the network's spare entry for this port number (its VLAN
   * and default ACL), on a switch it has finished starting. Absent: never.
   */
  runsSpare?(networkId: string, ofport: number): boolean;
  /** The endpoint's port was opened at CreateEndpoint on a spare entry (see core/early-open.ts). */
  openedEarly?(endpointId: string): void;
  /** Whether FAUCET runs this ready port's entry and the switch has its flows (core/port-pool.ts). Absent: never. */
  runsReady?(networkId: string, port: ReadyPort): boolean;
  /** Settles when no FAUCET reload of dovesnap's is running or queued. */
  idle?(): Promise<void>;
  /** Port numbers of the network that FAUCET runs, or was last given, in a `mirror:` list. */
  mirroredNumbers?(networkId: string): ReadonlySet<number>;
  /** The numbers of the network's spare entries in the last plan (core/faucet-plan.ts). */
  spareNumbers?(networkId: string): ReadonlySet<number>;
}

export interface DriverSettings {
  /** Controllers for networks created without ovs.bridge.controller. Empty: standalone (OVS learns). */
  readonly defaultControllers: readonly string[];
  /** OpenFlow addresses of this host's FAUCET: networks controlled by it go into faucet.yaml. */
  readonly localFaucetControllers: readonly string[];
  readonly hostDatapath: DatapathType;
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
   * CreateEndpoint (core/early-open.ts).
   */
  readonly labelledContainers?: (key: string) => Promise<readonly LabelledContainer[]>;
  /** Most ready ports per network (core/port-pool.ts); absent or 0: none. */
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

/**
 * Options this version parses and validates but does not act on yet, as a table. Creating a
 * network that sets one fails loudly rather than pretending: a user of the original must never
 * get less than they asked for without being told. (Empty now; kept for the next one.)
 */
const NOT_YET: readonly { readonly option: OptionName; readonly note?: string }[] = [];

function refused(o: NetworkOptions): string | undefined {
  const notYet = NOT_YET.find((f) => o.given.has(f.option));
  if (notYet !== undefined) return `${notYet.option} is not supported by this version yet${notYet.note ?? ''}`;
  if (o.natAcl !== undefined && o.mode === 'flat')
    return `${Opt.natAcl} needs ${Opt.mode}=nat or routed: a flat network has no gateway port`;
  return undefined;
}

/** Docker's null IPAM driver hands out one pool, 0.0.0.0/0, and no addresses. */
function isNullIpam(ipv4: readonly IpamData[]): boolean {
  return ipv4.every((d) => d.Pool === '0.0.0.0/0');
}

/**
 * A DHCP network leaves addressing to the network's own DHCP server: Docker must neither
 * assign addresses (its IPAM) nor give containers a gateway of its own (a non-internal network).
 */
export function dhcpProblem(o: NetworkOptions, req: CreateNetworkRequest): string | undefined {
  if (!o.dhcp) return undefined;
  const prefix = `invalid value "true" for option ${Opt.dhcp}`;
  if (!isNullIpam(req.IPv4Data)) {
    const pools = req.IPv4Data.map((d) => d.Pool).join(', ');
    return `${prefix}: needs --ipam-driver null, so that Docker assigns no addresses of its own (Docker's IPAM gave ${pools})`;
  }
  if (req.IPv6Data.length > 0) return `${prefix}: the DHCP client leases IPv4 only; create the network without --ipv6`;
  if (req.Options['com.docker.network.internal'] !== true)
    return `${prefix}: needs --internal, so that Docker gives the containers no gateway of its own (the DHCP server's router is their gateway)`;
  return undefined;
}

/** The `-o` options Docker passes in `com.docker.network.generic`, as strings. */
export function stringOptions(generic: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof generic !== 'object' || generic === null) return out;
  for (const [k, v] of Object.entries(generic as Record<string, unknown>)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else throw new DovesnapError(ErrorCode.BadOption, `invalid value for option ${k}: expected a string`);
  }
  return out;
}

/** The record of an endpoint Docker asks for, on the veth pair `names`. */
function newEndpointRecord(
  req: CreateEndpointRequest,
  net: NetworkRecord,
  names: { readonly host: string; readonly container: string },
  mac: string,
): EndpointRecord {
  return endpointRecord({
    id: req.EndpointID,
    networkId: net.id,
    hostIf: names.host,
    containerIf: names.container,
    mac,
    ipv4: req.Interface.Address || undefined,
    ipv6: req.Interface.AddressIPv6 || undefined,
  });
}

export class Driver implements NetworkDriver {
  private readonly lock = new KeyedMutex();
  /** Host ends of veths being made right now: not garbage, though not yet recorded. */
  private readonly creating = new Set<string>();
  private readonly random: (n: number) => Uint8Array;
  private readonly log: Logger;

  /** Ready ports, for networks that keep them (core/port-pool.ts). */
  readonly pool: PortPool | undefined;

  constructor(private readonly deps: DriverDeps) {
    this.random = deps.random ?? ((n) => randomBytes(n));
    this.log = deps.logger.child({ component: 'driver' });
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
            freeOfport: (net) => this.freeOfport(net, deps.faucet.spareNumbers?.(net.id)),
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
    const { state, vswitch, settings } = this.deps;
    const rawOptions = stringOptions(req.Options['com.docker.network.generic']);
    const options = parseNetworkOptions(rawOptions);
    const why = refused(options);
    if (why !== undefined) throw new DovesnapError(ErrorCode.BadOption, why);
    const dhcpWhy = dhcpProblem(options, req);
    if (dhcpWhy !== undefined) throw new DovesnapError(ErrorCode.BadOption, dhcpWhy);

    // One lock for all creates: uniqueness of DPIDs and bridge names is a property of the set.
    await this.lock.run('networks', async () => {
      if (state.network(req.NetworkID) !== undefined) return;
      const bridgeName = options.bridgeName ?? defaultBridgeName(req.NetworkID);
      await this.checkUnique(req.NetworkID, options, bridgeName);
      await this.checkAcls(options);

      let datapathType: DatapathType = settings.hostDatapath;
      if (options.userspace === true) datapathType = 'netdev';
      if (options.userspace === false) {
        if (settings.hostDatapath !== 'system') {
          throw new DovesnapError(
            ErrorCode.BadOption,
            `invalid value "false" for option ${Opt.userspace}: this host has no openvswitch kernel module, so only the userspace datapath works`,
          );
        }
        datapathType = 'system';
      }
      await this.checkHostInterfaces(req.NetworkID, options, bridgeName);

      const controllers = options.controllers ?? settings.defaultControllers;
      const gatewayAddress = ipv4Of({ ipv4: req.IPv4Data } as NetworkRecord);
      if (options.mode !== 'flat' && gatewayAddress === undefined) {
        throw new DovesnapError(
          ErrorCode.BadOption,
          `${Opt.mode}=${options.mode} needs an IPv4 subnet with a gateway (Docker's IPAM, e.g. --subnet 10.1.0.0/24)`,
        );
      }
      if (gatewayAddress !== undefined)
        await this.checkHostRoutes(req.NetworkID, options, rawOptions, bridgeName, gatewayAddress);
      if (options.mode !== 'flat' && gatewayAddress !== undefined) {
        const problem = subnetRoutedProblem(gatewayAddress.subnet, this.routedNetworks(req.NetworkID));
        if (problem !== undefined) throw new DovesnapError(ErrorCode.Conflict, problem);
      }
      const record: NetworkRecord = {
        id: req.NetworkID,
        name: undefined,
        options,
        rawOptions,
        bridgeName,
        datapathType,
        controllers,
        ipv4: req.IPv4Data,
        internal: req.Options['com.docker.network.internal'] === true,
        localFaucet: isLocalFaucet(controllers, settings.localFaucetControllers),
      };
      if (options.antispoof && !record.localFaucet) {
        throw new DovesnapError(
          ErrorCode.BadOption,
          `invalid value "true" for option ${Opt.antispoof}: anti-spoofing is enforced by this host's FAUCET, and the network's controllers (${controllers.join(', ') || 'none: standalone'}) do not include it`,
        );
      }
      if (record.localFaucet) await this.checkVlanSharing(options);
      try {
        await failpoint('createNetwork.beforeBridge');
        await vswitch.ensureBridge({
          name: bridgeName,
          datapathType,
          dpid: options.dpid,
          controllers,
          failMode: controllers.length > 0 ? 'secure' : 'standalone',
          mtu: options.mtu,
          localMac: options.ovsLocalMac,
          externalIds: bridgeExternalIds(record),
        });
        const hostPorts = [
          ...options.addPorts.map((p) => [p, HostPortKind.added] as const),
          ...options.addCoproPorts.map((p) => [p, HostPortKind.copro] as const),
        ];
        for (const [p, kind] of hostPorts) {
          await vswitch.addPort({
            bridge: bridgeName,
            name: p.interface,
            ofportRequest: p.ofport,
            externalIds: { [ExtId.networkId]: record.id, [ExtId.hostPort]: kind },
          });
        }
        // FAUCET's configuration lists an added port by its number: the create is done only
        // once ovs-vswitchd has numbered every one (or said why it cannot).
        for (const [p] of hostPorts) await vswitch.waitOfport(p.interface, settings.ofportTimeoutMs);
        await failpoint('createNetwork.afterBridge');
        if (options.mode !== 'flat') await this.setUpGateway(record);
        state.putNetwork(record);
        if (options.mode !== 'flat') await failpoint('createNetwork.beforeNat');
        if (options.mode !== 'flat') await this.deps.nat.sync(`network ${record.id.slice(0, 12)} created`);
      } catch (err) {
        this.log.warn({ network: record.id, err: errorMessage(err) }, 'network creation failed; rolling back');
        await this.teardownNetwork(record, 'creation failed').catch((e: unknown) =>
          this.log.error({ network: record.id, err: errorMessage(e) }, 'rollback incomplete'),
        );
        throw err;
      }
      this.log.info(
        {
          network: req.NetworkID,
          bridge: bridgeName,
          dpid: formatDpid(options.dpid),
          datapathType,
          controllers,
          localFaucet: record.localFaucet,
        },
        'network created',
      );
    });
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

  /** `ovs.bridge.host_routes` against the network's subnet, the other networks and the host's routes (core/host-routes.ts). */
  private async checkHostRoutes(
    networkId: string,
    options: NetworkOptions,
    rawOptions: Readonly<Record<string, string>>,
    bridgeName: string,
    ip: { subnet: string; gateway: string },
  ): Promise<void> {
    if (options.hostRoutes.length === 0) return;
    const others = this.routedNetworks(networkId);
    const problem = hostRoutesProblem({
      value: rawOptions[Opt.hostRoutes] ?? '',
      routes: options.hostRoutes,
      subnet: ip.subnet,
      gateway: ip.gateway,
      bridge: bridgeName,
      others,
      table: await this.deps.host.ipv4Routes(),
    });
    if (problem !== undefined) throw new DovesnapError(ErrorCode.BadOption, problem);
  }

  /** The other networks, as far as their subnets and host routes go. */
  private routedNetworks(networkId: string): RoutedNetwork[] {
    return this.deps.state
      .allNetworks()
      .filter((n) => n.id !== networkId)
      .map((n) => ({
        label: n.name ?? n.id.slice(0, 12),
        bridge: n.bridgeName,
        subnet: ipv4Of(n)?.subnet,
        hostRoutes: n.options.hostRoutes,
      }));
  }

  private async checkUnique(networkId: string, options: NetworkOptions, bridgeName: string): Promise<void> {
    for (const n of this.deps.state.allNetworks()) {
      if (n.id === networkId) continue;
      if (n.options.dpid === options.dpid) {
        throw new DovesnapError(
          ErrorCode.Conflict,
          `invalid value ${JSON.stringify(formatDpid(options.dpid))} for option ${Opt.dpid}: already used by network ${n.name ?? n.id.slice(0, 12)}`,
        );
      }
      if (n.bridgeName === bridgeName) {
        throw new DovesnapError(
          ErrorCode.Conflict,
          `invalid value ${JSON.stringify(bridgeName)} for option ${Opt.name}: already used by network ${n.name ?? n.id.slice(0, 12)}`,
        );
      }
    }
    for (const [dpName, dpId] of await this.deps.faucet.foreignDps()) {
      if (dpId === options.dpid) {
        throw new DovesnapError(
          ErrorCode.Conflict,
          `invalid value ${JSON.stringify(formatDpid(options.dpid))} for option ${Opt.dpid}: FAUCET's configuration already has DP ${dpName} with that dp_id`,
        );
      }
    }
    const existing = await this.deps.vswitch.getBridge(bridgeName);
    if (existing !== undefined && existing.externalIds[ExtId.networkId] !== networkId) {
      throw new DovesnapError(
        ErrorCode.Conflict,
        `invalid value ${JSON.stringify(bridgeName)} for option ${Opt.name}: an Open vSwitch bridge of that name exists and is not this network's`,
      );
    }
  }

  /**
   * Interfaces the options put on the bridge must exist, and must not be on another bridge:
   * moving an interface away from another switch (or network) is not something to do silently.
   */
  private async checkHostInterfaces(networkId: string, options: NetworkOptions, bridgeName: string): Promise<void> {
    const wanted = [
      ...options.addPorts.map((p) => [Opt.addPorts, p] as const),
      ...options.addCoproPorts.map((p) => [Opt.addCoproPorts, p] as const),
    ];
    if (wanted.length === 0) return;
    const owner = new Map<string, string>();
    for (const b of await this.deps.vswitch.listBridges()) {
      if (b.name === bridgeName && b.externalIds[ExtId.networkId] === networkId) continue;
      for (const p of b.ports) owner.set(p.name, b.name);
    }
    for (const [option, p] of wanted) {
      if (!(await this.deps.host.linkExists(p.interface))) {
        throw new DovesnapError(
          ErrorCode.BadOption,
          `invalid value ${JSON.stringify(p.interface)} for option ${option}: interface ${p.interface} does not exist on this host`,
        );
      }
      const other = owner.get(p.interface);
      if (other !== undefined) {
        throw new DovesnapError(
          ErrorCode.BadOption,
          `invalid value ${JSON.stringify(p.interface)} for option ${option}: interface ${p.interface} is already a port of Open vSwitch bridge ${other}`,
        );
      }
    }
  }

  private async checkAcls(options: NetworkOptions): Promise<void> {
    const wanted: [string, string][] = [];
    if (options.defaultAcl !== undefined) wanted.push([Opt.defaultAcl, options.defaultAcl]);
    if (options.natAcl !== undefined) wanted.push([Opt.natAcl, options.natAcl]);
    if (options.vlanOutAcl !== undefined) wanted.push([Opt.vlanOutAcl, options.vlanOutAcl]);
    for (const p of options.addPorts) if (p.acl !== undefined) wanted.push([Opt.addPorts, p.acl]);
    for (const p of options.addCoproPorts) if (p.acl !== undefined) wanted.push([Opt.addCoproPorts, p.acl]);
    if (wanted.length === 0) return;
    const defined = await this.deps.faucet.definedAcls();
    for (const [opt, acl] of wanted) {
      if (!defined.has(acl))
        throw new DovesnapError(
          ErrorCode.BadOption,
          `invalid value ${JSON.stringify(acl)} for option ${opt}: FAUCET's configuration defines no ACL of that name`,
        );
    }
    const usage = await this.deps.faucet.aclUsage();
    for (const n of this.deps.state.allNetworks())
      if (n.options.vlanOutAcl !== undefined) usage.output.add(n.options.vlanOutAcl);
    for (const [opt, acl] of wanted) {
      const conflict = opt === Opt.vlanOutAcl ? usage.input.has(acl) : usage.output.has(acl);
      if (conflict) {
        throw new DovesnapError(
          ErrorCode.BadOption,
          `invalid value ${JSON.stringify(acl)} for option ${opt}: that ACL is already used as ${opt === Opt.vlanOutAcl ? 'an input' : 'an output'} ACL; ${ONE_WAY}`,
        );
      }
    }
  }

  /** A VLAN with an output ACL is one network's alone (core/vlan-sharing.ts). */
  private async checkVlanSharing(options: NetworkOptions): Promise<void> {
    const others = this.deps.state
      .allNetworks()
      .filter((n) => n.localFaucet)
      .map((n) => ({ label: n.name ?? n.id.slice(0, 12), options: n.options }));
    if (options.vlanOutAcl === undefined && !others.some((n) => n.options.vlanOutAcl !== undefined)) return;
    const problem = vlanSharingProblem(
      options,
      others,
      options.vlanOutAcl === undefined ? new Set() : ((await this.deps.faucet.operatorVlans?.()) ?? new Set()),
    );
    if (problem !== undefined) throw new DovesnapError(ErrorCode.BadOption, problem);
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
    const { state } = this.deps;
    const net = this.requireNetwork(req.NetworkID);
    const known = state.endpoint(req.EndpointID);
    if (known !== undefined) return req.Interface.MacAddress ? {} : { Interface: { MacAddress: known.mac } };

    const givenMac = req.Interface.MacAddress ?? '';
    const mac = givenMac !== '' ? givenMac.toLowerCase() : randomMac(this.random);
    const names = vethNamesFor(req.EndpointID);

    return this.lock.run(`net:${net.id}`, async () => {
      this.creating.add(names.host);
      try {
        return await this.createEndpointLocked(req, net, names, mac, givenMac);
      } finally {
        this.creating.delete(names.host);
      }
    });
  }

  private async createEndpointLocked(
    req: CreateEndpointRequest,
    net: NetworkRecord,
    names: ReturnType<typeof vethNamesFor>,
    mac: string,
    givenMac: string,
  ): Promise<CreateEndpointResponse> {
    const { state, vswitch, host, settings } = this.deps;
    const ready = await this.pool?.pick(net);
    if (ready !== undefined && (await this.mayOpenEarly(net))) {
      const taken = await this.takeReadyPort(req, net, ready, mac);
      if (taken) return givenMac !== '' ? {} : { Interface: { MacAddress: mac } };
    }
    const ofportRequest = await this.freeOfport(net);
    const record = newEndpointRecord(req, net, names, mac);
    await host.createVeth({
      names,
      containerMac: mac,
      mtu: net.options.mtu,
      disableContainerTxOffload: net.datapathType === 'netdev',
    });
    try {
      await failpoint('createEndpoint.afterVeth');
      // Raised before it joins the bridge, so that FAUCET sees one port event, not three.
      let early = await this.opensAtCreate(net, ofportRequest);
      if (early) await host.setLinkUp(names.host);
      await vswitch.addPort({
        bridge: net.bridgeName,
        name: names.host,
        ofportRequest,
        mtu: net.options.mtu,
        externalIds: portExternalIds(record),
      });
      await failpoint('createEndpoint.afterPort');
      const ofport = await vswitch.waitOfport(names.host, settings.ofportTimeoutMs);
      if (early && ofport !== ofportRequest) {
        // Not the spare's number after all: FAUCET has no entry to run it under yet.
        await host.setLinkDown(names.host);
        early = false;
      }
      state.putEndpoint({ ...record, ofport });
      if (early) this.deps.faucet.openedEarly?.(record.id);
      this.log.info(
        { network: net.id, endpoint: req.EndpointID, port: names.host, ofport, mac, openedEarly: early },
        'endpoint created',
      );
      await failpoint('createEndpoint.done');
    } catch (err) {
      await this.rollBackEndpoint(net, names.host, req.EndpointID, err);
      throw err;
    }
    return givenMac !== '' ? {} : { Interface: { MacAddress: mac } };
  }

  /**
   * The endpoint takes a ready port (core/port-pool.ts): FAUCET already forwards its traffic, so
   * nothing is asked of FAUCET now. False if it could not (the port is left as it was, and the
   * endpoint gets a port of its own).
   */
  private async takeReadyPort(
    req: CreateEndpointRequest,
    net: NetworkRecord,
    ready: ReadyPort,
    mac: string,
  ): Promise<boolean> {
    const { state, vswitch, host } = this.deps;
    const record = {
      ...newEndpointRecord(req, net, { host: ready.hostIf, container: ready.containerIf }, mac),
      ofport: ready.ofport,
      pooled: true,
    };
    // Between the write below and the model's record, the collector must not take it for an orphan.
    this.creating.add(ready.hostIf);
    try {
      await host.setLinkMac(ready.containerIf, mac);
      // One write: the port stops being a ready port and becomes this endpoint's.
      await vswitch.setPortExternalIds(ready.hostIf, portExternalIds(record));
      state.putEndpoint(record);
    } catch (err) {
      this.log.warn(
        { endpoint: req.EndpointID, port: ready.hostIf, err: errorMessage(err) },
        'could not take a ready port; making one',
      );
      return false;
    } finally {
      this.creating.delete(ready.hostIf);
    }
    this.deps.faucet.openedEarly?.(record.id);
    this.log.info(
      { network: net.id, endpoint: req.EndpointID, port: ready.hostIf, ofport: ready.ofport, mac, readyPort: true },
      'endpoint created',
    );
    try {
      await failpoint('createEndpoint.done');
    } catch (err) {
      // The port was this endpoint's now, so it goes with it.
      await this.rollBackEndpoint(net, ready.hostIf, req.EndpointID, err);
      throw err;
    }
    return true;
  }

  /** Docker sends no DeleteEndpoint for a failed CreateEndpoint: its port, veth and record go here. */
  private async rollBackEndpoint(net: NetworkRecord, hostIf: string, endpointId: string, err: unknown): Promise<void> {
    this.log.warn({ endpoint: endpointId, err: errorMessage(err) }, 'endpoint creation failed; rolling back');
    await this.deps.vswitch.deletePort(net.bridgeName, hostIf).catch(() => undefined);
    await this.deps.host.deleteLink(hostIf).catch(() => undefined);
    this.deps.state.removeEndpoint(endpointId);
  }

  /**
   * Whether a new port numbered `ofport` may be opened before its container is known: only on a
   * spare entry FAUCET runs, under the rule of mayOpenEarly.
   */
  private async opensAtCreate(net: NetworkRecord, ofport: number): Promise<boolean> {
    if (this.deps.faucet.runsSpare?.(net.id, ofport) !== true) return false;
    return this.mayOpenEarly(net);
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

  /** The lowest port number free on the bridge, leaving room for ports the options ask for by number, and not in `avoid`. */
  private async freeOfport(net: NetworkRecord, avoid: ReadonlySet<number> = new Set()): Promise<number> {
    const ports = (await this.deps.vswitch.getBridge(net.bridgeName))?.ports ?? [];
    const held = heldPortNumbers(ports, net.options, [...avoid, ...(this.deps.faucet.mirroredNumbers?.(net.id) ?? [])]);
    const n = lowestFreePortNumber(held);
    if (n === undefined)
      throw new DovesnapError(ErrorCode.Conflict, `bridge ${net.bridgeName} has no free port number`);
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
    const { state, vswitch, host } = this.deps;
    const net = state.network(networkId);
    const ep = state.endpoint(endpointId);
    const hostIf = ep?.hostIf ?? vethNamesFor(endpointId).host;
    const work = async (): Promise<void> => {
      // Normally stopped at Leave already; not if Docker left while dovesnap was down.
      if (ep !== undefined && this.deps.dhcp?.wants(ep) === true)
        await this.deps.dhcp.stop(ep, `endpoint ${why}`, true);
      if (net !== undefined) {
        await vswitch.deletePort(net.bridgeName, hostIf).catch((err: unknown) => {
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
    if (ep?.container !== undefined && net?.localFaucet === true) this.requestSync(`port ${hostIf} removed`);
    if ((ep?.published.length ?? 0) > 0) await this.deps.nat.sync(`port mappings of ${hostIf} removed`);
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
    const bindings = portBindingsFrom(req.Options);
    let published: PublishedPort[] = [];
    if (bindings.length > 0 && net.options.mode === 'flat') {
      this.log.warn(
        { endpoint: ep.id, network: net.id },
        'port mappings need ovs.bridge.mode=nat or routed: a flat network has no gateway; they are not published',
      );
    } else if (bindings.length > 0) {
      // Under one lock, so that two containers asking for the same port cannot both get it.
      published = await this.lock.run('ports', async () => {
        const listeners = this.withoutOwnProxies(await this.deps.host.listeners());
        const chosen = allocateHostPorts(bindings, this.publishedPorts(ep.id), listeners);
        this.deps.state.updateEndpoint(ep.id, { published: chosen });
        return chosen;
      });
    }
    await failpoint('join.beforePersist');
    const updated = this.deps.state.updateEndpoint(ep.id, { sandboxKey: req.SandboxKey, published, joinedAt });
    if (updated !== undefined) await this.persist(updated);
    await failpoint('join.done');
    // No local FAUCET will configure the port, so there is nothing to wait for.
    if (!net.localFaucet) await this.deps.host.setLinkUp(ep.hostIf);
    if (net.options.mode !== 'flat') {
      if (published.length > 0) await this.publishOrWithdraw(ep.id, ep.hostIf);
      return { InterfaceName: { SrcName: ep.containerIf, DstPrefix: 'eth' }, Gateway: ipv4Of(net)?.gateway ?? '' };
    }
    return {
      InterfaceName: { SrcName: ep.containerIf, DstPrefix: 'eth' },
      // Flat networks have no gateway; without this Docker would add a default-gateway
      // network of its own to containers on non-internal flat networks.
      DisableGatewayService: true,
    };
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
    const ep = this.deps.state.endpoint(req.EndpointID);
    if (ep === undefined) return;
    await failpoint('leave.start');
    // Before Docker deletes the veth (DeleteEndpoint follows), while the lease can still be released through it.
    if (this.deps.dhcp?.wants(ep) === true) await this.deps.dhcp.stop(ep, 'container left the network', true);
    const updated = this.deps.state.updateEndpoint(ep.id, { sandboxKey: undefined });
    if (updated !== undefined) await this.persist(updated);
    if (ep.published.length > 0) await this.deps.nat.sync(`container left: port mappings of ${ep.hostIf} removed`);
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
