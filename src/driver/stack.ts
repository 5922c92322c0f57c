import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { oneAtATime } from '../util/one-at-a-time.js';
import type { StackingSettings } from '../config/settings.js';
import type { DatapathType, VSwitch } from '../ovs/vswitch.js';
import { replaceFlows as replaceFlowsWithOfctl } from '../ovs/ofctl.js';
import { linkable } from './mirror-bridge.js';
import { STACK_LINK_OFPORT } from '../model/options.js';
import { ExtId, HostPortKind } from './persist.js';
import type { StateStore } from './state.js';

/**
 * FAUCET stacking across hosts (STACKING_INTERFACES and friends, the original's design): each
 * host has one stack switch, a DP of its own, linked by a patch port to every dovesnap network's
 * bridge and, through this host's stacking interfaces, to other switches' ports. FAUCET's
 * configuration carries both ends of every link (the far end inside the operator's DP for the
 * other switch). With STACK_MIRROR_INTERFACE, each network's lbport is a loopback: FAUCET
 * mirrors the labelled ports to it, a loopback bridge sends every frame straight back in, and
 * the port's ACL tunnels it across the stack on the network's mirror_tunnel_vid to that
 * interface.
 *
 * This module owns the OVS side (bridges, ports, the loopback flows) and reports the numbers
 * FAUCET's configuration needs (`StackFacts`); faucet-desired turns them into DPs.
 */

export const STACK_BRIDGE_NAME = 'dsstack';
export const LOOPBACK_BRIDGE_NAME = 'dslb';
export const StackRole = {
  bridge: 'stack-bridge',
  loopbackBridge: 'loopback-bridge',
  iface: 'stack-interface',
  link: 'stack-link',
  loopback: 'loopback-link',
  mirrorSink: 'stack-mirror-interface',
} as const;
const LOOPBACK_COOKIE = 0xd0e6;

export interface StackFacts {
  readonly dpName: string;
  readonly dpId: bigint;
  readonly priority1: string;
  readonly interfaces: readonly {
    readonly remoteDp: string;
    readonly remotePort: number;
    readonly interface: string;
    readonly ofport: number;
  }[];
  /** Network ID → its link: the port on the network's bridge and the one on the stack switch. */
  readonly links: ReadonlyMap<string, { readonly networkPort: number; readonly stackPort: number }>;
  /** Network ID → its loopback port (the lbport) when stack mirroring is on. */
  readonly loopbacks: ReadonlyMap<string, number>;
  /** STACK_MIRROR_INTERFACE; `interface` set when it is this stack switch's own port. */
  readonly mirror: { readonly dp: string; readonly port: number; readonly interface?: string | undefined } | undefined;
  /** When the stack's links last settled (stack-settle.ts): written as an ACL no port uses. */
  readonly settled?: string | undefined;
}

export function stackLinkNames(networkId: string): {
  network: string;
  stack: string;
  loopNetwork: string;
  loop: string;
} {
  const short = networkId.slice(0, 10);
  return { network: `dssn${short}`, stack: `dsss${short}`, loopNetwork: `dsln${short}`, loop: `dslo${short}` };
}

/** The name of a host's stack DP: `dovesnap-<host>`. */
export function stackDpName(host = hostname()): string {
  return `dovesnap-${host.replace(/[^A-Za-z0-9_.-]/g, '-')}`.slice(0, 64);
}

/** This host's stack DP: named after the host, numbered from its machine ID (as the original, 0x0e0f00 then 40 bits). */
export function stackIdentity(host = hostname(), machineId = readMachineId()): { dpName: string; dpId: bigint } {
  const name = stackDpName(host);
  const bits = BigInt(`0x${(machineId.replace(/[^0-9a-f]/gi, '') + '0'.repeat(10)).slice(0, 10)}`);
  return { dpName: name, dpId: (0x0e0f00n << 40n) | bits };
}

function readMachineId(): string {
  for (const p of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(p, 'utf8').trim();
      if (id !== '') return id;
    } catch {
      // try the next
    }
  }
  return '';
}

/** Every frame that enters the loopback bridge leaves where it came from. */
export function loopbackFlows(ports: readonly number[]): string {
  const cookie = `cookie=0x${LOOPBACK_COOKIE.toString(16)}`;
  return `${[
    `${cookie},priority=0 actions=drop`,
    ...[...ports].sort((a, b) => a - b).map((p) => `${cookie},priority=10,in_port=${p} actions=in_port`),
  ].join('\n')}\n`;
}

export interface StackDeps {
  readonly settings: StackingSettings | undefined;
  readonly controllers: readonly string[];
  readonly hostDatapath: DatapathType;
  readonly state: StateStore;
  readonly vswitch: VSwitch;
  readonly linkExists: (name: string) => Promise<boolean>;
  readonly logger: Logger;
  /** Called when the numbers FAUCET's configuration needs changed. */
  readonly changed: (reason: string) => void;
  readonly replaceFlows?: (bridge: string, flows: string) => Promise<void>;
  readonly identity?: { dpName: string; dpId: bigint };
  readonly ofportTimeoutMs?: number;
}

