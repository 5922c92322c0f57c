import type { NetworkOptions } from '../model/options.js';
import { vethNamesFor, type VethNames, type VethSpec } from '../net/links.js';
import type { PortSpec, PortState } from '../ovs/vswitch.js';
import type {
  CreateEndpointRequest,
  CreateEndpointResponse,
  JoinResponse,
  PortBinding,
} from '../model/plugin-protocol.js';
import { ipv4Of } from './nat-view.js';
import { portExternalIds } from './persist.js';
import { heldPortNumbers, lowestFreePortNumber } from './port-numbers.js';
import type { ReadyPort } from './port-pool.js';
import { endpointRecord, type EndpointRecord, type NetworkRecord } from './state.js';

/**
 * What each of Docker's endpoint requests does, decided before anything is done. Pure: every
 * function here is given the network's record, the request and the facts the driver read once
 * up front, and returns a plan that the driver (and driver/endpoint-apply.ts) carries out.
 *
 * Why: a request used to decide and act in turn (read the bridge, make the veth, ask FAUCET,
 * ask Docker, read the bridge again), so what it would do could only be seen by running it
 * against fakes. Here each decision is a table of cases (test/unit/driver/endpoint-plan.test.ts).
 */

/** The lowest port number free on the bridge, leaving room for ports the options reserve, and not in `avoid`. */
export function freePortNumber(
  ports: readonly Pick<PortState, 'name' | 'ofport' | 'ofportRequest'>[],
  options: NetworkOptions,
  avoid: Iterable<number>,
): number | undefined {
  return lowestFreePortNumber(heldPortNumbers(ports, options, avoid));
}

export function noFreePortNumber(bridge: string): string {
  return `bridge ${bridge} has no free port number`;
}

/** What CreateEndpoint reads once, under the network's lock, before it decides. */
export interface EndpointFacts {
  /** The lowest ready port FAUCET runs, where the network keeps them (driver/port-pool.ts). */
  readonly ready: ReadyPort | undefined;
  /** The number a port of the endpoint's own asks for (freePortNumber); undefined: none is left. */
  readonly freeNumber: number | undefined;
  /** Whether FAUCET runs the network's spare entry for `freeNumber`. */
  readonly spareRuns: boolean;
  /**
   * Whether a port whose entry is the network's default may carry traffic before its container
   * is known (driver/early-open.ts). Read only where it matters (a ready port or a running spare).
   */
  readonly mayOpenEarly: boolean;
  /** The MAC `ready`'s container end has now (read only when Docker chose none). */
  readonly readyMac?: string | undefined;
}

/** Take a ready port: its container end gets the MAC, its OVS records become the endpoint's. */
export interface ReadyPortPlan {
  readonly port: ReadyPort;
  readonly record: EndpointRecord;
  readonly externalIds: Readonly<Record<string, string>>;
  /** Set the container end's MAC: Docker chose one (else the port keeps its own, and no `ip` runs). */
  readonly setMac: boolean;
  readonly response: CreateEndpointResponse;
}

/** Make a veth pair and an OVS port of the endpoint's own. */
export interface OwnPortPlan {
  /** The endpoint's record, numbered once ovs-vswitchd has numbered the port. */
  readonly record: EndpointRecord;
  readonly veth: VethSpec;
  readonly port: PortSpec & { readonly ofportRequest: number };
  /** Raise the host end before the port joins the bridge: FAUCET sees one port event, not three. */
  readonly openEarly: boolean;
}

export interface EndpointPlan {
  /** Tried first; if it cannot be taken, the endpoint gets `ownPort`. */
  readonly readyPort: ReadyPortPlan | undefined;
  /** `refused`: the error an own port ends in (the bridge has no number left). */
  readonly ownPort: OwnPortPlan | { readonly refused: string };
  readonly response: CreateEndpointResponse;
}

/** CreateEndpoint's answer: the MAC, unless Docker chose it. */
export function createEndpointResponse(req: CreateEndpointRequest, mac: string): CreateEndpointResponse {
  return req.Interface.MacAddress ? {} : { Interface: { MacAddress: mac } };
}

/** The MAC Docker gave (as OVS and the kernel print it), else `random`. */
export function endpointMac(req: CreateEndpointRequest, random: () => string): string {
  const given = req.Interface.MacAddress ?? '';
  return given !== '' ? given.toLowerCase() : random();
}

