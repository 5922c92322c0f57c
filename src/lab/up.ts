import { readFile } from 'node:fs/promises';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { missingAclErrors, planAcls } from './acl-plan.js';
import { LabFileInvalid } from './load.js';
import { labAclSettings, removeLabAcls, syncLabAcls } from './faucet-acls.js';
import type { LabDocker, LabNetworkCreate } from './docker.js';
import { labLabels, networkHash, nodeHash } from './identity.js';
import type { Lab, LabImageRecipe, LabNetwork, LabNode } from './model.js';
import { createNode, NodeStepError, workloadProblem } from './node-up.js';
import { aclChanges, planChanges, planLab, renderPlan, type DesiredHashes, type LabPlan } from './plan.js';
import type { Progress } from './progress.js';
import { readRunning } from './running.js';
import { emptyLabState, lockLab, readLabState, removeLabState, writeLabState, type LabState } from './state.js';

/** The images a lab's nodes run: recipes resolve to a tag, and are built when missing. */
export interface LabImages {
  tag(recipe: LabImageRecipe): string;
  ensure(recipe: LabImageRecipe, progress: (msg: string) => void): Promise<string>;
}

export interface LabContext {
  readonly docker: LabDocker;
  readonly images: LabImages;
  readonly progress: Progress;
  readonly out: (text: string) => void;
}

export function networkCreateSpec(lab: Lab, net: LabNetwork, hash: string): LabNetworkCreate {
  return {
    Name: net.dockerName,
    Driver: 'dovesnap',
    Internal: net.internal,
    Options: { ...net.options },
    Labels: labLabels(lab.name, 'network', net.key, hash, net.kind),
    IPAM: net.subnet === undefined ? { Driver: 'null', Config: [] } : { Driver: 'default', Config: [{ Subnet: net.subnet, ...(net.gateway === undefined ? {} : { Gateway: net.gateway }) }] },
  };
}

function imageOf(ctx: LabContext, node: LabNode): string {
  if (node.recipe !== undefined) return ctx.images.tag(node.recipe);
  if (node.image === undefined) throw new DovesnapError(ErrorCode.Internal, `node ${node.key} has neither image nor recipe`);
  return node.image;
}

/** The hashes of what the file describes. A custom image counts by its ID, when it is here. */
export async function desiredHashes(ctx: LabContext, lab: Lab): Promise<DesiredHashes> {
  const networks = new Map(lab.networks.map((n) => [n.key, networkHash(n)]));
  const nodes = new Map<string, string>();
  for (const node of lab.nodes) {
    let image = imageOf(ctx, node);
    if (node.recipe === undefined) image = (await ctx.docker.inspectImage(image))?.Id ?? image;
    nodes.set(node.key, nodeHash(node, image, node.interfaces.map((i) => networks.get(i.network) ?? '')));
  }
  return { networks, nodes };
}

async function workloadOf(ctx: LabContext, node: LabNode, image: string): Promise<string[]> {
  const info = await ctx.docker.inspectImage(image);
  if (info === undefined) throw new DovesnapError(ErrorCode.NotFound, `node ${node.key}: image ${image} is not on this host (there is no registry: build or import it first)`);
  if (node.cmd !== undefined) return [...node.cmd];
  const argv = [...(info.Config?.Entrypoint ?? []), ...(info.Config?.Cmd ?? [])];
  if (argv.length === 0) throw new DovesnapError(ErrorCode.BadOption, `node ${node.key}: image ${image} has no entry point or command; give the node a cmd:`);
  return argv;
}

export interface UpResult {
  readonly plan: LabPlan;
  readonly changes: number;
}

