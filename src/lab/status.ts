import { defaultBridgeName } from '../model/options.js';
import type { LabDocker } from './docker.js';
import { INTERFACES_LABEL, KIND_LABEL, LAB_LABEL, NETWORK_LABEL, NODE_LABEL } from './identity.js';
import { addressesOf } from './node-net.js';
import { nodeIsReady } from './node-up.js';
import { labNamesWithState, readLabState } from './state.js';

/**
 * `dovesnap lab status`: what runs of a lab, read from Docker, the nodes' namespaces and their
 * routing daemons — never from the lab file, which may have been edited since `up`.
 */

export interface OspfNeighbour {
  readonly routerId: string;
  readonly state: string;
  readonly address: string;
  readonly interface: string;
}

export interface NodeInterfaceStatus {
  readonly name: string;
  readonly mac: string;
  readonly state: string;
  readonly addresses: readonly string[];
  /** The lab network (key) the interface is on, when it is one of the lab's. */
  readonly network?: string;
}

export interface NodeStatus {
  readonly name: string;
  readonly kind: string;
  readonly container: string;
  readonly id: string;
  /** Docker's state (`running`, `exited`, …); `starting` while its set-up is not finished. */
  readonly state: string;
  readonly interfaces: readonly NodeInterfaceStatus[];
  /** Routers: the OSPF neighbours FRR has (absent when it could not be asked). */
  readonly ospfNeighbours?: readonly OspfNeighbour[];
}

export interface NetworkStatus {
  readonly name: string;
  readonly kind: string;
  readonly dockerName: string;
  readonly id: string;
  readonly mode: string;
  readonly subnet?: string;
  readonly bridge: string;
  readonly dpid?: string;
}

export interface LabStatus {
  readonly name: string;
  readonly file?: string;
  readonly updated?: string;
  readonly nodes: readonly NodeStatus[];
  readonly networks: readonly NetworkStatus[];
}

/** FRR's `show ip ospf neighbor json`: `{neighbors: {ROUTER-ID: [{…}]}}` (field names vary a little by version). */
export function parseOspfNeighbours(json: string): OspfNeighbour[] {
  const doc = JSON.parse(json) as { neighbors?: Record<string, Record<string, unknown>[] | Record<string, unknown>> };
  const out: OspfNeighbour[] = [];
  for (const [routerId, entries] of Object.entries(doc.neighbors ?? {})) {
    for (const e of Array.isArray(entries) ? entries : [entries]) {
      const str = (...keys: string[]): string => {
        for (const k of keys) if (typeof e[k] === 'string') return e[k] as string;
        return '';
      };
      out.push({
        routerId,
        state: str('nbrState', 'state'),
        address: str('ifaceAddress', 'address'),
        interface: str('ifaceName').split(':')[0] ?? '',
      });
    }
  }
  return out.sort((a, b) => (a.routerId < b.routerId ? -1 : a.routerId > b.routerId ? 1 : 0));
}

async function ospfNeighbours(docker: LabDocker, id: string): Promise<OspfNeighbour[] | undefined> {
  try {
    const r = await docker.exec(id, ['vtysh', '-c', 'show ip ospf neighbor json'], 10_000);
    if (r.exitCode !== 0) return undefined;
    return parseOspfNeighbours(r.stdout);
  } catch {
    return undefined;
  }
}

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Which lab network a node's interface is on: by its name, from the node's interfaces label
 * (the lab renamed each to its declared name); for a container made before that label, by the
 * MAC Docker reports for each network (which a declared mac: replaced).
 */
