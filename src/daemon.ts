import os from 'node:os';
import path from 'node:path';
import type { HttpApp } from './util/http.js';
import type { Logger } from './util/log.js';
import { errorMessage } from './util/errors.js';
import type { DaemonSettings } from './config/settings.js';
import { DockerEngine } from './engine/client.js';
import { StateStore } from './driver/state.js';
import { Driver } from './driver/driver.js';
import { NarwhalDriver } from './narwhal/driver.js';
import { NarwhalStore } from './narwhal/store.js';
import { realNarwhalHost } from './narwhal/host.js';
import { DRIVER_NAME as NARWHAL } from './narwhal/names.js';
import { tablesScript as narwhalTablesScript } from './narwhal/rules.js';
import { runCommand } from './net/exec.js';
import { detectDatapath, realHostNet } from './driver/host.js';
import { StackSettler } from './driver/stack-settle.js';
import type { FaucetConfigFacts } from './faucet/config-facts.js';
import { createFaucetView, type FaucetControl } from './driver/faucet-view.js';
import { createMirrorBridge, type MirrorBridge } from './driver/mirror-bridge.js';
import { createStack, type Stack, stackDpName, stackIdentity } from './driver/stack.js';
import { Reconciler } from './reconcile/reconciler.js';
import { createNatView } from './driver/nat-view.js';
import { PortProxies } from './net/port-proxy.js';
import { buildPluginApp, listenOnSocket } from './plugin/server.js';
import { hostCheck } from './status/host-check.js';
import { buildStatusApp, hostPortsStatus, networksStatus } from './status/server.js';
import type { Health, HostPortStatus, HostStatus } from './status/documents.js';
import { PeerPoller } from './status/peers.js';
import { LiveFeed } from './status/live.js';
import { FaucetLoadTracker } from './status/faucet-load.js';
import { AttachWatcher } from './attach/watch.js';
import { AttachmentStore } from './attach/record.js';
import { attachPaths, narwhalStateDir } from './config/environment.js';
import { renderDot } from './graph/render.js';
import type { EndpointRecord } from './driver/state.js';
import type { DhcpStatus } from './driver/dhcp-clients.js';
import { createMetrics } from './status/metrics.js';
import { DhcpSupervisor } from './dhcp/supervisor.js';
import { releaseThroughLink } from './dhcp/release.js';
import { DhcpClients } from './driver/dhcp-clients.js';
import { settledPeerInNetns, waitNeighbourSettled } from './net/links.js';
import { armFailpoints } from './util/failpoints.js';
import { hostStatus, daemonHealth } from './status/daemon-status.js';
import { connectOvsdbWithRetry, ensureGaugeWatchers, restoreState } from './daemon/start-up.js';
import { leftoverCollector, startLoops } from './daemon/loops.js';

/**
 * The daemon's lifecycle: connect, rebuild the model from OVSDB, serve, and shut down in
 * order. Only the CLI's `daemon` verb calls this, and only it handles signals. This module only
 * constructs and connects; the periodic work is daemon/loops.ts, the start-up steps
 * daemon/start-up.ts, the status documents status/.
 */

/** CreateEndpoint asks Docker which containers carry port labels; a slower answer means "maybe". */
const LABEL_LIST_TIMEOUT_MS = 1_000;

