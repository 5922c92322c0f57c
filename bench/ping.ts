import { spawn } from 'node:child_process';

/** A container's first echo reply, for the benchmarks that time it (startup, multihost). */

/** "64 bytes from 10.232.1.2: seq=0 ttl=64 time=1002.890 ms" -> seq and RTT of that reply. */
export function parseReply(text: string): { seq: number | undefined; rttMs: number | undefined } {
  const m = /bytes from .*?seq=(\d+) .*?time=([\d.]+) ms/.exec(text);
  return {
    seq: m?.[1] === undefined ? undefined : Number(m[1]),
    rttMs: m?.[2] === undefined ? undefined : Number(m[2]),
  };
}

export interface Reply {
  /** performance.now() when the reply was seen. */
  readonly at: number;
  readonly seq: number | undefined;
  readonly rttMs: number | undefined;
}

/**
 * The first echo reply `container` gets from `ip`, or null if none came within `capS` seconds:
 * one `docker [dockerArgs] exec container sh -c 'ping -i 0.05 -w CAP ip | head -n 2'`; the reply
 * line is seen on stdout as it is printed, and head's exit ends ping. Resolution: 50 ms. The
 * promise settles only when the exec has ended, so nothing overlaps what comes next.
 */
export function streamFirstReply(
  docker: string,
  dockerArgs: readonly string[],
  container: string,
  ip: string,
  capS: number,
  signal: AbortSignal,
): Promise<Reply | null> {
  return new Promise((resolve) => {
    let at: number | null = null;
    let seen = '';
    const child = spawn(
      docker,
      [...dockerArgs, 'exec', container, 'sh', '-c', `ping -i 0.05 -w ${capS} ${ip} | head -n 2`],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
        signal,
      },
    );
    const killer = setTimeout(() => child.kill('SIGKILL'), (capS + 10) * 1000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (at !== null) return;
      seen += chunk;
      if (seen.includes('bytes from')) at = performance.now();
    });
    child.on('error', () => undefined);
    child.on('close', () => {
      clearTimeout(killer);
      resolve(at === null ? null : { at, ...parseReply(seen) });
    });
  });
}