export function interfaceNetworks(
  label: string | undefined,
  endpoints: Readonly<Record<string, { readonly MacAddress?: string }>>,
  netKeyByDockerName: ReadonlyMap<string, string>,
): (ifname: string, mac: string) => string | undefined {
  const byName = new Map<string, string>();
  for (const pair of (label ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) byName.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const byMac = new Map<string, string>();
  for (const [name, ep] of Object.entries(endpoints)) {
    if (ep.MacAddress !== undefined && ep.MacAddress !== '')
      byMac.set(ep.MacAddress.toLowerCase(), netKeyByDockerName.get(name) ?? name);
  }
  return (ifname, mac) => byName.get(ifname) ?? byMac.get(mac.toLowerCase());
}

export async function labStatus(docker: LabDocker, lab: string): Promise<LabStatus> {
  const state = await readLabState(lab);
  const networks: NetworkStatus[] = [];
  const netKeyByDockerName = new Map<string, string>();
  for (const n of await docker.networksLabelled(`${LAB_LABEL}=${lab}`)) {
    const info = (await docker.inspectNetwork(n.Id)) ?? n;
    const labels = info.Labels ?? {};
    const opts = info.Options ?? {};
    const key = labels[NETWORK_LABEL] ?? info.Name;
    netKeyByDockerName.set(info.Name, key);
    const subnet = info.IPAM?.Config?.[0]?.Subnet;
    networks.push({
      name: key,
      kind: labels[KIND_LABEL] ?? 'segment',
      dockerName: info.Name,
      id: info.Id,
      mode: opts['ovs.bridge.mode'] ?? 'flat',
      // Docker's null IPAM reports 0.0.0.0/0: no subnet of the network's own.
      ...(subnet === undefined || subnet === '' || subnet === '0.0.0.0/0' ? {} : { subnet }),
      bridge: opts['ovs.bridge.name'] ?? defaultBridgeName(info.Id),
      ...(opts['ovs.bridge.dpid'] === undefined ? {} : { dpid: opts['ovs.bridge.dpid'] }),
    });
  }
  const nodes: NodeStatus[] = [];
  for (const c of await docker.containersLabelled(`${LAB_LABEL}=${lab}`)) {
    const info = await docker.inspectContainer(c.Id);
    if (info === undefined) continue;
    const labels = info.Config.Labels ?? {};
    const kind = labels[KIND_LABEL] ?? 'custom';
    const networkOf = interfaceNetworks(
      labels[INTERFACES_LABEL],
      info.NetworkSettings.Networks ?? {},
      netKeyByDockerName,
    );
    let interfaces: NodeInterfaceStatus[] = [];
    let status = info.State.Status;
    let neighbours: OspfNeighbour[] | undefined;
    if (info.State.Running && info.State.Pid > 0) {
      if (!(await nodeIsReady(info.State.Pid))) status = 'starting';
      const seen = await addressesOf(info.State.Pid).catch(() => []);
      interfaces = seen.map((s) => {
        const network = networkOf(s.ifname, s.mac);
        return {
          name: s.ifname,
          mac: s.mac,
          state: s.state,
          addresses: s.addresses,
          ...(network === undefined ? {} : { network }),
        };
      });
      if (kind === 'router') neighbours = await ospfNeighbours(docker, info.Id);
    }
    nodes.push({
      name: labels[NODE_LABEL] ?? info.Name.replace(/^\//, ''),
      kind,
      container: info.Name.replace(/^\//, ''),
      id: info.Id,
      state: status,
      interfaces: interfaces.sort(byName),
      ...(neighbours === undefined ? {} : { ospfNeighbours: neighbours }),
    });
  }
  return {
    name: lab,
    ...(state === undefined ? {} : { file: state.file, updated: state.updated }),
    nodes: nodes.sort(byName),
    networks: networks.sort((a, b) => (a.kind === b.kind ? byName(a, b) : a.kind === 'segment' ? -1 : 1)),
  };
}

/** Every lab this host has: those with a state file and those with labelled objects. */
export async function labNames(docker: LabDocker): Promise<string[]> {
  const names = new Set(await labNamesWithState());
  for (const c of await docker.containersLabelled(LAB_LABEL)) {
    const n = c.Labels[LAB_LABEL];
    if (n !== undefined) names.add(n);
  }
  for (const n of await docker.networksLabelled(LAB_LABEL)) {
    const name = n.Labels?.[LAB_LABEL];
    if (name !== undefined) names.add(name);
  }
  return [...names].sort();
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function renderLabStatus(s: LabStatus): string {
  const out: string[] = [];
  out.push(`lab ${s.name}${s.file === undefined ? '' : ` (${s.file}, last up ${s.updated ?? '?'})`}`);
  if (s.nodes.length === 0 && s.networks.length === 0) return `${out[0]}: nothing runs\n`;
  out.push('');
  const nodeRows: string[][] = [['NODE', 'KIND', 'STATE', 'CONTAINER', 'INTERFACES']];
  for (const n of s.nodes) {
    const ifs = n.interfaces.map(
      (i) =>
        `${i.name}${i.addresses.length > 0 ? ` ${i.addresses.join(' ')}` : ''}${i.network === undefined ? '' : ` (${i.network})`}${i.state === 'up' || i.state === 'unknown' ? '' : ` ${i.state}`}`,
    );
    nodeRows.push([n.name, n.kind, n.state, n.container, ifs.join(', ') || '-']);
  }
  out.push(table(nodeRows), '');
  const netRows: string[][] = [['NETWORK', 'KIND', 'MODE', 'SUBNET', 'DOCKER NETWORK', 'BRIDGE', 'DPID']];
  for (const n of s.networks)
    netRows.push([n.name, n.kind, n.mode, n.subnet ?? '-', n.dockerName, n.bridge, n.dpid ?? '-']);
  out.push(table(netRows));
  const routers = s.nodes.filter((n) => n.ospfNeighbours !== undefined);
  if (routers.length > 0) {
    out.push('');
    const rows: string[][] = [['ROUTER', 'OSPF NEIGHBOUR', 'STATE', 'ADDRESS', 'INTERFACE']];
    for (const r of routers) {
      if ((r.ospfNeighbours ?? []).length === 0) rows.push([r.name, '-', 'none', '-', '-']);
      for (const nb of r.ospfNeighbours ?? []) rows.push([r.name, nb.routerId, nb.state, nb.address, nb.interface]);
    }
    out.push(table(rows));
  }
  return `${out.join('\n')}\n`;
}