export interface Stack {
  ensure(reason: string): Promise<void>;
  facts(): StackFacts | undefined;
  problem(): string | undefined;
}

function factsKey(f: StackFacts | undefined): string {
  return f === undefined
    ? ''
    : JSON.stringify({ ...f, dpId: f.dpId.toString(16), links: [...f.links], loopbacks: [...f.loopbacks] });
}

export function createStack(deps: StackDeps): Stack {
  const log = deps.logger.child({ component: 'stack' });
  const { vswitch, state, settings } = deps;
  const timeout = deps.ofportTimeoutMs ?? 10_000;
  const replaceFlows = deps.replaceFlows ?? replaceFlowsWithOfctl;
  const identity = deps.identity ?? stackIdentity();
  let current: StackFacts | undefined;
  let trouble: string | undefined;
  let lastFlows: string | undefined;

  const removeOwnedBridge = async (name: string, role: string): Promise<void> => {
    const b = await vswitch.getBridge(name);
    if (b?.externalIds[ExtId.role] === role) {
      await vswitch.deleteBridge(name);
      log.info({ bridge: name }, 'removed: stacking is off');
    }
  };

  const removeNetworkEnds = async (kinds: readonly string[]): Promise<void> => {
    for (const n of state.allNetworks()) {
      const b = await vswitch.getBridge(n.bridgeName);
      for (const p of b?.ports ?? [])
        if (kinds.includes(p.externalIds[ExtId.hostPort] ?? '')) await vswitch.deletePort(n.bridgeName, p.name);
    }
  };

  const ownedBridge = async (
    name: string,
    role: string,
    controllers: readonly string[],
    dpid: bigint,
  ): Promise<void> => {
    const existing = await vswitch.getBridge(name);
    if (existing !== undefined && existing.externalIds[ExtId.role] !== role) {
      throw new Error(`an Open vSwitch bridge named ${name} exists and is not dovesnap's`);
    }
    await vswitch.ensureBridge({
      name,
      datapathType: deps.hostDatapath,
      dpid,
      controllers,
      failMode: 'secure',
      externalIds: { [ExtId.role]: role },
    });
    if (existing === undefined) log.info({ bridge: name }, 'created');
  };

  /**
   * STACK_MIRROR_INTERFACE=DP:PORT:IFACE on the host whose stack switch DP is: IFACE becomes that
   * switch's port PORT (FAUCET tunnels every host's mirrored traffic there). Its name, if any.
   */
  const ensureMirrorSink = async (m: StackingSettings['mirrorInterface']): Promise<string | undefined> => {
    if (m?.interface === undefined) return undefined;
    if (m.dp !== identity.dpName)
      throw new Error(
        `STACK_MIRROR_INTERFACE=${m.dp}:${m.port}:${m.interface}: an interface is given only for this host's own stack switch (${identity.dpName}); for another switch give DP:PORT`,
      );
    if (!(await deps.linkExists(m.interface)))
      throw new Error(`stack mirror interface ${m.interface} (STACK_MIRROR_INTERFACE) does not exist on this host`);
    await vswitch.addPort({
      bridge: STACK_BRIDGE_NAME,
      name: m.interface,
      ofportRequest: m.port,
      externalIds: { [ExtId.role]: StackRole.mirrorSink },
    });
    const got = await vswitch.waitOfport(m.interface, timeout);
    if (got !== m.port)
      throw new Error(
        `stack mirror interface ${m.interface} got OpenFlow port ${got} on ${STACK_BRIDGE_NAME}, not ${m.port} (STACK_MIRROR_INTERFACE): another port has that number`,
      );
    return m.interface;
  };

  const once = async (): Promise<StackFacts | undefined> => {
    if (settings === undefined) {
      await removeOwnedBridge(STACK_BRIDGE_NAME, StackRole.bridge);
      await removeOwnedBridge(LOOPBACK_BRIDGE_NAME, StackRole.loopbackBridge);
      await removeNetworkEnds([HostPortKind.stack, HostPortKind.loopback]);
      return undefined;
    }
    for (const i of settings.interfaces) {
      if (!(await deps.linkExists(i.interface)))
        throw new Error(`stacking interface ${i.interface} (STACKING_INTERFACES) does not exist on this host`);
    }
    await ownedBridge(STACK_BRIDGE_NAME, StackRole.bridge, deps.controllers, identity.dpId);
    const interfaces: StackFacts['interfaces'][number][] = [];
    for (const i of settings.interfaces) {
      await vswitch.addPort({
        bridge: STACK_BRIDGE_NAME,
        name: i.interface,
        externalIds: { [ExtId.role]: StackRole.iface },
      });
      interfaces.push({ ...i, ofport: await vswitch.waitOfport(i.interface, timeout) });
    }
    const networks = state.allNetworks().filter((n) => linkable(n, deps.hostDatapath));
    const wanted = new Set(networks.map((n) => stackLinkNames(n.id).stack));
    const wantedLoops = new Set(
      settings.mirrorInterface === undefined ? [] : networks.map((n) => stackLinkNames(n.id).loop),
    );
    const ifaces = new Set(settings.interfaces.map((i) => i.interface));
    const sink = await ensureMirrorSink(settings.mirrorInterface);
    for (const p of (await vswitch.getBridge(STACK_BRIDGE_NAME))?.ports ?? []) {
      const role = p.externalIds[ExtId.role];
      if (
        (role === StackRole.link && !wanted.has(p.name)) ||
        (role === StackRole.iface && !ifaces.has(p.name)) ||
        (role === StackRole.mirrorSink && p.name !== sink)
      )
        await vswitch.deletePort(STACK_BRIDGE_NAME, p.name);
    }
    const links = new Map<string, { networkPort: number; stackPort: number }>();
    for (const n of networks) {
      const names = stackLinkNames(n.id);
      try {
        await vswitch.addPort({
          bridge: n.bridgeName,
          name: names.network,
          type: 'patch',
          ofportRequest: STACK_LINK_OFPORT,
          options: { peer: names.stack },
          externalIds: { [ExtId.networkId]: n.id, [ExtId.hostPort]: HostPortKind.stack },
        });
        await vswitch.addPort({
          bridge: STACK_BRIDGE_NAME,
          name: names.stack,
          type: 'patch',
          options: { peer: names.network },
          externalIds: { [ExtId.networkId]: n.id, [ExtId.role]: StackRole.link },
        });
        links.set(n.id, {
          networkPort: await vswitch.waitOfport(names.network, timeout),
          stackPort: await vswitch.waitOfport(names.stack, timeout),
        });
      } catch (err) {
        log.warn({ network: n.id, err: errorMessage(err) }, 'could not link a network to the stack switch');
      }
    }
    const loopbacks = new Map<string, number>();
    if (settings.mirrorInterface === undefined) {
      await removeOwnedBridge(LOOPBACK_BRIDGE_NAME, StackRole.loopbackBridge);
      await removeNetworkEnds([HostPortKind.loopback]);
    } else {
      await ownedBridge(LOOPBACK_BRIDGE_NAME, StackRole.loopbackBridge, [], identity.dpId + 1n);
      for (const p of (await vswitch.getBridge(LOOPBACK_BRIDGE_NAME))?.ports ?? []) {
        if (p.externalIds[ExtId.role] === StackRole.loopback && !wantedLoops.has(p.name))
          await vswitch.deletePort(LOOPBACK_BRIDGE_NAME, p.name);
      }
      const loopPorts: number[] = [];
      for (const n of networks) {
        const names = stackLinkNames(n.id);
        try {
          await vswitch.addPort({
            bridge: n.bridgeName,
            name: names.loopNetwork,
            type: 'patch',
            ofportRequest: n.options.lbport,
            options: { peer: names.loop },
            externalIds: { [ExtId.networkId]: n.id, [ExtId.hostPort]: HostPortKind.loopback },
          });
          await vswitch.addPort({
            bridge: LOOPBACK_BRIDGE_NAME,
            name: names.loop,
            type: 'patch',
            options: { peer: names.loopNetwork },
            externalIds: { [ExtId.networkId]: n.id, [ExtId.role]: StackRole.loopback },
          });
          loopbacks.set(n.id, await vswitch.waitOfport(names.loopNetwork, timeout));
          loopPorts.push(await vswitch.waitOfport(names.loop, timeout));
        } catch (err) {
          log.warn({ network: n.id, err: errorMessage(err) }, 'could not give a network its stack-mirror loopback');
        }
      }
      const flows = loopbackFlows(loopPorts);
      if (flows !== lastFlows) {
        await replaceFlows(LOOPBACK_BRIDGE_NAME, flows);
        lastFlows = flows;
      }
    }
    return {
      dpName: identity.dpName,
      dpId: identity.dpId,
      priority1: settings.priority1,
      interfaces,
      links,
      loopbacks,
      mirror: settings.mirrorInterface,
    };
  };

  const ensure = oneAtATime(async (reason) => {
    try {
      if (reason === 'periodic check') lastFlows = undefined;
      const next = await once();
      trouble = undefined;
      const changed = factsKey(next) !== factsKey(current);
      current = next;
      if (changed) {
        log.info(
          { reason, links: next?.links.size ?? 0, interfaces: next?.interfaces.length ?? 0 },
          next === undefined ? 'stacking off' : 'stack switch ready',
        );
        deps.changed(`stack ${reason}`);
      }
    } catch (err) {
      const why = errorMessage(err);
      if (trouble !== why) log.error({ err: why, reason }, 'stack not reconciled');
      trouble = why;
    }
  });

  return { ensure, facts: () => current, problem: () => trouble };
}
