/**
 * What `bench/lab.ts` reads from the commands it runs: `dovesnap lab up`'s progress lines (to
 * split its time into Docker, the nodes' own set-up and waiting for FAUCET) and FRR's JSON.
 * Pure functions, no I/O.
 */

/** One progress line of `lab up`/`lab down`: seconds since the command started, and the step. */
export interface ProgressStep {
  readonly at: number;
  readonly what: string;
}

/** The progress lines in `stderr` (`[   1.2s] node r1: start the container`); other lines are skipped. */
export function parseProgress(stderr: string): ProgressStep[] {
  const out: ProgressStep[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^\[\s*([0-9]+(?:\.[0-9]+)?)s\] (.+)$/.exec(line.trimEnd());
    if (m !== null) out.push({ at: Number(m[1]), what: m[2] ?? '' });
  }
  return out;
}

/**
 * Where a step's time goes:
 * - `plan`: from the command's start to its first step (load, check, read what runs, plan);
 * - `images`: finding (or building) the nodes' images;
 * - `networks`: `docker network create`, i.e. Docker and the dovesnap driver making the bridge
 *   and its FAUCET DP (the driver answers before FAUCET has loaded it);
 * - `docker`: a node's container created, connected to its other networks, started and running
 *   (Docker, and the driver's CreateEndpoint and Join inside it);
 * - `setup`: the lab's work in the node's namespace: interface names, MACs, addresses, routes, files;
 * - `carrier`: waiting until every port of the node has carrier, which dovesnap gives a port
 *   once FAUCET has programmed it;
 * - `workload`: releasing the node's command and its `exec:` lines;
 * - `removals` and `acls`: what `up` takes away first, and the lab's own FAUCET ACLs.
 */
export type UpPhase =
  | 'plan'
  | 'images'
  | 'networks'
  | 'docker'
  | 'setup'
  | 'carrier'
  | 'workload'
  | 'removals'
  | 'acls'
  | 'other';

export const UP_PHASES: readonly UpPhase[] = [
  'plan',
  'images',
  'networks',
  'docker',
  'setup',
  'carrier',
  'workload',
  'removals',
  'acls',
  'other',
];

export function classifyStep(what: string): UpPhase {
  if (what.startsWith('image ')) return 'images';
  if (what.startsWith('acls:')) return 'acls';
  const m = /^(node|network) [^:]+: (.*)$/.exec(what);
  if (m === null) return 'other';
  const [, kind, step = ''] = m;
  if (step.startsWith('remove ')) return 'removals';
  if (kind === 'network') return step.startsWith('create ') ? 'networks' : 'other';
  if (
    step === 'create the container' ||
    step.startsWith('connect ') ||
    step === 'start the container' ||
    step === 'wait for the container'
  )
    return 'docker';
  if (step === 'wait for carrier') return 'carrier';
  if (step === 'start the workload' || step.startsWith('exec #')) return 'workload';
  if (/^(name the interfaces|set .*'s MAC|address |route |place |restart .*'s DHCP client)/.test(step)) return 'setup';
  return 'other';
}

/**
 * Seconds spent in each phase: a step lasts until the next one starts, the last one until
 * `total` (the command's own elapsed time). The lines have 0.1 s resolution, so a phase made
 * of many short steps is only roughly right; the phases add up to `total` (each rounded to 0.1 s).
 */
export function upPhases(steps: readonly ProgressStep[], total: number): Record<UpPhase, number> {
  const out = Object.fromEntries(UP_PHASES.map((p) => [p, 0])) as Record<UpPhase, number>;
  if (steps.length === 0) {
    out.plan = total;
    return out;
  }
  out.plan = steps[0]?.at ?? 0;
  steps.forEach((s, i) => {
    // `node X: up (1.3 s)` marks the end of a node; it takes no time of its own.
    if (/^node [^:]+: up \(/.test(s.what)) return;
    const end = steps[i + 1]?.at ?? total;
    out[classifyStep(s.what)] += Math.max(0, end - s.at);
  });
  for (const p of UP_PHASES) out[p] = Math.round(out[p] * 10) / 10;
  return out;
}

/** The command's own elapsed seconds, from `lab X is up (2.4 s): …` or `lab X is down (1.3 s): …`. */
export function reportedSeconds(stdout: string): number | undefined {
  const m = /^lab \S+ is (?:up|down) \(([0-9.]+) s\)/m.exec(stdout);
  return m === null ? undefined : Number(m[1]);
}

/** The states of every neighbour in `vtysh -c 'show ip ospf neighbor json'` (FRR 8: `nbrState`, older: `state`). */
export function ospfNeighbourStates(json: string): string[] {
  const doc = JSON.parse(json) as { neighbors?: Record<string, { state?: string; nbrState?: string }[]> };
  return Object.values(doc.neighbors ?? {})
    .flat()
    .map((n) => n.nbrState ?? n.state ?? '');
}

/** Whether a router has exactly `expected` neighbours and every one is Full (`Full/-` on point-to-point, `Full/DR` …). */
export function allFull(states: readonly string[], expected: number): boolean {
  return states.length === expected && states.every((s) => s === 'Full' || s.startsWith('Full/'));
}

/** The prefixes whose selected route came from OSPF, in `vtysh -c 'show ip route ospf json'`. */
export function ospfSelectedPrefixes(json: string): string[] {
  const doc = JSON.parse(json) as Record<string, { protocol?: string; selected?: boolean }[]>;
  return Object.entries(doc)
    .filter(([, rs]) => rs.some((r) => r.protocol === 'ospf' && r.selected === true))
    .map(([p]) => p)
    .sort();
}
