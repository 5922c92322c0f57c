/**
 * `dovesnap attach` and `dovesnap detach`: pipework's plumbing, as a list of steps (steps.ts)
 * run against the host (host.ts), with everything made recorded so that it can be undone — at
 * once when a later step fails, by `detach`, or by the daemon when the container dies.
 */
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import type { Engine } from '../engine/client.js';
import { ExtId } from '../driver/persist.js';
import { planHostIf, type HostIfPlan } from './host-if.js';
import { netnsOf, resolveGuest } from './guest.js';
import { realAttachHost, type AttachHost, type AttachVSwitch } from './host.js';
import { attachSteps, BRIDGE_MARK, runAttachSteps } from './steps.js';
import {
  attachmentKey,
  type AttachmentStore,
  type AttachmentRecord,
  type AttachResource,
  type HostIfKind,
} from './record.js';
import type { AttachSpec } from './spec.js';
import { dhcpcdBinary } from './dhcpcd.js';
import { bringNicHome } from './nic.js';

export { pipeworkNames } from './steps.js';

export interface AttachDeps {
  readonly engine: Pick<Engine, 'inspectContainer'>;
  readonly store: AttachmentStore;
  /** Where attach's DHCP clients keep their pidfiles and leases. */
  readonly dhcpDir: string;
  /** OVS bridges attach creates use the userspace datapath (no openvswitch kernel module). */
  readonly userspace: boolean;
  /** How long attach waits for a first DHCP lease before it leaves the client trying on its own. */
  readonly leaseWaitMs?: number;
  /** OVSDB (the CLI's own connection or the daemon's); undefined where Open vSwitch is not reachable. */
  readonly vswitch: AttachVSwitch | undefined;
  /** The host the steps run against; default the real one over `vswitch` (unit tests pass fakes). */
  readonly host?: AttachHost;
}

