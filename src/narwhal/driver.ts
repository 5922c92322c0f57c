import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { KeyedMutex } from '../util/mutex.js';
import { deleteLink, randomMac, vethAddArgs } from '../net/links.js';
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
import { stringOptions } from '../driver/driver.js';
import { cidrContains, parseCidr, type Cidr } from './addresses.js';
import { collectLeftovers, type Collected } from './collect.js';
import type { NarwhalHost } from './host.js';
import {
  applyLinkFilters,
  configureContainerSide,
  configureHostSide,
  ipv6ForwardingProblem,
  removeLinkFilters,
  settledPeer,
  routedVeth,
} from './link.js';
import { driverLinkNames, natChain, networkChain, networkLinkPrefix, networkRuleTag } from './names.js';
import { MIN_IPV6_MTU, NarwhalOpt, parseNarwhalOptions } from './options.js';
import {
  deleteChainScript,
  networkDockerUserRules,
  networkForwardScript,
  networkNatScript,
  type NetworkPolicy,
} from './rules.js';
import type { RoutedLink } from './spec.js';
import type { NarwhalEndpointRecord, NarwhalNetworkRecord, NarwhalStore } from './store.js';

/**
 * `-d narwhal`: Docker's remote network driver for routed links. Each container gets narwhal's
 * link (see spec.ts) with the address Docker's IPAM chose; the network is no layer 2 at all,
 * only a set of /32 and /128 routes on the host, and its containers reach each other because
 * the host routes between their links (forwarding rules in rules.ts).
 *
 * Handlers touch only the store and the kernel, never Docker. Docker moves, renames and
 * addresses the container end only after Join and ProgramExternalConnectivity have returned
 * (from runc's prestart hook, when the container's namespace exists), and starts the
 * container's process right after, with no call to the driver in between. So the link must
 * carry traffic as Docker leaves it: both ends have the container's MAC, because an interface
 * with ARP off sends every frame to its own MAC until told otherwise, and the host end then
 * takes them as its own. A watch started at Join finishes the container end as soon as Docker
 * has placed it (permanent neighbours, single addresses, the subnet routed through the host).
 */

export interface NarwhalDriverDeps {
  readonly host: NarwhalHost;
  readonly store: NarwhalStore;
  readonly logger: Logger;
  readonly random?: (n: number) => Uint8Array;
  /** How long the watch started at Join waits for Docker to place the interface. */
  readonly settleTimeoutMs?: number;
}

const CONNECTED_ROUTE = 1;

function bad(option: string, value: string, why: string): DovesnapError {
  return new DovesnapError(ErrorCode.BadOption, `invalid value ${JSON.stringify(value)} for option ${option}: ${why}`);
}

/** The one pool of a family Docker's IPAM gave the network, if any; a second one is refused. */
function onePool(data: CreateNetworkRequest['IPv4Data'], family: 4 | 6): Cidr | undefined {
  const pools = data.map((d) => d.Pool).filter((p): p is string => p !== undefined && p !== '');
  if (pools.length > 1)
    throw new DovesnapError(
      ErrorCode.BadOption,
      `a narwhal network takes one IPv${family} subnet (got ${pools.join(', ')})`,
    );
  return pools[0] === undefined ? undefined : parseCidr(pools[0], family, `the IPv${family} subnet`);
}

