import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { syncLabAcls } from './faucet-acls.js';
import type { Lab, LabImageRecipe, LabNetwork, LabNode } from './model.js';
import { createNode, NodeStepError, workloadProblem } from './node-up.js';
import { aclChanges, type DesiredHashes, type LabPlan, type PlannedObject } from './plan.js';
import type { Progress } from './progress.js';
import { emptyLabState, readLabState, writeLabState, type LabObjectState, type LabState } from './state.js';
import { imageOf, type LabContext } from './context.js';
import type { LabNetworkCreate } from './docker.js';
import { labLabels } from './identity.js';

/**
 * Carrying a plan out, in the order that keeps the host consistent at every step: the images
 * and workloads of the nodes to make (so that nothing is taken down for a node that cannot be
 * made), removals (containers before the networks they are on), the lab's ACLs (before any
 * network or port names them), networks, then nodes in `wait-for` order. The state file is
 * written after every object made or removed, so a `down` after a crash finds them all.
 */

export function networkCreateSpec(lab: Lab, net: LabNetwork, hash: string): LabNetworkCreate {
  return {
    Name: net.dockerName,
    Driver: 'dovesnap',
    Internal: net.internal,
    Options: { ...net.options },
    Labels: labLabels(lab.name, 'network', net.key, hash, net.kind),
    IPAM:
      net.subnet === undefined
        ? { Driver: 'null', Config: [] }
        : {
            Driver: 'default',
            Config: [{ Subnet: net.subnet, ...(net.gateway === undefined ? {} : { Gateway: net.gateway }) }],
          },
  };
}

export async function workloadOf(ctx: LabContext, node: LabNode, image: string): Promise<string[]> {
  const info = await ctx.docker.inspectImage(image);
  if (info === undefined)
    throw new DovesnapError(
      ErrorCode.NotFound,
      `node ${node.key}: image ${image} is not on this host (there is no registry: build or import it first)`,
    );
  if (node.cmd !== undefined) return [...node.cmd];
  const argv = [...(info.Config?.Entrypoint ?? []), ...(info.Config?.Cmd ?? [])];
  if (argv.length === 0)
    throw new DovesnapError(
      ErrorCode.BadOption,
      `node ${node.key}: image ${image} has no entry point or command; give the node a cmd:`,
    );
  return argv;
}

class StateRecorder {
  private readonly networks: Record<string, LabObjectState>;
  private readonly nodes: Record<string, LabObjectState>;

  private constructor(
    private readonly base: LabState,
    private readonly file: string,
  ) {
    this.networks = { ...base.networks };
    this.nodes = { ...base.nodes };
  }

  static async open(lab: Lab): Promise<StateRecorder> {
    return new StateRecorder((await readLabState(lab.name)) ?? emptyLabState(lab.name, lab.file), lab.file);
  }

  async set(kind: 'networks' | 'nodes', key: string, o: LabObjectState | undefined): Promise<void> {
    if (o === undefined) delete this[kind][key];
    else this[kind][key] = o;
    await writeLabState({ ...this.base, file: this.file, networks: { ...this.networks }, nodes: { ...this.nodes } });
  }
}

interface Prepared {
  readonly node: LabNode;
  readonly image: string;
  readonly workload: string[];
}

const made = (o: PlannedObject): boolean => o.change === 'create' || o.change === 'recreate';
const unmade = (o: PlannedObject): boolean => (o.change === 'recreate' || o.change === 'remove') && o.id !== undefined;

async function prepareNodes(ctx: LabContext, lab: Lab, plan: LabPlan): Promise<Prepared[]> {
  const byKey = new Map(lab.nodes.map((n) => [n.key, n]));
  const nodes = plan.nodes
    .filter(made)
    .map((o) => byKey.get(o.key))
    .filter((n): n is LabNode => n !== undefined);
  for (const recipe of new Set(nodes.map((n) => n.recipe).filter((r): r is LabImageRecipe => r !== undefined))) {
    await ctx.images.ensure(recipe, ctx.progress.of('image', recipe));
  }
  const out: Prepared[] = [];
  for (const node of nodes) {
    const image = imageOf(ctx, node);
    out.push({ node, image, workload: await workloadOf(ctx, node, image) });
  }
  return out;
}

async function removeStale(ctx: LabContext, plan: LabPlan, state: StateRecorder): Promise<void> {
  for (const o of plan.nodes.filter(unmade)) {
    ctx.progress.line(`node ${o.key}: remove ${o.dockerName} (${o.reason})`);
    await ctx.docker.removeContainer(o.id ?? '');
    await state.set('nodes', o.key, undefined);
  }
  for (const o of plan.networks.filter(unmade)) {
    ctx.progress.line(`network ${o.key}: remove ${o.dockerName} (${o.reason})`);
    await ctx.docker.removeNetwork(o.id ?? '');
    await state.set('networks', o.key, undefined);
  }
}