function hostOf(deps: Pick<AttachDeps, 'vswitch' | 'host'>): AttachHost {
  return deps.host ?? realAttachHost(deps.vswitch);
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

/** Whether two requests plumb the same thing (the guest named by name or ID, with or without --persist). */
function sameSpec(a: AttachSpec, b: AttachSpec): boolean {
  const plumbed = (s: AttachSpec): string => JSON.stringify({ ...s, persist: false, guest: '' });
  return plumbed(a) === plumbed(b);
}

function hostKindOf(plan: HostIfPlan, directPhys: boolean): HostIfKind {
  if (plan.kind === 'physical') return directPhys ? 'direct-physical' : 'physical';
  return plan.kind;
}

export async function attach(deps: AttachDeps, spec: AttachSpec, argv: readonly string[]): Promise<AttachOutcome> {
  const host = hostOf(deps);
  const guest = await resolveGuest(deps.engine, spec.guest);
  const netns = netnsOf(guest);
  const key = attachmentKey(guest, spec.containerIf);
  const existing = deps.store.get(key);
  if (existing !== undefined) {
    const live =
      existing.guest.pid === guest.pid && (await host.guestHasLink(netns, spec.containerIf).catch(() => false));
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
  if (await host.guestHasLink(netns, spec.containerIf)) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value ${JSON.stringify(spec.containerIf)} for -i: ${guest.name} already has an interface ${spec.containerIf} (not made by dovesnap attach)`,
    );
  }
  const plan = await planHostIf(spec.hostIf, deps.userspace, host.vswitch);
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
    const steps = attachSteps({ spec, plan, guest, key, leaseWaitMs: deps.leaseWaitMs ?? 15_000 });
    const save = (): void => deps.store.put(record());
    const leased = await runAttachSteps(steps, { host, dhcpDir: deps.dhcpDir, resources, save });
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
 * Removes what the record says attach made, newest first. `guestGone`: the container's namespace
 * is gone (or going); a moved NIC is then waited for up to `nicWaitMs` on the host.
 */
export async function removeResources(
  deps: Pick<AttachDeps, 'dhcpDir' | 'store' | 'vswitch' | 'host'>,
  record: AttachmentRecord,
  opts: { guestGone: boolean; nicWaitMs?: number },
): Promise<Removal> {
  const host = hostOf(deps);
  const problems: string[] = [];
  const pending: AttachResource[] = [];
  const netns = netnsOf(record.guest);
  for (const r of [...record.resources].reverse()) {
    try {
      if (r.kind === 'moved-link' && opts.guestGone) {
        if ((await returnNic(host, r, record.spec.mac, opts.nicWaitMs ?? 0)) === 'away') pending.unshift(r);
      } else {
        await removeOne(host, deps.dhcpDir, r, netns, opts.guestGone);
      }
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  // The bridge may have been created by another container's attach: it goes with its last port.
  if (record.hostKind === 'linux-bridge' || record.hostKind === 'ovs-bridge') {
    await removeBridgeIfUnused(host, record.hostIf).catch((err: unknown) => problems.push(errorMessage(err)));
  }
  // The bridge's forwarding rule serves every attachment on it: it goes with the last one.
  const others = deps.store
    .all()
    .some((o) => o.key !== record.key && o.hostKind === 'linux-bridge' && o.hostIf === record.hostIf);
  if (record.hostKind === 'linux-bridge' && !others)
    await host.revokeBridged(record.hostIf).catch((err: unknown) => problems.push(errorMessage(err)));
  return { problems, pending };
}

/**
 * A dead container's --direct-phys NIC: renamed back once the kernel has returned it. A record
 * written before NICs were identified has nothing to find it by.
 */
async function returnNic(
  host: AttachHost,
  r: Extract<AttachResource, { kind: 'moved-link' }>,
  given: string | undefined,
  waitMs: number,
): Promise<'home' | 'destroyed' | 'away'> {
  if (r.nic === undefined) return 'destroyed';
  return bringNicHome(host.nics, r.hostName, r.nic, given, waitMs);
}

async function removeOne(
  host: AttachHost,
  dhcpDir: string,
  r: AttachResource,
  netns: string,
  guestGone: boolean,
): Promise<void> {
  switch (r.kind) {
    case 'dhcp-client':
      await host.stopDhcp(dhcpDir, r.client, r.key, netns, r.ifname ?? 'eth1', guestGone);
      return;
    case 'container-link':
      // Gone with the namespace when the container died; otherwise delete it there.
      if (!guestGone && (await host.guestHasLink(netns, r.containerIf).catch(() => false)))
        await host.ipIn(netns, ['link', 'del', 'dev', r.containerIf]);
      return;
    case 'moved-link':
      // A dead container's NIC is not in a namespace of ours to take it from: see returnNic.
      if (!guestGone && (await host.guestHasLink(netns, r.containerIf).catch(() => false)))
        await host.moveLinkHome(netns, r.containerIf, r.hostName);
      return;
    case 'ovs-port':
      if (host.vswitch === undefined)
        throw new DovesnapError(
          ErrorCode.Ovsdb,
          `cannot remove the port ${r.name} from ${r.bridge}: Open vSwitch's database is not reachable`,
        );
      await host.vswitch.deletePort(r.bridge, r.name);
      return;
    case 'host-link':
    case 'vlan-link':
      await host.deleteLink(r.name);
      return;
    case 'linux-bridge':
    case 'ovs-bridge':
      await removeBridgeIfUnused(host, r.name);
      return;
  }
}

/** A bridge attach created goes when nothing is on it any more; any other bridge stays. */
async function removeBridgeIfUnused(host: AttachHost, name: string): Promise<void> {
  const ovs = await host.vswitch?.getBridge(name);
  if (ovs !== undefined) {
    if (ovs.externalIds[ExtId.attachBridge] === 'true' && ovs.ports.length === 0)
      await host.vswitch?.deleteBridge(name);
    return;
  }
  const bridge = await host.linuxBridge(name);
  if (bridge?.alias === BRIDGE_MARK && bridge.members === 0) await host.deleteLink(name);
}