/** Checks a create request against the options; returns the record to make. Pure. */
export function networkRecordFor(req: CreateNetworkRequest): NarwhalNetworkRecord {
  const rawOptions = stringOptions(req.Options['com.docker.network.generic']);
  const options = parseNarwhalOptions(rawOptions);
  const v4 = onePool(req.IPv4Data, 4);
  if (v4 === undefined || v4.prefixLength === 0) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      "a narwhal network needs IPv4 addresses from Docker's IPAM (--subnet, or Docker's default pools); --ipam-driver null gives none",
    );
  }
  const v6 = onePool(req.IPv6Data, 6);
  const internal = req.Options['com.docker.network.internal'] === true;
  for (const [opt, on] of [
    [NarwhalOpt.forwarding, options.forwarding],
    [NarwhalOpt.nat, options.nat],
  ] as const) {
    if (internal && on)
      throw bad(
        opt,
        rawOptions[opt] ?? 'true',
        'an --internal network routes nothing beyond its containers and the host',
      );
  }
  if (cidrContains(v4, options.hostIpv4, 4)) {
    throw bad(
      NarwhalOpt.hostIpv4,
      options.hostIpv4,
      `the host address must lie outside the network's subnet ${v4.address}/${v4.prefixLength}, where Docker hands out container addresses`,
    );
  }
  if (v6 !== undefined && cidrContains(v6, options.hostIpv6, 6)) {
    throw bad(
      NarwhalOpt.hostIpv6,
      options.hostIpv6,
      `the host address must lie outside the network's subnet ${v6.address}/${v6.prefixLength}, where Docker hands out container addresses`,
    );
  }
  if (v6 !== undefined && options.mtu !== undefined && options.mtu < MIN_IPV6_MTU) {
    throw bad(NarwhalOpt.mtu, String(options.mtu), `IPv6 (--ipv6) needs an MTU of at least ${MIN_IPV6_MTU}`);
  }
  return {
    id: req.NetworkID,
    options,
    rawOptions,
    ipv4Subnet: `${v4.address}/${v4.prefixLength}`,
    ipv6Subnet: v6 === undefined ? undefined : `${v6.address}/${v6.prefixLength}`,
  };
}

function policyOf(n: NarwhalNetworkRecord): NetworkPolicy {
  return { id: n.id, forwarding: n.options.forwarding, nat: n.options.nat, ipv4Subnet: n.ipv4Subnet };
}

/** The routed link of an endpoint. A driver link always forwards: its network's chain decides where to. */
export function linkOf(n: NarwhalNetworkRecord, e: NarwhalEndpointRecord): RoutedLink {
  return {
    hostIf: e.hostIf,
    hostMac: e.hostMac,
    containerMac: e.containerMac,
    ipv4: e.ipv4?.address,
    ipv6: e.ipv6?.address,
    hostIpv4: n.options.hostIpv4,
    hostIpv6: n.options.hostIpv6,
    mtu: n.options.mtu,
    forwarding: true,
    paranoid: n.options.paranoid,
  };
}

/** Docker's answer to Join: the interface, the host addresses as gateways, and an on-link route to the IPv4 one. */
export function joinResponse(n: NarwhalNetworkRecord, e: NarwhalEndpointRecord): JoinResponse {
  return {
    InterfaceName: { SrcName: e.containerIf, DstPrefix: 'eth' },
    ...(e.ipv4 === undefined
      ? {}
      : {
          Gateway: n.options.hostIpv4,
          // Docker adds `default via` only to a gateway it has a route to.
          StaticRoutes: [{ Destination: `${n.options.hostIpv4}/32`, RouteType: CONNECTED_ROUTE }],
        }),
    ...(e.ipv6 === undefined ? {} : { GatewayIPv6: n.options.hostIpv6 }),
  };
}

export class NarwhalDriver implements NetworkDriver {
  private readonly lock = new KeyedMutex();
  /** Host ends being made right now: not leftovers, though not yet recorded. */
  private readonly creating = new Set<string>();
  /** The container-side configuration of each joined endpoint, run once per sandbox. */
  private readonly configuring = new Map<string, Promise<void>>();
  private readonly watches = new Map<string, AbortController>();
  private readonly random: (n: number) => Uint8Array;
  private readonly log: Logger;

  constructor(private readonly deps: NarwhalDriverDeps) {
    this.random = deps.random ?? ((n) => randomBytes(n));
    this.log = deps.logger.child({ component: 'narwhal' });
  }

