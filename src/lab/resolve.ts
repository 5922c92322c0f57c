/**
 * The checked file spelt out as the `Lab` the planner reads: every network option as `-o`
 * takes it, Docker's names, the kinds' built-ins under the inherited fields, labels in their
 * `dovesnap.faucet.*` form, files read, binds absolute. The only errors left here are the ones
 * that need the disk (a file's `source:`) and a file mode's digits.
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import type {
  Lab,
  LabAcl,
  LabAclUse,
  LabFile,
  LabImageRecipe,
  LabInterface,
  LabNetwork,
  LabNode,
  LabNodeKind,
} from './model.js';
import { labAclName, resolveAclRef, resolvePortAclLabel } from './faucet-acls.js';
import type { CheckContext, Checked, CheckedNetwork, CheckedNode } from './check.js';
import { formatCidr } from './ipv4.js';
import type { MergedFile } from './inherit.js';
import type { Path } from './positions.js';
import type { NetworkInput } from './spec.js';

export interface ResolveContext extends CheckContext {
  /** Absolute path of the lab file. */
  readonly path: string;
  readonly readFile: (path: string) => string;
}

interface Builtin {
  readonly recipe?: LabImageRecipe;
  readonly capAdd: readonly string[];
  readonly sysctls: Readonly<Record<string, string>>;
}

