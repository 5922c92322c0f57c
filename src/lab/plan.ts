import type { AclPlan } from './acl-plan.js';
import type { Lab } from './model.js';

/**
 * What `up` will do, as a pure function of the lab the file describes and what runs: each
 * network and node is created, made anew, removed or kept. `up --dry-run` prints it and stops.
 */

export type Change = 'create' | 'recreate' | 'remove' | 'keep';

/** A lab object Docker has now, found by its labels (or the state file). */
export interface RunningObject {
  readonly id: string;
  readonly dockerName: string;
  readonly hash: string;
  /** Nodes only: the container runs. */
  readonly running?: boolean;
  /** Nodes only: its interfaces were set up and its workload released. */
  readonly ready?: boolean;
}

export interface RunningLab {
  readonly networks: ReadonlyMap<string, RunningObject>;
  readonly nodes: ReadonlyMap<string, RunningObject>;
}

export interface DesiredHashes {
  readonly networks: ReadonlyMap<string, string>;
  readonly nodes: ReadonlyMap<string, string>;
}

export interface PlannedObject {
  readonly key: string;
  readonly dockerName: string;
  readonly change: Change;
  readonly reason: string;
  /** The existing object's ID (recreate, remove, keep). */
  readonly id?: string;
}

export interface LabPlan {
  readonly lab: string;
  readonly networks: readonly PlannedObject[];
  /** Nodes to create appear in an order that honours `wait-for`; the rest in the file's order. */
  readonly nodes: readonly PlannedObject[];
  /** The lab's own ACLs in faucet.yaml (changed in place: ports naming them keep running). */
  readonly acls: AclPlan;
}

const NO_ACL_CHANGES: AclPlan = { added: [], changed: [], removed: [] };

function planNetworks(lab: Lab, hashes: DesiredHashes, running: RunningLab): PlannedObject[] {
  const out: PlannedObject[] = [];
  for (const net of lab.networks) {
    const have = running.networks.get(net.key);
    const want = hashes.networks.get(net.key) ?? '';
    if (have === undefined) out.push({ key: net.key, dockerName: net.dockerName, change: 'create', reason: 'new' });
    else if (have.hash !== want)
      out.push({
        key: net.key,
        dockerName: net.dockerName,
        change: 'recreate',
        reason: 'its definition changed',
        id: have.id,
      });
    else out.push({ key: net.key, dockerName: net.dockerName, change: 'keep', reason: 'unchanged', id: have.id });
  }
  const wanted = new Set(lab.networks.map((n) => n.key));
  for (const [key, have] of running.networks) {
    if (!wanted.has(key))
      out.push({ key, dockerName: have.dockerName, change: 'remove', reason: 'no longer in the file', id: have.id });
  }
  return out;
}

/** The nodes in an order where each comes after the nodes it waits for (the loader refuses cycles). */
export function startOrder(lab: Lab): string[] {
  const byKey = new Map(lab.nodes.map((n) => [n.key, n]));
  const done = new Set<string>();
  const order: string[] = [];
  const visit = (key: string, path: readonly string[]): void => {
    if (done.has(key)) return;
    if (path.includes(key)) throw new Error(`wait-for cycle: ${[...path, key].join(' -> ')}`);
    for (const dep of byKey.get(key)?.waitFor ?? []) if (byKey.has(dep)) visit(dep, [...path, key]);
    done.add(key);
    order.push(key);
  };
  for (const n of lab.nodes) visit(n.key, []);
  return order;
}

function planNodes(
  lab: Lab,
  hashes: DesiredHashes,
  running: RunningLab,
  networks: readonly PlannedObject[],
): PlannedObject[] {
  const madeAnew = new Set(networks.filter((n) => n.change === 'create' || n.change === 'recreate').map((n) => n.key));
  const byKey = new Map(lab.nodes.map((n) => [n.key, n]));
  const out: PlannedObject[] = [];
  for (const key of startOrder(lab)) {
    const node = byKey.get(key);
    if (node === undefined) continue;
    const have = running.nodes.get(key);
    const want = hashes.nodes.get(key) ?? '';
    if (have === undefined) {
      out.push({ key, dockerName: node.containerName, change: 'create', reason: 'new' });
      continue;
    }
    const anewNet = node.interfaces.find((i) => madeAnew.has(i.network));
    let reason: string | undefined;
    if (anewNet !== undefined && have.hash !== want) reason = `its network ${anewNet.network} is made anew`;
    else if (have.hash !== want) reason = 'its definition changed';
    else if (have.running !== true) reason = 'it is not running';
    else if (have.ready !== true) reason = 'its set-up was not finished';
    out.push(
      reason === undefined
        ? { key, dockerName: node.containerName, change: 'keep', reason: 'unchanged', id: have.id }
        : { key, dockerName: node.containerName, change: 'recreate', reason, id: have.id },
    );
  }
  for (const [key, have] of running.nodes) {
    if (!byKey.has(key))
      out.push({ key, dockerName: have.dockerName, change: 'remove', reason: 'no longer in the file', id: have.id });
  }
  return out;
}

export function planLab(lab: Lab, hashes: DesiredHashes, running: RunningLab, acls: AclPlan = NO_ACL_CHANGES): LabPlan {
  const networks = planNetworks(lab, hashes, running);
  return { lab: lab.name, networks, nodes: planNodes(lab, hashes, running, networks), acls };
}

export function aclChanges(plan: LabPlan): number {
  return plan.acls.added.length + plan.acls.changed.length + plan.acls.removed.length;
}

export function planChanges(plan: LabPlan): number {
  return [...plan.networks, ...plan.nodes].filter((o) => o.change !== 'keep').length + aclChanges(plan);
}

const MARK: Record<Change, string> = { create: '+', recreate: '~', remove: '-', keep: '=' };

/** The plan as `up --dry-run` prints it: one line per object, kept objects counted. */
export function renderPlan(plan: LabPlan): string {
  const lines: string[] = [];
  const changes = planChanges(plan);
  if (changes === 0) return `lab ${plan.lab} is up to date: nothing to change\n`;
  lines.push(`lab ${plan.lab}: ${changes} change${changes === 1 ? '' : 's'}`);
  for (const name of plan.acls.added) lines.push(`  + acl ${name}: add to faucet.yaml (new)`);
  for (const name of plan.acls.changed)
    lines.push(`  ~ acl ${name}: change its rules in faucet.yaml (its ports keep running)`);
  for (const name of plan.acls.removed) lines.push(`  - acl ${name}: remove from faucet.yaml (no longer in the file)`);
  for (const [kind, list] of [
    ['network', plan.networks],
    ['node', plan.nodes],
  ] as const) {
    for (const o of list) {
      if (o.change === 'keep') continue;
      lines.push(`  ${MARK[o.change]} ${kind} ${o.dockerName}: ${o.change} (${o.reason})`);
    }
  }
  const kept = [...plan.networks, ...plan.nodes].filter((o) => o.change === 'keep').map((o) => o.dockerName);
  if (kept.length > 0) lines.push(`  = unchanged: ${kept.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