  /**
   * At start, before serving: reads the records back, puts every network's rules in place
   * again (a reboot loses them), drops endpoints whose link is gone, and repairs the rest.
   */
  async restore(): Promise<void> {
    const { store, host } = this.deps;
    const loaded = await store.load();
    for (const p of loaded.problems) this.log.error(p, 'narwhal record not restored');
    for (const n of loaded.networks) {
      await this.applyNetworkRules(n).catch((err: unknown) =>
        this.log.error({ network: n.id, err: errorMessage(err) }, 'could not restore the network rules'),
      );
    }
    for (const e of loaded.endpoints) {
      const n = store.network(e.networkId);
      if (n === undefined || !host.linkExists(e.hostIf)) {
        await this.removeEndpointObjects(e).catch(() => undefined);
        this.log.info(
          { endpoint: e.id, link: e.hostIf },
          'narwhal endpoint gone while the daemon was down: record dropped',
        );
        continue;
      }
      try {
        const link = linkOf(n, e);
        await configureHostSide(host, link);
        await applyLinkFilters(host, link, false);
        if (e.sandboxKey !== undefined) await this.configureContainer(n, e);
      } catch (err) {
        this.log.warn({ endpoint: e.id, link: e.hostIf, err: errorMessage(err) }, 'narwhal endpoint not repaired');
      }
    }
    this.log.info({ networks: loaded.networks.length, endpoints: store.endpoints().length }, 'narwhal state restored');
  }

  async createNetwork(req: CreateNetworkRequest): Promise<void> {
    const record = networkRecordFor(req);
    await this.lock.run('networks', async () => {
      const { store } = this.deps;
      if (store.network(req.NetworkID) !== undefined) return;
      const prefix = networkLinkPrefix(req.NetworkID);
      const clash = store.networks().find((n) => networkLinkPrefix(n.id) === prefix);
      if (clash !== undefined) {
        throw new DovesnapError(
          ErrorCode.Conflict,
          `network ${req.NetworkID.slice(0, 12)} shares its first 6 hex digits with narwhal network ${clash.id.slice(0, 12)}, which name their links; create it again for another ID`,
        );
      }
      try {
        await this.applyNetworkRules(record);
        await store.putNetwork(record);
      } catch (err) {
        this.log.warn({ network: record.id, err: errorMessage(err) }, 'narwhal network creation failed; rolling back');
        await this.removeNetworkRules(record.id).catch((e: unknown) =>
          this.log.error({ network: record.id, err: errorMessage(e) }, 'rollback incomplete'),
        );
        await store.removeNetwork(record.id).catch(() => undefined);
        throw err;
      }
      this.log.info(
        { network: record.id, options: record.rawOptions, ipv4: record.ipv4Subnet, ipv6: record.ipv6Subnet },
        'narwhal network created',
      );
      const v6problem = record.ipv6Subnet === undefined ? undefined : ipv6ForwardingProblem(this.deps.host);
      if (v6problem !== undefined)
        this.log.warn(
          { network: record.id },
          `narwhal network with IPv6: ${v6problem} (its containers reach only the host over IPv6)`,
        );
    });
  }

  private async applyNetworkRules(n: NarwhalNetworkRecord): Promise<void> {
    const { host } = this.deps;
    const policy = policyOf(n);
    await host.nft(networkForwardScript(policy));
    await host.nft(networkNatScript(policy) ?? deleteChainScript('inet', natChain(n.id)));
    await host.insertDockerUserRules(networkDockerUserRules(policy));
  }

  private async removeNetworkRules(networkId: string): Promise<void> {
    const { host } = this.deps;
    await host.nft(deleteChainScript('inet', networkChain(networkId)));
    await host.nft(deleteChainScript('inet', natChain(networkId)));
    for (const r of await host.taggedDockerUserRules(networkRuleTag(networkId))) await host.deleteTaggedRule(r);
  }

