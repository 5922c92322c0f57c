import { readFile } from 'node:fs/promises';
import { missingAclErrors, planAcls } from './acl-plan.js';
import { LabFileInvalid } from './load.js';
import { applyPlan, planSummary } from './apply.js';
import { labAclSettings } from './faucet-acls.js';
import { networkHash, nodeHash } from './identity.js';
import { imageOf, type LabContext } from './context.js';
import type { Lab } from './model.js';
import { planChanges, planLab, renderPlan, type DesiredHashes, type LabPlan } from './plan.js';
import { readRunning } from './running.js';
import { lockLab } from './state.js';

/** The hashes of what the file describes. A custom image counts by its ID, when it is here. */
export async function desiredHashes(ctx: LabContext, lab: Lab): Promise<DesiredHashes> {
  const networks = new Map(lab.networks.map((n) => [n.key, networkHash(n)]));
  const nodes = new Map<string, string>();
  for (const node of lab.nodes) {
    let image = imageOf(ctx, node);
    if (node.recipe === undefined) image = (await ctx.docker.inspectImage(image))?.Id ?? image;
    nodes.set(
      node.key,
      nodeHash(
        node,
        image,
        node.interfaces.map((i) => networks.get(i.network) ?? ''),
      ),
    );
  }
  return { networks, nodes };
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
    await applyPlan(ctx, lab, plan, hashes);
    ctx.out(`lab ${lab.name} is up (${ctx.progress.elapsed().toFixed(1)} s): ${planSummary(plan)}\n`);
    return { plan, changes };
  } finally {
    await unlock();
  }
}
