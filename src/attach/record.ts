/**
 * What `dovesnap attach` made, one file per attachment, so that `detach`, the daemon (when the
 * container dies) and `--persist` (when it starts again) know exactly what to remove or redo.
 * OVS ports carry the attachment's key in their external_ids too, so that a port whose record
 * was lost is still recognised as ours.
 */
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AttachSpec } from './spec.js';
import type { NicIdentity } from './nic.js';
import { ExtId } from '../driver/persist.js';
import { makePrivateDir } from '../util/private-dir.js';

export const ATTACH_EXT_ID = ExtId.attach;

/** Everything attach creates, in the order it creates it; detach undoes them in reverse. */
export type AttachResource =
  /** A Linux bridge created because its name started with `br` and it did not exist. */
  | { readonly kind: 'linux-bridge'; readonly name: string }
  /** An OVS bridge created because its name started with `ovs` and it did not exist. */
  | { readonly kind: 'ovs-bridge'; readonly name: string }
  /** A `HOSTIF.VID` sub-interface created for `@VLAN` on a physical interface. */
  | { readonly kind: 'vlan-link'; readonly name: string }
  /** A host-side link (a veth end): deleting it deletes its peer in the container. */
  | { readonly kind: 'host-link'; readonly name: string }
  | { readonly kind: 'ovs-port'; readonly bridge: string; readonly name: string }
  /** A link that now lives in the container under `containerIf` (macvlan, dummy). */
  | { readonly kind: 'container-link'; readonly containerIf: string }
  /**
   * `--direct-phys`: the host's own interface, moved into the container; detach moves it back.
   * `nic` identifies it when the kernel returns it under another name (records before it: none).
   */
  | { readonly kind: 'moved-link'; readonly hostName: string; readonly containerIf: string; readonly nic?: NicIdentity }
  /** A DHCP client run in the container's network namespace, by its key in the attach DHCP directory. */
  | { readonly kind: 'dhcp-client'; readonly key: string; readonly client: string; readonly ifname?: string };

export type HostIfKind = 'linux-bridge' | 'ovs-bridge' | 'physical' | 'direct-physical' | 'dummy';

export interface AttachGuest {
  /** Docker's container ID; absent when GUEST was a process ID. */
  readonly containerId: string | undefined;
  readonly name: string;
  readonly pid: number;
}

export interface AttachmentRecord {
  readonly version: 1;
  readonly key: string;
  readonly guest: AttachGuest;
  /** The command line as given, re-run for `--persist` when the container starts again. */
  readonly argv: readonly string[];
  readonly spec: AttachSpec;
  readonly hostIf: string;
  readonly hostKind: HostIfKind;
  readonly resources: readonly AttachResource[];
  readonly createdAt: string;
}

/** One attachment per container interface: `<container id or pid-N>_<interface>`. */
export function attachmentKey(guest: Pick<AttachGuest, 'containerId' | 'pid'>, containerIf: string): string {
  return `${guest.containerId === undefined ? `pid-${guest.pid}` : guest.containerId.slice(0, 12)}_${containerIf}`;
}

export class AttachmentStore {
  constructor(readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  get(key: string): AttachmentRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file(key), 'utf8')) as AttachmentRecord;
    } catch {
      return undefined;
    }
  }

  /** Written atomically: a reader never sees half a record. */
  put(record: AttachmentRecord): void {
    makePrivateDir(this.dir);
    const tmp = `${this.file(record.key)}.tmp.${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file(record.key));
  }

  remove(key: string): void {
    rmSync(this.file(key), { force: true });
  }

  all(): AttachmentRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => n.endsWith('.json')).flatMap((n) => this.get(n.slice(0, -'.json'.length)) ?? []);
  }

  /** The attachments of one container (by ID or name) or process. */
  of(guest: string): AttachmentRecord[] {
    return this.all().filter(
      (r) =>
        r.guest.containerId === guest ||
        (r.guest.containerId?.startsWith(guest) === true && guest.length >= 12) ||
        r.guest.name === guest ||
        r.guest.name === `/${guest}` ||
        String(r.guest.pid) === guest,
    );
  }
}
