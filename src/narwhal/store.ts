import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Cidr } from './addresses.js';
import type { NarwhalOptions } from './options.js';

/**
 * What the narwhal driver must know after a restart, one JSON file per network and per
 * endpoint, written atomically (temporary file, rename) before Docker hears back.
 *
 * Why files, and where: a narwhal network has no bridge whose OVSDB row could carry its options
 * (that is where dovesnap keeps its own), and Docker never sends CreateNetwork again, so the
 * options must outlive the daemon and a reboot as Docker's network does: they live under
 * /var/lib. An endpoint's record lives beside them; after a reboot its link is gone and the
 * record is dropped at start (Docker creates the endpoint again when the container restarts).
 * Markers on the links themselves (the host end's alias) would not cover a network without
 * containers.
 */

export interface NarwhalNetworkRecord {
  readonly id: string;
  readonly options: NarwhalOptions;
  /** The options exactly as given, for the logs and the status. */
  readonly rawOptions: Readonly<Record<string, string>>;
  readonly ipv4Subnet: string | undefined;
  readonly ipv6Subnet: string | undefined;
}

export interface NarwhalEndpointRecord {
  readonly id: string;
  readonly networkId: string;
  readonly hostIf: string;
  /** The container end's name until Docker renames it. */
  readonly containerIf: string;
  readonly hostMac: string;
  readonly containerMac: string;
  /** The addresses as Docker's IPAM gave them (with the subnet's prefix length). */
  readonly ipv4: Cidr | undefined;
  readonly ipv6: Cidr | undefined;
  /** The container's network namespace, from Join until Leave. */
  readonly sandboxKey: string | undefined;
}

export interface Loaded {
  readonly networks: NarwhalNetworkRecord[];
  readonly endpoints: NarwhalEndpointRecord[];
  /** Files that could not be read: name and why. */
  readonly problems: { readonly file: string; readonly error: string }[];
}

const ID = /^[0-9a-f]{12,64}$/;

export class NarwhalStore {
  private readonly nets = new Map<string, NarwhalNetworkRecord>();
  private readonly eps = new Map<string, NarwhalEndpointRecord>();

  constructor(private readonly dir: string) {}

  async load(): Promise<Loaded> {
    const problems: { file: string; error: string }[] = [];
    const read = async <T extends { id: string }>(sub: string, check: (v: unknown) => v is T): Promise<T[]> => {
      const out: T[] = [];
      const names = await readdir(path.join(this.dir, sub)).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith('.json'))) {
        const file = path.join(this.dir, sub, name);
        try {
          const v: unknown = JSON.parse(await readFile(file, 'utf8'));
          if (!check(v) || `${v.id}.json` !== name) throw new Error('not a narwhal record');
          out.push(v);
        } catch (err) {
          problems.push({ file, error: err instanceof Error ? err.message : String(err) });
        }
      }
      return out;
    };
    const networks = await read('networks', isNetworkRecord);
    const endpoints = await read('endpoints', isEndpointRecord);
    for (const n of networks) this.nets.set(n.id, n);
    for (const e of endpoints) this.eps.set(e.id, e);
    return { networks, endpoints, problems };
  }

  network(id: string): NarwhalNetworkRecord | undefined {
    return this.nets.get(id);
  }

  networks(): NarwhalNetworkRecord[] {
    return [...this.nets.values()];
  }

  endpoint(id: string): NarwhalEndpointRecord | undefined {
    return this.eps.get(id);
  }

  endpoints(): NarwhalEndpointRecord[] {
    return [...this.eps.values()];
  }

  endpointsOf(networkId: string): NarwhalEndpointRecord[] {
    return this.endpoints().filter((e) => e.networkId === networkId);
  }

  async putNetwork(r: NarwhalNetworkRecord): Promise<void> {
    await this.write('networks', r.id, r);
    this.nets.set(r.id, r);
  }

  async removeNetwork(id: string): Promise<void> {
    this.nets.delete(id);
    await rm(this.file('networks', id), { force: true });
  }

  async putEndpoint(r: NarwhalEndpointRecord): Promise<void> {
    await this.write('endpoints', r.id, r);
    this.eps.set(r.id, r);
  }

  async removeEndpoint(id: string): Promise<void> {
    this.eps.delete(id);
    await rm(this.file('endpoints', id), { force: true });
  }

  private file(sub: string, id: string): string {
    if (!ID.test(id)) throw new Error(`not an ID: ${id}`);
    return path.join(this.dir, sub, `${id}.json`);
  }

  private async write(sub: string, id: string, value: unknown): Promise<void> {
    const file = this.file(sub, id);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
    await rename(tmp, file);
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';
const optCidr = (v: unknown): boolean =>
  v === undefined || (isObj(v) && typeof v['address'] === 'string' && typeof v['prefixLength'] === 'number');

function isNetworkRecord(v: unknown): v is NarwhalNetworkRecord {
  if (!isObj(v) || typeof v['id'] !== 'string' || !ID.test(v['id']) || !isObj(v['options']) || !isObj(v['rawOptions']))
    return false;
  const o = v['options'];
  return (
    typeof o['forwarding'] === 'boolean' &&
    typeof o['nat'] === 'boolean' &&
    typeof o['paranoid'] === 'boolean' &&
    typeof o['hostIpv4'] === 'string' &&
    typeof o['hostIpv6'] === 'string' &&
    (o['mtu'] === undefined || typeof o['mtu'] === 'number') &&
    optStr(v['ipv4Subnet']) &&
    optStr(v['ipv6Subnet'])
  );
}

function isEndpointRecord(v: unknown): v is NarwhalEndpointRecord {
  return (
    isObj(v) &&
    typeof v['id'] === 'string' &&
    ID.test(v['id']) &&
    typeof v['networkId'] === 'string' &&
    ['hostIf', 'containerIf', 'hostMac', 'containerMac'].every((k) => typeof v[k] === 'string') &&
    optCidr(v['ipv4']) &&
    optCidr(v['ipv6']) &&
    optStr(v['sandboxKey'])
  );
}
