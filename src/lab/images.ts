import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LabImageRecipe } from './model.js';
import { DockerImages, type EngineImageSummary } from '../engine/images.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { buildSources, renderDeb822 } from './images/apt-sources.js';
import { lockFile } from './images/lock.js';
import { removeWorkDir } from './images/workdir.js';
import { mmdebstrapArgs, requireMmdebstrap, runMmdebstrap } from './images/mmdebstrap.js';
import {
  LAB_IMAGE_RECIPES,
  RECIPE_HASH_LABEL,
  RECIPE_LABEL,
  appRoot,
  labImageRepo,
  recipeHash,
  recipeSpec,
  tagForHash,
  type DebianRecipe,
  type ImageConfig,
  type ScriptRecipe,
} from './images/recipes.js';

/**
 * The images `dovesnap lab` runs (no registry exists): each recipe is built once on this host,
 * imported into Docker as `dovesnap-lab-<recipe>:<12 hex of its hash>`, and found again by
 * that tag; a changed recipe has a new tag and is built again. See docs/lab-images.md.
 */

export { LAB_IMAGE_RECIPES, RECIPE_HASH_LABEL, RECIPE_LABEL, isLabImageRecipe, recipeNamed } from './images/recipes.js';

/** Where the per-recipe build locks live (tmpfs: a lock never outlives a boot). */
export const LAB_IMAGE_LOCK_DIR = '/run/dovesnap';

/** How long a build waits for another build of the same recipe before giving up. */
const LOCK_WAIT_MS = 30 * 60_000;

export interface EnsureOptions {
  /** Build even when the image exists (replacing the tag). */
  readonly force?: boolean;
  readonly onProgress?: (msg: string) => void;
  /** Aborting stops the build (mmdebstrap, the import) and removes its temporary files. */
  readonly signal?: AbortSignal;
  /** The engine's API; default: DOVESNAP_DOCKER_SOCK or /var/run/docker.sock. */
  readonly images?: DockerImages;
}

export interface EnsureResult {
  readonly recipe: LabImageRecipe;
  readonly tag: string;
  /** False when the image was there already. */
  readonly built: boolean;
  readonly seconds: number;
  /** The image's size as the engine reports it. */
  readonly bytes: number;
}

/** The recipe's current image tag, without building anything (the planner's view). */
export function labImageTag(recipe: LabImageRecipe): string {
  return tagForHash(recipe, recipeHash(recipe));
}

/** Dockerfile instructions for `docker import`: the image's configuration and our labels. */
export function importChanges(recipe: LabImageRecipe, hash: string, config: ImageConfig): string[] {
  return [
    ...Object.entries(config.env).map(([k, v]) => `ENV ${k}=${v}`),
    `CMD ${JSON.stringify(config.cmd)}`,
    `LABEL ${RECIPE_LABEL}=${recipe}`,
    `LABEL ${RECIPE_HASH_LABEL}=${hash}`,
  ];
}

/**
 * Makes sure the recipe's current image exists: a no-op when its tag is there (and carries the
 * recipe's full hash), else a build under the recipe's lock. Two builds of one recipe at once:
 * the second waits, then finds the first's image.
 */
export async function ensureLabImage(recipe: LabImageRecipe, opts: EnsureOptions = {}): Promise<EnsureResult> {
  const started = process.hrtime.bigint();
  const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  const images = opts.images ?? new DockerImages();
  const say = opts.onProgress ?? (() => undefined);
  const hash = recipeHash(recipe);
  const tag = tagForHash(recipe, hash);

  const current = async (): Promise<number | undefined> => {
    const img = await images.inspect(tag);
    return img !== undefined && img.Config?.Labels?.[RECIPE_HASH_LABEL] === hash ? (img.Size ?? 0) : undefined;
  };

  if (opts.force !== true) {
    const bytes = await current();
    if (bytes !== undefined) return { recipe, tag, built: false, seconds: seconds(), bytes };
  }
  const spec = recipeSpec(recipe);
  // Before the lock and the temp dir: a missing builder is the user's to fix, at once.
  const mmdebstrap = spec.builder === 'mmdebstrap' ? requireMmdebstrap() : undefined;

  const lock = await lockFile(path.join(LAB_IMAGE_LOCK_DIR, `lab-image-${recipe}.lock`), LOCK_WAIT_MS, () =>
    say(`${recipe}: waiting for another build of ${recipe} to finish`),
  );
  try {
    if (opts.force !== true) {
      // Another build may have made it while we waited.
      const bytes = await current();
      if (bytes !== undefined) return { recipe, tag, built: false, seconds: seconds(), bytes };
    }
    const work = await mkdtemp(path.join(os.tmpdir(), `dovesnap-lab-image-${recipe}-`));
    let failed = true;
    try {
      // apt downloads as _apt into the chroot below: mkdtemp's 0700 would make it fall back to root.
      await chmod(work, 0o755);
      const tar = path.join(work, 'rootfs.tar');
      if (spec.builder === 'mmdebstrap')
        await buildDebian(recipe, spec, mmdebstrap ?? 'mmdebstrap', work, tar, say, opts.signal);
      else await buildWithScript(recipe, spec, tar, say, opts.signal);
      say(`${recipe}: importing into Docker as ${tag}`);
      // --force over an existing tag: the image it replaces is removed once untagged, unless a container uses it.
      const replaced = (await images.inspect(tag))?.Id;
      const id = await images.importTar(tar, {
        repo: labImageRepo(recipe),
        tag: tag.slice(tag.indexOf(':') + 1),
        changes: importChanges(recipe, hash, spec.config),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      });
      if (replaced !== undefined && replaced !== id && (await images.remove(replaced)))
        say(`${recipe}: removed the image it replaces (${replaced.slice(7, 19)})`);
      failed = false;
    } finally {
      // After a failure, the build's own error is the one to report; a directory left behind is said.
      await removeWorkDir(work).catch((err: unknown) => {
        if (!failed) throw err;
        say(`${recipe}: ${(err as Error).message}`);
      });
    }
    const bytes = await current();
    if (bytes === undefined)
      throw new DovesnapError(
        ErrorCode.Engine,
        `${tag} was imported, but the engine does not show it with label ${RECIPE_HASH_LABEL}=${hash}`,
      );
    return { recipe, tag, built: true, seconds: seconds(), bytes };
  } finally {
    await lock.release();
  }
}

