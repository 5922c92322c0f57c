import { createHash } from 'node:crypto';
import { readFaucetConfigFacts, type AclUsage, type FaucetConfigFacts } from '../faucet/config-facts.js';
import {
  FOREIGN_PORT_MARK,
  OWNED_ACL_PREFIX,
  type FaucetAclSpec,
  type FaucetDpSpec,
  type FaucetForeignPortSpec,
  type FaucetPortSpec,
  type ManagedFaucetState,
} from '../faucet/types.js';
import type { StackFacts } from './stack.js';
import { PLACEHOLDER_DP_NAME } from '../faucet/placeholder.js';
import { OFPP_LOCAL, type KeptEntries } from '../faucet/types.js';
import { SPARE_DESCRIPTION } from './faucet-plan.js';
import { READY_DESCRIPTION, readyPortsOf } from './port-pool.js';
import type { EndpointRecord, NetworkRecord, StateStore } from './state.js';
import { ExtId, HostPortKind } from './persist.js';
import { ANTISPOOF_ACL_PREFIX, antispoofAclName, antispoofRules, type AclRule } from './antispoof.js';
import { withVlanCapacity } from './vlan-capacity.js';
import { parseManagedVlanName, parseSharedVlanName } from '../faucet/entries.js';
import { stackSettleAcl, stackSettleAclName } from './stack-settle.js';
import { type DpOwner, faucetDpName, otherHostsDps } from './dp-naming.js';

/**
 * FAUCET's view of dovesnap's state, as a pure function: one DP per named network, from the
 * moment Docker names it until it is deleted, and one interface per container whose name and
 * labels are known.
 *
 * FAUCET refuses a DP without interfaces, so every DP carries the bridge's LOCAL port as an
 * output-only port (no VLAN: nothing enters the network through it). Keeping the DP for the
 * network's whole life matters: FAUCET drops port events for a switch it is not yet running,
 * so a switch that only connected when its first container came up could miss that
 * container's link-up and leave its port down. A port whose labels name an ACL that FAUCET does not define is
 * left out, so that it stays closed (FAUCET drops traffic from ports it has no config for)
 * instead of running unfiltered.
 */

export const DP_DESCRIPTION_PREFIX = 'dovesnap network ';

export function dpDescription(n: NetworkRecord): string {
  return `${DP_DESCRIPTION_PREFIX}${n.id}`;
}

/** FAUCET's port description: the container's name (with Docker's leading slash) and short ID. */
export function portDescription(e: EndpointRecord): string {
  const c = e.container;
  return c === undefined ? e.hostIf : `${c.name} ${c.id.slice(0, 5)}`;
}

/** Why a port must stay closed, given the ACLs FAUCET defines; undefined if it may open. */
export function blockReason(
  e: EndpointRecord,
  definedAcls: ReadonlySet<string>,
  outputAcls: ReadonlySet<string> = new Set(),
): string | undefined {
  if (e.faucetRejected !== undefined) return e.faucetRejected;
  const both = (e.labels?.portAcls ?? []).filter((a) => outputAcls.has(a));
  if (both.length > 0)
    return `label dovesnap.faucet.portacl names ACL ${both.join(', ')}, which is a VLAN output ACL (vlan_out_acl/acls_out); ${ONE_WAY}`;
  if (e.blockedReason !== undefined && e.labels === undefined) return e.blockedReason;
  const missing = (e.labels?.portAcls ?? []).filter((a) => !definedAcls.has(a));
  if (missing.length > 0)
    return `label dovesnap.faucet.portacl names ACL ${missing.join(', ')} that FAUCET's configuration does not define`;
  return undefined;
}

/** Whether a container's own port entry is the network's default one (what a ready port runs). */
function keepsReadyEntry(e: EndpointRecord): boolean {
  return (
    (e.labels?.portAcls.length ?? 0) === 0 && e.labels?.mirror !== true && e.labels?.antispoof !== true && !captureOn(e)
  );
}

/** Whether the container's port is a capture port (label dovesnap.faucet.capture). */
export function captureOn(e: EndpointRecord): boolean {
  return e.labels?.capture === true;
}

