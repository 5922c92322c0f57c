/**
 * `dovesnap attach` as a list of steps: planned from the request alone (attachSteps, pure), then
 * run one by one against an AttachHost (runAttachSteps), each thing made recorded the moment it
 * exists, so that a failure (or a crash) leaves a record of exactly what to remove.
 */
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { ExtId } from '../driver/persist.js';
import type { AttachHost, DhcpStart } from './host.js';
import type { HostIfPlan } from './host-if.js';
import type { AttachGuest, AttachResource } from './record.js';
import type { AttachSpec } from './spec.js';

/** The alias of Linux bridges attach created (a `br…` name), so that the last detach removes them. */
export const BRIDGE_MARK = 'created by dovesnap attach';

export type AttachStep =
  /** A Linux bridge (a missing `br…` name), marked as attach's. */
  | { readonly op: 'create-linux-bridge'; readonly name: string }
  /** An OVS bridge (a missing `ovs…` name), marked as attach's, with its own interface up. */
  | { readonly op: 'create-ovs-bridge'; readonly name: string; readonly userspace: boolean }
  /** `-l LOCALIF` must not name an existing host interface. */
  | { readonly op: 'check-name-free'; readonly name: string }
  /** The veth, with the MTU that `mtuOf` has when the step runs. */
  | {
      readonly op: 'create-veth';
      readonly local: string;
      readonly peer: string;
      readonly mtuOf: string;
      readonly txOffloadOff: boolean;
    }
  /** A Linux bridge member, and the bridge's FORWARD rule. */
  | { readonly op: 'join-linux-bridge'; readonly link: string; readonly bridge: string }
  | {
      readonly op: 'add-ovs-port';
      readonly bridge: string;
      readonly name: string;
      readonly tag: number | undefined;
      readonly externalIds: Readonly<Record<string, string>>;
    }
  | { readonly op: 'link-up'; readonly name: string }
  | { readonly op: 'create-dummy'; readonly name: string; readonly hostIf: string }
  /** `HOSTIF.VID`: made if missing (with HOSTIF's MTU), else it must be that VLAN's. */
  | { readonly op: 'ensure-vlan'; readonly parent: string; readonly name: string; readonly id: number }
  | { readonly op: 'create-macvlan'; readonly parent: string; readonly name: string }
  /**
   * Into the guest's namespace under `name`. What the record says then: `veth-peer` nothing (the
   * host end takes it along), `link` the link is the container's, `nic` the host's NIC is away.
   */
  | {
      readonly op: 'move-into';
      readonly link: string;
      readonly pid: number;
      readonly name: string;
      readonly what: 'veth-peer' | 'link' | 'nic';
    }
  /** `ip ARGS` inside the guest. */
  | { readonly op: 'ip-in'; readonly netns: string; readonly args: readonly string[] }
  /** The default route; an off-link gateway gets a host route first, as pipework did. */
  | {
      readonly op: 'default-route';
      readonly netns: string;
      readonly ifname: string;
      readonly family: 4 | 6;
      readonly gateway: string;
    }
  /** Best effort: the neighbours hear of the address. */
  | { readonly op: 'announce'; readonly netns: string; readonly ifname: string; readonly address: string }
  | { readonly op: 'dhcp'; readonly start: DhcpStart; readonly method: string };

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

export interface StepInput {
  readonly spec: AttachSpec;
  readonly plan: HostIfPlan;
  readonly guest: AttachGuest;
  readonly key: string;
  readonly leaseWaitMs: number;
}

/** Everything attach will do, in order. Pure. */
export function attachSteps(input: StepInput): AttachStep[] {
  return [...plumbing(input), ...inside(input)];
}