/** `dovesnap lab up`: makes what runs match the file, changing only what differs. */
export async function labUp(ctx: LabContext, lab: Lab, opts: { dryRun?: boolean } = {}): Promise<UpResult> {
  const unlock = opts.dryRun === true ? async () => undefined : await lockLab(lab.name);
  try {
    const running = await readRunning(ctx.docker, lab.name);
    const hashes = await desiredHashes(ctx, lab);
    const faucetText = await readFile(labAclSettings().configPath, 'utf8').catch(() => '');
    const missing = missingAclErrors(faucetText, lab);
    if (missing.length > 0) throw new LabFileInvalid(missing);
    const plan = planLab(lab, hashes, running, planAcls(faucetText, lab));
    const changes = planChanges(plan);
    if (opts.dryRun === true || changes === 0) {
      ctx.out(renderPlan(plan));
      return { plan, changes };
    }
    ctx.out(renderPlan(plan));
    await apply(ctx, lab, plan, hashes);
    ctx.out(`lab ${lab.name} is up (${ctx.progress.elapsed().toFixed(1)} s): ${summary(plan)}\n`);
    return { plan, changes };
  } finally {
    await unlock();
  }
}

function summary(plan: LabPlan): string {
  const count = (kind: 'networks' | 'nodes', change: string): number => plan[kind].filter((o) => o.change === change).length;
  const parts: string[] = [];
  for (const kind of ['networks', 'nodes'] as const) {
    for (const change of ['create', 'recreate', 'remove'] as const) {
      const n = count(kind, change);
      if (n > 0) parts.push(`${n} ${kind === 'nodes' ? (n === 1 ? 'node' : 'nodes') : n === 1 ? 'network' : 'networks'} ${change === 'create' ? 'created' : change === 'recreate' ? 'made anew' : 'removed'}`);
    }
  }
  const acls = aclChanges(plan);
  if (acls > 0) parts.push(`${acls} ACL${acls === 1 ? '' : 's'} changed`);
  const kept = [...plan.networks, ...plan.nodes].filter((o) => o.change === 'keep').length;
  if (kept > 0) parts.push(`${kept} unchanged`);
  return parts.join(', ');
}

