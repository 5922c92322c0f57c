import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { oneAtATime } from '../util/one-at-a-time.js';
import type { DatapathType, VSwitch } from '../ovs/vswitch.js';
import { replaceFlows as replaceFlowsWithOfctl } from '../ovs/ofctl.js';
import { ExtId, HostPortKind } from './persist.js';
import type { NetworkRecord, StateStore } from './state.js';

/**
 * The host's mirror bridge (MIRROR_BRIDGE_OUT / --mirror_bridge_out): one plain Open vSwitch
 * bridge, not under FAUCET, linked by a patch port to every dovesnap network's bridge on that
 * network's `lbport`. FAUCET copies both directions of each mirror-labelled container's port
 * to the lbport (the `mirror:` list of that interface); the mirror bridge tags what arrives on
 * each link with that network's VLAN and sends it out of OUT, so one capture tells the
 * networks apart. Frames arriving on IN (the previous host of a "mirror river") leave on OUT
 * as they came.
 *
 * Everything here is owned state, reconciled rather than set once: the bridge, its ports and
 * its flows are put back when deleted by hand or lost with ovs-vswitchd, and removed when the
 * mirror bridge is no longer configured.
 */

export const MIRROR_BRIDGE_NAME = 'mirrorbr';
/** Never a FAUCET DP (no controller); a fixed ID only so that ovs-vswitchd does not pick one from a MAC. */
export const MIRROR_BRIDGE_DPID = 0xd0e5_0000_0000_0001n;
export const MIRROR_OUT_OFPORT = 1;
export const MIRROR_IN_OFPORT = 2;
/** Marks the flows dovesnap writes, for anyone reading `ovs-ofctl dump-flows mirrorbr`. */
export const MIRROR_COOKIE = 0xd0e5;

export const MirrorRole = { bridge: 'mirror-bridge', out: 'mirror-out', in: 'mirror-in', link: 'mirror-link' } as const;

export interface MirrorConfig {
  readonly out: string | undefined;
  readonly in: string | undefined;
}

/** The two ends of a network's link to the mirror bridge: on the network's bridge, and on the mirror bridge. */
export function mirrorLinkNames(networkId: string): { network: string; mirror: string } {
  const short = networkId.slice(0, 10);
  return { network: `dsmn${short}`, mirror: `dsmm${short}` };
}

export interface MirrorLinkFlow {
  readonly ofport: number;
  readonly vlan: number;
}

