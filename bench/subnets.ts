/**
 * Benchmark networks' subnets, in 10.232.0.0/16: the smallest of /24, /22 and /20 that holds
 * `hosts` containers besides the gateway (a /24 holds 253), aligned to its size. `cursor` picks
 * which one; successive cursors give successive subnets of that size, wrapping inside the /16.
 */
export function benchSubnet(cursor: number, hosts: number): string {
  if (!Number.isInteger(hosts) || hosts < 1) throw new Error(`hosts: expected a positive whole number, got ${hosts}`);
  const prefix = [24, 22, 20].find((p) => 2 ** (32 - p) - 3 >= hosts);
  if (prefix === undefined) throw new Error(`hosts: ${hosts} containers do not fit a /20 (at most ${2 ** 12 - 3})`);
  const blocks = 2 ** (24 - prefix); // /24s per subnet
  const slots = Math.floor(256 / blocks);
  const third = (((cursor % slots) + slots) % slots) * blocks;
  return `10.232.${third}.0/${prefix}`;
}