async function buildDebian(
  recipe: LabImageRecipe,
  spec: DebianRecipe,
  mmdebstrap: string,
  work: string,
  tar: string,
  say: (m: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const { sources, fromHost } = buildSources(spec.suite);
  const sourcesFile = path.join(work, 'apt.sources');
  await writeFile(sourcesFile, renderDeb822(sources));
  const where = fromHost
    ? `this host's (${[...new Set(sources.map((s) => s.from))].join(', ')})`
    : `Debian's public mirrors (this host has none for ${spec.suite})`;
  say(`${recipe}: apt sources: ${where}: ${[...new Set(sources.flatMap((s) => s.uris))].join(' ')}`);
  const chrootTmp = path.join(work, 'tmp');
  const plan = mmdebstrapArgs(spec, sourcesFile, work, tar);
  for (const u of plan.uploads) await writeFile(u.hostFile, u.content);
  await mkdir(chrootTmp);
  say(`${recipe}: mmdebstrap --variant=${spec.variant} ${spec.suite} with ${spec.packages.join(', ')}`);
  await runMmdebstrap(mmdebstrap, plan.args, {
    tmpDir: chrootTmp,
    onLine: (l) => say(`${recipe}: ${l}`),
    ...(signal === undefined ? {} : { signal }),
  });
}

/** Runs `SCRIPT --tar FILE` (bash) from the repository or the installed app. */
function buildWithScript(
  recipe: LabImageRecipe,
  spec: ScriptRecipe,
  tar: string,
  say: (m: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const script = path.join(appRoot(), spec.script);
  say(`${recipe}: ${spec.script} --tar`);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, '--tar', tar], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(signal === undefined ? {} : { signal }),
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', (err) =>
      reject(new DovesnapError(ErrorCode.HostCommand, `${script}: ${err.message}`, { cause: err })),
    );
    child.on('close', (code, sig) => {
      if (code === 0) resolve();
      else
        reject(
          new DovesnapError(ErrorCode.HostCommand, `${script} --tar failed (${sig ?? `exit ${code}`}): ${out.trim()}`),
        );
    });
  });
}

export interface LabImageRow {
  readonly tag: string;
  readonly recipe: string;
  readonly hash: string;
  /** The image is the recipe's current build (its tag is `labImageTag(recipe)`). */
  readonly current: boolean;
  readonly bytes: number;
  readonly created: Date | undefined;
}

/** Every lab image the engine has, current ones first. */
export async function listLabImages(images: DockerImages = new DockerImages()): Promise<LabImageRow[]> {
  const rows: LabImageRow[] = [];
  const currentTags = new Map<string, string>();
  for (const r of LAB_IMAGE_RECIPES) {
    try {
      currentTags.set(r, labImageTag(r));
    } catch {
      // A recipe whose input cannot be read has no current tag; its images are listed as old.
    }
  }
  const summaries: EngineImageSummary[] = await images.listWithLabel(RECIPE_LABEL);
  for (const s of summaries) {
    const recipe = s.Labels?.[RECIPE_LABEL] ?? '';
    const tags = (s.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    for (const tag of tags.length > 0 ? tags : ['<none>']) {
      rows.push({
        tag,
        recipe,
        hash: s.Labels?.[RECIPE_HASH_LABEL] ?? '',
        current: currentTags.get(recipe) === tag,
        bytes: s.Size ?? 0,
        created: s.Created === undefined ? undefined : new Date(s.Created * 1000),
      });
    }
  }
  return rows.sort(
    (a, b) => Number(b.current) - Number(a.current) || a.recipe.localeCompare(b.recipe) || a.tag.localeCompare(b.tag),
  );
}
