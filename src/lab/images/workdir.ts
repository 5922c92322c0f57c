import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DovesnapError, ErrorCode } from '../../util/errors.js';

const run = promisify(execFile);

/**
 * Removing a build's directory safely. mmdebstrap (root mode) bind-mounts the host's /dev
 * nodes, /sys and /proc into its chroot, which is inside our directory; it unmounts them
 * itself, but if it was killed before it could, a recursive delete would walk into the host's
 * /dev and /sys. So: unmount whatever is still mounted below the directory, and remove nothing
 * while anything is.
 */

/** Mount points (field 5 of /proc/self/mountinfo, octal escapes decoded) strictly below `dir`, deepest first. */
export function mountsBelow(mountinfo: string, dir: string): string[] {
  const prefix = `${path.resolve(dir)}/`;
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const raw = fields[4];
    if (raw === undefined) continue;
    const point = raw.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    if (point.startsWith(prefix)) points.push(point);
  }
  return [...new Set(points)].sort((a, b) => b.length - a.length || (a < b ? 1 : -1));
}

async function mountsNow(dir: string): Promise<string[]> {
  return mountsBelow(await readFile('/proc/self/mountinfo', 'utf8'), dir);
}

export async function removeWorkDir(dir: string): Promise<void> {
  for (const point of await mountsNow(dir)) {
    // Lazy: a process still using it (a dying maintainer script) must not keep us from going on.
    await run('umount', ['--lazy', point]).catch(() => undefined);
  }
  const left = await mountsNow(dir);
  if (left.length > 0) {
    throw new DovesnapError(
      ErrorCode.HostCommand,
      `build directory ${dir} still has mounts (${left.join(', ')}): not removing it; unmount them and remove it by hand`,
    );
  }
  await rm(dir, { recursive: true, force: true });
}
