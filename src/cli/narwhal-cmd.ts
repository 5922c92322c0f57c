import type { Command } from 'commander';
import { DockerEngine } from '../engine/client.js';
import { runNarwhalCommand, type CommandResult, type NarwhalFlags } from '../narwhal/command.js';
import { realNarwhalHost } from '../narwhal/host.js';
import { DEFAULT_HOST_IPV4, DEFAULT_HOST_IPV6 } from '../narwhal/spec.js';

/**
 * `dovesnap narwhal`: narwhal's command line (seed: narwhal.sh), on dovesnap's host library.
 * The work is in src/narwhal/command.ts; this module only declares the flags and prints.
 */

interface Flags extends NarwhalFlags {
  readonly trace?: boolean;
  readonly tempInterface?: string;
  readonly tempNamespace?: string;
}

export function describeResult(r: CommandResult, containerRef: string): string {
  const l = r.link;
  const container = [l.ipv4 === undefined ? [] : [`${l.ipv4}/32`], l.ipv6 === undefined ? [] : [`${l.ipv6}/128`]]
    .flat()
    .join(', ');
  const via = [l.ipv4 === undefined ? [] : [l.hostIpv4], l.ipv6 === undefined ? [] : [l.hostIpv6]].flat().join(' and ');
  const hostSide = [
    l.ipv4 === undefined ? [] : [`${l.hostIpv4} peer ${l.ipv4}`],
    l.ipv6 === undefined ? [] : [`${l.hostIpv6} peer ${l.ipv6}`],
  ]
    .flat()
    .join(', ');
  return [
    `${l.hostIf} (host) <-> ${r.interface} in container ${containerRef} (${r.container.slice(0, 12)}), ARP off on both ends`,
    `  container: ${container}, default via ${via}`,
    `  host:      ${hostSide}`,
    `  forwarding ${l.forwarding ? 'on: routed to and from other interfaces' : 'off: the container reaches the host only'}; paranoid ${l.paranoid ? 'on' : 'off'}`,
    `  undo: ip link del ${l.hostIf} (or stop the container)`,
  ].join('\n');
}

export async function runNarwhal(container: string, flags: Flags): Promise<void> {
  const trace =
    flags.trace === true ? (line: string) => process.stderr.write(`+ ${line.replace(/\n/g, '\n  ')}\n`) : undefined;
  if (flags.tempInterface !== undefined || flags.tempNamespace !== undefined) {
    process.stderr.write(
      'dovesnap narwhal: --temp-interface and --temp-namespace are not needed (the container end is made inside the container) and are ignored\n',
    );
  }
  const engine = new DockerEngine();
  const result = await runNarwhalCommand(container, flags, {
    host: realNarwhalHost(trace === undefined ? {} : { trace }),
    inspectContainer: (ref) => engine.inspectContainer(ref),
    warn: (m) => process.stderr.write(`dovesnap narwhal: ${m}\n`),
  });
  process.stdout.write(`${describeResult(result, container)}\n`);
}

export function addNarwhalCommand(program: Command): void {
  program
    .command('narwhal')
    .summary('a routed layer-3 link, no shared layer 2, for a container started with --net=none (narwhal)')
    .description(
      'give a container started with --net=none a routed link: a veth pair with ARP off on both ends, the host end holding ' +
        `${DEFAULT_HOST_IPV4} and ${DEFAULT_HOST_IPV6} with the container's addresses as peers, /32 and /128 routes, permanent neighbours, ` +
        'and default routes via the host addresses in the container; no layer 2 shared with any other container. ' +
        'Everything is undone if a step fails; run twice, it fails because the interface exists.',
    )
    .argument('<container>', 'name or ID of a running container (started with --net=none)')
    .option('-4, --ipv4 <ip>', 'container IPv4 address (a single address: the container gets it as /32)')
    .option('-6, --ipv6 <ip>', 'container IPv6 address (as /128); without it IPv6 is disabled on both ends')
    .option(
      '--forwarding',
      "let the host route the container's packets to and from its other interfaces (IPv4 forwarding, IPv6 force_forwarding of the host end, and DOCKER-USER accepts); without it the container reaches the host only",
    )
    .option('--host-ipv4 <ip>', "host IPv4 address on the link, the container's IPv4 next hop", DEFAULT_HOST_IPV4)
    .option('--host-ipv6 <ip>', "host IPv6 address on the link, the container's IPv6 next hop", DEFAULT_HOST_IPV6)
    .option('--interface <if>', 'container interface name', 'eth0')
    .option('--host-interface <if>', "host interface name (default: nw- and the container's 12-digit ID)")
    .option('--mtu <n>', "MTU of both ends (default: the kernel's, 1500)")
    .option(
      '--paranoid',
      "on the host end's ingress (nftables netdev), drop frames whose source MAC or IP is not the container's, ARP, and router advertisements and redirects; counters in `nft list table netdev narwhal`",
    )
    .option('--trace', 'print every command before it runs')
    .option('--temp-interface <if>', 'accepted for compatibility with narwhal; not needed')
    .option('--temp-namespace <ns>', 'accepted for compatibility with narwhal; not needed')
    .addHelpText(
      'after',
      [
        '',
        'Example:',
        '  docker run -d --net=none --name web dovesnap-busybox sleep 1h',
        '  dovesnap narwhal -4 192.0.2.10 -6 2001:db8::10 --forwarding --paranoid web',
        '',
        'Undo: ip link del nw-<container ID> (or stop the container). The host routes to the container only;',
        'with --forwarding it routes for it too (host-wide forwarding of other interfaces stays yours to set).',
      ].join('\n'),
    )
    .action(runNarwhal);
}