/**
 * The DP's ports with each capture port's `mirror` list filled in: every port on a VLAN, which is
 * every port that carries the network's traffic (container, attached, added and hand-added
 * ports, and the ready and spare entries), but LOCAL. Not the mirror link, the stack link, the
 * stack loopback, coprocessor ports or other capture ports: none of them is on a VLAN.
 *
 * LOCAL (the gateway of a nat or routed network) is left out because everything it sends or
 * receives crosses one of the listed ports, which already copies it; and FAUCET copies a frame
 * between two listed ports twice (received on one, sent on the other), a third copy helps no one.
 *
 * Ready and spare entries are listed although they carry nothing yet: a container that takes
 * one then changes no entry but its own description, so a capture port costs no FAUCET reload
 * per container start (driver/port-pool.ts, driver/faucet-plan.ts).
 */
export function withCaptureLists(ports: readonly FaucetPortSpec[]): FaucetPortSpec[] {
  if (!ports.some((p) => p.capture === true)) return [...ports];
  const onVlan = ports
    .filter(
      (p) =>
        p.capture !== true &&
        p.number !== OFPP_LOCAL &&
        (p.nativeVlan !== undefined || (p.taggedVlans?.length ?? 0) > 0),
    )
    .map((p) => p.number)
    .sort((a, b) => a - b);
  return ports.map((p) => (p.capture === true ? { ...p, ...(onVlan.length > 0 ? { mirror: onVlan } : {}) } : p));
}

export function portAclsFor(e: EndpointRecord, n: NetworkRecord): string[] | undefined {
  const own = e.labels?.portAcls ?? [];
  if (own.length > 0) return [...own];
  return n.options.defaultAcl === undefined ? undefined : [n.options.defaultAcl];
}

/**
 * The bridge's own port. On nat and routed networks it is the gateway: on the network's VLAN,
 * with the nat ACL, and always up for FAUCET (the host side has no carrier to lose). On a flat
 * network it carries nothing, and is there because FAUCET needs one interface per DP.
 */
export function localPort(n: NetworkRecord): FaucetPortSpec {
  if (n.options.mode === 'flat') {
    return {
      number: OFPP_LOCAL,
      description: `${n.bridgeName} local port (unused on a flat network)`,
      outputOnly: true,
    };
  }
  const acl = n.options.natAcl;
  return {
    number: OFPP_LOCAL,
    description: `${n.bridgeName} gateway (${n.options.mode})`,
    nativeVlan: n.options.vlan,
    opstatusReconf: false,
    ...(acl === undefined ? {} : { aclsIn: [acl] }),
  };
}

/** A port on a network's bridge as OVSDB has it: what FAUCET's entry for it is built from. */
export interface BridgePort {
  readonly name: string;
  readonly ofport: number | undefined;
  readonly externalIds: Readonly<Record<string, string>>;
}

/** FAUCET's coprocessor VID base: a frame tagged with a port's number goes to that port. */
export const COPRO_VLAN_VID_BASE = 0;

function vlanFields(
  native: number | undefined,
  tagged: readonly number[],
): Pick<FaucetPortSpec, 'nativeVlan' | 'taggedVlans'> {
  return {
    ...(native === undefined ? {} : { nativeVlan: native }),
    ...(tagged.length > 0 ? { taggedVlans: tagged } : {}),
  };
}

/**
 * FAUCET installs a coprocessor port's flows (VID N -> port N) when that port comes up, for
 * the ports the DP has at that moment, and never again: a container port numbered later is
 * unreachable through it. Naming the coprocessor entry after the DP's set of port numbers makes
 * FAUCET restart it (and write the flows anew) exactly when that set changes.
 */
export function coproName(iface: string, ports: readonly FaucetPortSpec[]): string {
  const numbers = ports
    .filter((p) => p.coprocessor === undefined && p.number !== OFPP_LOCAL)
    .map((p) => p.number)
    .sort((a, b) => a - b);
  return `${iface}@${createHash('sha256').update(numbers.join(',')).digest('hex').slice(0, 8)}`;
}

function withCoproNames(ports: readonly FaucetPortSpec[], coproIfaces: ReadonlySet<string>): FaucetPortSpec[] {
  if (coproIfaces.size === 0) return [...ports];
  return ports.map((p) => {
    const iface = p.description.startsWith(COPRO_DESCRIPTION)
      ? p.description.slice(COPRO_DESCRIPTION.length)
      : undefined;
    return iface !== undefined && coproIfaces.has(iface) ? { ...p, name: coproName(iface, ports) } : p;
  });
}

