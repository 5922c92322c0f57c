/**
 * FAUCET's own configuration checker, `check_faucet_config` from the faucet package (installed
 * by `make up` in /opt/dovesnap/venv). It parses a file exactly as FAUCET's reload does, ACL
 * rules included, which validate.ts does not look into. It costs a Python start (about 1.3 s),
 * so it checks what people wrote (a lab's ACLs), not every write the daemon makes.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { childEnvironment, faucetVenv, type Environment } from '../config/environment.js';

/** Resolves to undefined if FAUCET would load `text`, else to FAUCET's message. */
export type FaucetChecker = (text: string, configPath: string) => Promise<string | undefined>;

/** Where the checker is: $FAUCET_VENV/bin (default /opt/dovesnap/venv/bin), else undefined. */
export function findFaucetChecker(env?: Environment): string | undefined {
  const path = join(faucetVenv(env), 'bin', 'check_faucet_config');
  return existsSync(path) ? path : undefined;
}

/** FAUCET's sentence without the list of every match field it knows, which it appends to an unknown one's. */
export function withoutKnownTypes(message: string): string {
  return message.replace(/\s*\(known types \{[\s\S]*?\}\)/g, '');
}

/** FAUCET prints `[InvalidConfigError("DP x: bogus field unknown in acl (known types {...})")]`: keep the sentence. */
export function checkerMessage(output: string): string {
  const text = output.trim();
  const inner =
    /InvalidConfigError\((['"])(.*?)\1\)/s.exec(text)?.[2] ?? text.split('\n').find((line) => line.trim() !== '') ?? '';
  const short = withoutKnownTypes(inner).trim();
  return short.length > 400 ? `${short.slice(0, 400)}…` : short || 'check_faucet_config failed without a message';
}

/**
 * A FaucetChecker running `binary`. The text is checked as a file beside `configPath`, so that
 * relative `include:` paths resolve as they do for FAUCET; the daemon's watch ignores the name.
 */
export function faucetChecker(binary: string, timeoutMs = 60_000): FaucetChecker {
  return async (text, configPath) => {
    const temp = join(
      dirname(configPath),
      `.${basename(configPath)}.check.${process.pid}.${randomBytes(4).toString('hex')}.yaml`,
    );
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
    } finally {
      await handle.close();
    }
    try {
      return await new Promise<string | undefined>((resolve, reject) => {
        execFile(
          binary,
          [temp],
          { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: childEnvironment({ PYTHONWARNINGS: 'ignore' }) },
          (err, stdout, stderr) => {
            if (err === null) return resolve(undefined);
            // A non-zero exit is FAUCET's verdict; anything else (not found, killed by the timeout) is ours.
            if (typeof err.code !== 'number') return reject(new Error(`${binary} did not run: ${err.message}`));
            resolve(checkerMessage(`${stdout}\n${stdout.trim() === '' ? stderr : ''}`));
          },
        );
      });
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  };
}