/** Creates the link, connects its host side and moves the other end into the container as CIF. */
function plumbing({ spec, plan, guest, key }: StepInput): AttachStep[] {
  const names = pipeworkNames(spec.containerIf, guest.pid, spec.localIf);
  const cif = spec.containerIf;
  const { pid } = guest;
  if (plan.kind === 'linux-bridge' || plan.kind === 'ovs-bridge') {
    const steps: AttachStep[] = [];
    if (plan.create && plan.kind === 'linux-bridge') steps.push({ op: 'create-linux-bridge', name: plan.name });
    if (plan.create && plan.kind === 'ovs-bridge')
      steps.push({ op: 'create-ovs-bridge', name: plan.name, userspace: plan.userspace });
    steps.push(
      { op: 'check-name-free', name: names.local },
      {
        op: 'create-veth',
        local: names.local,
        peer: names.guest,
        mtuOf: plan.name,
        // The userspace datapath never completes checksums a veth left to "hardware": TCP would die.
        txOffloadOff: plan.kind === 'ovs-bridge' && plan.userspace,
      },
    );
    if (plan.kind === 'linux-bridge') steps.push({ op: 'join-linux-bridge', link: names.local, bridge: plan.name });
    else {
      const ids = {
        [ExtId.attach]: key,
        [ExtId.attachContainer]: guest.name,
        ...(spec.vlan === undefined ? {} : { [ExtId.attachVlan]: String(spec.vlan) }),
      };
      // On a dovesnap bridge FAUCET forwards, not OVS's NORMAL action: the VLAN goes to FAUCET
      // (the port's native VLAN) instead of an OVS tag.
      const tag = plan.dovesnapNetwork === undefined ? spec.vlan : undefined;
      steps.push({ op: 'add-ovs-port', bridge: plan.name, name: names.local, tag, externalIds: ids });
    }
    steps.push(
      { op: 'link-up', name: names.local },
      { op: 'move-into', link: names.guest, pid, name: cif, what: 'veth-peer' },
    );
    return steps;
  }
  if (plan.kind === 'dummy') {
    return [
      { op: 'create-dummy', name: names.other, hostIf: plan.name },
      { op: 'move-into', link: names.other, pid, name: cif, what: 'link' },
    ];
  }
  // A physical interface: its .VID sub-interface first if asked, then a macvlan of it or itself.
  const steps: AttachStep[] = [];
  let parent = plan.name;
  if (spec.vlan !== undefined) {
    parent = `${plan.name}.${spec.vlan}`.slice(0, 15);
    steps.push(
      { op: 'ensure-vlan', parent: plan.name, name: parent, id: spec.vlan },
      { op: 'link-up', name: plan.name },
    );
  }
  if (spec.directPhys) return [...steps, { op: 'move-into', link: parent, pid, name: cif, what: 'nic' }];
  return [
    ...steps,
    { op: 'create-macvlan', parent, name: names.other },
    { op: 'link-up', name: parent },
    { op: 'move-into', link: names.other, pid, name: cif, what: 'link' },
  ];
}

/** Sets the MAC, the address and routes inside the container; starts DHCP. */
function inside({ spec, guest, key, leaseWaitMs }: StepInput): AttachStep[] {
  const cif = spec.containerIf;
  const netns = `/proc/${guest.pid}/ns/net`;
  const ip = (...args: string[]): AttachStep => ({ op: 'ip-in', netns, args });
  const steps: AttachStep[] = [];
  if (spec.mac !== undefined) steps.push(ip('link', 'set', 'dev', cif, 'address', spec.mac));
  const a = spec.address;
  if (a.kind === 'static') {
    const fam = a.family === 6 ? '-6' : '-4';
    steps.push(
      ip(fam, 'addr', 'add', `${a.address}/${a.prefixLength}`, 'dev', cif),
      ip('link', 'set', 'dev', cif, 'up'),
    );
    if (a.gateway !== undefined)
      steps.push({ op: 'default-route', netns, ifname: cif, family: a.family, gateway: a.gateway });
    if (a.family === 4) steps.push({ op: 'announce', netns, ifname: cif, address: a.address });
    return steps;
  }
  steps.push(ip('link', 'set', 'dev', cif, 'up'));
  if (a.kind === 'dhcp') {
    const start = { client: a.client, key, netns, ifname: cif, hostname: guest.name, options: a.options, leaseWaitMs };
    steps.push({ op: 'dhcp', start, method: a.method });
  }
  return steps;
}

export interface StepRun {
  readonly host: AttachHost;
  readonly dhcpDir: string;
  /** What was made so far, oldest first; each step adds to it (or turns a host link into the container's). */
  readonly resources: AttachResource[];
  /** Writes the record: called after every change to `resources`. */
  readonly save: () => void;
}

/** Runs the steps in order; resolves to the DHCP lease, if a DHCP step got one. */
export async function runAttachSteps(steps: readonly AttachStep[], run: StepRun): Promise<string | undefined> {
  let leased: string | undefined;
  for (const step of steps) {
    const lease = await runStep(step, run);
    if (lease !== undefined) leased = lease;
  }
  return leased;
}

function ovsOf(host: AttachHost, what: string): NonNullable<AttachHost['vswitch']> {
  if (host.vswitch === undefined)
    throw new DovesnapError(ErrorCode.Ovsdb, `cannot ${what}: Open vSwitch's database is not reachable`);
  return host.vswitch;
}

/** How long ovs-vswitchd may take to put a new port into the datapath. */
const OFPORT_WAIT_MS = 10_000;

