import { execFile } from 'node:child_process';
import { DovesnapError, ErrorCode } from '../util/errors.js';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a host command without a shell; a non-zero exit becomes a HostCommand error that names the command. */
export function runCommand(
  file: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args as string[],
      { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const detail = (stderr || err.message).trim();
          reject(
            new DovesnapError(ErrorCode.HostCommand, `${file} ${args.join(' ')} failed: ${detail}`, { cause: err }),
          );
          return;
        }
        resolve({ stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a host program inside a network namespace only (`nsenter --net`): the host's mount and PID namespaces, so the host's tools and files. */
export function runInNetns(
  netns: string,
  file: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<CommandResult> {
  return runCommand('nsenter', [`--net=${netns}`, '--', file, ...args], opts);
}
