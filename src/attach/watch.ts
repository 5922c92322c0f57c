/**
 * The daemon's side of `dovesnap attach`: what attach made for a container is removed when the
 * container dies (pipework left veths, OVS ports and DHCP clients behind), and `--persist`
 * attachments are made again when it starts. A sweep at start, after each lost event stream and
 * every minute catches what happened while nobody was watching, including OVS ports carrying
 * attach's mark whose record is gone.
 */
import { existsSync } from 'node:fs';
import type { Engine, EngineEvent } from '../engine/client.js';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { deleteLink } from '../net/links.js';
import type { VSwitch } from '../ovs/vswitch.js';
import { attach, NIC_RETURN_WAIT_MS, removeResources, type AttachDeps } from './apply.js';
import { ATTACH_EXT_ID, type AttachmentRecord } from './record.js';
import type { AttachVSwitch } from './host.js';
import { dhcpcdKeys, stopDhcpcd } from './dhcpcd.js';

export interface AttachWatchDeps extends AttachDeps {
  readonly engine: Pick<Engine, 'inspectContainer' | 'streamEvents'>;
  /** The daemon's OVSDB (its local replica): attach's steps, and finding attach's marked ports without a process. */
  readonly vswitch: AttachVSwitch & Pick<VSwitch, 'listBridges'>;
  readonly logger: Logger;
  readonly sweepMs?: number;
}

type GuestState =
  | { readonly state: 'running'; readonly pid: number }
  | { readonly state: 'stopped' }
  | { readonly state: 'gone' };

async function guestState(deps: AttachWatchDeps, r: AttachmentRecord): Promise<GuestState> {
  if (r.guest.containerId === undefined)
    return existsSync(`/proc/${r.guest.pid}/ns/net`) ? { state: 'running', pid: r.guest.pid } : { state: 'gone' };
  const c = await deps.engine.inspectContainer(r.guest.containerId);
  if (c === undefined) return { state: 'gone' };
  const pid = c.State?.Pid ?? 0;
  return c.State?.Running === true && pid > 0 ? { state: 'running', pid } : { state: 'stopped' };
}

