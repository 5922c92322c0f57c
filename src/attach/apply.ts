/**
 * `dovesnap attach` and `dovesnap detach`: pipework's plumbing, with every step recorded so
 * that it can be undone — at once when a later step fails, by `detach`, or by the daemon when
 * the container dies.
 */
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { runCommand, runInNetns } from '../net/exec.js';
import { deleteLink, getLink, hostLinkExists, listLinks } from '../net/links.js';
import { allowBridged, revokeBridged } from '../net/forwarding.js';
import { DhcpSupervisor } from '../dhcp/supervisor.js';
import { startDhclient, stopDhclient } from './dhclient.js';
import { dhcpcdBinary, startDhcpcd, stopDhcpcd } from './dhcpcd.js';
import { existsSync } from 'node:fs';
import { silentLogger } from '../util/log.js';
import type { Engine } from '../engine/client.js';
import { interfaceMtu, planHostIf, type HostIfPlan } from './host-if.js';
import { netnsOf, resolveGuest } from './guest.js';
import {
  ATTACH_EXT_ID,
  attachmentKey,
  type AttachmentStore,
  type AttachGuest,
  type AttachmentRecord,
  type AttachResource,
  type HostIfKind,
} from './record.js';
import type { AttachSpec } from './spec.js';
import { ExtId } from '../core/persist.js';
import { bringNicHome, nicIdentity, realHostNics, type HostNics } from './nic.js';

export interface AttachDeps {
  readonly engine: Pick<Engine, 'inspectContainer'>;
  readonly store: AttachmentStore;
  /** Where attach's DHCP clients keep their pidfiles and leases. */
  readonly dhcpDir: string;
  /** OVS bridges attach creates use the userspace datapath (no openvswitch kernel module). */
  readonly userspace: boolean;
  /** How long attach waits for a first DHCP lease before it leaves the client trying on its own. */
  readonly leaseWaitMs?: number;
  /** The host's links, for finding a --direct-phys NIC the kernel returned (a fake in unit tests). */
  readonly nics?: HostNics;
}

/**
 * How long the removal of a dead container's attachment waits for the kernel to return a
 * --direct-phys NIC: the namespace is cleaned up after Docker's `die`, usually within a second.
 */
export const NIC_RETURN_WAIT_MS = 10_000;

/** What a removal did not do: problems met, and what is kept in the record for a later try. */
export interface Removal {
  readonly problems: string[];
  /** A moved NIC not back on the host yet: the daemon's sweep renames it when it is. */
  readonly pending: AttachResource[];
}

export interface AttachOutcome {
  readonly record: AttachmentRecord;
  /** The same attachment was already in place: nothing was done. */
  readonly already: boolean;
  /** For DHCP: the address leased, or undefined if none yet (the client keeps trying). */
  readonly leased?: string | undefined;
}

const ATTACH_VLAN_EXT_ID = ExtId.attachVlan;
const ATTACH_BRIDGE_EXT_ID = ExtId.attachBridge;
/** The alias of Linux bridges attach created (a `br…` name), so that the last detach removes them. */
const BRIDGE_MARK = 'created by dovesnap attach';
const ATTACH_NAME_EXT_ID = ExtId.attachContainer;

async function containerHasLink(netns: string, name: string): Promise<boolean> {
  return (await listLinks(netns)).some((l) => l.ifname === name);
}

/** Whether two requests plumb the same thing (the guest named by name or ID, with or without --persist). */
function sameSpec(a: AttachSpec, b: AttachSpec): boolean {
  const plumbed = (s: AttachSpec): string => JSON.stringify({ ...s, persist: false, guest: '' });
  return plumbed(a) === plumbed(b);
}

function hostKindOf(plan: HostIfPlan, directPhys: boolean): HostIfKind {
  if (plan.kind === 'physical') return directPhys ? 'direct-physical' : 'physical';
  return plan.kind;
}

/** Names pipework gave: `v<CIF>pl<PID>` on the host, `v<CIF>pg<PID>` until moved; cut to 15 characters. */
export function pipeworkNames(
  containerIf: string,
  pid: number,
  localIf: string | undefined,
): { local: string; guest: string; other: string } {
  const cut = (s: string): string => s.slice(0, 15);
  return {
    local: localIf ?? cut(`v${containerIf}pl${pid}`),
    guest: cut(`v${containerIf}pg${pid}`),
    other: cut(`ph${pid}${containerIf}`),
  };
}

