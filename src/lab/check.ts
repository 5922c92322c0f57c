/**
 * The checks beyond shape: everything that needs more than one place of the file (references,
 * subnets and addresses, link ends, routes, wait-for cycles, DPIDs). Each error is put where
 * the value it is about was written (an inherited value: in `defaults:` or its group).
 *
 * The result carries what the checks had to work out anyway (each node's interfaces, routes,
 * the networks' subnets and host routes), so resolve.ts only spells the lab out.
 */
import type { LabHostRoute, LabInterface, LabNodeKind, LabRoute } from './model.js';
import {
  checkNetworks,
  linkSubnet,
  type CheckContext,
  type CheckedNetwork,
  type Endpoint,
  type Iface,
} from './check-networks.js';
import { checkHostRoutes, checkRoutes } from './check-routes.js';
import type { MergedNode } from './inherit.js';
import { contains, formatCidr, ipToNumber, networkOf, notAHostAddress, parseCidr } from './ipv4.js';
import type { Path } from './positions.js';
import type { InterfaceInput } from './spec.js';
import { didYouMean } from './suggest.js';

export type { CheckContext, CheckedNetwork } from './check-networks.js';

export interface CheckedNode {
  readonly m: MergedNode;
  readonly kind: LabNodeKind;
  /** Sorted by name. */
  readonly interfaces: readonly LabInterface[];
  readonly routes: readonly LabRoute[];
  readonly waitFor: readonly string[];
}

export interface Checked {
  /** Segments in the file's order, then links. */
  readonly networks: readonly CheckedNetwork[];
  /** By network key. */
  readonly hostRoutes: ReadonlyMap<string, readonly LabHostRoute[]>;
  readonly nodes: readonly CheckedNode[];
}

const LABEL_SHORT = ['portacl', 'mirror', 'mac_prefix', 'antispoof', 'capture'];

function nodeKind(m: MergedNode): LabNodeKind {
  return m.kind?.value ?? (m.image === undefined ? 'host' : 'custom');
}

