import type { ContainerStatus, HostStatus, NetworkStatus, NetworksStatus } from '../status/documents.js';
import { parseNetworkOptions, STACK_LINK_OFPORT, type HostPortOption } from '../model/options.js';

/**
 * The wiring diagram as Graphviz DOT, from status API documents (one per host): networks with
 * their options, containers with what identifies them, added and coprocessor ports, the
 * gateway, the mirror bridge and the stack switch; edges carry OpenFlow port numbers. Pure:
 * `graph-cmd.ts` fetches and renders.
 */

export interface HostGraphInput {
  /** The status address it came from: labels the host's cluster. */
  readonly source: string;
  readonly networks: NetworksStatus;
  readonly host: HostStatus | undefined;
  /** Why its status API could not be read: drawn as an empty box that says so. */
  readonly unreachable?: string;
}

const OFPP_LOCAL = 4294967294;

/** A DOT double-quoted string; `\l` line ends are kept as Graphviz escapes. */
function q(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function id(...parts: string[]): string {
  return q(parts.join(':'));
}

function containerLabel(c: ContainerStatus): string {
  const lines = [
    c.Name.replace(/^\//, '') || `(endpoint ${c.EndpointID.slice(0, 12)})`,
    `${c.Interface}${c.Id === '' ? '' : `  ${c.Id.slice(0, 12)}`}`,
    `MAC ${c.MacAddress}`,
    `IP ${c.HostIP || '-'}`,
    `OFPort ${c.OFPort ?? '?'}`,
  ];
  if (c.PortACLs.length > 0) lines.push(`ACLs ${c.PortACLs.join(', ')}`);
  if (c.Mirrored) lines.push('mirrored');
  if (c.Capture === true) lines.push('capture: copies of every port (output only)');
  if (c.Dhcp !== null) lines.push(`DHCP ${c.Dhcp.State}${c.Dhcp.Server === null ? '' : ` from ${c.Dhcp.Server}`}`);
  if (c.Blocked !== null) lines.push(`BLOCKED: ${c.Blocked}`);
  return lines.join('\n');
}

function networkLabel(n: NetworkStatus): string {
  const lines = [
    n.NetworkName || `(unnamed ${n.NetworkID.slice(0, 12)})`,
    `bridge ${n.BridgeName}  DPID ${n.BridgeDpid}`,
    `mode ${n.Mode}  VLAN ${n.BridgeVLAN}${n.Userspace ? '  userspace' : ''}`,
    `controllers ${n.Controllers.length > 0 ? n.Controllers.join(', ') : 'none (standalone)'}`,
  ];
  for (const [k, v] of Object.entries(n.Options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    lines.push(`${k}=${v}`);
  return lines.join('\n');
}

function hostPorts(n: NetworkStatus): { added: readonly HostPortOption[]; copro: readonly HostPortOption[] } {
  try {
    const o = parseNetworkOptions(n.Options);
    return { added: o.addPorts, copro: o.addCoproPorts };
  } catch {
    return { added: [], copro: [] };
  }
}

/** A target FAUCET is reached at only from its own host: the same text on two hosts is two controllers. */
function hostLocalTarget(target: string): boolean {
  if (/^p?unix:/.test(target)) return true;
  const hostPart = /^p?(?:tcp|ssl):(.*):[0-9]+$/.exec(target)?.[1] ?? '';
  const bare = hostPart.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return /^127\./.test(bare) || bare === '::1' || bare === 'localhost' || bare === '0.0.0.0' || bare === '::';
}

/** The controller node's id: one per target, except a host-local one, which is per host. */
function controllerId(hk: string, target: string): string {
  return hostLocalTarget(target) ? id('faucet', hk, target) : id('faucet', target);
}

type StackInfo = NonNullable<HostStatus['Stack']>;
type StackInterface = StackInfo['Interfaces'][number];

/** `eth5 1`: the interface and its OpenFlow port on its own stack switch. */
function stackEnd(i: StackInterface): string {
  return `${i.Interface} ${i.OFPort ?? '?'}`;
}

/**
 * The stack links as edges: a link between two of the given hosts' stack switches is one edge,
 * found from both ends (host A's interface names B's switch and B's port; B's names A's switch
 * and A's port), labelled with both ends' interface and port; a link to a DP none of the given
 * hosts is goes to that DP's own node, as a single host's diagram draws it.
 */
function stackEdges(
  stacks: readonly { readonly hk: string; readonly stack: StackInfo | undefined }[],
  out: string[],
): void {
  const sid = (hk: string, st: StackInfo): string => id(hk, 'stack', st.DpName ?? 'stack');
  const byName = new Map<string, { hk: string; stack: StackInfo }>();
  for (const s of stacks)
    if (s.stack?.DpName !== null && s.stack?.DpName !== undefined && !byName.has(s.stack.DpName))
      byName.set(s.stack.DpName, { hk: s.hk, stack: s.stack });
  const drawn = new Set<string>();
  const farDps = new Set<string>();
  for (const { hk, stack } of stacks) {
    if (stack === undefined) continue;
    for (const i of stack.Interfaces) {
      const far = byName.get(i.RemoteDp);
      if (far === undefined || stack.DpName === null || far.hk === hk) {
        const rid = q(`dp:${i.RemoteDp}`);
        if (!farDps.has(i.RemoteDp)) out.push(`  ${rid} [shape=box3d, label=${q(`FAUCET DP ${i.RemoteDp}`)}];`);
        farDps.add(i.RemoteDp);
        out.push(
          `  ${sid(hk, stack)} -> ${rid} [taillabel=${q(stackEnd(i))}, headlabel=${q(String(i.RemotePort))}, style=bold];`,
        );
        continue;
      }
      // The far end's own interface for this link: it names this switch, and one of them names the other's port.
      const back = far.stack.Interfaces.filter((j) => j.RemoteDp === stack.DpName);
      const partner =
        back.find((j) => j.OFPort === i.RemotePort || (i.OFPort !== null && j.RemotePort === i.OFPort)) ??
        (back.length === 1 && stack.Interfaces.filter((x) => x.RemoteDp === i.RemoteDp).length === 1
          ? back[0]
          : undefined);
      const key =
        partner === undefined
          ? `${hk}/${i.Interface}`
          : [`${hk}/${i.Interface}`, `${far.hk}/${partner.Interface}`].sort().join(' ');
      if (drawn.has(key)) continue;
      drawn.add(key);
      out.push(
        `  ${sid(hk, stack)} -> ${sid(far.hk, far.stack)} [taillabel=${q(stackEnd(i))}, headlabel=${q(partner === undefined ? String(i.RemotePort) : stackEnd(partner))}, style=bold];`,
      );
    }
  }
}

export function toDot(inputs: readonly HostGraphInput[]): string {
  const out: string[] = [
    'digraph dovesnap {',
    '  graph [rankdir=LR, fontname="Helvetica", compound=true];',
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9, dir=none];',
  ];
  // Edges between hosts, and the nodes outside every host (controllers, far DPs): after the
  // clusters, so that Graphviz puts no node of one host inside another's box.
  const between: string[] = [];
  const controllers = new Map<string, string>();
  const controlled = (hk: string, shown: string, from: string, targets: readonly string[]): void => {
    for (const t of targets) {
      const cid = controllerId(hk, t);
      if (!controllers.has(cid)) controllers.set(cid, `FAUCET\n${t}${hostLocalTarget(t) ? `\non ${shown}` : ''}`);
      between.push(`  ${from} -> ${cid} [style=dashed, color="#7a7a7a"];`);
    }
  };
  const stacks: { hk: string; stack: StackInfo | undefined }[] = [];
  inputs.forEach((input, h) => {
    const hk = `h${h}`;
    const hostName = input.host?.HostName;
    const shownAs = hostName === undefined || hostName === '' ? input.source : hostName;
    out.push(
      `  subgraph ${q(`cluster_${hk}`)} {`,
      `    label=${q(hostName === undefined || hostName === '' ? `dovesnap at ${input.source}` : `host ${hostName}\ndovesnap at ${input.source}`)};`,
      '    style=dashed;',
    );
    if (input.unreachable !== undefined)
      out.push(
        `    ${id(hk, 'down', input.source)} [shape=note, style=filled, fillcolor="#f6d5d5", label=${q(`not drawn: ${input.unreachable}`)}];`,
      );
    const nets = Object.values(input.networks).sort((a, b) => (a.NetworkName < b.NetworkName ? -1 : 1));
    for (const n of nets) {
      const nid = id(hk, 'net', n.NetworkID);
      out.push(`    ${nid} [shape=box, style="rounded,filled", fillcolor="#dde8f6", label=${q(networkLabel(n))}];`);
      controlled(hk, shownAs, nid, n.Controllers);
      for (const c of Object.values(n.Containers).sort((a, b) => (a.OFPort ?? 0) - (b.OFPort ?? 0))) {
        const cid = id(hk, 'ctr', c.EndpointID);
        out.push(
          `    ${cid} [shape=box, style=filled, fillcolor="${c.Blocked !== null ? '#f6d5d5' : c.Capture === true ? '#e6dcf3' : c.Mirrored ? '#fbeacb' : '#e8f3e0'}", label=${q(containerLabel(c))}];`,
        );
        out.push(`    ${nid} -> ${cid} [taillabel=${q(String(c.OFPort ?? '?'))}];`);
      }
      // The numbers OVS gave (HostPorts); the options' own where the status has none.
      const observed = new Map((n.HostPorts ?? []).map((p) => [p.Interface, p.OFPort]));
      const { added, copro } = hostPorts(n);
      for (const [kind, ports] of [
        ['added port', added],
        ['coprocessor port', copro],
      ] as const) {
        for (const p of ports) {
          const pid = id(hk, 'if', p.interface);
          const vlans =
            p.vlans === undefined
              ? ''
              : `\nVLAN ${[...(p.vlans.native === undefined ? [] : [String(p.vlans.native)]), ...p.vlans.tagged.map((t) => `t${t}`)].join('+')}`;
          const number = observed.get(p.interface) ?? p.ofport;
          out.push(
            `    ${pid} [shape=cds, label=${q(`${p.interface}\n${kind}${p.acl === undefined ? '' : `\nACL ${p.acl}`}${vlans}`)}];`,
          );
          out.push(
            `    ${nid} -> ${pid} [taillabel=${q(number === undefined || number === null ? '?' : String(number))}];`,
          );
        }
      }
      for (const p of (n.HostPorts ?? []).filter((x) => x.Kind === 'hand-added')) {
        const pid = id(hk, 'if', p.Interface);
        out.push(`    ${pid} [shape=cds, label=${q(`${p.Interface}\nadded by hand`)}];`);
        out.push(`    ${nid} -> ${pid} [taillabel=${q(p.OFPort === null ? '?' : String(p.OFPort))}];`);
      }
      if (n.Mode !== 'flat') {
        const gid = id(hk, 'gw', n.NetworkID);
        out.push(
          `    ${gid} [shape=house, label=${q(`gateway (${n.Mode === 'nat' ? 'NAT to the host' : 'routed'})\n${n.BridgeName}`)}];`,
        );
        out.push(`    ${nid} -> ${gid} [taillabel=${q(`LOCAL ${OFPP_LOCAL}`)}];`);
      }
    }
    const m = input.host?.MirrorBridge;
    if (m !== null && m !== undefined) {
      const mid = id(hk, 'mirror', m.Bridge);
      out.push(
        `    ${mid} [shape=box, style="rounded,filled", fillcolor="#fbeacb", label=${q(`mirror bridge ${m.Bridge}${m.Problem === null ? '' : `\nPROBLEM: ${m.Problem}`}`)}];`,
      );
      out.push(
        `    ${id(hk, 'if', m.Out)} [shape=cds, label=${q(`${m.Out}\nmirror out`)}];`,
        `    ${mid} -> ${id(hk, 'if', m.Out)} [taillabel="1"];`,
      );
      if (m.In !== null)
        out.push(
          `    ${id(hk, 'if', m.In)} [shape=cds, label=${q(`${m.In}\nmirror in`)}];`,
          `    ${mid} -> ${id(hk, 'if', m.In)} [taillabel="2"];`,
        );
      for (const [netId, ofport] of Object.entries(m.Links)) {
        const n = input.networks[netId];
        if (n === undefined) continue;
        out.push(
          `    ${id(hk, 'net', netId)} -> ${mid} [taillabel=${q(String(n.LbPort))}, headlabel=${q(String(ofport))}, style=dashed];`,
        );
      }
    }
    const st = input.host?.Stack;
    if (st !== null && st !== undefined) {
      const sid = id(hk, 'stack', st.DpName ?? 'stack');
      out.push(
        `    ${sid} [shape=box, style="rounded,filled", fillcolor="#e5ddf6", label=${q(`stack switch ${st.DpName ?? '(not up)'}${st.DpId === null ? '' : `\n${st.DpId}`}\nroot ${st.Root}${st.Problem === null ? '' : `\nPROBLEM: ${st.Problem}`}`)}];`,
      );
      // The stack switch's controllers (an older daemon does not say: no edge then).
      controlled(hk, shownAs, sid, st.Controllers ?? []);
      for (const n of nets)
        out.push(
          `    ${id(hk, 'net', n.NetworkID)} -> ${sid} [taillabel=${q(String(STACK_LINK_OFPORT))}, style=bold];`,
        );
    }
    stacks.push({ hk, stack: st ?? undefined });
    out.push('  }');
  });
  stackEdges(stacks, between);
  for (const [cid, label] of controllers)
    out.push(`  ${cid} [shape=doubleoctagon, style=filled, fillcolor="#fff3c4", label=${q(label)}];`);
  out.push(...between, '}', '');
  return out.join('\n');
}