/** The record of an endpoint Docker asks for, on the veth pair `names`. */
function newEndpointRecord(
  req: CreateEndpointRequest,
  net: NetworkRecord,
  names: VethNames,
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

/**
 * A new endpoint takes a ready port FAUCET already forwards for, when there is one and its
 * default entry may carry traffic now; otherwise (or if taking it fails) it gets a port of its
 * own, raised before it joins the bridge only on a spare entry FAUCET runs, under the same rule.
 */
export function planCreateEndpoint(
  req: CreateEndpointRequest,
  net: NetworkRecord,
  facts: EndpointFacts,
  mac: string,
): EndpointPlan {
  const names = vethNamesFor(req.EndpointID);
  let readyPort: ReadyPortPlan | undefined;
  if (facts.ready !== undefined && facts.mayOpenEarly) {
    const { hostIf, containerIf, ofport } = facts.ready;
    // Docker chose no MAC: the port's own random one serves as well as a new random one.
    const readyMac = (req.Interface.MacAddress ?? '') === '' ? facts.readyMac : undefined;
    const record = {
      ...newEndpointRecord(req, net, { host: hostIf, container: containerIf }, readyMac ?? mac),
      ofport,
      pooled: true,
    };
    readyPort = {
      port: facts.ready,
      record,
      externalIds: portExternalIds(record),
      setMac: readyMac === undefined,
      response: createEndpointResponse(req, record.mac),
    };
  }
  const record = newEndpointRecord(req, net, names, mac);
  const ownPort: EndpointPlan['ownPort'] =
    facts.freeNumber === undefined
      ? { refused: noFreePortNumber(net.bridgeName) }
      : {
          record,
          veth: {
            names,
            containerMac: mac,
            mtu: net.options.mtu,
            disableContainerTxOffload: net.datapathType === 'netdev',
          },
          port: {
            bridge: net.bridgeName,
            name: names.host,
            ofportRequest: facts.freeNumber,
            mtu: net.options.mtu,
            externalIds: portExternalIds(record),
          },
          openEarly: facts.spareRuns && facts.mayOpenEarly,
        };
  return { readyPort, ownPort, response: createEndpointResponse(req, mac) };
}

/** Whether a port opened early stays open: only on the spare's number, which FAUCET has an entry for. */
export function staysOpen(plan: OwnPortPlan, ofport: number): boolean {
  return plan.openEarly && ofport === plan.port.ofportRequest;
}

/** What Join does besides recording the sandbox. */
export interface JoinPlan {
  /** The host ports to allocate (none on a flat network). */
  readonly bindings: readonly PortBinding[];
  /** Port mappings asked for on a flat network, which has no gateway: they are logged, not published. */
  readonly unpublishable: boolean;
  /** No local FAUCET configures the port, so nothing is waited for: it is raised at Join. */
  readonly raiseNow: boolean;
  readonly response: JoinResponse;
}

export function planJoin(net: NetworkRecord, ep: EndpointRecord, bindings: readonly PortBinding[]): JoinPlan {
  const flat = net.options.mode === 'flat';
  const InterfaceName = { SrcName: ep.containerIf, DstPrefix: 'eth' };
  return {
    bindings: flat ? [] : bindings,
    unpublishable: flat && bindings.length > 0,
    raiseNow: !net.localFaucet,
    // Flat networks have no gateway; without DisableGatewayService Docker would add a
    // default-gateway network of its own to containers on non-internal flat networks.
    response: flat
      ? { InterfaceName, DisableGatewayService: true }
      : { InterfaceName, Gateway: ipv4Of(net)?.gateway ?? '' },
  };
}

/** What Leave does besides forgetting the sandbox. */
export interface LeavePlan {
  /** Stop the container's DHCP client, releasing its lease (the veth is still there). */
  readonly stopDhcp: boolean;
  /** Why the NAT rules are rendered again; undefined: the endpoint published nothing. */
  readonly natSync: string | undefined;
}

export function planLeave(ep: EndpointRecord, dhcpWanted: boolean): LeavePlan {
  return {
    stopDhcp: dhcpWanted,
    natSync: ep.published.length > 0 ? `container left: port mappings of ${ep.hostIf} removed` : undefined,
  };
}

/** What removing an endpoint does: DeleteEndpoint, and the reconciler for endpoints Docker forgot. */
export interface RemoveEndpointPlan {
  readonly hostIf: string;
  /** Normally stopped at Leave already; not if Docker left while dovesnap was down. */
  readonly stopDhcp: boolean;
  /** The bridge to remove the port from; undefined: the network is not known. */
  readonly bridge: string | undefined;
  /** Why FAUCET's configuration is rendered again; undefined: FAUCET had no entry of its. */
  readonly faucetSync: string | undefined;
  /** Why the NAT rules are rendered again; undefined: it published nothing. */
  readonly natSync: string | undefined;
}

export function planRemoveEndpoint(
  net: NetworkRecord | undefined,
  ep: EndpointRecord | undefined,
  endpointId: string,
  dhcpWanted: boolean,
): RemoveEndpointPlan {
  const hostIf = ep?.hostIf ?? vethNamesFor(endpointId).host;
  return {
    hostIf,
    stopDhcp: ep !== undefined && dhcpWanted,
    bridge: net?.bridgeName,
    faucetSync: ep?.container !== undefined && net?.localFaucet === true ? `port ${hostIf} removed` : undefined,
    natSync: (ep?.published.length ?? 0) > 0 ? `port mappings of ${hostIf} removed` : undefined,
  };
}