  async deleteNetwork(req: NetworkRequest): Promise<void> {
    await this.lock.run('networks', async () => {
      const n = this.deps.store.network(req.NetworkID);
      if (n === undefined) return;
      await this.lock.run(`net:${n.id}`, async () => {
        for (const e of this.deps.store.endpointsOf(n.id)) await this.removeEndpointObjects(e);
        await this.removeNetworkRules(n.id);
        await this.deps.store.removeNetwork(n.id);
      });
      this.log.info({ network: n.id }, 'narwhal network removed');
    });
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse> {
    const { store, host } = this.deps;
    const n = this.requireNetwork(req.NetworkID);
    const known = store.endpoint(req.EndpointID);
    if (known !== undefined) return req.Interface.MacAddress ? {} : { Interface: { MacAddress: known.containerMac } };
    if (!req.Interface.Address)
      throw new DovesnapError(
        ErrorCode.BadRequest,
        `endpoint ${req.EndpointID.slice(0, 12)} has no IPv4 address: a narwhal network needs Docker's IPAM`,
      );
    const givenMac = req.Interface.MacAddress ?? '';
    const names = driverLinkNames(n.id, req.EndpointID);
    const mac = givenMac !== '' ? givenMac.toLowerCase() : randomMac(this.random);
    const record: NarwhalEndpointRecord = {
      id: req.EndpointID,
      networkId: n.id,
      hostIf: names.host,
      containerIf: names.container,
      // The same MAC at both ends: see the class comment.
      hostMac: mac,
      containerMac: mac,
      ipv4: parseCidr(req.Interface.Address, 4, 'the endpoint address'),
      ipv6: req.Interface.AddressIPv6
        ? parseCidr(req.Interface.AddressIPv6, 6, 'the endpoint IPv6 address')
        : undefined,
      sandboxKey: undefined,
    };
    const link = linkOf(n, record);
    await this.lock.run(`net:${n.id}`, async () => {
      this.creating.add(names.host);
      try {
        await host.ip(vethAddArgs(routedVeth(link, names.container)));
        // ARP off on the container end too, before Docker moves it: the flag moves with it.
        await host.ip(['link', 'set', 'dev', names.container, 'arp', 'off']);
        await applyLinkFilters(host, link, false);
        await configureHostSide(host, link);
        await store.putEndpoint(record);
      } catch (err) {
        this.log.warn(
          { endpoint: req.EndpointID, err: errorMessage(err) },
          'narwhal endpoint creation failed; rolling back',
        );
        await this.removeEndpointObjects(record).catch(() => undefined);
        throw err;
      } finally {
        this.creating.delete(names.host);
      }
    });
    this.log.info(
      {
        network: n.id,
        endpoint: req.EndpointID,
        link: names.host,
        ipv4: record.ipv4?.address,
        ipv6: record.ipv6?.address,
      },
      'narwhal endpoint created',
    );
    return givenMac !== '' ? {} : { Interface: { MacAddress: record.containerMac } };
  }

  async endpointOperInfo(req: EndpointRequest): Promise<EndpointOperInfoResponse> {
    const e = this.deps.store.endpoint(req.EndpointID);
    return { Value: e === undefined ? {} : { 'narwhal.interface': e.hostIf } };
  }

  async deleteEndpoint(req: EndpointRequest): Promise<void> {
    const e = this.deps.store.endpoint(req.EndpointID);
    if (e === undefined) return;
    await this.lock.run(`net:${e.networkId}`, () => this.removeEndpointObjects(e));
    this.log.info({ network: e.networkId, endpoint: e.id, link: e.hostIf }, 'narwhal endpoint removed');
  }

  /** The one removal of an endpoint: its watch, filters, link and record. Succeeds if they are gone. */
  private async removeEndpointObjects(e: NarwhalEndpointRecord): Promise<void> {
    this.stopWatch(e.id);
    await removeLinkFilters(this.deps.host, e.hostIf, false);
    await deleteLink(e.hostIf, this.deps.host);
    await this.deps.store.removeEndpoint(e.id);
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    const n = this.requireNetwork(req.NetworkID);
    const e = this.deps.store.endpoint(req.EndpointID);
    if (e === undefined)
      throw new DovesnapError(ErrorCode.NotFound, `endpoint ${req.EndpointID} is not known to the narwhal driver`);
    if (portBindingsFrom(req.Options).length > 0) {
      throw new DovesnapError(
        ErrorCode.BadOption,
        'a narwhal network publishes no ports (-p): its containers are routed with their own addresses; use -o narwhal.forwarding=true (or narwhal.nat=true for outgoing connections)',
      );
    }
    const joined = { ...e, sandboxKey: req.SandboxKey };
    await this.deps.store.putEndpoint(joined);
    this.watchPlacement(n, joined);
    return joinResponse(n, e);
  }

  async programExternalConnectivity(): Promise<void> {
    // Nothing per endpoint: the network's rules are the network's (and Docker has not placed the interface yet).
  }

  async revokeExternalConnectivity(): Promise<void> {
    // Nothing was programmed per endpoint.
  }

  async leave(req: EndpointRequest): Promise<void> {
    const e = this.deps.store.endpoint(req.EndpointID);
    if (e === undefined) return;
    this.stopWatch(e.id);
    for (const key of [...this.configuring.keys()]) if (key.startsWith(`${e.id}@`)) this.configuring.delete(key);
    await this.deps.store.putEndpoint({ ...e, sandboxKey: undefined });
  }

  /** The container end, once per sandbox; a failed attempt may be retried. */
  private configureContainer(n: NarwhalNetworkRecord, e: NarwhalEndpointRecord): Promise<void> {
    const sandbox = e.sandboxKey;
    if (sandbox === undefined) return Promise.resolve();
    const key = `${e.id}@${sandbox}`;
    const running = this.configuring.get(key);
    if (running !== undefined) return running;
    const work = (async () => {
      let seen = '';
      const inside = await settledPeer(this.deps.host, e.hostIf, e.containerIf, sandbox, (s) => (seen = s));
      if (inside === undefined)
        throw new DovesnapError(ErrorCode.HostCommand, `the container end of ${e.hostIf} is not in place: ${seen}`);
      await configureContainerSide(this.deps.host, linkOf(n, e), sandbox, inside.ifname, {
        defaultRoutes: false,
        subnets: {
          ipv4: e.ipv4 === undefined ? undefined : n.ipv4Subnet,
          ipv6: e.ipv6 === undefined ? undefined : n.ipv6Subnet,
        },
      });
      this.log.info(
        { endpoint: e.id, link: e.hostIf, inside: inside.ifname },
        'narwhal link finished in the container',
      );
    })();
    this.configuring.set(key, work);
    work.catch(() => {
      if (this.configuring.get(key) === work) this.configuring.delete(key);
    });
    return work;
  }

  /** Finishes the container end as soon as Docker has placed it, for joins Docker sends no ProgramExternalConnectivity for. */
  private watchPlacement(n: NarwhalNetworkRecord, e: NarwhalEndpointRecord): void {
    this.stopWatch(e.id);
    const ac = new AbortController();
    this.watches.set(e.id, ac);
    const sandbox = e.sandboxKey ?? '';
    const deadline = Date.now() + (this.deps.settleTimeoutMs ?? 60_000);
    void (async () => {
      while (!ac.signal.aborted) {
        const inside = await settledPeer(this.deps.host, e.hostIf, e.containerIf, sandbox).catch(() => undefined);
        if (ac.signal.aborted) return;
        if (inside !== undefined) {
          await this.configureContainer(n, e).catch((err: unknown) =>
            this.log.error({ endpoint: e.id, err: errorMessage(err) }, 'narwhal link not finished in the container'),
          );
          break;
        }
        if (Date.now() > deadline) {
          this.log.warn(
            { endpoint: e.id, link: e.hostIf, sandbox },
            'Docker never placed the narwhal interface in the container',
          );
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (this.watches.get(e.id) === ac) this.watches.delete(e.id);
    })();
  }

  private stopWatch(endpointId: string): void {
    this.watches.get(endpointId)?.abort();
    this.watches.delete(endpointId);
  }

  /** Stops the watches (the daemon is stopping); the links stay. */
  close(): void {
    for (const id of [...this.watches.keys()]) this.stopWatch(id);
  }

  /** Removes what carries narwhal's marks and belongs to no known network or endpoint (see collect.ts). */
  async collectGarbage(): Promise<Collected> {
    const { store, host } = this.deps;
    const found = await collectLeftovers(host, {
      driverLink: (name) => this.creating.has(name) || store.endpoints().some((e) => e.hostIf === name),
      network: (id12) => store.networks().some((n) => n.id.startsWith(id12)),
    });
    if (found.links.length + found.chains.length + found.rules.length > 0)
      this.log.warn(found, 'removed narwhal leftovers that belong to no known network or endpoint');
    return found;
  }

  private requireNetwork(id: string): NarwhalNetworkRecord {
    const n = this.deps.store.network(id);
    if (n === undefined)
      throw new DovesnapError(ErrorCode.NotFound, `network ${id} is not a narwhal network known to this daemon`);
    return n;
  }
}
