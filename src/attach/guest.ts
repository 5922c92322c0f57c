/**
 * pipework's GUEST: a Docker container (name or ID) or, failing that, a process ID. The network
 * namespace is the process's: `/proc/PID/ns/net`.
 */
import { existsSync } from 'node:fs';
import type { Engine } from '../engine/client.js';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import type { AttachGuest } from './record.js';

export async function resolveGuest(engine: Pick<Engine, 'inspectContainer'>, guest: string): Promise<AttachGuest> {
  const c = await engine.inspectContainer(guest).catch((err: unknown) => {
    // No Docker at all: a PID may still do.
    if (/^\d+$/.test(guest)) return undefined;
    throw err;
  });
  if (c !== undefined) {
    const pid = c.State?.Pid ?? 0;
    if (c.State?.Running !== true || pid <= 0)
      throw new DovesnapError(
        ErrorCode.BadOption,
        `invalid value ${JSON.stringify(guest)} for GUEST: container ${c.Name.replace(/^\//, '')} is not running`,
      );
    return { containerId: c.Id, name: c.Name.replace(/^\//, ''), pid };
  }
  if (/^\d+$/.test(guest) && Number(guest) > 1 && existsSync(`/proc/${guest}/ns/net`))
    return { containerId: undefined, name: guest, pid: Number(guest) };
  throw new DovesnapError(
    ErrorCode.BadOption,
    `invalid value ${JSON.stringify(guest)} for GUEST: no running container of that name or ID, and no such process`,
  );
}

export function netnsOf(guest: Pick<AttachGuest, 'pid'>): string {
  return `/proc/${guest.pid}/ns/net`;
}
