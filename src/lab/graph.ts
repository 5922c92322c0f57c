import type { NetworksStatus } from '../status/server.js';
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

export function labToDot(s: LabStatus, daemon: NetworksStatus | undefined): string {
  const out: string[] = [
    'graph lab {',
    '  graph [rankdir=LR, fontname="Helvetica", compound=true];',
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9];',
    `  subgraph "cluster_lab" {`,
    `    label=${q(`lab ${s.name}`)};`,
    '    style=dashed;',
  ];
  const byDockerName = new Map(Object.values(daemon ?? {}).map((n) => [n.NetworkName, n]));
  for (const n of s.networks) {
    const d = byDockerName.get(n.dockerName);
    const lines = [`${n.name} (${n.kind})`, n.dockerName, `${n.mode}${n.subnet === undefined ? '' : ` ${n.subnet}`}`, `bridge ${d?.BridgeName ?? n.bridge}  DPID ${d?.BridgeDpid ?? n.dpid ?? '?'}`];
    if (d !== undefined) lines.push(`VLAN ${d.BridgeVLAN}`);
    const hostRoutes = d?.Options['ovs.bridge.host_routes'];
    out.push(`    ${q(`net:${n.name}`)} [shape=box, style="rounded,filled", fillcolor="${n.kind === 'link' ? '#f2f2f2' : '#dde8f6'}", label=${q(lines.join('\n'))}];`);
    if (n.mode !== 'flat') {
      const gw = `host${hostRoutes === undefined ? '' : `\nroutes ${hostRoutes.split(',').join('\n')}`}`;
      out.push(`    ${q(`gw:${n.name}`)} [shape=house, label=${q(`${gw}\n(${n.mode === 'nat' ? 'NAT' : 'routed'})`)}];`);
      out.push(`    ${q(`gw:${n.name}`)} -- ${q(`net:${n.name}`)} [label="LOCAL"];`);
    }
  }
  for (const node of s.nodes) {
    const nb = node.ospfNeighbours;
    const lines = [node.name, `${node.kind}  ${node.state}`, node.container];
    if (nb !== undefined) lines.push(`OSPF: ${nb.filter((x) => x.state.startsWith('Full')).length}/${nb.length} Full`);
    out.push(`    ${q(`node:${node.name}`)} [shape=${SHAPE[node.kind] ?? 'box'}, style=filled, fillcolor="${FILL[node.kind] ?? '#eeeeee'}", label=${q(lines.join('\n'))}];`);
    for (const i of node.interfaces) {
      if (i.network === undefined) continue;
      const net = s.networks.find((n) => n.name === i.network);
      const port = net === undefined ? undefined : Object.values(byDockerName.get(net.dockerName)?.Containers ?? {}).find((c) => c.Name.replace(/^\//, '') === node.container);
      const label = [`${i.name}${i.addresses.length > 0 ? ` ${i.addresses.join(' ')}` : ''}`];
      if (port?.OFPort !== undefined && port.OFPort !== null) label.push(`port ${port.OFPort}${port.Mirrored ? ', mirrored' : ''}${port.PortACLs.length > 0 ? `, ACL ${port.PortACLs.join(',')}` : ''}`);
      out.push(`    ${q(`node:${node.name}`)} -- ${q(`net:${i.network}`)} [label=${q(label.join('\n'))}];`);
    }
  }
  out.push('  }', '}', '');
  return out.join('\n');
}
