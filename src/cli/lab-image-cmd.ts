import { Argument, type Command } from 'commander';
import {
  ensureLabImage,
  LAB_IMAGE_RECIPES,
  listLabImages,
  recipeNamed,
  type EnsureResult,
  type LabImageRow,
} from '../lab/images.js';

/**
 * `dovesnap lab image build|list`: the lab's images (docs/lab-images.md). The work is in
 * src/lab/images.ts; this module declares the commands and prints.
 */

export function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

export function formatBuildResult(r: EnsureResult): string {
  return `${r.recipe.padEnd(8)} ${r.tag.padEnd(34)} ${(r.built ? 'built' : 'cached').padEnd(7)} ${r.seconds.toFixed(1).padStart(6)} s ${formatBytes(r.bytes).padStart(9)}`;
}

export function formatImageList(rows: readonly LabImageRow[]): string {
  if (rows.length === 0) return 'no lab images (dovesnap lab image build frr host capture)';
  const lines = [`${'TAG'.padEnd(34)} ${'RECIPE'.padEnd(8)} ${'STATE'.padEnd(8)} ${'SIZE'.padStart(9)}  CREATED`];
  for (const r of rows) {
    // "old": made by an earlier recipe; nothing uses it unless a lab names the tag itself.
    lines.push(
      `${r.tag.padEnd(34)} ${r.recipe.padEnd(8)} ${(r.current ? 'current' : 'old').padEnd(8)} ${formatBytes(r.bytes).padStart(9)}  ${r.created?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '-'}`,
    );
  }
  return lines.join('\n');
}

interface BuildFlags {
  readonly force?: boolean;
  readonly quiet?: boolean;
}

async function runBuild(names: readonly string[], flags: BuildFlags): Promise<void> {
  // Every name is checked before anything is built.
  const recipes = [...new Set(names.map(recipeNamed))];
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const recipe of recipes) {
      const r = await ensureLabImage(recipe, {
        force: flags.force === true,
        signal: ac.signal,
        ...(flags.quiet === true ? {} : { onProgress: (m: string) => process.stderr.write(`  ${m}\n`) }),
      });
      process.stdout.write(`${formatBuildResult(r)}\n`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runList(): Promise<void> {
  process.stdout.write(`${formatImageList(await listLabImages())}\n`);
}

/** Adds `image build` and `image list` to the `lab` command. */
export function registerLabImageCommands(lab: Command): void {
  const image = lab.command('image').description('the images lab nodes run, built on this host (no registry needed)');
  image
    .command('build')
    .description(
      "build the recipes' images if they are missing: frr (FRR 8.4 router, Debian bookworm), host (busybox), capture (Debian with tcpdump). " +
        'Each is tagged dovesnap-lab-<recipe>:<hash of its recipe>; an existing tag is reused (cached) unless --force.',
    )
    .addArgument(new Argument('<recipe...>', 'recipes to build').choices(LAB_IMAGE_RECIPES))
    .option('--force', 'build again even when the image exists')
    .option('-q, --quiet', "print only the result lines, not the build's progress")
    .addHelpText(
      'after',
      [
        '',
        'Example:',
        '  dovesnap lab image build frr host capture',
        '',
        'Prints, per recipe: tag, built or cached, seconds, size.',
      ].join('\n'),
    )
    .action(runBuild);
  image
    .command('list')
    .description('list the lab images in Docker: current (what the recipe builds now) or old')
    .action(runList);
}
