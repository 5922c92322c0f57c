import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { dhcpDirFrom } from '../config/environment.js';
import { DHCP_FILE_KINDS, dhcpFile, ENDPOINT_ID, runningDhcpClient } from './files.js';

/**
 * For a process that is not the daemon (the lab, right after it renamed a container's
 * interfaces): makes the daemon's DHCP client of one endpoint start again at once, under the
 * interface's current name, asking for the address it had. Without it the daemon notices a
 * rename by itself within its periodic check (a few seconds, see supervisor.ts); this makes it
 * immediate, and stops the old client before it can act on a name that may now be another
 * interface's.
 *
 * The contract, all through DOVESNAP_DHCP_DIR (nothing else is shared with the daemon):
 * 1. The caller writes `<endpoint>.restart` (a temp file renamed onto it): the request. The
 *    daemon watches the directory and serves it at once; a daemon that is not running serves it
 *    when it starts the client. Serving it removes the file.
 * 2. The caller then ends the running client, found by `<endpoint>.pid` and checked by its
 *    command line, with SIGKILL: not SIGTERM, on which udhcpc (`-R`) releases the lease and runs
 *    its hook's deconfig under the OLD name, which after names were swapped is another
 *    interface. Killed, it leaves the address on the interface and the lease with the server.
 * 3. The daemon starts the client again without backoff, resolving the interface from the
 *    endpoint (its host-side veth's peer), and with `-r <address>`: the same lease comes back.
 *
 * Either order of the daemon's and the caller's kill is fine: killing a client already gone
 * does nothing, and the request makes the daemon's restart one it asked for, not a crash (no
 * backoff, no restart counted).
 */

export interface DhcpRestartOutcome {
  /** False: the daemon has no client for this endpoint (none of its files are in the directory); nothing was done. */
  readonly requested: boolean;
  /** The pid of the client that was ended, if one was running. */
  readonly signalled: number | undefined;
}

export function requestDhcpRestart(endpointId: string, opts: { readonly dir?: string } = {}): DhcpRestartOutcome {
  if (!ENDPOINT_ID.test(endpointId))
    throw new DovesnapError(
      ErrorCode.BadRequest,
      `requestDhcpRestart: the endpoint id ${JSON.stringify(endpointId)} is not Docker's 64 hex digits`,
    );
  const dir = opts.dir ?? dhcpDirFrom();
  if (!DHCP_FILE_KINDS.some((k) => k !== 'restart' && existsSync(dhcpFile(dir, endpointId, k))))
    return { requested: false, signalled: undefined };
  // The client to end is the one running BEFORE the request: if the daemon serves the request
  // first, the client it starts has the fresh name and must be left alone.
  const before = runningDhcpClient(dir, endpointId);
  const request = dhcpFile(dir, endpointId, 'restart');
  const tmp = `${request}.tmp.${process.pid}`;
  try {
    writeFileSync(tmp, `requested by pid ${process.pid} at ${new Date().toISOString()}\n`, { mode: 0o600 });
    renameSync(tmp, request);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new DovesnapError(
      ErrorCode.HostCommand,
      `requestDhcpRestart: cannot write ${request} (DOVESNAP_DHCP_DIR=${dir}): ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (before === undefined || runningDhcpClient(dir, endpointId)?.pid !== before.pid)
    return { requested: true, signalled: undefined };
  try {
    process.kill(before.pid, 'SIGKILL');
  } catch (err) {
    // Gone meanwhile (the daemon served the request first): nothing left to end.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    return { requested: true, signalled: undefined };
  }
  return { requested: true, signalled: before.pid };
}
