import { DovesnapError, ErrorCode } from '../util/errors.js';
import type { LabImageRecipe } from './model.js';
import type { LabImages } from './up.js';

/** The images `up` runs for nodes of a kind: placeholder until the image builder lands. */
export async function labImages(): Promise<LabImages> {
  return {
    tag: (recipe: LabImageRecipe) => `dovesnap-lab-${recipe}:latest`,
    ensure: async (recipe: LabImageRecipe) => {
      throw new DovesnapError(ErrorCode.NotFound, `image recipe ${recipe} cannot be built yet`);
    },
  };
}