export async function attach(deps: AttachDeps, spec: AttachSpec, argv: readonly string[]): Promise<AttachOutcome> {
  const guest = await resolveGuest(deps.engine, spec.guest);
  const netns = netnsOf(guest);
  const key = attachmentKey(guest, spec.containerIf);
  const existing = deps.store.get(key);
  if (existing !== undefined) {
    const live =
      existing.guest.pid === guest.pid && (await containerHasLink(netns, spec.containerIf).catch(() => false));
    if (live && sameSpec(existing.spec, spec)) {
      if (existing.spec.persist !== spec.persist)
        deps.store.put({ ...existing, spec: { ...existing.spec, persist: spec.persist }, argv: [...argv] });
      return { record: deps.store.get(key) ?? existing, already: true };
    }
    if (live) {
      throw new DovesnapError(
        ErrorCode.BadOption,
        `invalid value ${JSON.stringify(spec.containerIf)} for -i: ${guest.name} already has ${spec.containerIf} from "dovesnap attach ${existing.argv.join(' ')}"; run "dovesnap detach ${guest.name} -i ${spec.containerIf}" first`,
      );
    }
    // The container restarted (a new namespace): what the old record made is gone or stale.
    const removal = await removeResources(deps, existing, { guestGone: true, nicWaitMs: NIC_RETURN_WAIT_MS });
    if (removal.pending.length > 0) {
      deps.store.put({ ...existing, resources: removal.pending });
      throw new DovesnapError(
        ErrorCode.HostCommand,
        `${existing.hostIf} is not back on the host from ${guest.name}'s previous network namespace yet (the kernel returns it when that namespace is gone); try again`,
      );
    }
    deps.store.remove(key);
  }
  if (await containerHasLink(netns, spec.containerIf)) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value ${JSON.stringify(spec.containerIf)} for -i: ${guest.name} already has an interface ${spec.containerIf} (not made by dovesnap attach)`,
    );
  }
  const plan = await planHostIf(spec.hostIf, deps.userspace);
  checkCombination(spec, plan);

  const resources: AttachResource[] = [];
  const record = (): AttachmentRecord => ({
    version: 1,
    key,
    guest,
    argv: [...argv],
    spec,
    hostIf: plan.name,
    hostKind: hostKindOf(plan, spec.directPhys),
    resources: [...resources],
    createdAt: new Date().toISOString(),
  });
  try {
    // Recorded before anything is made: the daemon's sweep never takes a port being attached
    // for a leftover, and a crash half-way leaves a record that says what to remove.
    deps.store.put(record());
    const movedName = await plumb(spec, plan, guest, key, resources, () => deps.store.put(record()));
    deps.store.put(record());
    const leased = await configureInside(deps, spec, guest, netns, movedName, key, resources, () =>
      deps.store.put(record()),
    );
    deps.store.put(record());
    return { record: record(), already: false, leased };
  } catch (err) {
    await removeResources(deps, record(), { guestGone: false }).catch(() => undefined);
    deps.store.remove(key);
    throw err;
  }
}

function checkCombination(spec: AttachSpec, plan: HostIfPlan): void {
  if (spec.vlan !== undefined && plan.kind === 'linux-bridge') {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value "@${spec.vlan}" for the VLAN: ${plan.name} is a Linux bridge, where pipework's VLANs do not apply (use an Open vSwitch bridge, or a physical interface for a .${spec.vlan} sub-interface)`,
    );
  }
  if (spec.directPhys && plan.kind !== 'physical') {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value "--direct-phys" for ${plan.name}: it moves a physical interface into the container, and ${plan.name} is ${plan.kind === 'dummy' ? 'a dummy name' : `a ${plan.kind.replace('-', ' ')}`}`,
    );
  }
  if (spec.localIf !== undefined && (plan.kind === 'physical' || plan.kind === 'dummy')) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value ${JSON.stringify(spec.localIf)} for -l: only a bridge attachment has a host-side interface to name (${plan.name} is ${plan.kind === 'dummy' ? 'a dummy' : 'a physical interface'})`,
    );
  }
  // Before anything is made: pipework ran the client "where it exists"; a missing one is said so.
  if (spec.address.kind === 'dhcp' && spec.address.client === 'dhcpcd' && dhcpcdBinary() === undefined) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value ${JSON.stringify(spec.address.method)} for the address: dhcpcd is not installed (Debian: apt install dhcpcd-base)`,
    );
  }
}

/**
 * Creates the link, connects its host side and moves the other end into the container.
 * Returns the name the moved link has inside the container before it is renamed.
 */
async function plumb(
  spec: AttachSpec,
  plan: HostIfPlan,
  guest: AttachGuest,
  key: string,
  resources: AttachResource[],
  save: () => void,
): Promise<string> {
  const names = pipeworkNames(spec.containerIf, guest.pid, spec.localIf);
  const made = (r: AttachResource): void => {
    resources.push(r);
    save();
  };
  if (plan.kind === 'linux-bridge' || plan.kind === 'ovs-bridge') {
    if (plan.create && plan.kind === 'linux-bridge') {
      await runCommand('ip', ['link', 'add', 'dev', plan.name, 'type', 'bridge']);
      made({ kind: 'linux-bridge', name: plan.name });
      await runCommand('ip', ['link', 'set', 'dev', plan.name, 'alias', BRIDGE_MARK]);
      await runCommand('ip', ['link', 'set', 'dev', plan.name, 'up']);
    } else if (plan.create && plan.kind === 'ovs-bridge') {
      await runCommand('ovs-vsctl', [
        'add-br',
        plan.name,
        '--',
        'set',
        'Bridge',
        plan.name,
        `external_ids:${ATTACH_BRIDGE_EXT_ID}=true`,
        ...(plan.userspace ? ['datapath_type=netdev'] : []),
      ]);
      made({ kind: 'ovs-bridge', name: plan.name });
      await waitForLink(plan.name);
      await runCommand('ip', ['link', 'set', 'dev', plan.name, 'up']);
    }
    if (hostLinkExists(names.local))
      throw new DovesnapError(
        ErrorCode.BadOption,
        `invalid value ${JSON.stringify(names.local)} for -l: an interface of that name already exists on the host`,
      );
    const mtu = interfaceMtu(plan.name);
    const mtuArgs = mtu === undefined ? [] : ['mtu', String(mtu)];
    await runCommand('ip', [
      'link',
      'add',
      'name',
      names.local,
      ...mtuArgs,
      'type',
      'veth',
      'peer',
      'name',
      names.guest,
      ...mtuArgs,
    ]);
    made({ kind: 'host-link', name: names.local });
    if (plan.kind === 'ovs-bridge' && plan.userspace) {
      // The userspace datapath never completes checksums a veth left to "hardware": TCP would die.
      await runCommand('ethtool', ['-K', names.guest, 'tx', 'off']);
    }
    if (plan.kind === 'linux-bridge') {
      await runCommand('ip', ['link', 'set', 'dev', names.local, 'master', plan.name]);
      await allowBridged(plan.name);
    } else {
      // On a dovesnap bridge FAUCET forwards, not OVS's NORMAL action: the VLAN goes to FAUCET
      // (the port's native VLAN) instead of an OVS tag.
      const tag = spec.vlan !== undefined && plan.dovesnapNetwork === undefined ? [`tag=${spec.vlan}`] : [];
      const ids = [
        `external_ids:${ATTACH_EXT_ID}=${key}`,
        `external_ids:${ATTACH_NAME_EXT_ID}=${guest.name}`,
        ...(spec.vlan === undefined ? [] : [`external_ids:${ATTACH_VLAN_EXT_ID}=${spec.vlan}`]),
      ];
      await runCommand('ovs-vsctl', [
        'add-port',
        plan.name,
        names.local,
        ...tag,
        '--',
        'set',
        'Port',
        names.local,
        ...ids,
        '--',
        'set',
        'Interface',
        names.local,
        ...ids,
      ]);
      made({ kind: 'ovs-port', bridge: plan.name, name: names.local });
    }
    await runCommand('ip', ['link', 'set', 'dev', names.local, 'up']);
    await moveInto(names.guest, guest);
    return names.guest;
  }
  if (plan.kind === 'dummy') {
    await runCommand('ip', ['link', 'add', 'dev', names.other, 'type', 'dummy']).catch((err: unknown) => {
      throw missingKernelSupport(
        err,
        `invalid value ${JSON.stringify(plan.name)} for the host interface: this kernel cannot make dummy interfaces (modprobe dummy)`,
      );
    });
    made({ kind: 'host-link', name: names.other });
    await moveInto(names.other, guest);
    resources.pop();
    made({ kind: 'container-link', containerIf: names.other });
    return names.other;
  }
  // A physical interface: its .VID sub-interface first if asked, then a macvlan of it or itself.
  let parent = plan.name;
  if (spec.vlan !== undefined) {
    parent = `${plan.name}.${spec.vlan}`.slice(0, 15);
    const existing = await getLink(parent);
    if (existing === undefined) {
      await runCommand('ip', [
        'link',
        'add',
        'link',
        plan.name,
        'name',
        parent,
        ...mtuOf(plan.name),
        'type',
        'vlan',
        'id',
        String(spec.vlan),
      ]).catch((err: unknown) => {
        throw missingKernelSupport(
          err,
          `invalid value "@${spec.vlan}" for the VLAN: this kernel cannot make the ${parent} VLAN sub-interface (no 802.1Q support: modprobe 8021q)`,
        );
      });
      made({ kind: 'vlan-link', name: parent });
    } else if (!(await isVlanOf(parent, spec.vlan))) {
      throw new DovesnapError(
        ErrorCode.BadOption,
        `invalid value "@${spec.vlan}" for the VLAN: ${parent} exists but is not a VLAN ${spec.vlan} sub-interface of ${plan.name}`,
      );
    }
    await runCommand('ip', ['link', 'set', 'dev', plan.name, 'up']);
  }
  if (spec.directPhys) {
    // Identified before it moves: if the container dies, the kernel returns it under another name.
    const nic = await nicIdentity(parent);
    await moveInto(parent, guest);
    made({ kind: 'moved-link', hostName: parent, containerIf: parent, nic });
    return parent;
  }
  await runCommand('ip', [
    'link',
    'add',
    'link',
    parent,
    'dev',
    names.other,
    ...mtuOf(parent),
    'type',
    'macvlan',
    'mode',
    'bridge',
  ]);
  made({ kind: 'host-link', name: names.other });
  await runCommand('ip', ['link', 'set', 'dev', parent, 'up']);
  await moveInto(names.other, guest);
  resources.pop();
  made({ kind: 'container-link', containerIf: names.other });
  return names.other;
}

/** `ip` says "Unknown device type" when the kernel lacks the link type: say which and what to do. */
function missingKernelSupport(err: unknown, message: string): unknown {
  return /Unknown device type/.test(errorMessage(err)) ? new DovesnapError(ErrorCode.BadOption, message) : err;
}

/** The interface's IPv4 address once a client has configured one (`ADDR/LEN`), or undefined after `timeoutMs`. */
async function waitForAddress(netns: string, ifname: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await runInNetns(netns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', ifname]).catch(() => ({
      stdout: '',
    }));
    const found = / inet ([0-9.]+\/\d+)/.exec(out.stdout)?.[1];
    if (found !== undefined) return found;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function mtuOf(name: string): string[] {
  const mtu = interfaceMtu(name);
  return mtu === undefined ? [] : ['mtu', String(mtu)];
}

async function isVlanOf(name: string, vid: number): Promise<boolean> {
  const { stdout } = await runCommand('ip', ['-d', '-json', 'link', 'show', 'dev', name]);
  const [info] = JSON.parse(stdout) as { linkinfo?: { info_kind?: string; info_data?: { id?: number } } }[];
  return info?.linkinfo?.info_kind === 'vlan' && info.linkinfo.info_data?.id === vid;
}

async function waitForLink(name: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!hostLinkExists(name)) {
    if (Date.now() > deadline)
      throw new DovesnapError(ErrorCode.Timeout, `${name} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function moveInto(name: string, guest: AttachGuest): Promise<void> {
  await runCommand('ip', ['link', 'set', 'dev', name, 'netns', String(guest.pid)]);
}