async function syncAcls(ctx: LabContext, lab: Lab, plan: LabPlan): Promise<void> {
  if (aclChanges(plan) === 0) return;
  const { added, changed, removed } = plan.acls;
  ctx.progress.line(
    `acls: ${[...added.map((a) => `add ${a}`), ...changed.map((a) => `change ${a}`), ...removed.map((a) => `remove ${a}`)].join(', ')}`,
  );
  const r = await syncLabAcls(lab.name, new Map(lab.acls.map((a) => [a.name, a.rules])));
  ctx.progress.line(
    `acls: FAUCET loaded the file (${r.added.length} added, ${r.changed.length} changed, ${r.removed.length} removed)`,
  );
}

/** Creates the planned networks; returns the Docker IDs of all the lab's networks by key. */
async function createNetworks(
  ctx: LabContext,
  lab: Lab,
  plan: LabPlan,
  hashes: DesiredHashes,
  state: StateRecorder,
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const o of plan.networks) if (o.change === 'keep' && o.id !== undefined) ids.set(o.key, o.id);
  for (const o of plan.networks.filter(made)) {
    const net = lab.networks.find((n) => n.key === o.key);
    if (net === undefined) continue;
    const hash = hashes.networks.get(net.key) ?? '';
    ctx.progress.line(
      `network ${net.key}: create ${net.dockerName} (${net.mode}${net.subnet === undefined ? '' : ` ${net.subnet}`})`,
    );
    let id: string;
    try {
      id = await ctx.docker.createNetwork(networkCreateSpec(lab, net, hash));
    } catch (err) {
      throw new DovesnapError(ErrorCode.Engine, `network ${net.key}: create ${net.dockerName}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    ids.set(net.key, id);
    await state.set('networks', net.key, { id, dockerName: net.dockerName, hash });
  }
  return ids;
}

/** How long a node's command must have run, at the end of an up, to count as started. */
export const WORKLOAD_SETTLE_MS = 500;

async function createNodes(
  ctx: LabContext,
  lab: Lab,
  prepared: readonly Prepared[],
  hashes: DesiredHashes,
  networkIds: ReadonlyMap<string, string>,
  state: StateRecorder,
): Promise<void> {
  const p: Progress = ctx.progress;
  const made: { key: string; id: string; at: number }[] = [];
  for (const { node, image, workload } of prepared) {
    const hash = hashes.nodes.get(node.key) ?? '';
    const t0 = p.elapsed();
    const id = await createNode(ctx.docker, {
      lab,
      node,
      image,
      workload,
      hash,
      networkIds,
      progress: p.of('node', node.key),
    });
    await state.set('nodes', node.key, { id, dockerName: node.containerName, hash });
    p.line(`node ${node.key}: up (${(p.elapsed() - t0).toFixed(1)} s)`);
    made.push({ key: node.key, id, at: Date.now() });
  }
  // A command that exits at once may still have been running when its node was checked: look
  // at every node made again once the last has had WORKLOAD_SETTLE_MS. One that stopped fails
  // the up, and is removed as a node that fails while being made is.
  const last = made.at(-1);
  if (last !== undefined) {
    const wait = last.at + WORKLOAD_SETTLE_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  for (const m of made) {
    const why = await workloadProblem(ctx.docker, m.id);
    if (why === undefined) continue;
    await ctx.docker.removeContainer(m.id);
    await state.set('nodes', m.key, undefined);
    throw new NodeStepError(m.key, 'start the workload', new Error(why));
  }
}

export async function applyPlan(ctx: LabContext, lab: Lab, plan: LabPlan, hashes: DesiredHashes): Promise<void> {
  const state = await StateRecorder.open(lab);
  const prepared = await prepareNodes(ctx, lab, plan);
  await removeStale(ctx, plan, state);
  await syncAcls(ctx, lab, plan);
  const networkIds = await createNetworks(ctx, lab, plan, hashes, state);
  await createNodes(ctx, lab, prepared, hashes, networkIds, state);
}

/** The plan's outcome in one line: `3 networks created, 1 node made anew, 5 unchanged`. */
export function planSummary(plan: LabPlan): string {
  const parts: string[] = [];
  const noun = (kind: 'networks' | 'nodes', n: number): string =>
    kind === 'nodes' ? (n === 1 ? 'node' : 'nodes') : n === 1 ? 'network' : 'networks';
  const verb = { create: 'created', recreate: 'made anew', remove: 'removed' } as const;
  for (const kind of ['networks', 'nodes'] as const) {
    for (const change of ['create', 'recreate', 'remove'] as const) {
      const n = plan[kind].filter((o) => o.change === change).length;
      if (n > 0) parts.push(`${n} ${noun(kind, n)} ${verb[change]}`);
    }
  }
  const acls = aclChanges(plan);
  if (acls > 0) parts.push(`${acls} ACL${acls === 1 ? '' : 's'} changed`);
  const kept = [...plan.networks, ...plan.nodes].filter((o) => o.change === 'keep').length;
  if (kept > 0) parts.push(`${kept} unchanged`);
  return parts.join(', ');
}
