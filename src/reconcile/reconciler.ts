import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import type { Engine, EngineEvent, EngineNetwork } from '../engine/client.js';
import type { VSwitch } from '../ovs/vswitch.js';
import type { HostNet } from '../driver/host.js';
import type { FaucetView } from '../driver/faucet-api.js';
import { bridgeExternalIds, portExternalIds } from '../driver/persist.js';
import type { ContainerInfo, StateStore } from '../driver/state.js';
import {
  applyMacPrefix,
  ComposeLabel,
  composeNetworkOf,
  parseContainerLabels,
  type ComposeNetwork,
} from '../model/labels.js';

const MAC_PREFIX_WAIT_MS = 5000;

/** Containers created but not yet connected are few; this only bounds a leak. */
const CREATED_CACHE_MAX = 4096;

/** The driver's removals, which the reconciler uses for what Docker forgot: one teardown for both. */
export interface Teardown {
  removeNetwork(networkId: string, why: string): Promise<void>;
  removeEndpoint(networkId: string, endpointId: string, why: string): Promise<void>;
}

/** Docker's names for this driver: the current one and the original's older one. */
export const DRIVER_NAMES: readonly string[] = ['dovesnap', 'ovs'];

/**
 * Whether Docker's driver name for a network is this driver's. Behind the managed (v2) plugin that
 * Docker Swarm needs (deploy/swarm-plugin), Docker names the driver with the plugin's tag,
 * `dovesnap:latest`; without the tag such a network would look foreign, and the full pass would
 * take it for one deleted behind our back and remove its bridge.
 */
export function isOurDriver(driver: string): boolean {
  const tagged = /^([^:/]+):[\w][\w.-]{0,127}$/.exec(driver);
  return DRIVER_NAMES.includes(tagged?.[1] ?? driver);
}

export interface ReconcilerDeps {
  readonly engine: Engine;
  readonly state: StateStore;
  readonly vswitch: VSwitch;
  readonly host: HostNet;
  readonly faucet: FaucetView;
  readonly teardown: Teardown;
  readonly logger: Logger;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Endpoints rebuilt from OVSDB at start. Only these can be garbage: endpoints this process
   * created are removed by Docker's own DeleteEndpoint calls.
   */
  readonly restoredEndpoints: ReadonlySet<string>;
  /** Told of each full pass and of what it removed. */
  readonly metrics?: { reconcilePass(seconds: number): void; repaired(kind: string, count?: number): void };
  /** DHCP clients of `ovs.bridge.dhcp` networks: started once a container is resolved. */
  readonly dhcp?: {
    start(endpointId: string): Promise<void>;
    collect(): Promise<string[]>;
  };
}

/**
 * What needs Docker happens here, not in a driver handler (the one exception: CreateEndpoint's
 * label query, driver/early-open.ts): learning network names (Docker does not send them with CreateNetwork), learning which container an endpoint
 * belongs to (its name and labels), and clearing away what Docker forgot while we were down.
 * Driven by Docker's event stream; a full pass runs whenever the stream (re)connects.
 */
export class Reconciler {
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly sleep: (ms: number) => Promise<void>;
  private loop: Promise<void> | undefined;
  private readonly pending = new Map<string, Promise<void>>();
  private readonly rerun = new Set<string>();
  /** Names and labels from Docker's container `create` events, by container ID. */
  private readonly created = new Map<string, ContainerInfo>();

