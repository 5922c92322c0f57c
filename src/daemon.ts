import { watch } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HttpApp } from './util/http.js';
import type { Logger } from './util/log.js';
import { errorMessage } from './util/errors.js';
import { isLocalFaucet, type DaemonSettings } from './config/settings.js';
import { openVSwitch, type VSwitch } from './ovs/vswitch.js';
import { DockerEngine } from './engine/client.js';
import { StateStore } from './core/state.js';
import { restoreFromBridge, bridgeExternalIds } from './core/persist.js';
import { Driver } from './core/driver.js';
import { NarwhalDriver } from './narwhal/driver.js';
import { NarwhalStore } from './narwhal/store.js';
import { realNarwhalHost } from './narwhal/host.js';
import { DRIVER_NAME as NARWHAL } from './narwhal/names.js';
import { tablesScript as narwhalTablesScript } from './narwhal/rules.js';
import { runCommand } from './net/exec.js';
import { detectDatapath, realHostNet } from './core/host.js';
import { createFaucetView, type FaucetControl } from './core/faucet-view.js';
import { watchBridgePorts } from './core/bridge-watch.js';
import { createMirrorBridge, type MirrorBridge } from './core/mirror-bridge.js';
import { createStack, type Stack } from './core/stack.js';
import { Reconciler } from './reconcile/reconciler.js';
import { createNatView } from './core/nat-view.js';
import { PortProxies } from './net/port-proxy.js';
import { buildPluginApp, listenOnSocket } from './plugin/server.js';
import { hostCheck } from './status/host-check.js';
import { buildStatusApp, hostPortsStatus, networksStatus } from './status/server.js';
import type { Health, HostPortStatus, HostStatus } from './status/documents.js';
import { LiveFeed } from './status/live.js';
import { FaucetLoadTracker } from './status/faucet-load.js';
import { AttachWatcher } from './attach/watch.js';
import { AttachmentStore } from './attach/record.js';
import { attachPaths, narwhalStateDir } from './config/environment.js';
import { renderDot } from './graph/render.js';
import type { EndpointRecord } from './core/state.js';
import type { DhcpStatus } from './core/dhcp-clients.js';
import { createMetrics } from './status/metrics.js';
import { syncGaugeFile } from './faucet/gauge.js';
import { signalFromPidfile } from './faucet/store.js';
import { DhcpSupervisor } from './dhcp/supervisor.js';
import { releaseThroughLink } from './dhcp/release.js';
import { DhcpClients } from './core/dhcp-clients.js';
import { settledPeerInNetns, waitNeighbourSettled } from './net/links.js';
import { armFailpoints } from './util/failpoints.js';

/**
 * The daemon's lifecycle: connect, rebuild the model from OVSDB, serve, and shut down in
 * order. Only the CLI's `daemon` verb calls this, and only it handles signals.
 */
const RESYNC_MS = 30_000;
/** How often the mirror bridge's flows are rewritten even if nothing seemed to change (ovs-vswitchd forgets them on restart). */
const MIRROR_CHECK_MS = 10_000;
/** How often leftovers (see Driver.collectGarbage) are looked for after the start. */
const GC_MS = 60_000;
/** CreateEndpoint asks Docker which containers carry port labels; a slower answer means "maybe". */
const LABEL_LIST_TIMEOUT_MS = 1_000;

export interface RunningDaemon {
  stop(): Promise<void>;
}

async function connectOvsdbWithRetry(settings: DaemonSettings, log: Logger): Promise<VSwitch> {
  let delay = 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await openVSwitch(settings.ovsdbSocket, log);
    } catch (err) {
      if (attempt === 1 || attempt % 10 === 0)
        log.warn({ socket: settings.ovsdbSocket, err: errorMessage(err) }, 'waiting for OVSDB');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 3000);
    }
  }
}

async function restoreState(
  vswitch: VSwitch,
  state: StateStore,
  settings: DaemonSettings,
  log: Logger,
): Promise<Set<string>> {
  const restored = new Set<string>();
  for (const bridge of await vswitch.listBridges()) {
    const r = restoreFromBridge(bridge, (controllers) => isLocalFaucet(controllers, settings.localFaucetControllers));
    if (r === undefined) continue;
    if ('error' in r) {
      log.error({ bridge: bridge.name }, r.error);
      continue;
    }
    state.putNetwork(r.network);
    // Adopt, never recreate: ensureBridge only repairs what differs from the stored options.
    await vswitch.ensureBridge({
      name: r.network.bridgeName,
      datapathType: r.network.datapathType,
      dpid: r.network.options.dpid,
      controllers: r.network.controllers,
      failMode: r.network.controllers.length > 0 ? 'secure' : 'standalone',
      mtu: r.network.options.mtu,
      externalIds: bridgeExternalIds(r.network),
    });
    for (const ep of r.endpoints) {
      state.putEndpoint(ep);
      restored.add(ep.id);
    }
    log.info(
      { network: r.network.id, name: r.network.name, bridge: bridge.name, endpoints: r.endpoints.length },
      'network restored from OVSDB',
    );
  }
  return restored;
}