const COPRO_DESCRIPTION = 'Coprocessor interface ';

/** Ports on the bridge that nobody asked dovesnap for: added by hand (`ovs-vsctl add-port`). */
export function handAddedPorts(n: NetworkRecord, ports: readonly BridgePort[]): BridgePort[] {
  return ports.filter(
    (p) => p.name !== n.bridgeName && p.externalIds[ExtId.networkId] === undefined && p.ofport !== undefined,
  );
}

/**
 * A port `dovesnap attach` put on the bridge is a container's port like the others: named after
 * the container, the network's default ACL, and its `@VLAN` as native VLAN. Any other is a
 * port added by hand.
 */
function attachedOrHandAdded(n: NetworkRecord, p: BridgePort, number: number): FaucetPortSpec {
  const container = p.externalIds[ExtId.attachContainer];
  if (p.externalIds[ExtId.attach] === undefined || container === undefined)
    return { number, description: `Interface ${p.name} (added by hand)`, nativeVlan: n.options.vlan };
  const vlan = Number(p.externalIds[ExtId.attachVlan]);
  const acl = n.options.defaultAcl;
  return {
    number,
    description: `/${container} (dovesnap attach ${p.name})`,
    nativeVlan: Number.isInteger(vlan) && vlan >= 1 && vlan <= 4094 ? vlan : n.options.vlan,
    ...(acl === undefined ? {} : { aclsIn: [acl] }),
  };
}

