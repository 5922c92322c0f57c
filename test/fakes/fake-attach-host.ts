import type { AttachHost, AttachVSwitch, DhcpStart, LinkAdd } from '../../src/attach/host.js';
import type { HostNics, NicIdentity } from '../../src/attach/nic.js';
import type { VethSpec } from '../../src/net/links.js';
import { DovesnapError, ErrorCode } from '../../src/util/errors.js';
import { FakeHostNics } from './fake-host-nics.js';
import { FakeHostNet } from './fake-host.js';
import type { FakeVSwitch } from './fake-vswitch.js';

/**
 * The host of `dovesnap attach` in memory: FakeHostNet's links (veths by their host end), plus
 * the other links attach makes, the guests' namespaces, the Linux bridges' FORWARD rules and
 * DHCP clients. `failAtCall(n)` makes the n-th call that changes something (OVSDB writes
 * included) fail, so that a test can break every step in turn.
 */
export class FakeAttachHost extends FakeHostNet implements AttachHost {
  readonly vswitch: AttachVSwitch | undefined;
  readonly nics: HostNics;
  /** Links other than veths, by name. */
  readonly made = new Map<string, LinkAdd>();
  readonly aliases = new Map<string, string>();
  /** Bridge member → bridge. */
  readonly masters = new Map<string, string>();
  /** Links inside each namespace (by path), with where each came from on the host. */
  readonly guests = new Map<string, Map<string, { readonly from: string }>>();
  /** Linux bridges with a FORWARD rule. */
  readonly bridged = new Set<string>();
  /** Running DHCP clients, by key. */
  readonly dhcp = new Set<string>();
  /** Every change asked for, in order: `op arg…`. */
  readonly log: string[] = [];
  /** The lease a DHCP client gets. */
  lease: string | undefined = '10.231.99.5/24';
  private calls = 0;
  private failAt: number | undefined;

  constructor(vswitch?: FakeVSwitch, nics: HostNics = new FakeHostNics()) {
    super();
    this.nics = nics;
    this.vswitch = vswitch && {
      getBridge: (name) => vswitch.getBridge(name),
      ensureBridge: async (spec) => {
        this.change(`ensureBridge ${spec.name}`);
        await vswitch.ensureBridge(spec);
      },
      addPort: async (spec) => {
        this.change(`addPort ${spec.bridge} ${spec.name}`);
        await vswitch.addPort(spec);
      },
      waitOfport: async (name, timeoutMs) => {
        this.change(`waitOfport ${name}`);
        return vswitch.waitOfport(name, timeoutMs);
      },
      deletePort: (bridge, name) => vswitch.deletePort(bridge, name),
      deleteBridge: (name) => vswitch.deleteBridge(name),
    };
  }

  /** The n-th change from now (1: the next) fails; earlier and later ones succeed. */
  failAtCall(n: number): void {
    this.failAt = this.calls + n;
  }

  /** How many changes were asked for so far. */
  get changes(): number {
    return this.calls;
  }

  private change(what: string): void {
    this.calls++;
    this.log.push(what);
    if (this.calls === this.failAt) throw new DovesnapError(ErrorCode.HostCommand, `injected failure: ${what}`);
  }

  override async createVeth(spec: VethSpec): Promise<void> {
    this.change(`createVeth ${spec.names.host} ${spec.names.container} mtu=${spec.mtu}`);
    await super.createVeth(spec);
  }

  async addLink(spec: LinkAdd): Promise<void> {
    this.change(`addLink ${spec.kind} ${spec.name}`);
    if (await this.linkExists(spec.name)) throw new DovesnapError(ErrorCode.HostCommand, `${spec.name} exists`);
    this.made.set(spec.name, spec);
    this.links.set(spec.name, { peer: '', mac: '', up: false });
  }

  override async setLinkUp(name: string): Promise<void> {
    this.change(`setLinkUp ${name}`);
    if (this.hostInterfaces.has(name)) return;
    // An OVS bridge's own interface.
    if ((await this.vswitch?.getBridge(name)) !== undefined) return;
    await super.setLinkUp(name);
  }

