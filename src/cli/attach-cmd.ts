/**
 * `dovesnap attach` (pipework's command line) and `dovesnap detach`. They run in the caller's
 * process, as root, like pipework; the daemon removes what they made when the container dies
 * and re-applies `--persist` attachments when it starts again (src/attach/watch.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { DockerEngine } from '../engine/client.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { runInNetns } from '../net/exec.js';
import { detectDatapath } from '../driver/host.js';
import { attach, NIC_RETURN_WAIT_MS, removeResources } from '../attach/apply.js';
import { AttachmentStore, type AttachGuest, type AttachmentRecord } from '../attach/record.js';
import { openVSwitch, type VSwitch } from '../ovs/vswitch.js';
import { attachPaths, ovsdbSocket } from '../config/environment.js';
import { netnsOf, resolveGuest } from '../attach/guest.js';
import { DEFAULT_CONTAINER_IF, parseAttachArgs, type AttachSpec } from '../attach/spec.js';
import { DhcpSupervisor } from '../dhcp/supervisor.js';
import { dhclientPid, stopDhclient } from '../attach/dhclient.js';
import { dhcpcdRunning, stopDhcpcd } from '../attach/dhcpcd.js';
import { silentLogger } from '../util/log.js';

export const ATTACH_HELP = `Usage (pipework's command line; "pipework" runs the same):
  dovesnap attach [--persist] HOSTIF [-i CIF] [-l LOCALIF] [-a 4|6] GUEST IP/LEN[@GW] [MAC][@VLAN]
  dovesnap attach [--persist] HOSTIF [-i CIF] [-l LOCALIF] GUEST dhcp[:OPTS] [MAC][@VLAN]
  dovesnap attach [--persist] --direct-phys PHYSIF [-i CIF] GUEST IP/LEN[@GW] [MAC][@VLAN]
  dovesnap attach route|rule|tc GUEST ARGS...
  dovesnap attach --wait [-i CIF]
  dovesnap detach GUEST [-i CIF]

Gives a running container (GUEST: a Docker container name or ID, or a process ID) one more
network interface, CIF (default eth1), connected to HOSTIF:
  an existing Linux bridge        a veth pair; the host end (LOCALIF, default v<CIF>pl<PID>) joins it
  an existing Open vSwitch bridge the same, as an OVS port; on a dovesnap network's bridge the port
                                  gets a FAUCET entry like the network's other ports
  any other existing interface    a macvlan of it (bridge mode) moves into the container;
                                  with --direct-phys the interface itself moves in
  a missing name br...            a Linux bridge of that name is created (removed again with its
                                  last attachment)
  a missing name ovs...           an Open vSwitch bridge is created (same)
  a missing name dummy...         a dummy interface is made in the container
  mac:HOSTMAC                     the host interface with that MAC
The interface's MTU is HOSTIF's.

Addresses:
  IP/LEN          e.g. 192.168.1.2/24 or 2001:db8::2/64 (-a 6 is implied by an IPv6 address)
  IP/LEN@GW       and a default route via GW (a host route to GW is added if it is off-link)
  0/0             no address: the interface only comes up
  dhcp[:OPTS]     busybox udhcpc from the host, in the container's network namespace only,
                  sending the container's name as host name; it renews the lease until detach
                  or the container's end (OPTS: more udhcpc options, e.g. "dhcp:-O 42")
  udhcpc[:OPTS]   the same; udhcpc-f[:OPTS] stays in the foreground until the client exits
  dhclient[-f][:OPTS]  ISC dhclient (if installed), with dovesnap's own configuration, script
                  and lease file, so that it touches nothing on the host; -f stays in the foreground
  dhcpcd[-f][:OPTS]  dhcpcd (if installed), in a mount namespace of its own where its state
                  directories are the attachment's, and with no hooks, so that it touches nothing
                  on the host; -f stays in the foreground
MAC:
  02:42:ac:11:00:99   the container interface's MAC
  U:STRING            a MAC that is the same for the same string (02: and MD5 bytes, as pipework)
  @VLAN               on an OVS bridge the port's VLAN tag (on a dovesnap bridge: its FAUCET
                      native VLAN); on a physical interface the HOSTIF.VLAN sub-interface

Options:
  -i CIF          the interface's name in the container (default ${DEFAULT_CONTAINER_IF})
  -l LOCALIF      the host end's name (bridges only)
  -a 4|6          the address family (checked against the address)
  --direct-phys   move the physical interface itself into the container (detach moves it back;
                  if the container dies, the daemon renames it back when the kernel returns it)
  --persist       re-apply this attachment each time the container starts again
  route GUEST ARGS  run "ip route ARGS" in GUEST's network namespace (also rule: ip rule, tc: tc)
  --wait [-i CIF]   wait until CIF exists here and has carrier (run inside a container)

Everything attach makes is recorded (${attachPaths().dir}) and removed by
"dovesnap detach GUEST [-i CIF]", or by the dovesnap daemon when the container dies: no veth, OVS
port, bridge or DHCP client outlives it. Running the same attach again changes nothing. A failed
attach removes whatever it had made.
`;

function store(): AttachmentStore {
  return new AttachmentStore(attachPaths().dir);
}

/**
 * Runs `fn` with a connection to Open vSwitch's database (where ovs-vsctl finds it), closed
 * afterwards; with none where Open vSwitch is not running (then no name is an OVS bridge).
 */