export function desiredDps(
  state: StateStore,
  definedAcls: ReadonlySet<string>,
  bridgePorts: ReadonlyMap<string, readonly BridgePort[]>,
  outputAcls: ReadonlySet<string> = new Set(),
  operatorDpNames: ReadonlySet<string> = new Set(),
  spares: ReadonlyMap<string, readonly number[]> = new Map(),
  stack: StackFacts | undefined = undefined,
  tunnelTargets: ReadonlySet<string> = operatorDpNames,
): FaucetDpSpec[] {
  const dps: FaucetDpSpec[] = [];
  for (const n of state.allNetworks()) {
    // Unnamed: not yet known to FAUCET. Not local: another controller's (or none). Named like
    // an operator's DP: refused, never written.
    const dpName = faucetDpName(n);
    if (dpName === undefined || !n.localFaucet || operatorDpNames.has(dpName)) continue;
    const ports: FaucetPortSpec[] = [];
    const mirrored: number[] = [];
    const acl = n.options.defaultAcl;
    const readyEntry = (number: number): FaucetPortSpec => ({
      number,
      description: READY_DESCRIPTION,
      nativeVlan: n.options.vlan,
      ...(acl === undefined ? {} : { aclsIn: [acl] }),
      opstatusReconf: false,
    });
    for (const e of state.endpointsOf(n.id)) {
      // A ready port taken, its container not known yet: the entry FAUCET runs for it stays as
      // it is (dropping it would delete the port's flows under the starting container).
      if (e.container === undefined && e.pooled === true && e.ofport !== undefined) {
        ports.push(readyEntry(e.ofport));
        continue;
      }
      if (e.container === undefined || e.ofport === undefined) continue;
      if (blockReason(e, definedAcls, outputAcls) !== undefined) continue;
      if (captureOn(e)) {
        // No VLAN and no ACL: FAUCET drops whatever the container sends, and the port carries
        // only the copies listed by withCaptureLists.
        ports.push({ number: e.ofport, description: portDescription(e), outputOnly: true, capture: true });
        continue;
      }
      const acls = portAclsFor(e, n);
      ports.push({
        number: e.ofport,
        description: portDescription(e),
        nativeVlan: n.options.vlan,
        ...(acls ? { aclsIn: acls } : {}),
        // A ready port taken: its entry stays the ready entry's but for the name, so that FAUCET
        // goes on ignoring its link changes. A port that turned out to need its own policy
        // (not expected: see driver/early-open.ts) gets FAUCET's default, which programs it when it comes up.
        ...(e.pooled === true && keepsReadyEntry(e) ? { opstatusReconf: false } : {}),
      });
      if (e.labels?.mirror === true) mirrored.push(e.ofport);
    }
    const observed = bridgePorts.get(n.id) ?? [];
    const numberOf = (name: string): number | undefined => observed.find((p) => p.name === name)?.ofport;
    for (const p of n.options.addPorts) {
      const number = numberOf(p.interface);
      if (number === undefined) continue;
      const vlans = p.vlans === undefined ? vlanFields(n.options.vlan, []) : vlanFields(p.vlans.native, p.vlans.tagged);
      ports.push({
        number,
        description: `Physical interface ${p.interface}`,
        ...vlans,
        ...(p.acl ? { aclsIn: [p.acl] } : {}),
      });
    }
    for (const p of n.options.addCoproPorts) {
      const number = numberOf(p.interface);
      if (number === undefined) continue;
      ports.push({
        number,
        description: `${COPRO_DESCRIPTION}${p.interface}`,
        coprocessor: { strategy: 'vlan_vid', vlanVidBase: COPRO_VLAN_VID_BASE },
        ...(p.acl ? { aclsIn: [p.acl] } : {}),
      });
    }
    const mirrorLink = observed.find(
      (p) => p.externalIds[ExtId.hostPort] === HostPortKind.mirror && p.ofport !== undefined,
    );
    if (mirrorLink?.ofport !== undefined) {
      // FAUCET copies both directions of each listed port here. With none listed the port
      // must still be non-VLAN: nothing the mirror bridge sends back may enter the network.
      const description = `mirror link of ${n.bridgeName}`;
      ports.push(
        mirrored.length > 0
          ? { number: mirrorLink.ofport, description, mirror: mirrored }
          : { number: mirrorLink.ofport, description, outputOnly: true },
      );
    }
    const link = stack?.links.get(n.id);
    if (stack !== undefined && link !== undefined) {
      ports.push({
        number: link.networkPort,
        description: `stack link to ${stack.dpName}`,
        stack: { dp: stack.dpName, port: link.stackPort },
      });
    }
    const loopback = stack?.loopbacks.get(n.id);
    const tunnelTo = stack === undefined ? undefined : stackMirrorTarget(stack, tunnelTargets);
    if (stack !== undefined && tunnelTo !== undefined && loopback !== undefined) {
      // FAUCET copies the labelled ports here, the loopback bridge sends each copy straight
      // back, and the port's ACL tunnels it across the stack (see driver/stack.ts).
      ports.push({
        number: loopback,
        description: `loopback for stack mirroring to ${tunnelTo.dp} port ${tunnelTo.port}`,
        coprocessor: { strategy: 'vlan_vid' },
        aclsIn: [mirrorTunnelAclName(n.options.mirrorTunnelVid)],
        ...(mirrored.length > 0 ? { mirror: mirrored } : {}),
      });
    }
    for (const p of handAddedPorts(n, observed)) {
      if (p.ofport === undefined || ports.some((q) => q.number === p.ofport)) continue;
      ports.push(attachedOrHandAdded(n, p, p.ofport));
    }
    for (const r of readyPortsOf(n.id, observed)) {
      if (ports.some((p) => p.number === r.ofport)) continue;
      ports.push(readyEntry(r.ofport));
    }
    const taken = new Set(ports.map((p) => p.number));
    for (const number of spares.get(n.id) ?? []) {
      if (taken.has(number)) continue;
      ports.push({
        number,
        description: SPARE_DESCRIPTION,
        nativeVlan: n.options.vlan,
        ...(acl === undefined ? {} : { aclsIn: [acl] }),
      });
    }
    const all = withCaptureLists(ports);
    // A coprocessor port addresses every port of the DP by VID = its number, and FAUCET's flow
    // for LOCAL (4294967294) is refused by the switch: on a flat network, where the LOCAL entry
    // is only there so that the DP has an interface, leave it out when a coprocessor port is.
    if (n.options.mode !== 'flat' || n.options.addCoproPorts.length === 0) all.push(localPort(n));
    all.sort((a, b) => a.number - b.number);
    const vlanOut = n.options.vlanOutAcl;
    dps.push({
      name: dpName,
      dpId: n.options.dpid,
      description: dpDescription(n),
      ports: withCoproNames(all, new Set(n.options.addCoproPorts.map((p) => p.interface))),
      // FAUCET applies a VLAN's output ACLs only in its egress pipeline.
      ...(vlanOut === undefined
        ? {}
        : {
            egressPipeline: true,
            vlans: [{ vid: n.options.vlan, description: `dovesnap network ${n.name}`, aclsOut: [vlanOut] }],
          }),
    });
  }
  return dps;
}

