import type { LabImageRecipe } from './model.js';
import { ensureLabImage, labImageTag } from './images.js';
import type { LabImages } from './context.js';

/**
 * The images `up` runs for nodes of a kind: each recipe's current tag (its content hash), built
 * on this host when missing (src/lab/images.ts, docs/lab-images.md).
 */
export async function labImages(): Promise<LabImages> {
  return {
    tag: (recipe: LabImageRecipe) => labImageTag(recipe),
    ensure: async (recipe: LabImageRecipe, progress: (msg: string) => void) => {
      // The lab's progress already names the recipe (`image frr: …`).
      const r = await ensureLabImage(recipe, {
        onProgress: (m) => progress(m.startsWith(`${recipe}: `) ? m.slice(recipe.length + 2) : m),
      });
      progress(r.built ? `built ${r.tag} in ${r.seconds.toFixed(1)} s` : `${r.tag} is here`);
      return r.tag;
    },
  };
}
