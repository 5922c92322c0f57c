import { readFileSync } from 'node:fs';

/**
 * Whether a process still runs. A zombie (exited, not yet reaped by its parent) does not:
 * `kill(pid, 0)` succeeds on one, which made "is the client gone?" answer yes-it-runs for
 * the moment between a child's exit and its parent's wait.
 */
export function processRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // The state follows the command name, which is in parentheses and may itself hold ") ".
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && state !== '';
}