/**
 * FAUCET 1.10.12 crashes (AssertionError "vlan_vid match in table egress_acl") when one ACL is
 * used both as a VLAN's output ACL and as an input ACL (reproduced: a port's acls_in in one DP,
 * a VLAN's acls_out for another). dovesnap keeps each ACL to one direction.
 */
export const ONE_WAY =
  'FAUCET 1.10 crashes when one ACL is used both as an output and as an input ACL; use a copy of it under another name';

export type { AclUsage } from '../faucet/config-facts.js';

function factsOf(faucetYaml: string | FaucetConfigFacts): FaucetConfigFacts {
  return typeof faucetYaml === 'string' ? readFaucetConfigFacts(faucetYaml) : faucetYaml;
}

export function aclUsage(faucetYaml: string | FaucetConfigFacts): AclUsage {
  const u = factsOf(faucetYaml).aclUsage;
  return { input: new Set(u.input), output: new Set(u.output) };
}

/** DPs in the file that dovesnap made (marked by their description), whether or not still wanted. */
export function markedDps(faucetYaml: string | FaucetConfigFacts): Set<string> {
  const out = new Set<string>();
  for (const [name, dp] of factsOf(faucetYaml).dps) {
    if (
      dp.description?.startsWith(DP_DESCRIPTION_PREFIX) === true ||
      dp.description?.startsWith(STACK_DP_DESCRIPTION_PREFIX) === true
    )
      out.add(name);
  }
  return out;
}

/** VIDs the operator's `vlans:` entries define, or the operator's DPs use: dovesnap adds no entry for them (driver/vlan-capacity.ts). */
function operatorVids(
  facts: FaucetConfigFacts,
  owned: ReadonlySet<string>,
  operators: ReadonlySet<string>,
): Set<number> {
  const out = new Set<number>();
  const byKey = new Map<string, number>();
  for (const [key, vid] of facts.vlans) {
    byKey.set(key, vid);
    const ours = parseSharedVlanName(key) !== undefined || owned.has(parseManagedVlanName(key)?.dpName ?? '');
    if (!ours) out.add(vid);
  }
  for (const name of operators) {
    for (const ref of facts.dps.get(name)?.vlanRefs ?? []) {
      const vid = typeof ref === 'number' ? ref : byKey.get(ref);
      if (vid !== undefined) out.add(vid);
    }
  }
  return out;
}

/** The VIDs the operator's own `vlans:` entries and DPs use, as the file says now. */
export function operatorVlanIds(faucetYaml: string | FaucetConfigFacts): Set<number> {
  const facts = factsOf(faucetYaml);
  return operatorVids(facts, markedDps(facts), new Set(operatorDps(facts).keys()));
}

/** DPs in the file that are the operator's: neither marked as dovesnap's nor the placeholder. */
export function operatorDps(faucetYaml: string | FaucetConfigFacts): Map<string, bigint | undefined> {
  const facts = factsOf(faucetYaml);
  const marked = markedDps(facts);
  const out = new Map<string, bigint | undefined>();
  for (const [name, dp] of facts.dps) if (!marked.has(name) && name !== PLACEHOLDER_DP_NAME) out.set(name, dp.dpId);
  return out;
}

/**
 * Why a network may not be named `name` in FAUCET's configuration, or undefined: the name is
 * an operator's DP (which dovesnap must never overwrite) or the placeholder's.
 */
export function dpNameConflict(name: string, faucetYaml: string | FaucetConfigFacts): string | undefined {
  if (name === PLACEHOLDER_DP_NAME)
    return `the name ${name} is reserved for dovesnap's placeholder DP in FAUCET's configuration; choose another network name`;
  if (operatorDps(faucetYaml).has(name))
    return `FAUCET's configuration already has a DP named ${name} that is not a dovesnap network; choose another network name`;
  return undefined;
}