/** The whole flow table of the mirror bridge: everything else is dropped. */
export function mirrorFlows(outOfport: number, inOfport: number | undefined, links: readonly MirrorLinkFlow[]): string {
  const cookie = `cookie=0x${MIRROR_COOKIE.toString(16)}`;
  const lines = [`${cookie},priority=0 actions=drop`];
  if (inOfport !== undefined) lines.push(`${cookie},priority=10,in_port=${inOfport} actions=output:${outOfport}`);
  for (const l of [...links].sort((a, b) => a.ofport - b.ofport)) {
    lines.push(`${cookie},priority=10,in_port=${l.ofport} actions=mod_vlan_vid:${l.vlan},output:${outOfport}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface MirrorBridgeDeps {
  readonly config: MirrorConfig;
  readonly hostDatapath: DatapathType;
  readonly state: StateStore;
  readonly vswitch: VSwitch;
  readonly linkExists: (name: string) => Promise<boolean>;
  readonly logger: Logger;
  /** Writes the flow table; the default runs `ovs-ofctl replace-flows`. */
  readonly replaceFlows?: (bridge: string, flows: string) => Promise<void>;
  readonly ofportTimeoutMs?: number;
}

export interface MirrorBridge {
  /** Brings bridge, links and flows to what the config and the networks ask for. */
  ensure(reason: string): Promise<void>;
  /** What the status API shows. */
  describe(): MirrorBridgeStatus;
}

export interface MirrorBridgeStatus {
  readonly bridge: string | undefined;
  readonly out: string | undefined;
  readonly in: string | undefined;
  /** Network ID → OpenFlow port of its link on the mirror bridge. */
  readonly links: Readonly<Record<string, number>>;
  readonly problem: string | undefined;
}

/** Networks that can be linked to a host-wide bridge (mirror, stack): on this host's FAUCET, and of that bridge's datapath (patch ports join one datapath type only). */
export function linkable(n: NetworkRecord, datapath: DatapathType): boolean {
  return n.localFaucet && n.datapathType === datapath;
}

export function createMirrorBridge(deps: MirrorBridgeDeps): MirrorBridge {
  const log = deps.logger.child({ component: 'mirror-bridge' });
  const replaceFlows = deps.replaceFlows ?? replaceFlowsWithOfctl;
  const timeout = deps.ofportTimeoutMs ?? 10_000;
  const { vswitch, state, config } = deps;
  let lastFlows: string | undefined;
  let links: Record<string, number> = {};
  let problem: string | undefined;
  /** Networks already logged as impossible to link. */
  const unlinkable = new Set<string>();

  const removeAll = async (): Promise<void> => {
    const bridge = await vswitch.getBridge(MIRROR_BRIDGE_NAME);
    if (bridge?.externalIds[ExtId.role] === MirrorRole.bridge) {
      await vswitch.deleteBridge(MIRROR_BRIDGE_NAME);
      log.info({ bridge: MIRROR_BRIDGE_NAME }, 'mirror bridge removed: MIRROR_BRIDGE_OUT is not set');
    }
    for (const n of state.allNetworks()) {
      const b = await vswitch.getBridge(n.bridgeName);
      for (const p of b?.ports ?? [])
        if (p.externalIds[ExtId.hostPort] === HostPortKind.mirror) await vswitch.deletePort(n.bridgeName, p.name);
    }
    links = {};
    lastFlows = undefined;
  };

  const once = async (reason: string): Promise<void> => {
    const out = config.out;
    if (out === undefined) {
      await removeAll();
      problem = undefined;
      return;
    }
    for (const iface of [out, config.in]) {
      if (iface !== undefined && !(await deps.linkExists(iface))) {
        const why = `interface ${iface} (MIRROR_BRIDGE_${iface === out ? 'OUT' : 'IN'}) does not exist on this host`;
        if (problem !== why) log.error({ interface: iface }, `mirror bridge not ready: ${why}`);
        problem = why;
        return;
      }
    }
    const existing = await vswitch.getBridge(MIRROR_BRIDGE_NAME);
    if (existing !== undefined && existing.externalIds[ExtId.role] !== MirrorRole.bridge) {
      const why = `an Open vSwitch bridge named ${MIRROR_BRIDGE_NAME} exists and is not dovesnap's mirror bridge`;
      if (problem !== why) log.error(`mirror bridge not ready: ${why}`);
      problem = why;
      return;
    }
    await vswitch.ensureBridge({
      name: MIRROR_BRIDGE_NAME,
      datapathType: deps.hostDatapath,
      dpid: MIRROR_BRIDGE_DPID,
      controllers: [],
      // Secure: with no controller, only dovesnap's flows forward anything (no learning switch).
      failMode: 'secure',
      externalIds: { [ExtId.role]: MirrorRole.bridge },
    });
    if (existing === undefined)
      log.info({ bridge: MIRROR_BRIDGE_NAME, out, in: config.in, reason }, 'mirror bridge created');
    await vswitch.addPort({
      bridge: MIRROR_BRIDGE_NAME,
      name: out,
      ofportRequest: MIRROR_OUT_OFPORT,
      externalIds: { [ExtId.role]: MirrorRole.out },
    });
    const outOfport = await vswitch.waitOfport(out, timeout);
    let inOfport: number | undefined;
    if (config.in !== undefined) {
      await vswitch.addPort({
        bridge: MIRROR_BRIDGE_NAME,
        name: config.in,
        ofportRequest: MIRROR_IN_OFPORT,
        externalIds: { [ExtId.role]: MirrorRole.in },
      });
      inOfport = await vswitch.waitOfport(config.in, timeout);
    }

    const wanted = new Map<string, NetworkRecord>();
    for (const n of state.allNetworks()) {
      if (linkable(n, deps.hostDatapath)) wanted.set(mirrorLinkNames(n.id).mirror, n);
      else if (n.localFaucet && !unlinkable.has(n.id)) {
        unlinkable.add(n.id);
        log.warn(
          { network: n.id, datapath: n.datapathType, mirrorBridge: deps.hostDatapath },
          'network not linked to the mirror bridge: patch ports join bridges of one datapath type only',
        );
      }
    }
    // Links of networks that are gone (their bridge took the other end with it).
    const mirrorBridge = await vswitch.getBridge(MIRROR_BRIDGE_NAME);
    for (const p of mirrorBridge?.ports ?? []) {
      const role = p.externalIds[ExtId.role];
      const stale =
        (role === MirrorRole.link && !wanted.has(p.name)) ||
        ((role === MirrorRole.out || role === MirrorRole.in) && p.name !== out && p.name !== config.in);
      if (stale) {
        await vswitch.deletePort(MIRROR_BRIDGE_NAME, p.name);
        log.info({ port: p.name }, 'removed a mirror bridge port nothing needs');
      }
    }
    const flows: MirrorLinkFlow[] = [];
    const nowLinks: Record<string, number> = {};
    for (const [mirrorName, n] of wanted) {
      const names = mirrorLinkNames(n.id);
      try {
        await vswitch.addPort({
          bridge: n.bridgeName,
          name: names.network,
          type: 'patch',
          ofportRequest: n.options.lbport,
          options: { peer: names.mirror },
          externalIds: { [ExtId.networkId]: n.id, [ExtId.hostPort]: HostPortKind.mirror },
        });
        await vswitch.addPort({
          bridge: MIRROR_BRIDGE_NAME,
          name: mirrorName,
          type: 'patch',
          options: { peer: names.network },
          externalIds: { [ExtId.networkId]: n.id, [ExtId.role]: MirrorRole.link },
        });
        const ofport = await vswitch.waitOfport(mirrorName, timeout);
        flows.push({ ofport, vlan: n.options.vlan });
        nowLinks[n.id] = ofport;
      } catch (err) {
        // One network's link (its bridge being deleted right now, say) must not stop the others'.
        log.warn({ network: n.id, err: errorMessage(err) }, 'could not link a network to the mirror bridge');
      }
    }
    links = nowLinks;
    const table = mirrorFlows(outOfport, inOfport, flows);
    if (table !== lastFlows || reason === 'periodic check') {
      await replaceFlows(MIRROR_BRIDGE_NAME, table);
      if (table !== lastFlows)
        log.info({ links: flows.length, in: inOfport !== undefined, reason }, 'mirror bridge flows set');
      lastFlows = table;
    }
    problem = undefined;
  };

  const ensure = oneAtATime(async (reason) => {
    try {
      await once(reason);
    } catch (err) {
      problem = errorMessage(err);
      log.error({ err: problem, reason }, 'mirror bridge not reconciled');
    }
  });

  return {
    ensure,
    describe: () => ({
      bridge: config.out === undefined ? undefined : MIRROR_BRIDGE_NAME,
      out: config.out,
      in: config.in,
      links: { ...links },
      problem,
    }),
  };
}
