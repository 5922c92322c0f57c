import { DovesnapError, ErrorCode } from '../util/errors.js';
import type { LabDocker } from './docker.js';
import type { LabImageRecipe, LabNode } from './model.js';
import type { Progress } from './progress.js';

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

export function imageOf(ctx: LabContext, node: LabNode): string {
  if (node.recipe !== undefined) return ctx.images.tag(node.recipe);
  if (node.image === undefined)
    throw new DovesnapError(ErrorCode.Internal, `node ${node.key} has neither image nor recipe`);
  return node.image;
}