/** Renames, sets the MAC, the address and routes inside the container; starts DHCP. */
async function configureInside(
  deps: AttachDeps,
  spec: AttachSpec,
  guest: AttachGuest,
  netns: string,
  movedName: string,
  key: string,
  resources: AttachResource[],
  save: () => void,
): Promise<string | undefined> {
  const cif = spec.containerIf;
  const ip = (...args: string[]): Promise<unknown> => runInNetns(netns, 'ip', args);
  await ip('link', 'set', 'dev', movedName, 'name', cif);
  // From here on the link carries the container's name: undo finds it by that name. (A veth
  // needs nothing: deleting its host end deletes this end.)
  const at = resources.findIndex((r) => r.kind === 'container-link' || r.kind === 'moved-link');
  const moved = resources[at];
  if (moved?.kind === 'container-link' || moved?.kind === 'moved-link') {
    resources[at] = { ...moved, containerIf: cif };
    save();
  }
  if (spec.mac !== undefined) await ip('link', 'set', 'dev', cif, 'address', spec.mac);
  const a = spec.address;
  if (a.kind === 'static') {
    const fam = a.family === 6 ? '-6' : '-4';
    await ip(fam, 'addr', 'add', `${a.address}/${a.prefixLength}`, 'dev', cif);
    await ip('link', 'set', 'dev', cif, 'up');
    if (a.gateway !== undefined) {
      // A gateway outside the interface's prefix gets a host route first, as pipework did.
      await ip(fam, 'route', 'replace', 'default', 'via', a.gateway, 'dev', cif).catch(async () => {
        await ip(fam, 'route', 'replace', `${a.gateway}/${a.family === 6 ? 128 : 32}`, 'dev', cif);
        await ip(fam, 'route', 'replace', 'default', 'via', a.gateway ?? '', 'dev', cif);
      });
    }
    // Tell the neighbours (pipework's arping nudge); best effort.
    if (a.family === 4)
      await runInNetns(netns, 'busybox', ['arping', '-c', '1', '-U', '-I', cif, a.address]).catch(() => undefined);
    return undefined;
  }
  await ip('link', 'set', 'dev', cif, 'up');
  if (a.kind === 'none') return undefined;
  if (a.client === 'dhclient') {
    startDhclient(deps.dhcpDir, key, netns, cif, guest.name, a.options);
    resources.push({ kind: 'dhcp-client', key, client: a.method, ifname: cif });
    save();
    return waitForAddress(netns, cif, deps.leaseWaitMs ?? 15_000);
  }
  if (a.client === 'dhcpcd') {
    // Recorded first: a start that fails half-way (its mount namespace made) is undone by the record.
    resources.push({ kind: 'dhcp-client', key, client: a.method, ifname: cif });
    save();
    await startDhcpcd(deps.dhcpDir, key, netns, cif, guest.name, a.options);
    return waitForAddress(netns, cif, deps.leaseWaitMs ?? 15_000);
  }
  const supervisor = new DhcpSupervisor({ dir: deps.dhcpDir, logger: silentLogger(), checkMs: 3_600_000 });
  try {
    supervisor.ensure({ endpointId: key, netns, ifname: cif, hostname: guest.name, extraArgs: a.options });
    resources.push({ kind: 'dhcp-client', key, client: a.method });
    save();
    const deadline = Date.now() + (deps.leaseWaitMs ?? 15_000);
    for (;;) {
      const lease = supervisor.status(key).report?.lease;
      if (lease !== undefined) return `${lease.address}/${lease.prefixLength}`;
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    supervisor.close();
  }
}

/**
 * Removes what the record says attach made, newest first. `guestGone`: the container's namespace
 * is gone (or going); a moved NIC is then waited for up to `nicWaitMs` on the host.
 */
export async function removeResources(
  deps: Pick<AttachDeps, 'dhcpDir' | 'store' | 'nics'>,
  record: AttachmentRecord,
  opts: { guestGone: boolean; nicWaitMs?: number },
): Promise<Removal> {
  const problems: string[] = [];
  const pending: AttachResource[] = [];
  const netns = netnsOf(record.guest);
  for (const r of [...record.resources].reverse()) {
    try {
      if (r.kind === 'moved-link' && opts.guestGone) {
        if ((await returnNic(deps, r, record.spec.mac, opts.nicWaitMs ?? 0)) === 'away') pending.unshift(r);
      } else {
        await removeOne(deps, r, netns, opts.guestGone);
      }
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  // The bridge may have been created by another container's attach: it goes with its last port.
  if (record.hostKind === 'linux-bridge' || record.hostKind === 'ovs-bridge') {
    await removeBridgeIfUnused(record.hostIf).catch((err: unknown) => problems.push(errorMessage(err)));
  }
  // The bridge's forwarding rule serves every attachment on it: it goes with the last one.
  const others = deps.store
    .all()
    .some((o) => o.key !== record.key && o.hostKind === 'linux-bridge' && o.hostIf === record.hostIf);
  if (record.hostKind === 'linux-bridge' && !others)
    await revokeBridged(record.hostIf).catch((err: unknown) => problems.push(errorMessage(err)));
  return { problems, pending };
}

/**
 * A dead container's --direct-phys NIC: renamed back once the kernel has returned it. A record
 * written before NICs were identified has nothing to find it by.
 */
async function returnNic(
  deps: Pick<AttachDeps, 'nics'>,
  r: Extract<AttachResource, { kind: 'moved-link' }>,
  given: string | undefined,
  waitMs: number,
): Promise<'home' | 'destroyed' | 'away'> {
  if (r.nic === undefined) return 'destroyed';
  return bringNicHome(deps.nics ?? realHostNics, r.hostName, r.nic, given, waitMs);
}

async function removeOne(
  deps: Pick<AttachDeps, 'dhcpDir'>,
  r: AttachResource,
  netns: string,
  guestGone: boolean,
): Promise<void> {
  switch (r.kind) {
    case 'dhcp-client': {
      if (r.client.startsWith('dhcpcd')) {
        await stopDhcpcd(deps.dhcpDir, r.key);
        return;
      }
      if (r.client.startsWith('dhclient')) {
        await stopDhclient(deps.dhcpDir, r.key, netns, r.ifname ?? 'eth1', !guestGone && existsSync(netns));
        return;
      }
      const supervisor = new DhcpSupervisor({ dir: deps.dhcpDir, logger: silentLogger(), checkMs: 3_600_000 });
      try {
        await supervisor.stop(r.key);
      } finally {
        supervisor.close();
      }
      return;
    }
    case 'container-link':
      // Gone with the namespace when the container died; otherwise delete it there.
      if (!guestGone && (await containerHasLink(netns, r.containerIf).catch(() => false)))
        await runInNetns(netns, 'ip', ['link', 'del', 'dev', r.containerIf]);
      return;
    case 'moved-link':
      // A dead container's NIC is not in a namespace of ours to take it from: see returnNic.
      if (!guestGone && (await containerHasLink(netns, r.containerIf).catch(() => false))) {
        await runInNetns(netns, 'ip', ['link', 'set', 'dev', r.containerIf, 'down']);
        await runInNetns(netns, 'ip', ['link', 'set', 'dev', r.containerIf, 'name', r.hostName]);
        await runInNetns(netns, 'ip', ['link', 'set', 'dev', r.hostName, 'netns', '1']);
      }
      return;
    case 'ovs-port':
      await runCommand('ovs-vsctl', ['--if-exists', 'del-port', r.bridge, r.name]);
      return;
    case 'host-link':
    case 'vlan-link':
      await deleteLink(r.name);
      return;
    case 'linux-bridge':
    case 'ovs-bridge':
      await removeBridgeIfUnused(r.name);
      return;
  }
}

/** A bridge attach created goes when nothing is on it any more; any other bridge stays. */
export async function removeBridgeIfUnused(name: string): Promise<void> {
  if (
    await runCommand('ovs-vsctl', ['br-exists', name]).then(
      () => true,
      () => false,
    )
  ) {
    const { stdout } = await runCommand('ovs-vsctl', ['br-get-external-id', name, ATTACH_BRIDGE_EXT_ID]);
    if (stdout.trim() !== 'true') return;
    const ports = (await runCommand('ovs-vsctl', ['list-ports', name])).stdout.trim();
    if (ports === '') await runCommand('ovs-vsctl', ['--if-exists', 'del-br', name]);
    return;
  }
  if (!hostLinkExists(name)) return;
  const [info] = JSON.parse((await runCommand('ip', ['-json', 'link', 'show', 'dev', name])).stdout) as {
    ifalias?: string;
  }[];
  if (info?.ifalias !== BRIDGE_MARK) return;
  const members = JSON.parse(
    (await runCommand('ip', ['-json', 'link', 'show', 'master', name])).stdout || '[]',
  ) as unknown[];
  if (members.length === 0) await deleteLink(name);
}
