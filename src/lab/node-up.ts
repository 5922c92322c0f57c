import { access, mkdir, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import type { LabDocker, LabContainerCreate } from './docker.js';
import { INTERFACES_LABEL, interfacesLabel, labLabels } from './identity.js';
import type { Lab, LabNetwork, LabNode } from './model.js';
import { addAddress, addRoute, renameInterfaces, setMac, waitCarrier } from './node-net.js';
import { requestDhcpRestart } from '../dhcp/restart-request.js';
import { applyMacPrefix, parseContainerLabels } from '../model/labels.js';

/**
 * Making one node: its container is created on its first network and connected to the rest,
 * started behind a gate (a shell loop that waits for a file), given its declared interface
 * names, addresses, routes and files, and only then let through the gate to its own workload,
 * after which its `exec:` lines run. A step that fails names the node and the step, and the
 * container is removed: a node is made whole or not at all.
 */

/** The gate's file: /dev/shm is a fresh tmpfs in each container start, so a restarted node waits again. */
export const GATE_FILE = '/dev/shm/.dovesnap-lab-go';
const CARRIER_WAIT_MS = 15_000;
const GATE_SCRIPT = `while [ ! -e ${GATE_FILE} ]; do sleep 0.1 2>/dev/null || sleep 1; done; exec "$@"`;

export class NodeStepError extends DovesnapError {
  constructor(
    readonly node: string,
    readonly step: string,
    cause: unknown,
  ) {
    super(ErrorCode.HostCommand, `node ${node}: ${step}: ${errorMessage(cause)}`, { cause });
    this.name = 'NodeStepError';
  }
}

export interface NodeBuild {
  readonly lab: Lab;
  readonly node: LabNode;
  /** Image reference to run (a recipe's tag, or the file's image). */
  readonly image: string;
  /** The workload: the node's `cmd`, else the image's entry point and command. */
  readonly workload: readonly string[];
  readonly hash: string;
  /** Docker IDs of the lab's networks by key. */
  readonly networkIds: ReadonlyMap<string, string>;
  readonly progress: (step: string) => void;
}

async function step<T>(node: string, name: string, progress: (s: string) => void, fn: () => Promise<T>): Promise<T> {
  progress(name);
  try {
    return await fn();
  } catch (err) {
    if (err instanceof NodeStepError) throw err;
    throw new NodeStepError(node, name, err);
  }
}

function networkOf(lab: Lab, key: string): LabNetwork {
  const net = lab.networks.find((n) => n.key === key);
  if (net === undefined) throw new DovesnapError(ErrorCode.Internal, `interface on unknown network ${key}`);
  return net;
}

/** Docker assigns the address on a network with a pool; on the others the lab sets it. */
function dockerAssigns(net: LabNetwork): boolean {
  return net.subnet !== undefined;
}

export function containerSpec(b: NodeBuild): LabContainerCreate {
  const { lab, node } = b;
  const first = node.interfaces[0];
  const firstNet = first === undefined ? undefined : networkOf(lab, first.network);
  return {
    Hostname: node.key,
    Image: b.image,
    Entrypoint: ['/bin/sh', '-c', GATE_SCRIPT, 'dovesnap-lab-gate'],
    Cmd: [...b.workload],
    Env: Object.entries(node.env).map(([k, v]) => `${k}=${v}`),
    // The interface → network map, for status: a declared mac: is not the MAC Docker reports.
    Labels: {
      ...node.labels,
      ...labLabels(lab.name, 'node', node.key, b.hash, node.kind),
      [INTERFACES_LABEL]: interfacesLabel(node),
    },
    HostConfig: {
      // A node on no network at all still gets none of Docker's own.
      NetworkMode: firstNet?.dockerName ?? 'none',
      CapAdd: [...node.capAdd],
      Sysctls: { ...node.sysctls },
      Binds: [...node.binds],
    },
    NetworkingConfig: {
      EndpointsConfig:
        first === undefined || firstNet === undefined
          ? {}
          : {
              [firstNet.dockerName]:
                first.address !== undefined && dockerAssigns(firstNet)
                  ? { IPAMConfig: { IPv4Address: first.address.split('/')[0] ?? '' } }
                  : {},
            },
    },
  };
}

async function waitForPid(docker: LabDocker, id: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const c = await docker.inspectContainer(id);
    if (c === undefined) throw new DovesnapError(ErrorCode.NotFound, 'the container is gone');
    if (c.State.Running && c.State.Pid > 0) return c.State.Pid;
    if (!c.State.Running && c.State.Status === 'exited')
      throw new DovesnapError(
        ErrorCode.HostCommand,
        `the container exited (code ${c.State.ExitCode ?? '?'}); does its image have /bin/sh?`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new DovesnapError(ErrorCode.Timeout, 'the container did not start within 10 s');
}

/**
 * Why the node's container is not running its workload (it exited, or is gone), with the last
 * lines it wrote; undefined while it runs. The container is removed when the node fails, so
 * its output goes into the message.
 */
export async function workloadProblem(docker: LabDocker, id: string): Promise<string | undefined> {
  const c = await docker.inspectContainer(id);
  if (c === undefined) return 'the container is gone';
  if (c.State.Running) return undefined;
  const out = (await docker.logs(id, 5))
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .slice(-3)
    .join(' | ');
  return `its command exited at once (code ${c.State.ExitCode ?? '?'})${out === '' ? '' : `: ${out}`}; a node's command must keep running`;
}

/** Writes a file into the running container through its root as the host sees it. */
async function placeFile(pid: number, path: string, content: string, mode: number): Promise<void> {
  const target = join(`/proc/${pid}/root`, path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, content);
  await chmod(target, mode);
}

export async function nodeIsReady(pid: number): Promise<boolean> {
  return access(join(`/proc/${pid}/root`, GATE_FILE)).then(
    () => true,
    () => false,
  );
}

/** The MAC a `mac_prefix` label of the node gives its interface on `net`, if any. */
function prefixedMac(node: LabNode, net: LabNetwork, mac: string): string[] {
  try {
    const prefix = parseContainerLabels(node.labels, net.dockerName).macPrefix;
    return prefix === undefined ? [] : [applyMacPrefix(mac, prefix)];
  } catch {
    // A label the daemon refuses keeps the port closed; the status says why.
    return [];
  }
}

/** Makes the node; returns its container ID. */
export async function createNode(docker: LabDocker, b: NodeBuild): Promise<string> {
  const { lab, node, progress } = b;
  const id = await step(node.key, 'create the container', progress, () =>
    docker.createContainer(node.containerName, containerSpec(b)),
  );
  try {
    for (const iface of node.interfaces.slice(1)) {
      const net = networkOf(lab, iface.network);
      const netId = b.networkIds.get(net.key) ?? net.dockerName;
      await step(node.key, `connect ${iface.name} to ${net.dockerName}`, progress, () =>
        docker.connect(
          netId,
          id,
          iface.address !== undefined && dockerAssigns(net)
            ? { IPAMConfig: { IPv4Address: iface.address.split('/')[0] ?? '' } }
            : {},
        ),
      );
    }
    await step(node.key, 'start the container', progress, () => docker.start(id));
    const pid = await step(node.key, 'wait for the container', progress, () => waitForPid(docker, id));
    const info = await docker.inspectContainer(id);
    const endpoints = info?.NetworkSettings.Networks ?? {};
    const wanted = node.interfaces.map((iface) => {
      const net = networkOf(lab, iface.network);
      const mac = endpoints[net.dockerName]?.MacAddress ?? '';
      if (mac === '')
        throw new NodeStepError(
          node.key,
          'name the interfaces',
          new Error(`Docker reports no MAC for ${net.dockerName}`),
        );
      return { name: iface.name, macs: [mac, ...prefixedMac(node, net, mac)] };
    });
    await step(node.key, `name the interfaces ${wanted.map((w) => w.name).join(', ')}`, progress, () =>
      renameInterfaces(pid, wanted),
    );
    // The daemon's DHCP client of a renamed interface would notice within seconds; asked, at once.
    for (const iface of node.interfaces) {
      const net = networkOf(lab, iface.network);
      const endpointId = endpoints[net.dockerName]?.EndpointID;
      if (net.options['ovs.bridge.dhcp'] === 'true' && endpointId !== undefined && endpointId !== '') {
        await step(node.key, `restart ${iface.name}'s DHCP client`, progress, async () =>
          requestDhcpRestart(endpointId),
        );
      }
    }
    for (const iface of node.interfaces) {
      if (iface.mac !== undefined)
        await step(node.key, `set ${iface.name}'s MAC`, progress, () => setMac(pid, iface.name, iface.mac ?? ''));
      const net = networkOf(lab, iface.network);
      if (iface.address !== undefined && !dockerAssigns(net))
        await step(node.key, `address ${iface.name}`, progress, () => addAddress(pid, iface.name, iface.address ?? ''));
    }
    for (const r of node.routes) await step(node.key, `route ${r.dst} via ${r.via}`, progress, () => addRoute(pid, r));
    if (node.interfaces.length > 0) {
      const down = await step(node.key, 'wait for carrier', progress, () =>
        waitCarrier(
          pid,
          node.interfaces.map((i) => i.name),
          CARRIER_WAIT_MS,
        ),
      );
      // Not fatal: a port FAUCET keeps closed (dovesnap status says why) is the lab's to look at.
      if (down.length > 0)
        progress(
          `${down.join(', ')} still without carrier after ${CARRIER_WAIT_MS / 1000} s (see dovesnap status); starting anyway`,
        );
    }
    for (const f of node.files)
      await step(node.key, `place ${f.path}`, progress, () => placeFile(pid, f.path, f.content, f.mode));
    await step(node.key, 'start the workload', progress, () => placeFile(pid, GATE_FILE, '', 0o644));
    for (const [i, line] of node.exec.entries()) {
      // exec into a container whose command has gone says only "not running".
      const gone = i === 0 ? await workloadProblem(docker, id) : undefined;
      if (gone !== undefined) throw new NodeStepError(node.key, 'start the workload', new Error(gone));
      await step(node.key, `exec #${i + 1} (${line})`, progress, async () => {
        const r = await docker.exec(id, ['/bin/sh', '-c', line], 120_000);
        if (r.exitCode !== 0)
          throw new Error(`exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      });
    }
    const gone = await workloadProblem(docker, id);
    if (gone !== undefined) throw new NodeStepError(node.key, 'start the workload', new Error(gone));
    return id;
  } catch (err) {
    await docker.removeContainer(id).catch(() => undefined);
    throw err;
  }
}