/**
 * Whether the container's port gets an anti-spoofing ACL: its label, else the network's option.
 * Never a capture port's: it is output-only, FAUCET takes nothing in from it to check.
 */
export function antispoofOn(e: EndpointRecord, n: NetworkRecord): boolean {
  if (captureOn(e)) return false;
  return e.labels?.antispoof ?? n.options.antispoof;
}

/**
 * The DPs with each anti-spoofing container port's `acls_in` replaced by the one ACL made for
 * it (driver/antispoof.ts) from the ACLs the port would have had, and those ACLs.
 */
export function withAntispoof(
  state: StateStore,
  dps: readonly FaucetDpSpec[],
  aclRules: ReadonlyMap<string, readonly AclRule[]>,
): { dps: FaucetDpSpec[]; acls: FaucetAclSpec[] } {
  const acls: FaucetAclSpec[] = [];
  const networks = new Map(
    state
      .allNetworks()
      .filter((n) => n.localFaucet)
      .map((n) => [faucetDpName(n), n]),
  );
  const out = dps.map((dp) => {
    const n = networks.get(dp.name);
    if (n === undefined) return dp;
    const guarded = new Map(
      state
        .endpointsOf(n.id)
        .filter((e) => e.container !== undefined && e.ofport !== undefined && antispoofOn(e, n))
        .map((e) => [e.ofport, e]),
    );
    if (guarded.size === 0) return dp;
    const ports = dp.ports.map((p) => {
      const e = guarded.get(p.number);
      if (e === undefined || p.description !== portDescription(e)) return p;
      const rules = antispoofRules(
        {
          mac: e.mac,
          ipv4: [e.ipv4, e.leasedIpv4].filter((a) => a !== undefined),
          ipv6: e.ipv6 === undefined ? [] : [e.ipv6],
          dhcp: n.options.dhcp,
        },
        p.aclsIn?.flatMap((a) => aclRules.get(a) ?? []),
      );
      const name = antispoofAclName(dp.name, p.number, rules);
      acls.push({ name, rules });
      return { ...p, aclsIn: [name] };
    });
    return { ...dp, ports };
  });
  return { dps: out, acls };
}

export function mirrorTunnelAclName(vid: number): string {
  return `${OWNED_ACL_PREFIX}mirror-tunnel-${vid}`;
}

/**
 * Where mirrored traffic is tunnelled to, if that switch is in this FAUCET's configuration with
 * that port: this host's stack switch, one in `targets` (mirrorTargets).
 */
export function stackMirrorTarget(stack: StackFacts, targets: ReadonlySet<string>): StackFacts['mirror'] {
  const m = stack.mirror;
  return m !== undefined && (targets.has(m.dp) || m.dp === stack.dpName) ? m : undefined;
}

/**
 * The switches other than this host's that STACK_MIRROR_INTERFACE may name: the operator's (the
 * port is theirs to declare), and another host's stack switch once its dovesnap has declared
 * the port (FAUCET refuses a tunnel to a port it does not know).
 */
export function mirrorTargets(
  facts: FaucetConfigFacts,
  stack: StackFacts | undefined,
  operators: ReadonlySet<string>,
  peers: ReadonlySet<string>,
): Set<string> {
  const out = new Set(operators);
  const m = stack?.mirror;
  if (stack !== undefined && m !== undefined && peers.has(m.dp)) {
    if (facts.dps.get(m.dp)?.interfaceDescriptions.has(m.port) === true) out.add(m.dp);
  }
  return out;
}

/** The description of a stack switch's port that takes every host's mirrored traffic. */
export const MIRROR_SINK_DESCRIPTION = 'where mirrored traffic of every host ends up';

export const STACK_DP_DESCRIPTION_PREFIX = 'dovesnap stack switch';

/**
 * The other hosts' dovesnap stack switches in the configuration (DPs marked as a stack switch,
 * not named `own`): a host's stacking interface (STACKING_INTERFACES=DP:PORT:IFACE) may link to
 * one as to an operator's switch. One is in the configuration only while connected to the
 * stack's root (see managedState), so a link to it connects this host's switch too.
 */
