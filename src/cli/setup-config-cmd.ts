import fs from 'node:fs/promises';
import path from 'node:path';
import { faucetDirFor } from '../config/settings.js';
import { gaugePrometheus } from '../config/environment.js';
import { gaugeConfig, initialFaucetConfig } from '../faucet/initial-files.js';

/**
 * First-run configuration for FAUCET and Gauge. An existing file is the operator's and is
 * never overwritten; only missing files are created (exclusively, so a race cannot clobber).
 */
export async function writeIfMissing(file: string, content: string): Promise<boolean> {
  try {
    await fs.writeFile(file, content, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

export async function runSetupConfig(opts: { faucetDir?: string }): Promise<void> {
  const dir = opts.faucetDir ?? faucetDirFor();
  await fs.mkdir(dir, { recursive: true });
  const faucetPath = path.join(dir, 'faucet.yaml');
  const gaugePath = path.join(dir, 'gauge.yaml');
  const { port, addr } = gaugePrometheus();
  const made = {
    [faucetPath]: await writeIfMissing(faucetPath, initialFaucetConfig()),
    [gaugePath]: await writeIfMissing(
      gaugePath,
      gaugeConfig({ faucetConfigPath: path.resolve(faucetPath), prometheusPort: port, prometheusAddr: addr }),
    ),
  };
  for (const [file, created] of Object.entries(made))
    process.stdout.write(`${created ? 'created' : 'kept existing'} ${file}\n`);
}