/**
 * Calls `onChange` (debounced) when faucet.yaml changes: an operator's edit that dropped or
 * broke dovesnap's DPs is mended within a second rather than at the next periodic check. The
 * directory is watched, since an atomic replace (ours, an editor's) is a new file. A sync
 * against an unchanged file costs a read and a compare.
 */
function watchFaucetConfig(configPath: string, onChange: () => void, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined;
  try {
    const watcher = watch(path.dirname(configPath), (_event, file) => {
      if (file !== null && file !== path.basename(configPath)) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(onChange, 300);
      timer.unref();
    });
    watcher.on('error', (err) =>
      log.warn({ err: errorMessage(err) }, 'no longer watching faucet.yaml; the periodic check still runs'),
    );
    watcher.unref();
    return () => {
      if (timer !== undefined) clearTimeout(timer);
      watcher.close();
    };
  } catch (err) {
    log.warn({ path: configPath, err: errorMessage(err) }, 'cannot watch faucet.yaml; the periodic check still runs');
    return () => undefined;
  }
}

export async function startDaemon(
  settings: DaemonSettings,
  log: Logger,
  faucetControl?: FaucetControl,
): Promise<RunningDaemon> {
  let ready = false;
  const state = new StateStore();
  const vswitch = await connectOvsdbWithRetry(settings, log);
  const restored = await restoreState(vswitch, state, settings, log);
  let stack: Stack | undefined;
  let dhcp: DhcpClients | undefined;
  const metrics = createMetrics(
    state,
    () => {
      const d = dhcp;
      if (d === undefined) return [];
      return state.allEndpoints().flatMap((e) => d.status(e)?.State ?? []);
    },
    (e) => dhcp?.status(e)?.Address,
  );
  const faucetLoad = new FaucetLoadTracker();
  const faucet = createFaucetView(settings, state, vswitch, realHostNet, log, faucetControl, {
    stackFacts: () => stack?.facts(),
    onConfigOutcome: (outcome, detail) => {
      metrics.faucetConfig(outcome);
      faucetLoad.record(outcome, detail);
    },
  });
  const engine = new DockerEngine(settings.dockerSocket);
  const hostDatapath = detectDatapath();
  log.info(
    { hostDatapath, defaultControllers: settings.defaultControllers, faucetConfig: settings.faucetConfigPath },
    'starting',
  );

  const nat = createNatView(state, realHostNet, log, new PortProxies(log.child({ component: 'port-proxy' })));
  const dhcpSupervisor = new DhcpSupervisor({
    dir: settings.dhcpDir,
    logger: log.child({ component: 'dhcp-supervisor' }),
    onReport: (endpointId, report) => void dhcp?.reported(endpointId, report),
  });
  dhcp = new DhcpClients({
    supervisor: dhcpSupervisor,
    state,
    engine,
    logger: log,
    host: {
      settledPeerInNetns,
      linkExists: (name) => realHostNet.linkExists(name),
      release: (req) => releaseThroughLink(req),
      waitNeighbourSettled,
    },
    // An anti-spoofing port admits the leased address only once FAUCET has it.
    onLeaseChanged: (endpointId) =>
      void faucet
        .sync(`DHCP lease of endpoint ${endpointId.slice(0, 12)}`)
        .catch((err: unknown) =>
          log.warn({ endpoint: endpointId, err: errorMessage(err) }, 'FAUCET sync after a DHCP lease failed'),
        ),
  });
  const dhcpNow = dhcp;
  const driver = new Driver({
    vswitch,
    host: realHostNet,
    state,
    faucet,
    nat,
    settings: {
      defaultControllers: settings.defaultControllers,
      localFaucetControllers: settings.localFaucetControllers,
      hostDatapath,
      ofportTimeoutMs: 10_000,
    },
    logger: log,
    dhcp: dhcpNow,
    labelledContainers: async (key) =>
      (await engine.listContainersWithLabel(key, LABEL_LIST_TIMEOUT_MS)).map((c) => ({
        id: c.Id,
        name: c.Names?.[0] ?? c.Id,
        labels: c.Labels ?? {},
      })),
    readyPorts: settings.readyPorts,
  });

  // Gateways, forwarding rules and NAT are host state the kernel may have lost (a reboot) or
  // that may have drifted: put them back before Docker can ask for anything.
  for (const n of state.allNetworks()) {
    await driver
      .setUpGateway(n)
      .catch((err: unknown) => log.error({ network: n.id, err: errorMessage(err) }, 'could not restore the gateway'));
  }
  await nat.sync('start').catch(() => undefined);
  // Networks restored from OVSDB top their ready ports up as new ones do once named.
  for (const n of state.allNetworks()) if (n.name !== undefined) driver.pool?.replenish(n);
  // The routed layer-3 driver (-d narwhal): its own state and socket, the same lifecycle.
  const narwhal = new NarwhalDriver({
    host: realNarwhalHost(),
    store: new NarwhalStore(narwhalStateDir()),
    logger: log,
  });
  await narwhal
    .restore()
    .catch((err: unknown) => log.error({ err: errorMessage(err) }, 'could not restore the narwhal networks'));
  await runCommand('nft', ['-f', '-'], { input: narwhalTablesScript() }).catch((err: unknown) =>
    log.warn({ err: errorMessage(err) }, "could not create narwhal's nftables tables"),
  );
  const collect = async (): Promise<void> => {
    const leftovers = await narwhal
      .collectGarbage()
      .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'narwhal leftover collection failed'));
    metrics.repaired('leftover_link', leftovers?.links.length ?? 0);
    metrics.repaired('forwarding_rule', leftovers?.rules.length ?? 0);
    const found = await driver.collectGarbage();
    metrics.repaired('leftover_link', found.links.length);
    metrics.repaired('leftover_port', found.ports.length);
    metrics.repaired('forwarding_rule', found.forwardingTags.length);
  };
  await collect().catch((err: unknown) => log.error({ err: errorMessage(err) }, 'could not look for leftovers'));

  // Gauge watches the ports of every switch, dovesnap's included, without hand configuration.
  await syncGaugeFile(
    settings.gaugeConfigPath,
    {
      faucetConfigPath: path.resolve(settings.faucetConfigPath),
      prometheusPort: settings.gaugePrometheusPort,
      prometheusAddr: settings.gaugePrometheusAddr,
    },
    async () => {
      if (settings.gaugePidfile !== undefined) await signalFromPidfile(settings.gaugePidfile).catch(() => undefined);
    },
  ).then(
    (changed) =>
      changed && log.info({ path: settings.gaugeConfigPath }, 'gauge.yaml: added the watchers of every switch'),
    (err: unknown) =>
      log.error(
        { path: settings.gaugeConfigPath, err: errorMessage(err) },
        'gauge.yaml not updated: Gauge may not watch dovesnap switches',
      ),
  );

  const pluginApps: HttpApp[] = [];
  for (const name of settings.driverNames) {
    const app = buildPluginApp(driver, log, (endpoint, ok, seconds) => metrics.driverCall(endpoint, ok, seconds));
    await listenOnSocket(app, path.join(settings.pluginDir, `${name}.sock`));
    pluginApps.push(app);
  }
  const narwhalApp = buildPluginApp(narwhal, log, (endpoint, ok, seconds) => metrics.driverCall(endpoint, ok, seconds));
  await listenOnSocket(narwhalApp, path.join(settings.pluginDir, `${NARWHAL}.sock`));
  pluginApps.push(narwhalApp);
  let mirror: MirrorBridge | undefined;
  const hostStatus = async (): Promise<HostStatus> => {
    const m = mirror?.describe();
    const f = stack?.facts();
    const st = settings.stacking;
    let stackProblem = stack?.problem();
    if (st !== undefined && stackProblem === undefined) {
      // FAUCET would refuse a stack port to a switch it does not know, so such a link is left out: say so.
      const known = await faucet.foreignDps().catch(() => undefined);
      const missing =
        known === undefined ? [] : st.interfaces.filter((i) => !known.has(i.remoteDp)).map((i) => i.remoteDp);
      if (known !== undefined && st.priority1 !== f?.dpName && !known.has(st.priority1)) {
        stackProblem = `the stack root ${st.priority1} (STACK_PRIORITY1) is not a DP in FAUCET's configuration: stacking is left out of it until it is`;
      } else if (missing.length > 0) {
        stackProblem = `FAUCET's configuration has no DP ${[...new Set(missing)].join(', ')}: the stack link${missing.length > 1 ? 's' : ''} to it ${missing.length > 1 ? 'are' : 'is'} left out`;
      }
    }
    return {
      MirrorBridge:
        m?.bridge === undefined || m.out === undefined
          ? null
          : { Bridge: m.bridge, Out: m.out, In: m.in ?? null, Links: m.links, Problem: m.problem ?? null },
      Stack:
        st === undefined
          ? null
          : {
              DpName: f?.dpName ?? null,
              DpId: f === undefined ? null : `0x${f.dpId.toString(16)}`,
              Root: st.priority1,
              Interfaces: st.interfaces.map((i) => ({
                Interface: i.interface,
                OFPort: f?.interfaces.find((x) => x.interface === i.interface)?.ofport ?? null,
                RemoteDp: i.remoteDp,
                RemotePort: i.remotePort,
              })),
              MirrorInterface:
                st.mirrorInterface === undefined ? null : `${st.mirrorInterface.dp}:${st.mirrorInterface.port}`,
              Problem: stackProblem ?? null,
            },
    };
  };
  const health = (): Health => {
    if (!ready) return { status: 'starting' };
    const ovsdb = vswitch.health();
    if (!ovsdb.connected)
      return {
        status: 'degraded',
        reason: `OVSDB unreachable since ${new Date(ovsdb.since).toISOString()}: ${ovsdb.lastError ?? 'connection lost'}`,
      };
    const faucetTrouble = faucet.unhealthy();
    return faucetTrouble === undefined ? { status: 'ok' } : { status: 'degraded', reason: faucetTrouble };
  };
  const hostPorts = async (): Promise<Map<string, HostPortStatus[]>> => {
    // From the local OVSDB replica: no round trip.
    const bridges = new Map((await vswitch.listBridges()).map((b) => [b.name, b]));
    return new Map(
      state.allNetworks().map((n) => [n.id, hostPortsStatus(n.bridgeName, bridges.get(n.bridgeName)?.ports ?? [])]),
    );
  };
  const dhcpStatus = (ep: EndpointRecord): DhcpStatus | undefined => dhcpNow.status(ep);
  const live = new LiveFeed({
    source: `${os.hostname()} (${settings.statusHost}:${settings.statusPort})`,
    networks: async () => networksStatus(state, dhcpStatus, await hostPorts().catch(() => new Map())),
    host: async () => hostStatus(),
    faucet: () => faucetLoad.status(),
    statistics: () => vswitch.interfaceStatistics(),
    renderSvg: async (dot) => (await renderDot(dot, 'svg')).toString('utf8'),
    onChange: (listener) => {
      const unsubscribers = [
        state.subscribe(() => listener()),
        vswitch.onChange(listener),
        faucetLoad.onChange(listener),
      ];
      return () => {
        for (const u of unsubscribers) u();
      };
    },
  });
  const status = buildStatusApp({
    state,
    logger: log,
    health,
    host: hostStatus,
    dhcp: dhcpStatus,
    metrics: metrics.registry,
    allow: settings.statusAllow,
    hosts: hostCheck({ listenHost: settings.statusHost, names: settings.statusHosts }),
    hostPorts,
    live,
  });
  await status.listen({ host: settings.statusHost, port: settings.statusPort });

  const reconciler = new Reconciler({
    engine,
    state,
    vswitch,
    host: realHostNet,
    faucet,
    teardown: driver,
    logger: log,
    restoredEndpoints: restored,
    dhcp: dhcpNow,
    metrics,
  });
  vswitch.onHealthChange((h) => {
    if (h.connected) {
      log.info({ reconnects: h.reconnects }, 'OVSDB connection back');
      // ovs-vswitchd lost OVSDB too, and its switches may have missed link-ups meanwhile.
      faucet.recheckPorts('OVSDB connection back');
      // Ports whose removal waited for OVSDB go now, not at the next periodic look.
      collect().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'leftover collection failed'));
    } else log.error({ err: h.lastError }, 'OVSDB connection lost: degraded until it is back');
  });
  reconciler.start();
  // What `dovesnap attach` made goes when its container dies; --persist attachments come back.
  const attachDirs = attachPaths();
  const attachWatch = new AttachWatcher({
    engine,
    vswitch,
    store: new AttachmentStore(attachDirs.dir),
    dhcpDir: attachDirs.dhcpDir,
    userspace: hostDatapath === 'netdev',
    logger: log,
  });
  attachWatch.start();
  // A hand edit of faucet.yaml racing one of ours can leave our DPs out of the file; a cheap
  // periodic render (no write when nothing differs) puts them back.
  const resync = setInterval(() => {
    faucet.sync('periodic check').catch(() => undefined);
    // A link-up FAUCET missed leaves a port dead until someone looks: look, now and then.
    faucet.recheckPorts('periodic check', { hostPorts: false });
  }, RESYNC_MS);
  resync.unref();
  const stopWatching = watchFaucetConfig(
    settings.faucetConfigPath,
    () => {
      faucet.fileChanged().catch(() => undefined);
    },
    log,
  );
  const stopBridgeWatch = watchBridgePorts({ state, vswitch, sync: (reason) => faucet.sync(reason), logger: log });
  mirror = createMirrorBridge({
    config: { out: settings.mirrorBridgeOut, in: settings.mirrorBridgeIn },
    hostDatapath,
    state,
    vswitch,
    linkExists: (name) => realHostNet.linkExists(name),
    logger: log,
  });
  const mirrorNow = mirror;
  await mirrorNow.ensure('start');
  stack = createStack({
    settings: settings.stacking,
    controllers: settings.defaultControllers,
    hostDatapath,
    state,
    vswitch,
    linkExists: (name) => realHostNet.linkExists(name),
    logger: log,
    changed: (reason) => void faucet.sync(reason).catch(() => undefined),
  });
  const stackNow = stack;
  await stackNow.ensure('start');
  // Host-wide switches (mirror bridge, stack) are owned state: reconciled on every network
  // change, once OVSDB has settled after a change, and periodically (ovs-vswitchd forgets flows).
  const hostWide = [mirrorNow, stackNow];
  const ensureHostWide = (why: string): void => {
    for (const r of hostWide) void r.ensure(why);
  };
  const stopMirrorOnNetworks = state.subscribe((change) => {
    if (change.kind === 'network') ensureHostWide(change.record === undefined ? 'network removed' : 'network added');
  });
  let mirrorTimer: NodeJS.Timeout | undefined;
  const stopMirrorOnOvsdb = vswitch.onChange(() => {
    // Every port dovesnap adds is an OVSDB change too: look once things are quiet.
    if (mirrorTimer !== undefined) clearTimeout(mirrorTimer);
    mirrorTimer = setTimeout(() => ensureHostWide('OVSDB changed'), 1000);
    mirrorTimer.unref();
  });
  const mirrorCheck = setInterval(() => ensureHostWide('periodic check'), MIRROR_CHECK_MS);
  mirrorCheck.unref();
  const gc = setInterval(() => {
    collect().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'leftover collection failed'));
    // A top-up cut short (OVSDB or FAUCET away) is finished here: its ports made, or announced.
    for (const n of state.allNetworks()) if (n.name !== undefined) driver.pool?.replenish(n);
  }, GC_MS);
  gc.unref();
  ready = true;
  if (settings.failpoints.size > 0) {
    log.warn(
      { failpoints: Object.fromEntries(settings.failpoints) },
      'DOVESNAP_FAILPOINTS set: faults will be injected (for tests only)',
    );
    armFailpoints(settings.failpoints);
  }
  log.info(
    {
      sockets: [...settings.driverNames, NARWHAL].map((n) => path.join(settings.pluginDir, `${n}.sock`)),
      status: `${settings.statusHost}:${settings.statusPort}`,
    },
    'dovesnap ready',
  );

  return {
    async stop() {
      ready = false;
      clearInterval(resync);
      stopWatching();
      stopBridgeWatch();
      stopMirrorOnNetworks();
      stopMirrorOnOvsdb();
      clearInterval(mirrorCheck);
      if (mirrorTimer !== undefined) clearTimeout(mirrorTimer);
      clearInterval(gc);
      // Stop taking Docker's requests first (close drains those in flight), then the rest.
      await Promise.allSettled(pluginApps.map((a) => a.close()));
      narwhal.close();
      await reconciler.stop();
      await attachWatch.stop();
      // The DHCP clients keep running: the next daemon adopts them.
      dhcpSupervisor.close();
      await faucet.close();
      await nat.close();
      await status.close();
      vswitch.close();
      log.info('dovesnap stopped');
    },
  };
}
