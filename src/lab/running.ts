import type { LabDocker } from './docker.js';
import { HASH_LABEL, LAB_LABEL, NETWORK_LABEL, NODE_LABEL } from './identity.js';
import { nodeIsReady } from './node-up.js';
import type { RunningLab, RunningObject } from './plan.js';
import { readLabState } from './state.js';

/**
 * What of a lab runs now: the containers and networks Docker has with the lab's label, and
 * those the state file recorded that still exist (a label is authoritative; the state file
 * covers an object whose labels could not be read, e.g. one made by an older version).
 */
export async function readRunning(docker: LabDocker, lab: string): Promise<RunningLab> {
  const networks = new Map<string, RunningObject>();
  const nodes = new Map<string, RunningObject>();
  for (const n of await docker.networksLabelled(`${LAB_LABEL}=${lab}`)) {
    const labels = n.Labels ?? {};
    networks.set(labels[NETWORK_LABEL] ?? `?${n.Id.slice(0, 12)}`, {
      id: n.Id,
      dockerName: n.Name,
      hash: labels[HASH_LABEL] ?? '',
    });
  }
  for (const c of await docker.containersLabelled(`${LAB_LABEL}=${lab}`)) {
    const info = await docker.inspectContainer(c.Id);
    if (info === undefined) continue;
    const labels = info.Config.Labels ?? {};
    const running = info.State.Running;
    const ready = running && info.State.Pid > 0 ? await nodeIsReady(info.State.Pid) : false;
    nodes.set(labels[NODE_LABEL] ?? `?${c.Id.slice(0, 12)}`, {
      id: c.Id,
      dockerName: info.Name.replace(/^\//, ''),
      hash: labels[HASH_LABEL] ?? '',
      running,
      ready,
    });
  }
  const state = await readLabState(lab);
  if (state !== undefined) {
    for (const [key, o] of Object.entries(state.networks)) {
      if (networks.has(key) || [...networks.values()].some((n) => n.id === o.id)) continue;
      if ((await docker.inspectNetwork(o.id)) !== undefined)
        networks.set(key, { id: o.id, dockerName: o.dockerName, hash: o.hash });
    }
    for (const [key, o] of Object.entries(state.nodes)) {
      if (nodes.has(key) || [...nodes.values()].some((n) => n.id === o.id)) continue;
      const info = await docker.inspectContainer(o.id);
      if (info !== undefined)
        nodes.set(key, { id: o.id, dockerName: o.dockerName, hash: o.hash, running: info.State.Running, ready: false });
    }
  }
  return { networks, nodes };
}
