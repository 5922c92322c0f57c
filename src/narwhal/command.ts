import { randomBytes } from 'node:crypto';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { isValidInterfaceName, parseIntInRange } from '../model/options.js';
import { deleteLink, randomMac, vethAddArgs } from '../net/links.js';
import type { EngineContainer } from '../engine/client.js';
import { parseLinkAddress } from './addresses.js';
import { collectLeftovers } from './collect.js';
import type { NarwhalHost } from './host.js';
import {
  applyLinkFilters,
  configureContainerSide,
  configureHostSide,
  ipv6ForwardingProblem,
  removeLinkFilters,
  routedVeth,
} from './link.js';
import { commandLinkName, isDriverLinkName } from './names.js';
import { MIN_IPV6_MTU, MIN_MTU } from './options.js';
import { DEFAULT_HOST_IPV4, DEFAULT_HOST_IPV6, type RoutedLink } from './spec.js';

/**
 * `dovesnap narwhal [OPTIONS] CONTAINER`: narwhal's command, for a container started with
 * `--net=none`. Builds the routed link (spec.ts) into the running container's namespace, or
 * nothing at all: every step made is undone, in reverse, if a later one fails. Run twice, it
 * fails before changing anything, because the interface exists.
 */

/** The flags as commander gives them (narwhal's long names). */
export interface NarwhalFlags {
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly forwarding?: boolean;
  readonly hostIpv4?: string;
  readonly hostIpv6?: string;
  readonly interface?: string;
  readonly hostInterface?: string;
  readonly mtu?: string;
  readonly paranoid?: boolean;
}

/** The flags checked, before anything is looked up. Pure. */
export interface CommandSpec {
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  readonly hostIpv4: string;
  readonly hostIpv6: string;
  readonly interface: string;
  readonly hostInterface: string | undefined;
  readonly mtu: number | undefined;
  readonly forwarding: boolean;
  readonly paranoid: boolean;
}

function badFlag(flag: string, value: string, why: string): DovesnapError {
  return new DovesnapError(ErrorCode.BadOption, `invalid value ${JSON.stringify(value)} for ${flag}: ${why}`);
}

function interfaceName(flag: string, value: string): string {
  if (!isValidInterfaceName(value))
    throw badFlag(flag, value, 'expected an interface name (1 to 15 letters, digits, _ . -)');
  return value;
}

export function commandSpec(flags: NarwhalFlags): CommandSpec {
  const ipv4 = flags.ipv4 === undefined ? undefined : parseLinkAddress(flags.ipv4, 4, '-4/--ipv4');
  const ipv6 = flags.ipv6 === undefined ? undefined : parseLinkAddress(flags.ipv6, 6, '-6/--ipv6');
  if (ipv4 === undefined && ipv6 === undefined)
    throw new DovesnapError(ErrorCode.BadOption, 'give the container an address: -4 IPV4 and/or -6 IPV6');
  const mtu = flags.mtu === undefined ? undefined : parseIntInRange(flags.mtu, '--mtu', MIN_MTU, 65535);
  if (mtu !== undefined && ipv6 !== undefined && mtu < MIN_IPV6_MTU)
    throw badFlag('--mtu', String(mtu), `IPv6 (-6) needs an MTU of at least ${MIN_IPV6_MTU}`);
  const hostInterface =
    flags.hostInterface === undefined ? undefined : interfaceName('--host-interface', flags.hostInterface);
  if (hostInterface !== undefined && isDriverLinkName(hostInterface)) {
    throw badFlag(
      '--host-interface',
      hostInterface,
      'names of the form nw + 13 hex digits belong to the narwhal network driver',
    );
  }
  const spec = {
    ipv4,
    ipv6,
    hostIpv4: flags.hostIpv4 === undefined ? DEFAULT_HOST_IPV4 : parseLinkAddress(flags.hostIpv4, 4, '--host-ipv4'),
    hostIpv6: flags.hostIpv6 === undefined ? DEFAULT_HOST_IPV6 : parseLinkAddress(flags.hostIpv6, 6, '--host-ipv6'),
    interface: interfaceName('--interface', flags.interface ?? 'eth0'),
    hostInterface,
    mtu,
    forwarding: flags.forwarding === true,
    paranoid: flags.paranoid === true,
  };
  if (spec.ipv4 !== undefined && spec.ipv4 === spec.hostIpv4)
    throw badFlag('-4/--ipv4', spec.ipv4, 'it is the host address (--host-ipv4)');
  if (spec.ipv6 !== undefined && spec.ipv6 === spec.hostIpv6)
    throw badFlag('-6/--ipv6', spec.ipv6, 'it is the host address (--host-ipv6)');
  return spec;
}