async function withOvsdb<T>(fn: (vswitch: VSwitch | undefined) => Promise<T>): Promise<T> {
  const vswitch = await openVSwitch(ovsdbSocket()).catch(() => undefined);
  try {
    return await fn(vswitch);
  } finally {
    vswitch?.close();
  }
}

async function waitForCarrier(cif: string): Promise<void> {
  for (;;) {
    try {
      if (readFileSync(`/sys/class/net/${cif}/carrier`, 'utf8').trim() === '1') return;
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function describe(spec: AttachSpec): string {
  const a = spec.address;
  return a.kind === 'static'
    ? `${a.address}/${a.prefixLength}${a.gateway === undefined ? '' : ` via ${a.gateway}`}`
    : a.kind === 'none'
      ? 'no address'
      : a.method;
}

export async function runAttach(argv: readonly string[]): Promise<void> {
  const cmd = parseAttachArgs(argv);
  if (cmd.kind === 'help') {
    process.stdout.write(ATTACH_HELP);
    return;
  }
  if (cmd.kind === 'wait') {
    await waitForCarrier(cmd.containerIf);
    return;
  }
  const engine = new DockerEngine();
  if (cmd.kind === 'netns-tool') {
    const guest = await resolveGuest(engine, cmd.guest);
    const [file, pre] = cmd.tool === 'tc' ? ['tc', []] : ['ip', [cmd.tool]];
    const out = await runInNetns(netnsOf(guest), file, [...pre, ...cmd.args]);
    process.stdout.write(out.stdout);
    return;
  }
  const paths = attachPaths();
  const deps = { engine, store: store(), dhcpDir: paths.dhcpDir, userspace: detectDatapath() === 'netdev' };
  const outcome = await withOvsdb((vswitch) => attach({ ...deps, vswitch }, cmd.spec, argv));
  const r = outcome.record;
  const where = `${r.guest.name} ${cmd.spec.containerIf}`;
  if (outcome.already) {
    process.stdout.write(`${where}: already attached to ${r.hostIf} (${describe(r.spec)}); nothing changed\n`);
    return;
  }
  const a = cmd.spec.address;
  const lease =
    a.kind === 'dhcp'
      ? outcome.leased === undefined
        ? ', no lease yet (the client keeps asking)'
        : `, leased ${outcome.leased}`
      : '';
  process.stdout.write(
    `${where}: attached to ${r.hostIf} (${r.hostKind.replace('-', ' ')}), ${describe(cmd.spec)}${lease}\n`,
  );
  if (a.kind === 'dhcp' && a.foreground) {
    if (a.client === 'dhclient') await followDhclient(paths.dhcpDir, r.key, netnsOf(r.guest), cmd.spec.containerIf);
    else if (a.client === 'dhcpcd') await followDhcpcd(paths.dhcpDir, r.key);
    else await followClient(paths.dhcpDir, r.key);
  }
}

/** `dhclient-f`: stay until the client exits; an interrupt releases the lease and stops it. */
async function followDhclient(dir: string, key: string, netns: string, ifname: string): Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = (): void => {
    stopping ??= stopDhclient(dir, key, netns, ifname, true);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (dhclientPid(dir, key) !== undefined) await new Promise((r) => setTimeout(r, 500));
  await stopping;
}

/** `dhcpcd-f`: stay until the client exits; an interrupt releases the lease and stops it. */
async function followDhcpcd(dir: string, key: string): Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = (): void => {
    stopping ??= stopDhcpcd(dir, key);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (dhcpcdRunning(dir, key)) await new Promise((r) => setTimeout(r, 500));
  await stopping;
}

/** `udhcpc-f`: stay until the client exits; an interrupt stops it (it releases its lease). */
async function followClient(dir: string, key: string): Promise<void> {
  const supervisor = new DhcpSupervisor({ dir, logger: silentLogger(), checkMs: 3_600_000 });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void supervisor.stop(key);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (supervisor.pidOf(key) !== undefined) await new Promise((r) => setTimeout(r, 500));
  } finally {
    supervisor.close();
  }
}

export async function runDetach(argv: readonly string[]): Promise<void> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'Usage: dovesnap detach GUEST [-i CIF]\n\nRemoves what "dovesnap attach" made for GUEST (all its attachments, or only CIF\'s).\n',
    );
    return;
  }
  const [guestArg = '', ...rest] = argv;
  let cif: string | undefined;
  if (rest.length === 2 && rest[0] === '-i') cif = rest[1];
  else if (rest.length > 0)
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value ${JSON.stringify(rest.join(' '))} for dovesnap detach: expected "GUEST [-i CIF]"`,
    );
  const s = store();
  const guest = await resolveGuest(new DockerEngine(), guestArg).catch(() => undefined);
  const records = (
    guest === undefined
      ? s.of(guestArg)
      : s
          .all()
          .filter((r) =>
            guest.containerId !== undefined ? r.guest.containerId === guest.containerId : r.guest.pid === guest.pid,
          )
  ).filter((r) => cif === undefined || r.spec.containerIf === cif);
  if (records.length === 0)
    throw new DovesnapError(
      ErrorCode.NotFound,
      `nothing attached to ${guestArg}${cif === undefined ? '' : ` as ${cif}`} by dovesnap attach`,
    );
  const problems: string[] = [];
  await withOvsdb(async (vswitch) => {
    for (const r of records) await detachOne(s, r, guest, vswitch, problems);
  });
  if (problems.length > 0)
    throw new DovesnapError(
      ErrorCode.HostCommand,
      `detached, but some of it could not be removed: ${problems.join('; ')}`,
    );
}

async function detachOne(
  s: AttachmentStore,
  r: AttachmentRecord,
  guest: AttachGuest | undefined,
  vswitch: VSwitch | undefined,
  problems: string[],
): Promise<void> {
  const gone = guest === undefined || guest.pid !== r.guest.pid || !existsSync(netnsOf(r.guest));
  const removal = await removeResources({ dhcpDir: attachPaths().dhcpDir, store: s, vswitch }, r, {
    guestGone: gone,
    nicWaitMs: NIC_RETURN_WAIT_MS,
  });
  problems.push(...removal.problems);
  if (removal.pending.length > 0) {
    // Kept (not to be made again) for the daemon, which renames the NIC back when it returns.
    s.put({ ...r, spec: { ...r.spec, persist: false }, resources: removal.pending });
    problems.push(
      `${r.hostIf} is not back on the host from ${r.guest.name}'s network namespace yet: the dovesnap daemon renames it back to ${r.hostIf} when the kernel returns it`,
    );
  } else {
    s.remove(r.key);
  }
  process.stdout.write(`${r.guest.name} ${r.spec.containerIf}: detached from ${r.hostIf}\n`);
}