/** A node's interfaces: its `interfaces:` and the link ends that name it. */
function nodeInterfaces(
  ctx: CheckContext,
  m: MergedNode,
  segments: ReadonlyMap<string, CheckedNetwork>,
  ends: ReadonlyMap<string, { link: CheckedNetwork; end: Endpoint }>,
): Iface[] {
  const e = ctx.errors;
  const out: Iface[] = [];
  for (const [name, from] of m.interfaces) {
    const v: Exclude<InterfaceInput, string> = typeof from.value === 'string' ? { network: from.value } : from.value;
    const netAt = typeof from.value === 'string' ? from.at : [...from.at, 'network'];
    const link = ends.get(`${m.key}:${name}`);
    let net: CheckedNetwork | undefined;
    if (v.network !== undefined && link !== undefined) {
      e.add(
        netAt,
        `interface ${name} of ${m.key} is on network ${v.network} and on link ${link.link.key}; an interface is on one network or link`,
      );
      continue;
    } else if (v.network !== undefined) {
      net = segments.get(v.network);
      if (net === undefined) {
        e.add(netAt, `unknown network ${JSON.stringify(v.network)}${didYouMean(v.network, segments.keys())}`);
        continue;
      }
    } else if (link !== undefined) {
      net = link.link;
    } else {
      e.add(
        from.at,
        `interface ${name} of ${m.key} is on no network: give it network:, or make ${m.key}:${name} a link endpoint`,
        'key',
      );
      continue;
    }
    let address: { readonly text: string; readonly at: Path } | undefined =
      v.address === undefined ? undefined : { text: v.address, at: [...from.at, 'address'] };
    if (link?.end.address !== undefined) {
      if (address !== undefined)
        e.add(
          address.at,
          `link ${link.link.key} already gives ${m.key}:${name} the address ${link.end.address.text} in its addresses:; give it in one place`,
        );
      address = link.end.address;
    }
    const acls =
      v.acl === undefined
        ? undefined
        : { names: typeof v.acl === 'string' ? [v.acl] : [...v.acl], at: [...from.at, 'acl'] };
    if (acls !== undefined && (m.labels.has('portacl') || m.labels.has('dovesnap.faucet.portacl'))) {
      e.add(acls.at, `${m.key} gives its ports' ACLs in labels.portacl already; give them in one place`);
    }
    out.push({
      node: m.key,
      name,
      net,
      at: from.at,
      where: 'key',
      ...(address ? { address } : {}),
      ...(v.mac === undefined ? {} : { mac: { text: v.mac, at: [...from.at, 'mac'] } }),
      ...(acls === undefined ? {} : { acls }),
    });
  }
  for (const { link, end } of ends.values()) {
    if (end.node !== m.key || m.interfaces.has(end.iface)) continue;
    out.push({
      node: m.key,
      name: end.iface,
      net: link,
      at: end.at,
      where: 'value',
      ...(end.address ? { address: end.address } : {}),
    });
  }
  const byNet = new Map<string, Iface>();
  for (const i of out) {
    // (Both ends of a link on one node is the link's error already.)
    if (i.net.kind === 'link') continue;
    const first = byNet.get(i.net.key);
    if (first !== undefined)
      e.add(
        i.at,
        `${m.key} has two interfaces on network ${i.net.key} (${first.name} and ${i.name}); Docker connects a container to a network once`,
        i.where,
      );
    else byNet.set(i.net.key, i);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Addresses on their networks: in the subnet, hosts' addresses, not the gateway, each once; MACs each once. */
function checkAddresses(ctx: CheckContext, ifaces: readonly Iface[]): void {
  const e = ctx.errors;
  // A link's subnet, when its ends' addresses were given on the nodes rather than in addresses:.
  const linkEnds = new Map<CheckedNetwork, Iface[]>();
  for (const i of ifaces)
    if (i.net.kind === 'link' && i.address !== undefined && i.net.subnet === undefined)
      linkEnds.set(i.net, [...(linkEnds.get(i.net) ?? []), i]);
  for (const [net, ends] of linkEnds) {
    const [a, b] = ends;
    if (a?.address !== undefined && b?.address !== undefined) linkSubnet(ctx, net, a.address, b.address);
    else if (a?.address !== undefined) {
      const c = parseCidr(a.address.text);
      const why = notAHostAddress(c, c.ip);
      if (why !== undefined)
        e.add(a.address.at, `address ${a.address.text} ${why} of ${formatCidr({ ip: networkOf(c), len: c.len })}`);
      net.subnet = { ip: networkOf(c), len: c.len };
    }
  }
  const used = new Map<string, Iface>();
  const macs = new Map<string, Iface>();
  for (const i of ifaces) {
    const n = i.net;
    if (i.mac !== undefined && n.kind === 'segment' && 'antispoof' in n.input && n.input.antispoof === true) {
      // The lab sets a declared MAC after the daemon has pinned the port to Docker's.
      e.add(
        i.mac.at,
        `network ${n.key} has antispoof: true, which pins each port to the MAC Docker gave it; the lab sets mac: only afterwards, so the port would drop all of the node's traffic`,
      );
    }
    if (i.mac !== undefined) {
      const id = `${n.key}/${i.mac.text.toLowerCase()}`;
      const first = macs.get(id);
      if (first !== undefined) e.add(i.mac.at, `MAC ${i.mac.text} is also ${first.node}:${first.name}'s on ${n.key}`);
      else macs.set(id, i);
    }
    if (i.address === undefined) continue;
    const { text, at } = i.address;
    const c = parseCidr(text);
    if (n.kind === 'segment') {
      if ('dhcp' in n.input && n.input.dhcp === true) {
        e.add(at, `network ${n.key} leases addresses by DHCP; a static address ${text} does not belong on it`);
        continue;
      }
      const s = n.subnet;
      if (s !== undefined) {
        if (!contains(s, c.ip)) {
          e.add(at, `address ${text} is outside network ${n.key}'s subnet ${formatCidr(s)}`);
          continue;
        }
        if (c.len !== s.len)
          e.add(
            at,
            `address ${text} has prefix length /${c.len}, network ${n.key}'s subnet ${formatCidr(s)} /${s.len}`,
          );
      }
      const why = notAHostAddress(s ?? c, c.ip);
      if (why !== undefined)
        e.add(at, `address ${text} ${why} of ${formatCidr({ ip: networkOf(s ?? c), len: (s ?? c).len })}`);
      if (n.gateway !== undefined && ipToNumber(n.gateway) === c.ip)
        e.add(at, `address ${text} is network ${n.key}'s gateway (the host's address)`);
    }
    const id = `${n.key}/${c.ip}`;
    const first = used.get(id);
    if (first !== undefined) e.add(at, `address ${text} is also ${first.node}:${first.name}'s on ${n.key}`);
    else used.set(id, i);
  }
}

function checkWaitFor(ctx: CheckContext, m: MergedNode): string[] {
  const out: string[] = [];
  const nodes = Object.keys(ctx.file.nodes);
  const waitFor = m.waitFor;
  waitFor?.value.forEach((name, idx) => {
    const at = [...waitFor.at, idx];
    if (name === m.key) ctx.errors.add(at, `${m.key} cannot wait for itself`);
    else if (!Object.hasOwn(ctx.file.nodes, name))
      ctx.errors.add(at, `unknown node ${JSON.stringify(name)}${didYouMean(name, nodes)}`);
    else if (!out.includes(name)) out.push(name);
  });
  return out;
}

/** Each wait-for cycle once, at the wait-for entry of its first node (in the file's order) that starts it. */
function checkCycles(ctx: CheckContext, nodes: readonly CheckedNode[]): void {
  const byKey = new Map(nodes.map((n) => [n.m.key, n]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (key: string): void => {
    state.set(key, 'open');
    stack.push(key);
    const n = byKey.get(key);
    for (const next of n?.waitFor ?? []) {
      if (state.get(next) === 'open') {
        const cycle = [...stack.slice(stack.indexOf(next)), next];
        const startKey = cycle[0] ?? next;
        const start = byKey.get(startKey);
        const idx = start?.m.waitFor?.value.indexOf(cycle[1] ?? '') ?? -1;
        const at = start?.m.waitFor === undefined ? ['nodes', startKey] : [...start.m.waitFor.at, Math.max(idx, 0)];
        ctx.errors.add(at, `wait-for cycle: ${cycle.join(' -> ')}`);
      } else if (state.get(next) === undefined) visit(next);
    }
    stack.pop();
    state.set(key, 'done');
  };
  for (const n of nodes) if (!state.has(n.m.key)) visit(n.m.key);
}

function checkNodeFields(ctx: CheckContext, m: MergedNode, kind: LabNodeKind): void {
  const e = ctx.errors;
  if (m.group !== undefined && !Object.hasOwn(ctx.file.groups ?? {}, m.group.value)) {
    e.add(
      m.group.at,
      `unknown group ${JSON.stringify(m.group.value)}${didYouMean(m.group.value, Object.keys(ctx.file.groups ?? {}))}`,
    );
  }
  for (const f of m.files.values()) {
    if (f.config && kind !== 'router')
      e.add(f.at, `config: is for kind router; ${m.key} is ${kind} (give the file under files:)`, 'key');
    if (typeof f.value === 'string') continue;
    const has = (f.value.content !== undefined ? 1 : 0) + (f.value.source !== undefined ? 1 : 0);
    if (has !== 1)
      e.add(f.at, has === 0 ? 'a file needs content: or source:' : 'a file has content: or source:, not both');
  }
  for (const [key, from] of m.labels) {
    if (key.startsWith('dovesnap.lab')) e.add(from.at, `labels starting with dovesnap.lab are the lab's own`, 'key');
    const long = m.labels.get(`dovesnap.faucet.${key}`);
    if (LABEL_SHORT.includes(key) && long !== undefined) {
      e.add(
        long.at,
        `both ${key} and dovesnap.faucet.${key} are given; ${key} is short for dovesnap.faucet.${key}`,
        'key',
      );
    }
  }
}

export function check(ctx: CheckContext, merged: readonly MergedNode[]): Checked {
  const networks = checkNetworks(ctx);
  const segments = new Map(networks.filter((n) => n.kind === 'segment').map((n) => [n.key, n]));
  const ends = new Map<string, { link: CheckedNetwork; end: Endpoint }>();
  for (const link of networks) {
    for (const end of link.endpoints) {
      const id = `${end.node}:${end.iface}`;
      const first = ends.get(id);
      if (first !== undefined)
        ctx.errors.add(end.at, `${id} is already an end of link ${first.link.key}; an interface is on one link`);
      else ends.set(id, { link, end });
    }
  }
  const all: Iface[] = [];
  const partial = merged.map((m) => {
    const kind = nodeKind(m);
    checkNodeFields(ctx, m, kind);
    const ifaces = nodeInterfaces(ctx, m, segments, ends);
    all.push(...ifaces);
    return { m, kind, ifaces, waitFor: checkWaitFor(ctx, m) };
  });
  checkAddresses(ctx, all);
  const nodes: CheckedNode[] = partial.map(({ m, kind, ifaces, waitFor }) => ({
    m,
    kind,
    interfaces: ifaces.map((i) => ({
      name: i.name,
      network: i.net.key,
      ...(i.address ? { address: i.address.text } : {}),
      ...(i.mac ? { mac: i.mac.text.toLowerCase() } : {}),
      ...(i.acls ? { acls: i.acls.names } : {}),
    })),
    routes: checkRoutes(ctx, m, ifaces),
    waitFor,
  }));
  checkCycles(ctx, nodes);
  const hostRoutes = new Map(networks.map((n) => [n.key, checkHostRoutes(ctx, n, all)]));
  return { networks, hostRoutes, nodes };
}
