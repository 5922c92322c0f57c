import type { NetworksStatus } from '../status/documents.js';
import type { LabStatus } from './status.js';

/**
 * The lab's picture as Graphviz DOT: each node once (a router, host or capture node with its
 * container), each segment and link as the dovesnap network it is (bridge, DPID, mode, VLAN from
 * the status API when the daemon answers), and an edge per interface labelled with the name
 * and address the node sees and the OpenFlow port FAUCET knows it by; the host itself appears
 * as the gateway of `nat`/`routed` networks. Pure: the CLI fetches and renders.
 */

function q(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

const SHAPE: Record<string, string> = { router: 'component', host: 'box', capture: 'note', custom: 'box' };
const FILL: Record<string, string> = { router: '#e5ddf6', host: '#e8f3e0', capture: '#fbeacb', custom: '#eeeeee' };

/**
 * Edges oriented outward from the host (breadth first from the `nat`/`routed` networks, else the
 * first network), so that `dot` lays the lab out as the path traffic takes: host, uplink, R1,
 * link, R2, inside, H1.
 */
function orientedEdges(
  s: LabStatus,
): { from: string; to: string; node: string; iface: LabStatus['nodes'][number]['interfaces'][number] }[] {
  const adj = new Map<string, string[]>();
  const link = (a: string, b: string): void => {
    adj.set(a, [...(adj.get(a) ?? []), b]);
    adj.set(b, [...(adj.get(b) ?? []), a]);
  };
  const ifaces: { node: string; net: string; iface: LabStatus['nodes'][number]['interfaces'][number] }[] = [];
  for (const node of s.nodes) {
    for (const i of node.interfaces) {
      if (i.network === undefined || !s.networks.some((n) => n.name === i.network)) continue;
      ifaces.push({ node: node.name, net: i.network, iface: i });
      link(`node:${node.name}`, `net:${i.network}`);
    }
  }
  const starts = s.networks.filter((n) => n.mode !== 'flat').map((n) => `net:${n.name}`);
  const order = new Map<string, number>();
  const queue = [...(starts.length > 0 ? starts : s.networks.slice(0, 1).map((n) => `net:${n.name}`))];
  for (const q0 of queue) order.set(q0, 0);
  const all = [...s.networks.map((n) => `net:${n.name}`), ...s.nodes.map((n) => `node:${n.name}`)];
  for (;;) {
    while (queue.length > 0) {
      const cur = queue.shift() ?? '';
      for (const next of adj.get(cur) ?? []) {
        if (!order.has(next)) {
          order.set(next, (order.get(cur) ?? 0) + 1);
          queue.push(next);
        }
      }
    }
    // A part of the lab not connected to the rest starts a path of its own.
    const rest = all.find((x) => !order.has(x));
    if (rest === undefined) break;
    order.set(rest, 0);
    queue.push(rest);
  }
  return ifaces.map(({ node, net, iface }) => {
    const a = `node:${node}`;
    const b = `net:${net}`;
    return (order.get(a) ?? 0) <= (order.get(b) ?? 0)
      ? { from: a, to: b, node, iface }
      : { from: b, to: a, node, iface };
  });
}

export function labToDot(s: LabStatus, daemon: NetworksStatus | undefined): string {
  const out: string[] = [
    'graph lab {',
    '  graph [rankdir=LR, fontname="Helvetica", nodesep=0.3, ranksep=0.6];',
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9];',
    `  subgraph "cluster_lab" {`,
    `    label=${q(`lab ${s.name}`)};`,
    '    style=dashed;',
  ];
  const byDockerName = new Map(Object.values(daemon ?? {}).map((n) => [n.NetworkName, n]));
  for (const n of s.networks) {
    const d = byDockerName.get(n.dockerName);
    const lines = [
      `${n.name} (${n.kind})`,
      n.dockerName,
      `${n.mode}${n.subnet === undefined ? '' : ` ${n.subnet}`}`,
      `bridge ${d?.BridgeName ?? n.bridge}  DPID ${d?.BridgeDpid ?? n.dpid ?? '?'}`,
    ];
    if (d !== undefined) lines.push(`VLAN ${d.BridgeVLAN}`);
    out.push(
      `    ${q(`net:${n.name}`)} [shape=box, style="rounded,filled", fillcolor="${n.kind === 'link' ? '#f2f2f2' : '#dde8f6'}", label=${q(lines.join('\n'))}];`,
    );
    if (n.mode !== 'flat') {
      const routes = (d?.Options['ovs.bridge.host_routes'] ?? '')
        .split(',')
        .filter((r) => r !== '')
        .map((r) => r.replace('@', ' via '));
      const gw = ['host', `(${n.mode === 'nat' ? 'NAT' : 'routed'})`, ...routes];
      out.push(`    ${q(`gw:${n.name}`)} [shape=house, label=${q(gw.join('\n'))}];`);
      out.push(`    ${q(`gw:${n.name}`)} -- ${q(`net:${n.name}`)} [label="LOCAL"];`);
    }
  }
  for (const node of s.nodes) {
    const nb = node.ospfNeighbours;
    const lines = [node.name, `${node.kind}  ${node.state}`, node.container];
    if (nb !== undefined) lines.push(`OSPF: ${nb.filter((x) => x.state.startsWith('Full')).length}/${nb.length} Full`);
    out.push(
      `    ${q(`node:${node.name}`)} [shape=${SHAPE[node.kind] ?? 'box'}, style=filled, fillcolor="${FILL[node.kind] ?? '#eeeeee'}", label=${q(lines.join('\n'))}];`,
    );
  }
  for (const e of orientedEdges(s)) {
    const node = s.nodes.find((n) => n.name === e.node);
    const net = s.networks.find((n) => n.name === e.iface.network);
    const port =
      net === undefined || node === undefined
        ? undefined
        : Object.values(byDockerName.get(net.dockerName)?.Containers ?? {}).find(
            (c) => c.Name.replace(/^\//, '') === node.container,
          );
    const label = [`${e.iface.name}${e.iface.addresses.length > 0 ? ` ${e.iface.addresses.join(' ')}` : ''}`];
    if (port?.OFPort !== undefined && port.OFPort !== null)
      label.push(
        `port ${port.OFPort}${port.Mirrored ? ', mirrored' : ''}${port.PortACLs.length > 0 ? `, ACL ${port.PortACLs.join(',')}` : ''}`,
      );
    out.push(`    ${q(e.from)} -- ${q(e.to)} [label=${q(label.join('\n'))}];`);
  }
  out.push('  }', '}', '');
  return out.join('\n');
}
