/** Busybox ping's output, for the benchmarks that time a container's first echo reply. Pure. */

/** "64 bytes from 10.232.1.2: seq=0 ttl=64 time=1002.890 ms" -> seq and RTT of that reply. */
export function parseReply(text: string): { seq: number | undefined; rttMs: number | undefined } {
  const m = /bytes from .*?seq=(\d+) .*?time=([\d.]+) ms/.exec(text);
  return {
    seq: m?.[1] === undefined ? undefined : Number(m[1]),
    rttMs: m?.[2] === undefined ? undefined : Number(m[2]),
  };
}