async function runStep(step: AttachStep, { host, dhcpDir, resources, save }: StepRun): Promise<string | undefined> {
  const made = (r: AttachResource): void => {
    resources.push(r);
    save();
  };
  switch (step.op) {
    case 'create-linux-bridge':
      await host.addLink({ kind: 'bridge', name: step.name });
      made({ kind: 'linux-bridge', name: step.name });
      await host.setAlias(step.name, BRIDGE_MARK).catch(async (err: unknown) => {
        // Unmarked, the removal would take it for someone else's: it goes now.
        await host.deleteLink(step.name).catch(() => undefined);
        throw err;
      });
      await host.setLinkUp(step.name);
      return undefined;
    case 'create-ovs-bridge':
      await ovsOf(host, `create the Open vSwitch bridge ${step.name}`).ensureBridge({
        name: step.name,
        datapathType: step.userspace ? 'netdev' : 'system',
        controllers: [],
        protocols: [],
        externalIds: { [ExtId.attachBridge]: 'true' },
      });
      made({ kind: 'ovs-bridge', name: step.name });
      await host.waitForLink(step.name);
      await host.setLinkUp(step.name);
      return undefined;
    case 'check-name-free':
      if (await host.linkExists(step.name))
        throw new DovesnapError(
          ErrorCode.BadOption,
          `invalid value ${JSON.stringify(step.name)} for -l: an interface of that name already exists on the host`,
        );
      return undefined;
    case 'create-veth':
      await host.createVeth({
        names: { host: step.local, container: step.peer },
        mtu: host.mtuOf(step.mtuOf),
        disableContainerTxOffload: step.txOffloadOff,
        hostEndInHostStack: true,
      });
      made({ kind: 'host-link', name: step.local });
      return undefined;
    case 'join-linux-bridge':
      await host.setMaster(step.link, step.bridge);
      await host.allowBridged(step.bridge);
      return undefined;
    case 'add-ovs-port': {
      const ovs = ovsOf(host, `add the port ${step.name} to ${step.bridge}`);
      await ovs.addPort({
        bridge: step.bridge,
        name: step.name,
        externalIds: step.externalIds,
        ...(step.tag === undefined ? {} : { tag: step.tag }),
      });
      made({ kind: 'ovs-port', bridge: step.bridge, name: step.name });
      // As `ovs-vsctl add-port` did: on once ovs-vswitchd has it in the datapath.
      await ovs.waitOfport(step.name, OFPORT_WAIT_MS);
      return undefined;
    }
    case 'link-up':
      await host.setLinkUp(step.name);
      return undefined;
    case 'create-dummy':
      await host.addLink({ kind: 'dummy', name: step.name, hostIf: step.hostIf });
      made({ kind: 'host-link', name: step.name });
      return undefined;
    case 'ensure-vlan': {
      if (!(await host.linkExists(step.name))) {
        await host.addLink({
          kind: 'vlan',
          name: step.name,
          parent: step.parent,
          id: step.id,
          mtu: host.mtuOf(step.parent),
        });
        made({ kind: 'vlan-link', name: step.name });
      } else if ((await host.vlanIdOf(step.name)) !== step.id) {
        throw new DovesnapError(
          ErrorCode.BadOption,
          `invalid value "@${step.id}" for the VLAN: ${step.name} exists but is not a VLAN ${step.id} sub-interface of ${step.parent}`,
        );
      }
      return undefined;
    }
    case 'create-macvlan':
      await host.addLink({ kind: 'macvlan', name: step.name, parent: step.parent, mtu: host.mtuOf(step.parent) });
      made({ kind: 'host-link', name: step.name });
      return undefined;
    case 'move-into': {
      // Identified before it moves: if the container dies, the kernel returns it under another name.
      const nic = step.what === 'nic' ? await host.nicIdentity(step.link) : undefined;
      await host.moveLinkInto(step.link, step.pid, step.name);
      if (step.what === 'link') {
        const at = resources.findIndex((r) => r.kind === 'host-link' && r.name === step.link);
        if (at >= 0) resources.splice(at, 1);
        made({ kind: 'container-link', containerIf: step.name });
      } else if (step.what === 'nic') {
        made({ kind: 'moved-link', hostName: step.link, containerIf: step.name, nic });
      }
      return undefined;
    }
    case 'ip-in':
      await host.ipIn(step.netns, step.args);
      return undefined;
    case 'default-route': {
      const fam = step.family === 6 ? '-6' : '-4';
      const route = (to: string, via: string[]): Promise<void> =>
        host.ipIn(step.netns, [fam, 'route', 'replace', to, ...via, 'dev', step.ifname]);
      await route('default', ['via', step.gateway]).catch(async () => {
        await route(`${step.gateway}/${step.family === 6 ? 128 : 32}`, []);
        await route('default', ['via', step.gateway]);
      });
      return undefined;
    }
    case 'announce':
      await host.announce(step.netns, step.ifname, step.address).catch(() => undefined);
      return undefined;
    case 'dhcp': {
      const { key, ifname, client } = step.start;
      const record: AttachResource = {
        kind: 'dhcp-client',
        key,
        client: step.method,
        ...(client === 'udhcpc' ? {} : { ifname }),
      };
      return host.startDhcp(dhcpDir, step.start, () => made(record));
    }
  }
}
