import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabImageRecipe } from '../model.js';
import { DovesnapError, ErrorCode } from '../../util/errors.js';
import { FRR_ENTRYPOINT, FRR_ENTRYPOINT_PATH, IDLE_ENTRYPOINT, IDLE_ENTRYPOINT_PATH } from './entrypoints.js';
import { canonicalJson } from '../../util/canonical-json.js';

/**
 * What each lab image is made of. A recipe is data: the builder (mmdebstrap or a script of
 * ours), its inputs, and the image's configuration. Its content hash names the image
 * (`dovesnap-lab-<recipe>:<12 hex>`), so a change to any input makes a new tag, and an
 * unchanged recipe finds the image it built before.
 */

/**
 * Bump when the build code changes what it makes from the same recipe (another trim, another
 * hook), so that images built by the old code are rebuilt.
 */
export const LAB_IMAGE_BUILDER_VERSION = 1;

export const LAB_IMAGE_RECIPES: readonly LabImageRecipe[] = ['frr', 'host', 'capture'];

/** Labels every lab image carries; `image list` and the planner find them by these. */
export const RECIPE_LABEL = 'dovesnap.lab.recipe';
export const RECIPE_HASH_LABEL = 'dovesnap.lab.recipe.hash';

/** The image's configuration, given to `docker import` as Dockerfile instructions. */
export interface ImageConfig {
  readonly cmd: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export interface RecipeFile {
  readonly path: string;
  readonly mode: number;
  readonly content: string;
}

/** A Debian root file system made by mmdebstrap. */
export interface DebianRecipe {
  readonly builder: 'mmdebstrap';
  readonly suite: string;
  readonly variant: string;
  readonly packages: readonly string[];
  /** dpkg `path-exclude` globs: never unpacked. */
  readonly excludes: readonly string[];
  /** mmdebstrap hook directories under /usr/share/mmdebstrap/hooks, by name. */
  readonly hookDirs: readonly string[];
  readonly files: readonly RecipeFile[];
  readonly config: ImageConfig;
}

/** A root file system tarball that a script of the repository writes (`SCRIPT --tar FILE`). */
export interface ScriptRecipe {
  readonly builder: 'script';
  /** Relative to the repository (or installed app) root. */
  readonly script: string;
  readonly config: ImageConfig;
}

export type RecipeSpec = DebianRecipe | ScriptRecipe;

/**
 * Documentation, manual pages, translations: a lab node never reads them, and they are a third of
 * a minimal Debian. Copyright files go too: the packages' licences are in Debian's archive.
 */
const SLIM_EXCLUDES = [
  '/usr/share/doc/*',
  '/usr/share/man/*',
  '/usr/share/info/*',
  '/usr/share/locale/*',
  '/usr/share/lintian/*',
  '/usr/share/linda/*',
  '/usr/share/bug/*',
  // glibc's character set converters (8 MB): nothing in these images converts character sets.
  '/usr/lib/*/gconv/*',
];

const DEBIAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * `essential` (dpkg, a shell, coreutils; no apt) plus the packages. The merged-usr hook installs
 * usr-is-merged before the essential set, or apt satisfies init-system-helpers' `usrmerge |
 * usr-is-merged` with usrmerge, which pulls in perl: 50 MB more.
 */
const RECIPES: Readonly<Record<LabImageRecipe, RecipeSpec>> = {
  frr: {
    builder: 'mmdebstrap',
    suite: 'bookworm',
    variant: 'essential',
    packages: ['frr', 'iproute2', 'iputils-ping', 'traceroute', 'procps', 'tcpdump'],
    excludes: SLIM_EXCLUDES,
    hookDirs: ['merged-usr'],
    files: [{ path: FRR_ENTRYPOINT_PATH, mode: 0o755, content: FRR_ENTRYPOINT }],
    config: { cmd: [FRR_ENTRYPOINT_PATH], env: { PATH: DEBIAN_PATH } },
  },
  host: {
    builder: 'script',
    script: 'scripts/build-test-image.sh',
    // The busybox image has no init; this waits for `docker stop` and exits at once on it.
    config: {
      cmd: ['/bin/sh', '-c', "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"],
      env: { PATH: '/bin' },
    },
  },
  capture: {
    builder: 'mmdebstrap',
    suite: 'bookworm',
    variant: 'essential',
    packages: ['tcpdump', 'iproute2'],
    excludes: SLIM_EXCLUDES,
    hookDirs: ['merged-usr'],
    files: [{ path: IDLE_ENTRYPOINT_PATH, mode: 0o755, content: IDLE_ENTRYPOINT }],
    config: { cmd: [IDLE_ENTRYPOINT_PATH], env: { PATH: DEBIAN_PATH } },
  },
};

export function isLabImageRecipe(name: string): name is LabImageRecipe {
  return (LAB_IMAGE_RECIPES as readonly string[]).includes(name);
}

/** The recipe called `name`; an unknown name is an error naming it and the choices. */
export function recipeNamed(name: string): LabImageRecipe {
  if (isLabImageRecipe(name)) return name;
  throw new DovesnapError(
    ErrorCode.NotFound,
    `unknown lab image recipe '${name}': the recipes are ${LAB_IMAGE_RECIPES.join(', ')}`,
  );
}

export function recipeSpec(recipe: LabImageRecipe): RecipeSpec {
  return RECIPES[recipe];
}

/** The repository's root, or the installed app's (/opt/dovesnap/app): both hold scripts/. */
export function appRoot(): string {
  // This file is dist/src/lab/images/recipes.js.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
}

/** What a recipe's hash covers: everything that shapes the image, and nothing about the host. */
export function recipeIdentity(recipe: LabImageRecipe, spec: RecipeSpec, readScript: (rel: string) => string): unknown {
  const common = { builderVersion: LAB_IMAGE_BUILDER_VERSION, recipe, config: spec.config };
  if (spec.builder === 'script')
    return { ...common, builder: spec.builder, script: spec.script, scriptContent: readScript(spec.script) };
  // Package order does not change what apt installs; the file order does not change the tree.
  return {
    ...common,
    builder: spec.builder,
    suite: spec.suite,
    variant: spec.variant,
    packages: [...spec.packages].sort(),
    excludes: [...spec.excludes].sort(),
    hookDirs: spec.hookDirs,
    files: [...spec.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
}

export function readAppFile(rel: string): string {
  const file = path.join(appRoot(), rel);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new DovesnapError(
      ErrorCode.NotFound,
      `lab image recipe input ${file} cannot be read: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** sha256 (hex) of the recipe's identity. */
export function recipeHash(
  recipe: LabImageRecipe,
  spec: RecipeSpec = recipeSpec(recipe),
  readScript: (rel: string) => string = readAppFile,
): string {
  return createHash('sha256')
    .update(canonicalJson(recipeIdentity(recipe, spec, readScript)))
    .digest('hex');
}

export function labImageRepo(recipe: LabImageRecipe): string {
  return `dovesnap-lab-${recipe}`;
}

/** `dovesnap-lab-<recipe>:<first 12 hex of the recipe's hash>`. */
export function tagForHash(recipe: LabImageRecipe, hash: string): string {
  return `${labImageRepo(recipe)}:${hash.slice(0, 12)}`;
}
