import { hostLinkExists } from './links.js';
import { runCommand } from './exec.js';

/**
 * IPv4 routes in the host's main table, through iproute2's JSON output: what
 * `ovs.bridge.host_routes` adds (driver/host-routes.ts), and what it must not clobber.
 */

/** One route of the main table as `ip -json route` reports it. */
export interface RouteEntry {
  /** `a.b.c.d/len`, with `/32` added where ip prints a bare address; `default` stays `0.0.0.0/0`. */
  readonly dst: string;
  readonly dev: string | undefined;
  readonly gateway: string | undefined;
  /** `kernel` for a subnet the kernel added with an interface's address, `boot`, `static`, … */
  readonly protocol: string | undefined;
  readonly scope: string | undefined;
}

function normaliseDst(dst: string): string {
  if (dst === 'default') return '0.0.0.0/0';
  return dst.includes('/') ? dst : `${dst}/32`;
}

/** Pure part of listIpv4Routes, for tests: entries of unicast routes (others have a `type`). */
export function parseRoutes(stdout: string): RouteEntry[] {
  if (stdout.trim() === '') return [];
  const parsed: unknown = JSON.parse(stdout);
  if (!Array.isArray(parsed)) return [];
  const out: RouteEntry[] = [];
  for (const raw of parsed as unknown[]) {
    if (typeof raw !== 'object' || raw === null) continue;
    const r = raw as Record<string, unknown>;
    if (typeof r['dst'] !== 'string') continue;
    // blackhole, unreachable, prohibit: not through an interface, and not ours.
    if (typeof r['type'] === 'string' && r['type'] !== 'unicast') continue;
    const s = (k: string): string | undefined => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
    out.push({
      dst: normaliseDst(r['dst']),
      dev: s('dev'),
      gateway: s('gateway'),
      protocol: s('protocol'),
      scope: s('scope'),
    });
  }
  return out;
}

export async function listIpv4Routes(): Promise<RouteEntry[]> {
  return parseRoutes((await runCommand('ip', ['-json', '-4', 'route', 'show', 'table', 'main'])).stdout);
}

/** Adds the route, or makes the one to `prefix` this one: idempotent, for create and every start. */
export async function replaceRoute(prefix: string, via: string, dev: string): Promise<void> {
  await runCommand('ip', ['route', 'replace', prefix, 'via', via, 'dev', dev]);
}

/**
 * Removes exactly this route (prefix, next hop and device), never another one to the same
 * prefix. Succeeds when it is not there: gone with its device, or never made.
 */
export async function deleteRoute(prefix: string, via: string, dev: string): Promise<void> {
  if (!hostLinkExists(dev)) return;
  try {
    await runCommand('ip', ['route', 'del', prefix, 'via', via, 'dev', dev]);
  } catch (err) {
    const still = await routeExists(prefix, via, dev).catch(() => true);
    if (still) throw err;
  }
}

export async function routeExists(prefix: string, via: string, dev: string): Promise<boolean> {
  if (!hostLinkExists(dev)) return false;
  const { stdout } = await runCommand('ip', [
    '-json',
    '-4',
    'route',
    'show',
    'table',
    'main',
    'exact',
    prefix,
    'dev',
    dev,
  ]);
  return parseRoutes(stdout).some((r) => r.gateway === via);
}