/** What each kind brings before `defaults:`. */
const BUILTINS: Readonly<Record<LabNodeKind, Builtin>> = {
  router: {
    recipe: 'frr',
    capAdd: ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'],
    sysctls: { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0' },
  },
  host: { recipe: 'host', capAdd: ['NET_ADMIN', 'NET_RAW'], sysctls: {} },
  capture: { recipe: 'capture', capAdd: ['NET_ADMIN', 'NET_RAW'], sysctls: {} },
  custom: { capAdd: [], sysctls: {} },
};

/** Labels the file may give by their short name. */
const FAUCET_LABELS = new Set(['portacl', 'mirror', 'mac_prefix', 'antispoof', 'capture']);

const DEFAULT_FILE_MODE = 0o644;

/** ACL names as the file gives them, turned into faucet.yaml's: the lab's own get its prefix, others are the operator's. */
interface AclRefs {
  one(ref: string): string;
  label(value: string): string;
}

function aclRefs(lab: string, names: readonly string[]): AclRefs {
  return { one: (ref) => resolveAclRef(lab, names, ref), label: (value) => resolvePortAclLabel(lab, names, value) };
}

function dpidText(n: CheckedNetwork): string {
  // A derived DPID keeps its 0x0d5a0000 prefix visible; a given one reads as the user wrote it.
  return n.input.dpid === undefined ? `0x${n.dpid.toString(16).padStart(16, '0')}` : `0x${n.dpid.toString(16)}`;
}

function networkOptions(
  n: CheckedNetwork,
  hostRoutes: readonly { prefix: string; via: string }[],
  acls: AclRefs,
): Record<string, string> {
  const o: Record<string, string> = {};
  const set = (name: string, v: string | number | boolean | undefined): void => {
    if (v !== undefined) o[`ovs.bridge.${name}`] = String(v);
  };
  set('mode', n.mode);
  set('dpid', dpidText(n));
  set('vlan', n.input.vlan);
  set('mtu', n.input.mtu);
  set('default_acl', n.input.default_acl === undefined ? undefined : acls.one(n.input.default_acl));
  if (n.kind === 'segment') {
    const s = n.input as NetworkInput;
    set('nat_acl', s.nat_acl === undefined ? undefined : acls.one(s.nat_acl));
    set('add_ports', Array.isArray(s.add_ports) ? s.add_ports.join(',') : s.add_ports);
    set('dhcp', s.dhcp);
    set('dhcp_server', s.dhcp_server);
    set('dhcp_subnet', s.dhcp_subnet);
    set('antispoof', s.antispoof);
    set('userspace', s.userspace);
    set('preallocate_ports', s.preallocate_ports);
    set('controller', s.controller);
    if (hostRoutes.length > 0) set('host_routes', hostRoutes.map((r) => `${r.prefix}@${r.via}`).join(','));
  }
  for (const [k, v] of Object.entries(n.input.options ?? {})) o[k] = String(v);
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function toNetwork(lab: string, n: CheckedNetwork, checked: Checked, acls: AclRefs): LabNetwork {
  const hostRoutes = checked.hostRoutes.get(n.key) ?? [];
  const ipam = n.mode !== 'flat' && n.subnet !== undefined;
  return {
    key: n.key,
    kind: n.kind,
    dockerName: `${lab}-${n.key}`,
    mode: n.mode,
    ...(ipam && n.subnet ? { subnet: formatCidr(n.subnet) } : {}),
    ...(ipam && n.gateway !== undefined ? { gateway: n.gateway } : {}),
    internal: n.mode === 'flat',
    options: networkOptions(n, hostRoutes, acls),
    hostRoutes,
  };
}

/**
 * A file mode as chmod reads it: "0644", 0644 and 644 are all rw-r--r--. A YAML 0o644 is octal
 * already. (YAML 1.2 reads an unquoted 0644 as the decimal 644, so its text is what counts.)
 */
function fileMode(ctx: ResolveContext, f: MergedFile): number {
  if (typeof f.value === 'string' || f.value.mode === undefined) return DEFAULT_FILE_MODE;
  const at: Path = [...f.at, 'mode'];
  const raw = f.value.mode;
  const text = typeof raw === 'string' ? raw : (ctx.source(at) ?? String(raw));
  const digits = /^0o[0-7]+$/i.test(text) ? text.slice(2) : text;
  if (!/^[0-7]{1,5}$/.test(digits) || parseInt(digits, 8) > 0o7777) {
    ctx.errors.add(at, `file mode ${text} is not an octal mode such as 0644 (digits 0-7, at most 7777)`);
    return DEFAULT_FILE_MODE;
  }
  return parseInt(digits, 8);
}

function readSource(ctx: ResolveContext, source: string, at: Path, cache: Map<string, string>): string {
  const full = resolvePath(ctx.path, '..', source);
  const hit = cache.get(full);
  if (hit !== undefined) return hit;
  try {
    const text = ctx.readFile(full);
    cache.set(full, text);
    return text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    ctx.errors.add(
      at,
      `cannot read ${source} (${full}): ${code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err)}`,
      'key',
    );
    return '';
  }
}

function files(ctx: ResolveContext, c: CheckedNode, cache: Map<string, string>): LabFile[] {
  const out: LabFile[] = [];
  for (const [path, f] of c.m.files) {
    let content: string;
    const v = f.value;
    if (typeof v === 'string') {
      // config: holds the text itself when it runs over more than a line.
      content = f.config && v.includes('\n') ? v : readSource(ctx, v, f.at, cache);
    } else if (v.content !== undefined) content = v.content;
    else content = readSource(ctx, v.source ?? '', f.at, cache);
    out.push({ path, content, mode: fileMode(ctx, f) });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function labels(
  lab: string,
  c: CheckedNode,
  mirrored: ReadonlySet<string>,
  acls: AclRefs,
  interfaces: readonly LabInterface[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of c.m.labels) out[FAUCET_LABELS.has(k) ? `dovesnap.faucet.${k}` : k] = String(v.value);
  const portacl = out['dovesnap.faucet.portacl'];
  if (portacl !== undefined) out['dovesnap.faucet.portacl'] = acls.label(portacl);
  // Interfaces' acl: the portacl label, per network.
  const perNet = interfaces
    .filter((i) => i.acls !== undefined)
    .map((i) => `${lab}-${i.network}:${(i.acls ?? []).join(',')}`);
  if (perNet.length > 0) out['dovesnap.faucet.portacl'] = perNet.join('/');
  // A capture node's ports receive a copy of every other port of their networks (FAUCET's
  // mirror to an output-only port), unless the node says otherwise itself.
  if (c.kind === 'capture') {
    const nets = c.interfaces.map((i) => `${lab}-${i.network}:true`);
    if (nets.length > 0 && out['dovesnap.faucet.capture'] === undefined)
      out['dovesnap.faucet.capture'] = nets.join('/');
    return out;
  }
  // A network's mirror: true mirrors the node's port there, unless the node says otherwise itself.
  // Not a capture node's: the daemon refuses mirror and capture on one port.
  const nets = c.interfaces.filter((i) => mirrored.has(i.network)).map((i) => `${lab}-${i.network}:true`);
  if (nets.length > 0 && out['dovesnap.faucet.mirror'] === undefined) out['dovesnap.faucet.mirror'] = nets.join('/');
  return out;
}

function toNode(
  ctx: ResolveContext,
  lab: string,
  c: CheckedNode,
  mirrored: ReadonlySet<string>,
  cache: Map<string, string>,
  acls: AclRefs,
): LabNode {
  const m = c.m;
  const builtin = BUILTINS[c.kind];
  const dir = resolvePath(ctx.path, '..');
  const capAdd = [...new Set([...builtin.capAdd, ...m.capAdd.map((x) => x.value.replace(/^CAP_/, ''))])];
  const binds = (m.binds?.value ?? []).map((b) => {
    const [host = '', ctr = '', opt] = b.split(':');
    return [isAbsolute(host) ? host : resolvePath(dir, host), ctr, ...(opt === 'ro' ? ['ro'] : [])].join(':');
  });
  const interfaces = c.interfaces.map((i) =>
    i.acls === undefined ? i : { ...i, acls: i.acls.map((a) => acls.one(a)) },
  );
  const cmd =
    m.cmd === undefined
      ? undefined
      : typeof m.cmd.value === 'string'
        ? ['/bin/sh', '-c', m.cmd.value]
        : [...m.cmd.value];
  const exec = m.exec === undefined ? [] : typeof m.exec.value === 'string' ? [m.exec.value] : [...m.exec.value];
  return {
    key: m.key,
    containerName: `${lab}-${m.key}`,
    kind: c.kind,
    ...(m.image !== undefined
      ? { image: m.image.value }
      : builtin.recipe !== undefined
        ? { recipe: builtin.recipe }
        : {}),
    interfaces,
    routes: c.routes,
    labels: labels(lab, c, mirrored, acls, interfaces),
    sysctls: { ...builtin.sysctls, ...Object.fromEntries([...m.sysctls].map(([k, v]) => [k, String(v.value)])) },
    capAdd,
    env: Object.fromEntries([...m.env].map(([k, v]) => [k, String(v.value)])),
    binds,
    files: files(ctx, c, cache),
    ...(cmd === undefined ? {} : { cmd }),
    exec,
    waitFor: c.waitFor,
  };
}

/** Each ACL name the networks, interfaces and portacl labels give, where it is written. */
function aclUses(ctx: ResolveContext, checked: Checked, refs: AclRefs): LabAclUse[] {
  const out: LabAclUse[] = [];
  const use = (name: string, at: Path): void => {
    out.push({ acl: refs.one(name), at: ctx.errors.place(at) });
  };
  for (const n of checked.networks) {
    if (n.input.default_acl !== undefined) use(n.input.default_acl, [...n.at, 'default_acl']);
    if ('nat_acl' in n.input && n.input.nat_acl !== undefined) use(n.input.nat_acl, [...n.at, 'nat_acl']);
  }
  for (const c of checked.nodes) {
    for (const from of c.m.interfaces.values()) {
      if (typeof from.value === 'string' || from.value.acl === undefined) continue;
      const acl = from.value.acl;
      if (typeof acl === 'string') use(acl, [...from.at, 'acl']);
      else for (const [i, a] of acl.entries()) use(a, [...from.at, 'acl', i]);
    }
    for (const key of ['portacl', 'dovesnap.faucet.portacl']) {
      const label = c.m.labels.get(key);
      if (label === undefined) continue;
      for (const part of String(label.value).split('/')) {
        const list = part.includes(':') ? part.slice(part.indexOf(':') + 1) : part;
        for (const a of list.split(',')) if (a.trim() !== '') use(a.trim(), label.at);
      }
    }
  }
  return out;
}

export function resolve(ctx: ResolveContext, checked: Checked): Lab {
  const lab = ctx.file.name;
  const mirrored = new Set(checked.networks.filter((n) => n.input.mirror === true).map((n) => n.key));
  const cache = new Map<string, string>();
  const fileAcls = Object.entries(ctx.file.acls ?? {});
  const refs = aclRefs(
    lab,
    fileAcls.map(([name]) => name),
  );
  const acls: LabAcl[] = fileAcls.map(([name, rules]) => ({ name, faucetName: labAclName(lab, name), rules }));
  return {
    name: lab,
    file: ctx.path,
    acls,
    aclUses: aclUses(ctx, checked, refs),
    networks: checked.networks.map((n) => toNetwork(lab, n, checked, refs)),
    nodes: checked.nodes.map((c) => toNode(ctx, lab, c, mirrored, cache, refs)),
  };
}
