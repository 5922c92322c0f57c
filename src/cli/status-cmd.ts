import type { ContainerStatus, HostStatus, NetworksStatus } from '../status/documents.js';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';

export async function fetchStatus(baseUrl: string, path = '/networks'): Promise<NetworksStatus> {
  return (await fetchJson(baseUrl, path)) as NetworksStatus;
}

export async function fetchJson(baseUrl: string, path: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${baseUrl.replace(/\/$/, '')}${path}`, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new DovesnapError(
      ErrorCode.NotFound,
      `cannot reach the dovesnap status API at ${baseUrl} (is the daemon running? try: make up): ${errorMessage(err)}`,
    );
  }
  if (!res.ok) throw new DovesnapError(ErrorCode.Internal, `status API answered ${res.status}`);
  return res.json();
}

/** The mirror bridge and stack lines above the networks, when this host has them. */
export function formatHost(host: HostStatus): string {
  const lines: string[] = [];
  const m = host.MirrorBridge;
  if (m !== null) {
    lines.push(
      `mirror bridge ${m.Bridge}  out ${m.Out}${m.In === null ? '' : `  in ${m.In}`}  networks linked ${Object.keys(m.Links).length}${m.Problem === null ? '' : `  PROBLEM: ${m.Problem}`}`,
    );
  }
  const st = host.Stack;
  if (st !== null) {
    const links = st.Interfaces.map((i) => `${i.Interface}(${i.OFPort ?? '?'})->${i.RemoteDp}:${i.RemotePort}`).join(
      ', ',
    );
    lines.push(
      `stack switch ${st.DpName ?? '(not up)'}${st.DpId === null ? '' : ` ${st.DpId}`}  root ${st.Root}  links ${links}${st.MirrorInterface === null ? '' : `  mirror to ${st.MirrorInterface}`}${st.Problem === null ? '' : `  PROBLEM: ${st.Problem}`}`,
    );
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n\n`;
}

function containerState(c: ContainerStatus): string {
  if (c.Blocked !== null) return `blocked: ${c.Blocked}`;
  if (c.Id === '') return 'pending';
  // `Capture` is absent from an older daemon's document.
  const parts = [c.Capture === true ? 'up, capture (output only)' : c.Mirrored ? 'up, mirrored' : 'up'];
  const d = c.Dhcp;
  if (d !== null) {
    if (d.State === 'bound') {
      parts.push(
        `dhcp ${d.Address}/${d.PrefixLength} from ${d.Server ?? '?'}${d.ExpiresAt === null ? '' : ` until ${d.ExpiresAt.replace(/\.\d+Z$/, 'Z')}`}`,
      );
    } else parts.push(`dhcp ${d.State}${d.Reason === null ? '' : `: ${d.Reason}`}`);
  }
  return parts.join(', ');
}

/** A plain table a person can read; `--json` gives the API document itself. */
export function formatStatus(status: NetworksStatus): string {
  const nets = Object.values(status).sort((a, b) => a.NetworkName.localeCompare(b.NetworkName));
  if (nets.length === 0) return 'no dovesnap networks\n';
  const lines: string[] = [];
  for (const n of nets) {
    lines.push(
      `${n.NetworkName || '(unnamed)'}  id ${n.NetworkID.slice(0, 12)}  bridge ${n.BridgeName}  dpid ${n.BridgeDpid}  vlan ${n.BridgeVLAN}  mode ${n.Mode}${n.Userspace ? '  userspace' : ''}`,
    );
    lines.push(`  controllers: ${n.Controllers.length > 0 ? n.Controllers.join(', ') : '(none: standalone)'}`);
    const extras = [
      n.OvsLocalMac === null ? '' : `local mac ${n.OvsLocalMac}`,
      n.PreallocatedPorts > 0 ? `preallocated ports ${n.PreallocatedPorts}` : '',
    ].filter((x) => x !== '');
    if (extras.length > 0) lines.push(`  ${extras.join('  ')}`);
    // An older daemon's document has no HostRoutes.
    const routes = n.HostRoutes ?? [];
    if (routes.length > 0) lines.push(`  host routes: ${routes.map((r) => `${r.Prefix} via ${r.Via}`).join(', ')}`);
    const cs = Object.values(n.Containers).sort((a, b) => (a.OFPort ?? 0) - (b.OFPort ?? 0));
    if (cs.length === 0) lines.push('  no containers');
    else {
      const rows = [['OFPORT', 'CONTAINER', 'ID', 'IP', 'MAC', 'ACLS', 'STATE']];
      for (const c of cs) {
        const acls = c.Capture === true ? 'capture' : c.PortACLs.join(',') || '-';
        rows.push([
          String(c.OFPort ?? '-'),
          c.Name.replace(/^\//, '') || '(pending)',
          c.Id.slice(0, 12) || '-',
          c.HostIP || '-',
          c.MacAddress,
          acls,
          containerState(c),
        ]);
      }
      const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
      for (const r of rows)
        lines.push(`  ${r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ')}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function runStatus(opts: { json?: boolean; url: string }): Promise<void> {
  const status = await fetchStatus(opts.url);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return;
  }
  // An older daemon has no /host: the networks are what matters.
  const host = (await fetchJson(opts.url, '/host').catch(() => undefined)) as HostStatus | undefined;
  process.stdout.write((host === undefined ? '' : formatHost(host)) + formatStatus(status));
}