  constructor(private readonly deps: ReconcilerDeps) {
    this.log = deps.logger.child({ component: 'reconciler' });
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await Promise.allSettled([...this.pending.values()]);
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (!this.abort.signal.aborted) {
      let connected = false;
      const stream = this.deps.engine.streamEvents(
        { type: ['network', 'container'], event: ['create', 'connect', 'destroy'] },
        (e) => {
          connected = true;
          try {
            this.onEvent(e);
          } catch (err) {
            // One event handled wrongly must neither end the stream nor pass unnoticed.
            this.log.error(
              { event: `${e.Type} ${e.Action} ${e.Actor.ID}`, err: errorMessage(err) },
              'Docker event handler failed',
            );
          }
        },
        this.abort.signal,
        (err, line) => this.log.error({ err: errorMessage(err), line: line.slice(0, 200) }, 'Docker event not handled'),
      );
      let streamOpen = true;
      stream.then(
        () => (streamOpen = false),
        () => (streamOpen = false),
      );
      // Subscribe first, then look: anything that happens in between is seen twice, never lost.
      const pass = this.passWhile(() => streamOpen).then((done) => {
        if (done) connected = true;
      });
      try {
        await stream;
      } catch (err) {
        if (!this.abort.signal.aborted) this.log.warn({ err: errorMessage(err) }, 'Docker event stream lost');
      }
      await pass;
      if (this.abort.signal.aborted) break;
      backoff = connected ? 250 : Math.min(backoff * 2, 5000);
      await this.sleep(backoff);
    }
  }

