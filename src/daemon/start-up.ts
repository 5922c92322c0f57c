import path from 'node:path';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { isLocalFaucet, type DaemonSettings } from '../config/settings.js';
import { openVSwitch, type VSwitch } from '../ovs/vswitch.js';
import type { StateStore } from '../driver/state.js';
import { restoreFromBridge, bridgeExternalIds } from '../driver/persist.js';
import { syncGaugeFile } from '../faucet/gauge.js';
import { signalFromPidfile } from '../faucet/store.js';

/** The daemon's start-up steps that are more than a constructor call: see startDaemon for their order. */

export async function connectOvsdbWithRetry(settings: DaemonSettings, log: Logger): Promise<VSwitch> {
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

/** The model rebuilt from OVSDB's external_ids; each bridge adopted, never recreated. Returns the endpoints restored. */
export async function restoreState(
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

/** Gauge watches the ports of every switch, dovesnap's included, without hand configuration. */
export async function ensureGaugeWatchers(settings: DaemonSettings, log: Logger): Promise<void> {
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
}