export interface RunningDaemon {
  stop(): Promise<void>;
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
  // gRPC is loaded only for FAUCET on another host; bad keys stop the start here, naming the setting.
  const confrpcClient =
    settings.confrpc === undefined ? undefined : (await import('./confrpc/client.js')).openConfrpc(settings.confrpc);
  // With stacking, FAUCET rebuilds its stack graphs once the stack's links have settled (stack-settle.ts).
  const settler =
    settings.stacking === undefined
      ? undefined
      : new StackSettler({
          metricsUrl: settings.faucetMetricsUrl,
          sync: (reason) => void faucet.rewrite(reason).catch(() => undefined),
          logger: log.child({ component: 'stack' }),
        });
  const faucet = createFaucetView(settings, state, vswitch, realHostNet, log, faucetControl, {
    ...(confrpcClient === undefined ? {} : { confrpc: confrpcClient }),
    stackFacts: () => {
      const facts = stack?.facts();
      return facts === undefined || settler?.mark === undefined ? facts : { ...facts, settled: settler.mark };
    },
    ...(settler === undefined ? {} : { onRunning: (facts: FaucetConfigFacts) => settler.observe(facts) }),
    // Other hosts' DPs in the same configuration are told from this host's by these names.
    owner: { dpHost: settings.dpHost, stackDp: stackDpName(settings.dpHost) },
    onConfigOutcome: (outcome, detail) => {
      metrics.faucetConfig(outcome);
      faucetLoad.record(outcome, detail);
    },
  });
  // A faucetconfrpc server away does not hold the start up: writes stay pending and are retried.
  void faucet.connect();
  const engine = new DockerEngine(settings.dockerSocket);
  const hostDatapath = detectDatapath();
  const confrpc = settings.confrpc;
  log.info(
    {
      hostDatapath,
      defaultControllers: settings.defaultControllers,
      faucetConfig: confrpc === undefined ? settings.faucetConfigPath : `faucetconfrpc ${confrpc.addr}:${confrpc.port}`,
    },
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
      dpHost: settings.dpHost,
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
  const replenish = (): void => {
    for (const n of state.allNetworks()) if (n.name !== undefined) driver.pool?.replenish(n);
  };
  // Networks restored from OVSDB top their ready ports up as new ones do once named.
  replenish();
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
  const collect = leftoverCollector({ narwhal, driver, metrics, logger: log });
  await collect().catch((err: unknown) => log.error({ err: errorMessage(err) }, 'could not look for leftovers'));

  // With FAUCET on another host, its Gauge is that host's business.
  if (confrpc === undefined) await ensureGaugeWatchers(settings, log);

  const pluginApps: HttpApp[] = [];
  for (const name of settings.driverNames) {
    const app = buildPluginApp(
      driver,
      log,
      (endpoint, ok, seconds) => metrics.driverCall(endpoint, ok, seconds),
      settings.capabilities,
    );
    await listenOnSocket(app, path.join(settings.pluginDir, `${name}.sock`));
    pluginApps.push(app);
  }
  const narwhalApp = buildPluginApp(narwhal, log, (endpoint, ok, seconds) => metrics.driverCall(endpoint, ok, seconds));
  await listenOnSocket(narwhalApp, path.join(settings.pluginDir, `${NARWHAL}.sock`));
  pluginApps.push(narwhalApp);
  let mirror: MirrorBridge | undefined;
  const describeHost = (): Promise<HostStatus> =>
    hostStatus({
      mirror,
      stack,
      stacking: settings.stacking,
      foreignDps: () => faucet.stackableDps?.() ?? faucet.foreignDps(),
      hostName: settings.dpHost ?? os.hostname(),
      stackControllers: settings.defaultControllers,
    });
  const health = (): Health => daemonHealth(ready, vswitch.health(), faucet.unhealthy());
  const hostPorts = async (): Promise<Map<string, HostPortStatus[]>> => {
    // From the local OVSDB replica: no round trip.
    const bridges = new Map((await vswitch.listBridges()).map((b) => [b.name, b]));
    return new Map(
      state.allNetworks().map((n) => [n.id, hostPortsStatus(n.bridgeName, bridges.get(n.bridgeName)?.ports ?? [])]),
    );
  };
  const dhcpStatus = (ep: EndpointRecord): DhcpStatus | undefined => dhcpNow.status(ep);
  const live = new LiveFeed({
    source: `http://${settings.statusHost.includes(':') ? `[${settings.statusHost}]` : settings.statusHost}:${settings.statusPort}`,
    ...(settings.statusPeers.length === 0 ? {} : { peers: new PeerPoller(settings.statusPeers) }),
    networks: async () => networksStatus(state, dhcpStatus, await hostPorts().catch(() => new Map())),
    host: async () => describeHost(),
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
    host: describeHost,
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
    // Several hosts sharing one FAUCET: the stack switch is named after DOVESNAP_HOST_NAME too.
    ...(settings.dpHost === undefined ? {} : { identity: stackIdentity(settings.dpHost) }),
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
  const loops = startLoops({
    state,
    vswitch,
    faucet,
    faucetConfigPath: confrpc === undefined ? settings.faucetConfigPath : undefined,
    hostWide: [mirrorNow, stackNow],
    collect,
    replenish,
    logger: log,
  });
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
      loops.stop();
      // Stop taking Docker's requests first (close drains those in flight), then the rest.
      await Promise.allSettled(pluginApps.map((a) => a.close()));
      narwhal.close();
      await reconciler.stop();
      await attachWatch.stop();
      // The DHCP clients keep running: the next daemon adopts them.
      dhcpSupervisor.close();
      settler?.close();
      await faucet.close();
      await nat.close();
      await status.close();
      vswitch.close();
      log.info('dovesnap stopped');
    },
  };
}
