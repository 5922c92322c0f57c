import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The files of the daemon's DHCP clients, one set per endpoint in DOVESNAP_DHCP_DIR. The
 * daemon's supervisor and processes that are not the daemon (the lab asking for a restart, see
 * restart-request.ts) find a client through them, so both name and read them here:
 *
 * - `<endpoint>.pid`: written by udhcpc (`-p`), removed by it when it exits cleanly;
 * - `<endpoint>.report`: written by the hook at every event (hook.ts);
 * - `<endpoint>.log`: udhcpc's output;
 * - `<endpoint>.restart`: a request to start the client again (restart-request.ts).
 *
 * `<endpoint>` is Docker's endpoint id, 64 hex digits.
 */

export type DhcpFileKind = 'pid' | 'report' | 'log' | 'restart';

export const DHCP_FILE_KINDS: readonly DhcpFileKind[] = ['pid', 'report', 'log', 'restart'];

export const ENDPOINT_ID = /^[0-9a-f]{64}$/;

export function dhcpFile(dir: string, endpointId: string, kind: DhcpFileKind): string {
  return path.join(dir, `${endpointId}.${kind}`);
}

export interface RunningDhcpClient {
  readonly pid: number;
  /** Its command line, argument by argument. */
  readonly args: readonly string[];
}

/** The live udhcpc of an endpoint, by its pidfile; undefined if there is none. */
export function runningDhcpClient(dir: string, endpointId: string): RunningDhcpClient | undefined {
  const pidfile = dhcpFile(dir, endpointId, 'pid');
  let pid: number;
  try {
    pid = Number(readFileSync(pidfile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    // A recycled pid belongs to something else: the command line must be this client's. (A
    // client killed but not yet reaped reads as an empty command line: not running.)
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.includes('udhcpc') && args.includes(pidfile) ? { pid, args } : undefined;
  } catch {
    return undefined;
  }
}

/** The interface a client was started on: the argument of its `-i`. */
export function clientIfname(args: readonly string[]): string | undefined {
  const at = args.indexOf('-i');
  return at < 0 ? undefined : args[at + 1];
}
