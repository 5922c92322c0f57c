import type { HostNet } from '../../src/driver/host.js';
import type { VethSpec } from '../../src/net/links.js';
import type { ListeningSocket } from '../../src/net/listeners.js';
import type { RouteEntry } from '../../src/net/routes.js';
import { DovesnapError, ErrorCode } from '../../src/util/errors.js';

/** Host links in memory: which veths exist, with their container-side MAC. */
export class FakeHostNet implements HostNet {
  readonly links = new Map<string, { peer: string; mac: string; up: boolean }>();
  /** Interfaces that "exist on the host" for add_ports checks. */
  readonly hostInterfaces = new Set<string>();
  private failCreate: Error | undefined;

  failNextCreate(err: Error = new DovesnapError(ErrorCode.HostCommand, 'injected veth failure')): void {
    this.failCreate = err;
  }

  async createVeth(spec: VethSpec): Promise<void> {
    if (this.failCreate) {
      const e = this.failCreate;
      this.failCreate = undefined;
      throw e;
    }
    if (this.links.has(spec.names.host)) throw new DovesnapError(ErrorCode.HostCommand, `${spec.names.host} exists`);
    this.links.set(spec.names.host, { peer: spec.names.container, mac: spec.containerMac ?? '', up: false });
  }

  /** createVethsUp calls, by how many pairs each made. */
  readonly batches: number[] = [];

  async createVethsUp(specs: readonly VethSpec[]): Promise<void> {
    try {
      for (const spec of specs) {
        await this.createVeth(spec);
        await this.setLinkUp(spec.names.container);
        await this.setLinkUp(spec.names.host);
      }
    } catch (err) {
      for (const spec of specs) this.links.delete(spec.names.host);
      throw err;
    }
    this.batches.push(specs.length);
  }

  async deleteLink(name: string): Promise<void> {
    this.links.delete(name);
  }

  async linkNames(prefix: string): Promise<string[]> {
    return [...this.links.keys(), ...this.hostInterfaces].filter((n) => n.startsWith(prefix));
  }

  /** Sockets "the host" listens on, for port-mapping conflict checks. */
  readonly listening: ListeningSocket[] = [];

  async listeners(): Promise<ListeningSocket[]> {
    return [...this.listening];
  }

  async forwardingTags(): Promise<string[]> {
    return [...this.forwarding.keys()].map((id) => id.slice(0, 12));
  }

  async revokeForwardingTag(tag: string): Promise<number> {
    let n = 0;
    for (const id of [...this.forwarding.keys()]) {
      if (id.startsWith(tag)) {
        this.forwarding.delete(id);
        n++;
      }
    }
    return n;
  }

  async linkIsUp(name: string): Promise<boolean> {
    return this.links.get(name)?.up === true;
  }

  async linkExists(name: string): Promise<boolean> {
    return this.links.has(name) || this.hostInterfaces.has(name);
  }

  /** setLinkDown calls, by link: how often a port was bounced. */
  readonly downs = new Map<string, number>();

  async setLinkDown(name: string): Promise<void> {
    const l = this.links.get(name);
    if (l === undefined) throw new DovesnapError(ErrorCode.HostCommand, `no ${name}`);
    l.up = false;
    this.downs.set(name, (this.downs.get(name) ?? 0) + 1);
  }

  /** Container ends raised in the host (ready ports). */
  readonly containerEndsUp = new Set<string>();

  async setLinkUp(name: string): Promise<void> {
    const peerOf = [...this.links.values()].find((l) => l.peer === name);
    if (peerOf !== undefined) {
      this.containerEndsUp.add(name);
      return;
    }
    const l = this.links.get(name);
    if (l === undefined) throw new DovesnapError(ErrorCode.HostCommand, `no ${name}`);
    l.up = true;
  }

  async linkMac(name: string): Promise<string | undefined> {
    return [...this.links.values()].find((x) => x.peer === name)?.mac;
  }

  async setLinkMac(name: string, mac: string): Promise<void> {
    const l = [...this.links.values()].find((x) => x.peer === name);
    if (l === undefined) throw new DovesnapError(ErrorCode.HostCommand, `no ${name}`);
    l.mac = mac;
  }

  readonly gateways = new Map<string, string>();
  readonly forwarding = new Map<string, string>();
  readonly nftScripts: string[] = [];
  ipForward = false;

  async configureGateway(bridge: string, cidr: string): Promise<void> {
    this.gateways.set(bridge, cidr);
  }

  async enableIpv4Forwarding(): Promise<boolean> {
    const changed = !this.ipForward;
    this.ipForward = true;
    return changed;
  }

  async allowForwarding(networkId: string, _bridge: string, mode: string): Promise<boolean> {
    this.forwarding.set(networkId, mode);
    return true;
  }

  async revokeForwarding(networkId: string): Promise<void> {
    this.forwarding.delete(networkId);
  }

  async applyNftScript(script: string): Promise<void> {
    this.nftScripts.push(script);
  }

  /** Routes the host had before dovesnap (an operator's, other interfaces' subnets): never changed here. */
  readonly table: RouteEntry[] = [];
  /** Routes dovesnap made, by `PREFIX dev DEV`: the next hop. */
  readonly routes = new Map<string, string>();
  /** replaceRoute fails for this prefix (injected). */
  failRouteFor: string | undefined;

  async ipv4Routes(): Promise<RouteEntry[]> {
    const ours = [...this.routes].map(([key, via]) => {
      const [dst = '', dev] = key.split(' dev ');
      return { dst, dev, gateway: via, protocol: undefined, scope: undefined };
    });
    return [...this.table, ...ours];
  }

  async replaceRoute(prefix: string, via: string, dev: string): Promise<void> {
    if (this.failRouteFor === prefix)
      throw new DovesnapError(ErrorCode.HostCommand, `injected route failure for ${prefix}`);
    for (const key of [...this.routes.keys()]) if (key.startsWith(`${prefix} dev `)) this.routes.delete(key);
    this.routes.set(`${prefix} dev ${dev}`, via);
  }

  async deleteRoute(prefix: string, via: string, dev: string): Promise<void> {
    if (this.routes.get(`${prefix} dev ${dev}`) === via) this.routes.delete(`${prefix} dev ${dev}`);
  }

  async setPeerMacInNetns(hostIf: string, _netns: string, mac: string): Promise<string> {
    const l = this.links.get(hostIf);
    if (l === undefined) throw new DovesnapError(ErrorCode.HostCommand, `no ${hostIf}`);
    l.mac = mac;
    return 'eth0';
  }
}