async function apply(ctx: LabContext, lab: Lab, plan: LabPlan, hashes: DesiredHashes): Promise<void> {
  const p = ctx.progress;
  const base: LabState = (await readLabState(lab.name)) ?? emptyLabState(lab.name, lab.file);
  const nets: Record<string, LabState['networks'][string]> = { ...base.networks };
  const nodes: Record<string, LabState['nodes'][string]> = { ...base.nodes };
  const save = (): Promise<void> => writeLabState({ ...base, file: lab.file, networks: { ...nets }, nodes: { ...nodes } });

  // Images and workloads first: nothing is taken down for a node that could not be made.
  const byKey = new Map(lab.nodes.map((n) => [n.key, n]));
  const workloads = new Map<string, { image: string; workload: string[] }>();
  const toMake = plan.nodes.filter((o) => o.change === 'create' || o.change === 'recreate');
  for (const recipe of new Set(toMake.map((o) => byKey.get(o.key)?.recipe).filter((r): r is LabImageRecipe => r !== undefined))) {
    await ctx.images.ensure(recipe, p.of('image', recipe));
  }
  for (const o of toMake) {
    const node = byKey.get(o.key);
    if (node === undefined) continue;
    const image = imageOf(ctx, node);
    workloads.set(o.key, { image, workload: await workloadOf(ctx, node, image) });
  }

  for (const o of plan.nodes.filter((n) => (n.change === 'recreate' || n.change === 'remove') && n.id !== undefined)) {
    p.line(`node ${o.key}: remove ${o.dockerName} (${o.reason})`);
    await ctx.docker.removeContainer(o.id ?? '');
    delete nodes[o.key];
    await save();
  }
  for (const o of plan.networks.filter((n) => (n.change === 'recreate' || n.change === 'remove') && n.id !== undefined)) {
    p.line(`network ${o.key}: remove ${o.dockerName} (${o.reason})`);
    await ctx.docker.removeNetwork(o.id ?? '');
    delete nets[o.key];
    await save();
  }
  if (aclChanges(plan) > 0) {
    p.line(`acls: ${[...plan.acls.added.map((a) => `add ${a}`), ...plan.acls.changed.map((a) => `change ${a}`), ...plan.acls.removed.map((a) => `remove ${a}`)].join(', ')}`);
    const r = await syncLabAcls(lab.name, new Map(lab.acls.map((a) => [a.name, a.rules])));
    p.line(`acls: FAUCET loaded ${r.added.length} added, ${r.changed.length} changed, ${r.removed.length} removed`);
  }
  const networkIds = new Map<string, string>();
  for (const o of plan.networks) if (o.change === 'keep' && o.id !== undefined) networkIds.set(o.key, o.id);
  for (const o of plan.networks.filter((n) => n.change === 'create' || n.change === 'recreate')) {
    const net = lab.networks.find((n) => n.key === o.key);
    if (net === undefined) continue;
    const hash = hashes.networks.get(net.key) ?? '';
    p.line(`network ${net.key}: create ${net.dockerName} (${net.mode}${net.subnet === undefined ? '' : ` ${net.subnet}`})`);
    let id: string;
    try {
      id = await ctx.docker.createNetwork(networkCreateSpec(lab, net, hash));
    } catch (err) {
      throw new DovesnapError(ErrorCode.Engine, `network ${net.key}: create ${net.dockerName}: ${(err as Error).message}`, { cause: err });
    }
    networkIds.set(net.key, id);
    nets[net.key] = { id, dockerName: net.dockerName, hash };
    await save();
  }
  const made: { key: string; id: string; at: number }[] = [];
  for (const o of toMake) {
    const node = byKey.get(o.key);
    const w = workloads.get(o.key);
    if (node === undefined || w === undefined) continue;
    const hash = hashes.nodes.get(node.key) ?? '';
    const t0 = p.elapsed();
    const id = await createNode(ctx.docker, { lab, node, image: w.image, workload: w.workload, hash, networkIds, progress: p.of('node', node.key) });
    nodes[node.key] = { id, dockerName: node.containerName, hash };
    await save();
    p.line(`node ${node.key}: up (${(p.elapsed() - t0).toFixed(1)} s)`);
    made.push({ key: node.key, id, at: Date.now() });
  }
  await save();
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
    delete nodes[m.key];
    await save();
    throw new NodeStepError(m.key, 'start the workload', new Error(why));
  }
}

/** How long a node's command must have run, at the end of an up, to count as started. */
export const WORKLOAD_SETTLE_MS = 500;

/** `dovesnap lab down`: removes every container and network of the lab, found by label and state. */
export async function labDown(ctx: LabContext, name: string): Promise<{ containers: number; networks: number; acls: number }> {
  const unlock = await lockLab(name);
  try {
    const running = await readRunning(ctx.docker, name);
    const p = ctx.progress;
    await Promise.all(
      [...running.nodes].map(async ([key, o]) => {
        p.line(`node ${key}: remove ${o.dockerName}`);
        await ctx.docker.removeContainer(o.id);
      }),
    );
    for (const [key, o] of running.networks) {
      p.line(`network ${key}: remove ${o.dockerName}`);
      await ctx.docker.removeNetwork(o.id);
    }
    // Only now: FAUCET 1.10 crashes on a port that names an ACL no longer defined.
    const acls = await removeLabAcls(name);
    if (acls.length > 0) p.line(`acls: removed ${acls.join(', ')}`);
    await removeLabState(name);
    const result = { containers: running.nodes.size, networks: running.networks.size };
    const aclText = acls.length === 0 ? '' : `, ${acls.length} ACL${acls.length === 1 ? '' : 's'}`;
    ctx.out(result.containers + result.networks + acls.length === 0 ? `lab ${name}: nothing to remove\n` : `lab ${name} is down (${p.elapsed().toFixed(1)} s): ${result.containers} container${result.containers === 1 ? '' : 's'} and ${result.networks} network${result.networks === 1 ? '' : 's'}${aclText} removed\n`);
    return { ...result, acls: acls.length };
  } finally {
    await unlock();
  }
}