export class AttachWatcher {
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  /** One sweep or event at a time: attach and removal of one container must not interleave. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: AttachWatchDeps) {
    this.log = deps.logger.child({ component: 'attach' });
  }

  start(): void {
    void this.run();
    this.timer = setInterval(() => this.enqueue(() => this.sweep('periodic check')), this.deps.sweepMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.queue;
  }

  /** Waits for the work queued so far (tests). */
  settled(): Promise<void> {
    return this.queue;
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue
      .then(job)
      .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'attach clean-up failed'));
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (!this.abort.signal.aborted) {
      // Subscribe, then sweep: what happens in between is seen twice, never lost.
      const stream = this.deps.engine.streamEvents(
        { type: ['container'], event: ['die', 'start', 'destroy'] },
        (e) => this.onEvent(e),
        this.abort.signal,
        (err, line) => this.log.warn({ err: errorMessage(err), line: line.slice(0, 200) }, 'Docker event not handled'),
      );
      this.enqueue(() => this.sweep('event stream (re)connected'));
      try {
        await stream;
        backoff = 250;
      } catch (err) {
        if (!this.abort.signal.aborted) this.log.warn({ err: errorMessage(err) }, 'Docker event stream lost');
      }
      if (this.abort.signal.aborted) return;
      await new Promise((r) => setTimeout(r, backoff).unref());
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  private onEvent(e: EngineEvent): void {
    const id = e.Actor.ID;
    const mine = (): AttachmentRecord[] => this.deps.store.all().filter((r) => r.guest.containerId === id);
    if (mine().length === 0) return;
    if (e.Action === 'start') this.enqueue(() => this.restart(mine()));
    else
      this.enqueue(async () => {
        for (const r of mine()) await this.ended(r, e.Action === 'destroy', NIC_RETURN_WAIT_MS);
      });
  }

  /**
   * The container stopped (or is gone): remove what attach made; keep a persisted record unless
   * the container is gone, and any record whose NIC the kernel has not returned yet (with just
   * that NIC: the sweep renames it back when it is on the host).
   */
  private async ended(r: AttachmentRecord, gone: boolean, nicWaitMs = 0): Promise<void> {
    const { problems, pending } = await removeResources(this.deps, r, { guestGone: true, nicWaitMs });
    if (pending.length > 0) {
      this.deps.store.put({ ...r, resources: pending });
      this.log.warn(
        { container: r.guest.name, interface: r.spec.containerIf, host: r.hostIf, problems },
        'container ended: its --direct-phys interface is not back on the host yet; renamed back when it is',
      );
      return;
    }
    if (r.spec.persist && !gone) {
      this.deps.store.put({ ...r, resources: [] });
    } else {
      this.deps.store.remove(r.key);
    }
    this.log.info(
      {
        container: r.guest.name,
        interface: r.spec.containerIf,
        host: r.hostIf,
        kept: r.spec.persist && !gone,
        problems,
      },
      'container ended: removed what dovesnap attach made',
    );
  }

  /** A container with --persist attachments started again: make them anew. */
  private async restart(records: readonly AttachmentRecord[]): Promise<void> {
    for (const r of records) {
      const s = await guestState(this.deps, r);
      if (s.state !== 'running' || s.pid === r.guest.pid) continue;
      if (!r.spec.persist) {
        await this.ended(r, false);
        continue;
      }
      try {
        const out = await attach(this.deps, { ...r.spec, guest: r.guest.containerId ?? r.spec.guest }, r.argv);
        this.log.info(
          { container: out.record.guest.name, interface: r.spec.containerIf, host: r.hostIf },
          'container started again: --persist attachment made anew',
        );
      } catch (err) {
        this.log.error(
          { container: r.guest.name, interface: r.spec.containerIf, err: errorMessage(err) },
          'could not make a --persist attachment anew',
        );
      }
    }
  }

  private async sweep(why: string): Promise<void> {
    for (const r of this.deps.store.all()) {
      let s: GuestState;
      try {
        s = await guestState(this.deps, r);
      } catch (err) {
        this.log.warn(
          { container: r.guest.name, err: errorMessage(err) },
          'could not ask Docker about an attached container',
        );
        continue;
      }
      if (s.state === 'running' && s.pid === r.guest.pid) continue;
      if (s.state === 'running') await this.restart([r]);
      else if (r.resources.length > 0 || !r.spec.persist || s.state === 'gone') await this.ended(r, s.state === 'gone');
    }
    await this.collectPorts(why);
    await this.collectDhcpcd(why);
  }

  /** dhcpcd clients (each in a mount namespace kept on a file) whose record is gone. */
  private async collectDhcpcd(why: string): Promise<void> {
    // Listed before the records are read: attach records an attachment before it makes the
    // client's namespace, so a namespace listed here has its record among those read after.
    const keys = dhcpcdKeys(this.deps.dhcpDir);
    const known = new Set(this.deps.store.all().map((r) => r.key));
    for (const key of keys) {
      if (known.has(key)) continue;
      await stopDhcpcd(this.deps.dhcpDir, key);
      this.log.info({ key, why }, 'stopped a dhcpcd of dovesnap attach whose record is gone');
    }
  }

  /** OVS ports carrying attach's mark whose record is gone (a record lost, a crash mid-attach). */
  private async collectPorts(why: string): Promise<void> {
    // Listed before the records are read, as for dhcpcd below: attach records an attachment
    // before it makes the port, so a port listed here has its record among those read after.
    // (Read first, a listing slowed by an OVSDB reconnect would see ports whose records it missed.)
    const bridges = await this.deps.vswitch.listBridges();
    const known = new Set(this.deps.store.all().map((r) => r.key));
    for (const bridge of bridges) {
      for (const port of bridge.ports) {
        const key = port.externalIds[ATTACH_EXT_ID];
        if (key === undefined || known.has(key)) continue;
        await this.deps.vswitch.deletePort(bridge.name, port.name);
        await deleteLink(port.name);
        this.log.info(
          { bridge: bridge.name, port: port.name, key, why },
          'removed an OVS port of dovesnap attach whose record is gone',
        );
      }
    }
  }
}