  /**
   * The full pass, retried with backoff for as long as the event stream is up: a dockerd that
   * streams events but is too busy to answer a list (restoring its containers after a reboot)
   * would otherwise leave the endpoints it forgot in place until the stream next breaks.
   */
  private async passWhile(streamOpen: () => boolean): Promise<boolean> {
    let backoff = 250;
    for (;;) {
      try {
        await this.fullPass();
        return true;
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'full reconcile pass failed');
      }
      if (this.abort.signal.aborted || !streamOpen()) return false;
      await this.sleep(backoff);
      if (this.abort.signal.aborted || !streamOpen()) return false;
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  private onEvent(e: EngineEvent): void {
    if (e.Type === 'container') {
      this.onContainerEvent(e);
      return;
    }
    if (e.Type !== 'network') return;
    const attrs = e.Actor.Attributes ?? {};
    const type = attrs['type'] ?? '';
    if (!isOurDriver(type)) return;
    const networkId = e.Actor.ID;
    if (e.Action === 'create') {
      const name = attrs['name'];
      if (name !== undefined) this.track(`name:${networkId}`, () => this.learnNetworkName(networkId, name));
    } else if (e.Action === 'connect') {
      const containerId = attrs['container'];
      const atMs =
        e.timeNano !== undefined
          ? Math.floor(e.timeNano / 1e6)
          : e.time !== undefined
            ? e.time * 1000 + 999
            : undefined;
      if (containerId !== undefined)
        this.track(`ctr:${networkId}:${containerId}`, () => this.resolveContainer(networkId, containerId, atMs));
    }
  }

  /**
   * Runs one task per key at a time. A request for a key whose task is in flight is not dropped
   * but runs once more afterwards: `docker restart` sends a second connect for the same
   * container while the first is still being applied, with a new endpoint.
   */
  private track(key: string, fn: () => Promise<void>): void {
    const entry = this.pending.get(key);
    if (entry !== undefined) {
      this.rerun.add(key);
      return;
    }
    const p = (async () => {
      do {
        this.rerun.delete(key);
        await fn().catch((err: unknown) =>
          this.log.warn({ task: key, err: errorMessage(err) }, 'reconcile task failed'),
        );
      } while (this.rerun.has(key));
    })().finally(() => this.pending.delete(key));
    this.pending.set(key, p);
  }

  /**
   * Names the network and, in the same record, learns its Compose identity from its Docker labels
   * (`dockerLabels`, or an inspect): a network known by name is then known by its compose-file
   * name too, when CreateEndpoint asks whether a container's labels name it.
   */
  private async learnNetworkName(
    networkId: string,
    name: string,
    dockerLabels?: Readonly<Record<string, string>> | null,
  ): Promise<void> {
    const net = this.deps.state.network(networkId);
    if (net === undefined || (net.name === name && net.compose !== undefined)) return;
    const renamed = net.name !== name;
    if (renamed && net.localFaucet) {
      const conflict = await this.deps.faucet.dpNameConflict(name, net);
      if (conflict !== undefined) {
        await this.refuseNetwork(networkId, name, conflict);
        return;
      }
    }
    const compose = net.compose !== undefined ? net.compose : await this.composeOf(networkId, dockerLabels);
    const current = this.deps.state.network(networkId);
    if (current === undefined) return;
    const named = { ...current, name, compose };
    this.deps.state.putNetwork(named);
    await this.deps.vswitch.setBridgeExternalIds(net.bridgeName, bridgeExternalIds(named));
    if (!renamed) return;
    this.log.info(
      {
        network: networkId,
        name,
        ...(compose ? { composeProject: compose.project, composeNetwork: compose.network } : {}),
      },
      'network named',
    );
    if (net.localFaucet) await this.deps.faucet.sync(`network ${name} named`);
  }

  /** For a container of a Compose project that joins a network whose Compose identity is not learnt yet. */
  private async learnCompose(networkId: string): Promise<void> {
    const compose = await this.composeOf(networkId, undefined);
    const current = this.deps.state.network(networkId);
    if (current === undefined || compose === undefined || current.compose !== undefined) return;
    const learnt = { ...current, compose };
    this.deps.state.putNetwork(learnt);
    await this.deps.vswitch.setBridgeExternalIds(current.bridgeName, bridgeExternalIds(learnt));
  }

  /** null: not a Compose network; undefined: Docker did not say (learnt again later). */
  private async composeOf(
    networkId: string,
    dockerLabels: Readonly<Record<string, string>> | null | undefined,
  ): Promise<ComposeNetwork | null | undefined> {
    let labels = dockerLabels;
    if (labels === undefined) {
      try {
        const n = await this.deps.engine.inspectNetwork(networkId);
        if (n === undefined) return undefined;
        labels = n.Labels ?? null;
      } catch (err) {
        this.log.warn(
          { network: networkId, err: errorMessage(err) },
          "could not read the network's labels: its Compose name is learnt later",
        );
        return undefined;
      }
    }
    return composeNetworkOf(labels) ?? null;
  }

  /**
   * Docker tells a network driver the network's name only after the create succeeded, so a
   * name that FAUCET's configuration already gives to a DP of the operator is refused here,
   * as early as it can be: the network is removed again and the DP is never touched.
   */
  private async refuseNetwork(networkId: string, name: string, why: string): Promise<void> {
    this.log.error({ network: networkId, name, reason: why }, 'network refused: removing it from Docker');
    try {
      await this.deps.engine.removeNetwork(networkId);
    } catch (err) {
      // Containers joined meanwhile: the network stays, unnamed, and out of FAUCET.
      this.log.error(
        { network: networkId, name, err: errorMessage(err) },
        'could not remove the refused network; it stays out of FAUCET',
      );
    }
  }

  /**
   * Which endpoint and container a `connect` event is about.
   *
   * Fast path: Docker's `create` event already gave the container's name and labels, and
   * exactly one endpoint of the network had joined by the time Docker sent this event
   * (`atMs`) without being tied to a container since — counting endpoints already removed
   * again, whose container may be this one. Docker sends the connect after the Join, so that
   * endpoint is this container's. Anything less certain (two candidates, this container
   * already holding an endpoint here, no event time) asks Docker, whose inspect waits until
   * the container has started.
   */
  private async identify(
    networkId: string,
    containerId: string,
    atMs: number | undefined,
  ): Promise<{ endpointId: string; container: ContainerInfo; networkName: string | undefined } | undefined> {
    const { state, engine } = this.deps;
    const known = this.created.get(containerId);
    if (
      known !== undefined &&
      atMs !== undefined &&
      !state.endpointsOf(networkId).some((e) => e.container?.id === containerId)
    ) {
      const { live, removed } = state.unresolvedJoins(networkId, atMs);
      const only = live[0];
      if (live.length === 1 && removed === 0 && only !== undefined)
        return { endpointId: only.id, container: known, networkName: undefined };
    }
    const net = state.network(networkId);
    const c = await engine.inspectContainer(containerId);
    if (c === undefined || net === undefined) return undefined;
    const settings = Object.entries(c.NetworkSettings?.Networks ?? {}).find(
      ([netName, s]) => s.NetworkID === networkId || netName === net.name,
    );
    const endpointId = settings?.[1].EndpointID;
    if (endpointId === undefined || endpointId === '') return undefined;
    return {
      endpointId,
      container: { id: c.Id, name: c.Name, labels: c.Config?.Labels ?? {} },
      networkName: settings?.[0],
    };
  }

  private onContainerEvent(e: EngineEvent): void {
    const id = e.Actor.ID;
    if (e.Action === 'destroy') {
      this.created.delete(id);
      return;
    }
    if (e.Action !== 'create') return;
    // A container event's attributes are its labels plus Docker's `image` and `name`.
    const { image: _image, name, ...labels } = e.Actor.Attributes ?? {};
    if (name === undefined) return;
    this.created.set(id, { id, name: `/${name}`, labels });
    if (this.created.size > CREATED_CACHE_MAX) {
      const oldest = this.created.keys().next().value;
      if (oldest !== undefined) this.created.delete(oldest);
    }
  }

  /** `syncFaucet` false: the caller renders FAUCET's configuration once for many containers. */
  private async resolveContainer(
    networkId: string,
    containerId: string,
    atMs?: number,
    syncFaucet = true,
  ): Promise<void> {
    const { state } = this.deps;
    if (state.network(networkId) === undefined) return;
    const found = await this.identify(networkId, containerId, atMs);
    if (found === undefined) return;
    const ep = state.endpoint(found.endpointId);
    if (ep === undefined) return;
    if (state.network(networkId)?.name === undefined && found.networkName !== undefined)
      await this.learnNetworkName(networkId, found.networkName);
    const labels = found.container.labels;
    if (labels[ComposeLabel.project] !== undefined && state.network(networkId)?.compose === undefined)
      await this.learnCompose(networkId);
    const networkName = state.network(networkId)?.name ?? found.networkName ?? '';
    const compose = state.network(networkId)?.compose ?? undefined;
    const c = { Id: found.container.id, Name: found.container.name };

    let parsed: ReturnType<typeof parseContainerLabels> | undefined;
    let blockedReason: string | undefined;
    try {
      parsed = parseContainerLabels(labels, { name: networkName, compose });
    } catch (err) {
      blockedReason = errorMessage(err);
    }
    let mac = ep.mac;
    if (parsed?.macPrefix !== undefined && ep.sandboxKey !== undefined) {
      const wanted = applyMacPrefix(ep.mac, parsed.macPrefix);
      if (wanted !== ep.mac && (await this.setMacWhenMoved(ep.hostIf, ep.sandboxKey, wanted))) mac = wanted;
    }
    const updated = state.updateEndpoint(ep.id, {
      container: { id: c.Id, name: c.Name, labels },
      labels: parsed,
      blockedReason,
      mac,
    });
    if (updated === undefined) return;
    await this.deps.vswitch.setPortExternalIds(ep.hostIf, portExternalIds(updated));
    this.log.info(
      {
        network: networkName,
        endpoint: ep.id,
        container: c.Name,
        ofport: ep.ofport,
        mac,
        mirrored: parsed?.mirror === true,
        capture: parsed?.capture === true,
        blockedReason,
      },
      'container resolved',
    );
    try {
      if (syncFaucet && state.network(networkId)?.localFaucet === true)
        await this.deps.faucet.sync(`container ${c.Name} joined ${networkName}`);
    } finally {
      // After FAUCET has the port (its first DISCOVER is not lost), and whether or not it does.
      if (syncFaucet) await this.deps.dhcp?.start(ep.id);
    }
  }

  /**
   * Docker moves the container's end of the veth into its namespace just after Join, and the
   * connect event can arrive first: try for a few seconds. A MAC that cannot be set is logged
   * and the container is connected with the MAC it has.
   */
  private async setMacWhenMoved(hostIf: string, netns: string, mac: string): Promise<boolean> {
    const deadline = Date.now() + MAC_PREFIX_WAIT_MS;
    for (;;) {
      try {
        await this.deps.host.setPeerMacInNetns(hostIf, netns, mac);
        return true;
      } catch (err) {
        if (Date.now() > deadline) {
          this.log.warn({ port: hostIf, mac, err: errorMessage(err) }, 'could not apply dovesnap.faucet.mac_prefix');
          return false;
        }
        await this.sleep(50);
      }
    }
  }

  /**
   * Names every network, resolves every endpoint's container, and removes what Docker no longer
   * knows: bridges of networks deleted while we were down, ports of containers removed meanwhile.
   */
  async fullPass(): Promise<void> {
    const started = Date.now();
    const { state, engine, teardown } = this.deps;
    const dockerNets = new Map<string, EngineNetwork>();
    for (const n of await engine.listNetworks()) if (isOurDriver(n.Driver)) dockerNets.set(n.Id, n);
    const dhcpStarts: string[] = [];

    for (const net of state.allNetworks()) {
      const d = dockerNets.get(net.id);
      if (d === undefined) {
        this.log.warn(
          { network: net.id, bridge: net.bridgeName },
          'Docker no longer has this network; removing its bridge',
        );
        await teardown.removeNetwork(net.id, 'gone from Docker');
        this.deps.metrics?.repaired('network_gone');
        continue;
      }
      if (net.name !== d.Name || net.compose === undefined)
        await this.learnNetworkName(net.id, d.Name, d.Labels ?? null);
      const full = await engine.inspectNetwork(net.id);
      const live = new Map<string, string>();
      for (const [cid, c] of Object.entries(full?.Containers ?? {})) if (c.EndpointID) live.set(c.EndpointID, cid);
      for (const ep of state.endpointsOf(net.id)) {
        const cid = live.get(ep.id);
        if (cid !== undefined) {
          if (ep.container === undefined || ep.labels === undefined) {
            // Recorded now; FAUCET is asked once for all of them after the pass, so that a slow
            // FAUCET neither stops nor serialises the adoption of the rest.
            await this.resolveContainer(net.id, cid, undefined, false).catch((err: unknown) =>
              this.log.warn({ network: net.id, endpoint: ep.id, err: errorMessage(err) }, 'container not resolved'),
            );
          }
          // Adopts a running client (never a second one), or starts one for a container that has none.
          if (net.options.dhcp) dhcpStarts.push(ep.id);
          continue;
        }
        if (!this.deps.restoredEndpoints.has(ep.id)) continue;
        this.log.warn(
          { network: net.id, endpoint: ep.id, port: ep.hostIf },
          'Docker no longer has this endpoint; removing its port',
        );
        await teardown.removeEndpoint(net.id, ep.id, 'gone from Docker');
        this.deps.metrics?.repaired('endpoint_gone');
      }
    }
    // Everything is adopted and checked against Docker by now; FAUCET's confirmation of the
    // re-render (slow on a large switch) is logged by the FAUCET view on its own.
    const dhcp = this.deps.dhcp;
    if (dhcp !== undefined) {
      const collected = await dhcp.collect().catch((err: unknown) => {
        this.log.warn({ err: errorMessage(err) }, 'could not collect DHCP clients');
        return [];
      });
      this.deps.metrics?.repaired('dhcp_client_orphaned', collected.length);
      await Promise.all(
        dhcpStarts.map((id) =>
          dhcp
            .start(id)
            .catch((err: unknown) =>
              this.log.warn({ endpoint: id, err: errorMessage(err) }, 'DHCP client not started'),
            ),
        ),
      );
    }
    this.log.info(
      {
        ms: Date.now() - started,
        networks: state.allNetworks().length,
        endpoints: state.allEndpoints().length,
        dhcpClients: dhcpStarts.length,
      },
      'full reconcile pass done',
    );
    this.deps.metrics?.reconcilePass((Date.now() - started) / 1000);
    await this.deps.faucet.sync('full reconcile pass');
  }
}