  /** A veth's host end takes its peer along, wherever the peer is; a bridge loses its members. */
  override async deleteLink(name: string): Promise<void> {
    const peer = this.links.get(name)?.peer;
    await super.deleteLink(name);
    this.made.delete(name);
    this.aliases.delete(name);
    this.masters.delete(name);
    for (const [member, bridge] of [...this.masters]) if (bridge === name) this.masters.delete(member);
    for (const links of this.guests.values())
      for (const [inside, l] of [...links]) if (l.from === peer && peer !== '') links.delete(inside);
  }

  mtuOf(name: string): number | undefined {
    return this.links.has(name) || this.hostInterfaces.has(name) ? 1500 : undefined;
  }

  async vlanIdOf(name: string): Promise<number | undefined> {
    const l = this.made.get(name);
    return l?.kind === 'vlan' ? l.id : undefined;
  }

  async linuxBridge(name: string): Promise<{ alias: string | undefined; members: number } | undefined> {
    if (this.made.get(name)?.kind !== 'bridge') return undefined;
    return { alias: this.aliases.get(name), members: [...this.masters.values()].filter((b) => b === name).length };
  }

  async setAlias(name: string, alias: string): Promise<void> {
    this.change(`setAlias ${name}`);
    this.aliases.set(name, alias);
  }

  async setMaster(name: string, bridge: string): Promise<void> {
    this.change(`setMaster ${name} ${bridge}`);
    this.masters.set(name, bridge);
  }

  async moveLinkInto(name: string, pid: number, newName: string): Promise<void> {
    this.change(`moveLinkInto ${name} ${pid} ${newName}`);
    const isPeer = [...this.links.values()].some((l) => l.peer === name);
    if (!isPeer && !this.links.has(name) && !this.hostInterfaces.has(name))
      throw new DovesnapError(ErrorCode.HostCommand, `no ${name}`);
    const netns = `/proc/${pid}/ns/net`;
    const inside = this.guests.get(netns) ?? new Map<string, { from: string }>();
    if (inside.has(newName)) throw new DovesnapError(ErrorCode.HostCommand, `${newName} exists in ${netns}`);
    inside.set(newName, { from: name });
    this.guests.set(netns, inside);
    if (!isPeer) {
      this.links.delete(name);
      this.hostInterfaces.delete(name);
    }
  }

  async nicIdentity(name: string): Promise<NicIdentity> {
    return { ifindex: 9, mac: '52:54:00:00:00:09', permAddr: undefined, kind: name.includes('.') ? 'vlan' : undefined };
  }

  async waitForLink(): Promise<void> {}

  async ipIn(netns: string, args: readonly string[]): Promise<void> {
    this.change(`[${netns}] ip ${args.join(' ')}`);
    if (args[0] === 'link' && args[1] === 'del') this.guests.get(netns)?.delete(args[3] ?? '');
  }

  async guestHasLink(netns: string, name: string): Promise<boolean> {
    return this.guests.get(netns)?.has(name) === true;
  }

  async moveLinkHome(netns: string, name: string, hostName: string): Promise<void> {
    this.guests.get(netns)?.delete(name);
    this.hostInterfaces.add(hostName);
  }

  async announce(netns: string, ifname: string, address: string): Promise<void> {
    this.change(`announce ${netns} ${ifname} ${address}`);
  }

  async allowBridged(bridge: string): Promise<void> {
    this.change(`allowBridged ${bridge}`);
    this.bridged.add(bridge);
  }

  async revokeBridged(bridge: string): Promise<void> {
    this.bridged.delete(bridge);
  }

  async startDhcp(_dir: string, start: DhcpStart, started: () => void): Promise<string | undefined> {
    this.change(`startDhcp ${start.client} ${start.key}`);
    this.dhcp.add(start.key);
    started();
    return this.lease;
  }

  async stopDhcp(_dir: string, _client: string, key: string): Promise<void> {
    this.dhcp.delete(key);
  }
}