export function peerStackDps(facts: FaucetConfigFacts, own: string): Set<string> {
  const out = new Set<string>();
  for (const [name, dp] of facts.dps)
    if (name !== own && dp.description?.startsWith(STACK_DP_DESCRIPTION_PREFIX) === true) out.add(name);
  return out;
}

/**
 * The stack switch's DP, the tunnel ACLs and the far ends of the stack links, from the stack's
 * facts. `linkable`: the DPs a stacking interface may link to (the operator's, and other hosts'
 * dovesnap stack switches). FAUCET takes a stack link only when both its ends are declared
 * (stack.py: "defined only in one direction"), and validates every write: so both ends come in
 * this host's one write, the far one as an entry marked FOREIGN_PORT_MARK in the other switch's
 * DP — for another host's switch too, whose dovesnap then takes that entry over as its own end
 * (remote-plan.ts leaves an unmarked entry alone and keeps a marked one of another host's).
 */
export function stackParts(
  state: StateStore,
  stack: StackFacts,
  operatorDpNames: ReadonlySet<string>,
  linkable: ReadonlySet<string> = operatorDpNames,
  tunnelTargets: ReadonlySet<string> = operatorDpNames,
): { dp: FaucetDpSpec; acls: FaucetAclSpec[]; foreignPorts: FaucetForeignPortSpec[] } {
  const ports: FaucetPortSpec[] = [];
  for (const [networkId, link] of stack.links) {
    const n = state.network(networkId);
    const dpName = n === undefined ? undefined : faucetDpName(n);
    if (dpName === undefined || operatorDpNames.has(dpName)) continue;
    ports.push({
      number: link.stackPort,
      description: `stack link to ${dpName}`,
      stack: { dp: dpName, port: link.networkPort },
    });
  }
  // A link to a switch this FAUCET does not know would make it refuse the whole file.
  const reachable = stack.interfaces.filter((i) => linkable.has(i.remoteDp));
  for (const i of reachable)
    ports.push({
      number: i.ofport,
      description: `stack link to ${i.remoteDp} via ${i.interface}`,
      stack: { dp: i.remoteDp, port: i.remotePort },
    });
  const sink = stack.mirror;
  if (sink?.interface !== undefined && sink.dp === stack.dpName)
    ports.push({ number: sink.port, description: `${MIRROR_SINK_DESCRIPTION} (${sink.interface})`, outputOnly: true });
  ports.sort((a, b) => a.number - b.number);
  const acls = new Map<string, FaucetAclSpec>();
  const mirror = stackMirrorTarget(stack, tunnelTargets);
  if (mirror !== undefined) {
    for (const networkId of stack.loopbacks.keys()) {
      const vid = state.network(networkId)?.options.mirrorTunnelVid;
      if (vid === undefined) continue;
      const name = mirrorTunnelAclName(vid);
      acls.set(name, {
        name,
        rules: [
          // Frames already in the tunnel are not tunnelled again.
          { vlan_vid: vid, actions: { allow: false } },
          {
            actions: {
              allow: false,
              output: { tunnel: { dp: mirror.dp, port: mirror.port, tunnel_id: vid, type: 'vlan' } },
            },
          },
        ],
      });
    }
  }
  const foreignPorts = reachable.map((i) => ({
    dp: i.remoteDp,
    port: {
      number: i.remotePort,
      description: `${FOREIGN_PORT_MARK} to ${stack.dpName}`,
      stack: { dp: stack.dpName, port: i.ofport },
    },
  }));
  return {
    dp: {
      name: stack.dpName,
      dpId: stack.dpId,
      description: `${STACK_DP_DESCRIPTION_PREFIX} ${stack.dpName}`,
      ports,
      ...(stack.priority1 === stack.dpName ? { stackPriority: 1 } : {}),
    },
    acls: [...acls.values()],
    foreignPorts,
  };
}

/**
 * What other hosts' DPs (`others`) use of the entries named like dovesnap's: the shared VLAN
 * entries they name (by key or by VID) and the ACLs they apply or are named after.
 */
