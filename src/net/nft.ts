import { runCommand } from './exec.js';

/** Applies an `nft -f` script as one transaction. */
export async function applyNftScript(script: string): Promise<void> {
  await runCommand('nft', ['-f', '-'], { input: script });
}
