/**
 * What kind of thing pipework's HOSTIF names, as pipework decided it: an existing Linux bridge,
 * an existing OVS bridge, any other existing interface (physical: macvlan, or moved with
 * --direct-phys), or a name that creates a bridge (`br…` Linux, `ovs…` OVS) or a dummy
 * (`dummy…`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { ExtId } from '../driver/persist.js';
import type { VSwitch } from '../ovs/vswitch.js';
import type { HostIfRef } from './spec.js';

export type HostIfPlan =
  | { readonly kind: 'linux-bridge'; readonly name: string; readonly create: boolean }
  | {
      readonly kind: 'ovs-bridge';
      readonly name: string;
      readonly create: boolean;
      readonly userspace: boolean;
      readonly dovesnapNetwork: string | undefined;
    }
  | { readonly kind: 'physical'; readonly name: string }
  | { readonly kind: 'dummy'; readonly name: string };

const SYS = '/sys/class/net';

function readSys(name: string, file: string): string | undefined {
  try {
    return readFileSync(`${SYS}/${name}/${file}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The host interface with this MAC (`mac:HOSTMAC`); bridges and our own veths are not candidates. */
export function interfaceByMac(mac: string): string {
  const found = readdirSync(SYS).filter(
    (n) => readSys(n, 'address')?.toLowerCase() === mac && !existsSync(`${SYS}/${n}/bridge`),
  );
  if (found.length === 0)
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value "mac:${mac}" for the host interface: no interface on this host has MAC ${mac}`,
    );
  if (found.length > 1)
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value "mac:${mac}" for the host interface: ${found.join(', ')} all have MAC ${mac}`,
    );
  return found[0] ?? '';
}

export function interfaceMtu(name: string): number | undefined {
  const mtu = Number(readSys(name, 'mtu'));
  return Number.isInteger(mtu) && mtu > 0 ? mtu : undefined;
}

/** `vswitch` undefined: Open vSwitch is not reachable, so no name is an OVS bridge. */
export async function planHostIf(
  ref: HostIfRef,
  userspaceDefault: boolean,
  vswitch: Pick<VSwitch, 'getBridge'> | undefined,
): Promise<HostIfPlan> {
  const name = 'mac' in ref ? interfaceByMac(ref.mac) : ref.name;
  const exists = existsSync(`${SYS}/${name}`);
  if (exists && existsSync(`${SYS}/${name}/bridge`)) return { kind: 'linux-bridge', name, create: false };
  const ovs = await vswitch?.getBridge(name);
  if (ovs !== undefined) {
    const dovesnapNetwork = ovs.externalIds[ExtId.networkId];
    return { kind: 'ovs-bridge', name, create: false, userspace: ovs.datapathType === 'netdev', dovesnapNetwork };
  }
  if (exists) return { kind: 'physical', name };
  if (name.startsWith('br')) return { kind: 'linux-bridge', name, create: true };
  if (name.startsWith('ovs'))
    return { kind: 'ovs-bridge', name, create: true, userspace: userspaceDefault, dovesnapNetwork: undefined };
  if (name.startsWith('dummy')) return { kind: 'dummy', name };
  throw new DovesnapError(
    ErrorCode.BadOption,
    `invalid value ${JSON.stringify(name)} for the host interface: no such interface on this host, and only names starting with "br" (a Linux bridge), "ovs" (an Open vSwitch bridge) or "dummy" are created`,
  );
}