export function keptEntries(facts: FaucetConfigFacts, others: ReadonlySet<string>): KeptEntries {
  const vlans = new Set<string>();
  const acls = new Set<string>();
  for (const name of others) {
    const dp = facts.dps.get(name);
    if (dp === undefined) continue;
    for (const ref of dp.vlanRefs)
      if (typeof ref === 'string') vlans.add(ref);
      else for (const [key, vid] of facts.vlans) if (vid === ref) vlans.add(key);
    for (const acl of dp.aclRefs) acls.add(acl);
    for (const acl of facts.acls)
      if (acl.startsWith(`${ANTISPOOF_ACL_PREFIX}${name}-`) || acl === stackSettleAclName(name)) acls.add(acl);
  }
  return { dps: others, vlans, acls };
}

/**
 * `owner`: who this daemon is, when other hosts' dovesnap may write the same configuration:
 * their DPs, and what those use, are then neither owned nor removed (`kept`). Without it every
 * DP marked as dovesnap's is this daemon's, as on a host that is alone.
 */
export function managedState(
  state: StateStore,
  current: string | FaucetConfigFacts,
  definedAcls: ReadonlySet<string>,
  bridgePorts: ReadonlyMap<string, readonly BridgePort[]>,
  spares: ReadonlyMap<string, readonly number[]> = new Map(),
  stack: StackFacts | undefined = undefined,
  owner: DpOwner | undefined = undefined,
): ManagedFaucetState {
  const facts = factsOf(current);
  const operators = new Set(operatorDps(facts).keys());
  const others = owner === undefined ? new Set<string>() : otherHostsDps(facts, owner);
  const kept = others.size === 0 ? undefined : keptEntries(facts, others);
  const owned = markedDps(facts);
  for (const name of others) owned.delete(name);
  // A network whose name is an operator's DP is never rendered (and never claims the DP).
  for (const n of state.allNetworks()) {
    const dpName = faucetDpName(n);
    if (dpName !== undefined && n.localFaucet && !operators.has(dpName)) owned.add(dpName);
  }
  owned.delete(PLACEHOLDER_DP_NAME);
  // FAUCET refuses a whole file whose stack has no root it knows: without one, stacking stays
  // out of the configuration (GET /host says why) and the networks work on their own.
  const peers = stack === undefined ? new Set<string>() : peerStackDps(facts, stack.dpName);
  const linkable = new Set([...operators, ...peers]);
  // FAUCET also refuses a stack switch with no path to the root (stack.py "not connected to
  // stack"): unless it is the root, it joins once one of its links reaches a switch that is
  // there (another host's is there only while connected itself).
  const stackOn =
    stack !== undefined &&
    !operators.has(stack.dpName) &&
    (stack.priority1 === stack.dpName ||
      (linkable.has(stack.priority1) && stack.interfaces.some((i) => linkable.has(i.remoteDp))));
  const tunnelTargets = mirrorTargets(facts, stack, operators, peers);
  const guarded = withAntispoof(
    state,
    desiredDps(
      state,
      definedAcls,
      bridgePorts,
      facts.aclUsage.output,
      operators,
      spares,
      stackOn ? stack : undefined,
      tunnelTargets,
    ),
    facts.aclRules,
  );
  const sized = withVlanCapacity(guarded.dps, operatorVids(facts, owned, operators));
  const dps = sized.dps;
  const vlans = sized.shared;
  if (stack !== undefined && !operators.has(stack.dpName)) owned.add(stack.dpName);
  if (!stackOn) return { dps, owned, acls: guarded.acls, foreignPorts: [], vlans, ...(kept && { kept }) };
  const parts = stackParts(state, stack, operators, linkable, tunnelTargets);
  // Until a network is linked, the stack switch carries no VLAN, and FAUCET refuses such a DP
  // (and with it the whole file): it joins the configuration with the first network.
  const rendered = new Set(dps.map((d) => d.name));
  if (!parts.dp.ports.some((p) => p.stack !== undefined && rendered.has(p.stack.dp)))
    return { dps, owned, acls: guarded.acls, foreignPorts: [], vlans, ...(kept && { kept }) };
  const settle = stack.settled === undefined ? [] : [stackSettleAcl(stack.dpName, stack.settled)];
  return {
    dps: [...dps, parts.dp],
    owned,
    acls: [...guarded.acls, ...parts.acls, ...settle],
    foreignPorts: parts.foreignPorts,
    vlans,
    ...(kept && { kept }),
  };
}
