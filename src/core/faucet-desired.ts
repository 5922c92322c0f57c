import { parse } from 'yaml';
import type { FaucetDpSpec, FaucetPortSpec, ManagedFaucetState } from '../faucet/types.js';
import { PLACEHOLDER_DP_NAME } from '../faucet/placeholder.js';
import { OFPP_LOCAL } from '../faucet/types.js';
import type { EndpointRecord, NetworkRecord, StateStore } from './state.js';

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
export function blockReason(e: EndpointRecord, definedAcls: ReadonlySet<string>, outputAcls: ReadonlySet<string> = new Set()): string | undefined {
  if (e.faucetRejected !== undefined) return e.faucetRejected;
  const both = (e.labels?.portAcls ?? []).filter((a) => outputAcls.has(a));
  if (both.length > 0) return `label dovesnap.faucet.portacl names ACL ${both.join(', ')}, which is a VLAN output ACL (vlan_out_acl/acls_out); ${ONE_WAY}`;
  if (e.blockedReason !== undefined && e.labels === undefined) return e.blockedReason;
  const missing = (e.labels?.portAcls ?? []).filter((a) => !definedAcls.has(a));
  if (missing.length > 0) return `label dovesnap.faucet.portacl names ACL ${missing.join(', ')} that FAUCET's configuration does not define`;
  return undefined;
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
    return { number: OFPP_LOCAL, description: `${n.bridgeName} local port (unused on a flat network)`, outputOnly: true };
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

export function desiredDps(
  state: StateStore,
  definedAcls: ReadonlySet<string>,
  hostPortNumbers: ReadonlyMap<string, ReadonlyMap<string, number>>,
  outputAcls: ReadonlySet<string> = new Set(),
): FaucetDpSpec[] {
  const dps: FaucetDpSpec[] = [];
  for (const n of state.allNetworks()) {
    if (n.name === undefined) continue;
    const ports: FaucetPortSpec[] = [];
    for (const e of state.endpointsOf(n.id)) {
      if (e.container === undefined || e.ofport === undefined) continue;
      if (blockReason(e, definedAcls, outputAcls) !== undefined) continue;
      const acls = portAclsFor(e, n);
      ports.push({ number: e.ofport, description: portDescription(e), nativeVlan: n.options.vlan, ...(acls ? { aclsIn: acls } : {}) });
    }
    const numbers = hostPortNumbers.get(n.id);
    for (const p of n.options.addPorts) {
      const number = numbers?.get(p.interface);
      if (number === undefined) continue;
      ports.push({ number, description: `Physical interface ${p.interface}`, nativeVlan: n.options.vlan, ...(p.acl ? { aclsIn: [p.acl] } : {}) });
    }
    ports.push(localPort(n));
    ports.sort((a, b) => a.number - b.number);
    const vlanOut = n.options.vlanOutAcl;
    dps.push({
      name: n.name,
      dpId: n.options.dpid,
      description: dpDescription(n),
      ports,
      // FAUCET applies a VLAN's output ACLs only in its egress pipeline.
      ...(vlanOut === undefined ? {} : { egressPipeline: true, vlans: [{ vid: n.options.vlan, description: `dovesnap network ${n.name}`, aclsOut: [vlanOut] }] }),
    });
  }
  return dps;
}

/**
 * FAUCET 1.10.12 crashes (AssertionError "vlan_vid match in table egress_acl") when one ACL is
 * used both as a VLAN's output ACL and as an input ACL (reproduced: a port's acls_in in one DP,
 * a VLAN's acls_out for another). dovesnap keeps each ACL to one direction.
 */
export const ONE_WAY = "FAUCET 1.10 crashes when one ACL is used both as an output and as an input ACL; use a copy of it under another name";

export interface AclUsage {
  /** ACLs used on input: ports' and VLANs' acls_in/acl_in, DPs' dp_acls. */
  readonly input: Set<string>;
  /** ACLs used on output: VLANs' acls_out/acl_out. */
  readonly output: Set<string>;
}

function names(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * faucet.yaml as plain data, or undefined if it does not parse. Every sync asks several
 * questions of the same text, so the last parse is kept.
 */
let lastParsed: { text: string; doc: unknown } | undefined;
function parsedFaucet(text: string): unknown {
  if (lastParsed?.text !== text) {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch {
      doc = undefined;
    }
    lastParsed = { text, doc };
  }
  return lastParsed.doc;
}

export function aclUsage(faucetYaml: string): AclUsage {
  const input = new Set<string>();
  const output = new Set<string>();
  const doc = parsedFaucet(faucetYaml);
  const top = (doc ?? {}) as { dps?: unknown; vlans?: unknown };
  const each = (m: unknown): Record<string, unknown>[] =>
    typeof m === 'object' && m !== null ? Object.values(m as Record<string, unknown>).filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null) : [];
  for (const vlan of each(top.vlans)) {
    for (const a of [...names(vlan['acls_in']), ...names(vlan['acl_in'])]) input.add(a);
    for (const a of [...names(vlan['acls_out']), ...names(vlan['acl_out'])]) output.add(a);
  }
  for (const dp of each(top.dps)) {
    for (const a of names(dp['dp_acls'])) input.add(a);
    for (const port of each(dp['interfaces'])) for (const a of [...names(port['acls_in']), ...names(port['acl_in'])]) input.add(a);
  }
  return { input, output };
}

/** DPs in the file that dovesnap made (marked by their description), whether or not still wanted. */
export function markedDps(faucetYaml: string): Set<string> {
  const out = new Set<string>();
  const doc = parsedFaucet(faucetYaml);
  const dps = (doc as { dps?: unknown } | null)?.dps;
  if (typeof dps !== 'object' || dps === null) return out;
  for (const [name, dp] of Object.entries(dps as Record<string, unknown>)) {
    const d = (dp as { description?: unknown } | null)?.description;
    if (typeof d === 'string' && d.startsWith(DP_DESCRIPTION_PREFIX)) out.add(name);
  }
  return out;
}

export function managedState(state: StateStore, currentYaml: string, definedAcls: ReadonlySet<string>, hostPortNumbers: ReadonlyMap<string, ReadonlyMap<string, number>>): ManagedFaucetState {
  const owned = markedDps(currentYaml);
  for (const n of state.allNetworks()) if (n.name !== undefined) owned.add(n.name);
  owned.delete(PLACEHOLDER_DP_NAME);
  return { dps: desiredDps(state, definedAcls, hostPortNumbers, aclUsage(currentYaml).output), owned };
}