export interface CommandDeps {
  readonly host: NarwhalHost;
  inspectContainer(ref: string): Promise<EngineContainer | undefined>;
  readonly random?: (n: number) => Uint8Array;
  /** Warnings for the person at the terminal. */
  readonly warn: (message: string) => void;
}

export interface CommandResult {
  readonly container: string;
  readonly link: RoutedLink;
  readonly interface: string;
}

/** Undo steps, run last first; each one's failure is reported, not thrown, so that the rest still run. */
class Rollback {
  private readonly steps: { what: string; undo: () => Promise<void> }[] = [];

  push(what: string, undo: () => Promise<void>): void {
    this.steps.push({ what, undo });
  }

  async run(warn: (m: string) => void): Promise<void> {
    for (const s of this.steps.reverse())
      await s.undo().catch((err: unknown) => warn(`rollback: could not undo ${s.what}: ${errorMessage(err)}`));
  }
}

export async function runNarwhalCommand(
  containerRef: string,
  flags: NarwhalFlags,
  deps: CommandDeps,
): Promise<CommandResult> {
  const spec = commandSpec(flags);
  const { host } = deps;
  const c = await deps.inspectContainer(containerRef);
  if (c === undefined) throw new DovesnapError(ErrorCode.NotFound, `no such container: ${containerRef}`);
  const pid = c.State?.Pid ?? 0;
  if (c.State?.Running !== true || pid <= 0)
    throw new DovesnapError(ErrorCode.NotFound, `container ${containerRef} is not running`);
  const mode = c.HostConfig?.NetworkMode ?? '';
  if (mode === 'host')
    throw new DovesnapError(
      ErrorCode.BadOption,
      `container ${containerRef} uses the host's network (--net=host): narwhal would configure the host itself; start it with --net=none`,
    );
  if (mode !== 'none')
    deps.warn(`container ${containerRef} has network mode ${JSON.stringify(mode)}; narwhal is meant for --net=none`);
  const netns = `/proc/${pid}/ns/net`;
  const hostIf = spec.hostInterface ?? commandLinkName(c.Id);

  // Rules left by containers that are gone (their links went with them).
  await collectLeftovers(host, {});

  if (host.linkExists(hostIf)) {
    throw new DovesnapError(
      ErrorCode.Conflict,
      `interface ${hostIf} already exists on the host (narwhal has already run for this container?); to start again: ip link del ${hostIf}`,
    );
  }
  const inside = await host.ip(['-json', 'link', 'show'], netns);
  if (
    (JSON.parse(inside.trim() === '' ? '[]' : inside) as { ifname?: string }[]).some((l) => l.ifname === spec.interface)
  ) {
    throw new DovesnapError(
      ErrorCode.Conflict,
      `container ${containerRef} already has an interface ${spec.interface} (narwhal has already run for it?); choose another with --interface`,
    );
  }

  const random = deps.random ?? ((n: number) => randomBytes(n));
  const link: RoutedLink = {
    hostIf,
    hostMac: randomMac(random),
    containerMac: randomMac(random),
    ipv4: spec.ipv4,
    ipv6: spec.ipv6,
    hostIpv4: spec.hostIpv4,
    hostIpv6: spec.hostIpv6,
    mtu: spec.mtu,
    forwarding: spec.forwarding,
    paranoid: spec.paranoid,
  };
  const rollback = new Rollback();
  try {
    // Both ends at once, the container's straight into its namespace: nothing of it is ever
    // on the host to be left behind, and an interface of that name there makes this fail whole.
    await host.ip(vethAddArgs(routedVeth(link, spec.interface, pid)));
    rollback.push(`the link ${hostIf}`, () => deleteLink(hostIf, host));
    rollback.push(`the filters of ${hostIf}`, () => removeLinkFilters(host, hostIf, true));
    // Filters before either end is up: the link carries nothing they have not seen.
    await applyLinkFilters(host, link, true);
    await configureHostSide(host, link);
    await configureContainerSide(host, link, netns, spec.interface, {
      defaultRoutes: true,
      subnets: { ipv4: undefined, ipv6: undefined },
    });
  } catch (err) {
    await rollback.run(deps.warn);
    throw new DovesnapError(
      isDovesnapErrorCode(err) ?? ErrorCode.HostCommand,
      `${errorMessage(err)} (everything narwhal had made for ${containerRef} was removed again)`,
      { cause: err },
    );
  }
  const v6problem = link.forwarding && link.ipv6 !== undefined ? ipv6ForwardingProblem(host) : undefined;
  if (v6problem !== undefined) deps.warn(`--forwarding: ${v6problem}`);
  return { container: c.Id, link, interface: spec.interface };
}

function isDovesnapErrorCode(err: unknown): ErrorCode | undefined {
  return err instanceof DovesnapError ? err.code : undefined;
}
