import { removeLabAcls } from './faucet-acls.js';
import { readRunning } from './running.js';
import { lockLab, removeLabState } from './state.js';
import type { LabContext } from './context.js';

/**
 * `dovesnap lab down`: every container and network of the lab, found by its label and its
 * state file (never by the lab file), then its ACLs, then its state. Running it twice, or after
 * an `up` that was killed, removes what there is and nothing else.
 */
export async function labDown(
  ctx: LabContext,
  name: string,
): Promise<{ containers: number; networks: number; acls: number }> {
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
    const c = running.nodes.size;
    const n = running.networks.size;
    const aclText = acls.length === 0 ? '' : `, ${acls.length} ACL${acls.length === 1 ? '' : 's'}`;
    ctx.out(
      c + n + acls.length === 0
        ? `lab ${name}: nothing to remove\n`
        : `lab ${name} is down (${p.elapsed().toFixed(1)} s): ${c} container${c === 1 ? '' : 's'} and ${n} network${n === 1 ? '' : 's'}${aclText} removed\n`,
    );
    return { containers: c, networks: n, acls: acls.length };
  } finally {
    await unlock();
  }
}
