import type { HostNic, HostNics } from '../../src/attach/nic.js';

/** The host's links in memory: NICs come back (`returns`) and are renamed as the kernel and ip would. */
export class FakeHostNics implements HostNics {
  readonly links: HostNic[] = [];
  readonly renames: [string, string][] = [];
  /** How many more listings before each pending link is on the host (the kernel's clean-up). */
  private readonly pending: { link: HostNic; after: number }[] = [];

  returns(link: HostNic, afterListings = 0): void {
    this.pending.push({ link, after: afterListings });
  }

  async list(): Promise<HostNic[]> {
    for (const p of [...this.pending]) {
      if (p.after-- > 0) continue;
      this.links.push(p.link);
      this.pending.splice(this.pending.indexOf(p), 1);
    }
    return [...this.links];
  }

  exists(name: string): boolean {
    return this.links.some((l) => l.ifname === name);
  }

  async rename(from: string, to: string): Promise<void> {
    const at = this.links.findIndex((l) => l.ifname === from);
    const link = this.links[at];
    if (link === undefined) throw new Error(`Cannot find device "${from}"`);
    this.links[at] = { ...link, ifname: to };
    this.renames.push([from, to]);
  }
}
