import { writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DovesnapError, ErrorCode } from './errors.js';

/**
 * Failure points, for the fault-matrix tests (docs/testing.md): named places inside the
 * handlers and apply steps where DOVESNAP_FAILPOINTS can make the daemon SIGKILL itself, fail
 * the step, or pause, so that a test can prove that every interruption is recovered from.
 * Compiled in and inert unless the variable is set.
 */
export const FAILPOINTS = {
  'createNetwork.beforeBridge': 'network create: options checked, before the OVS bridge is made',
  'createNetwork.afterBridge': 'network create: bridge and its added ports made, before the gateway and the model',
  'createNetwork.beforeNat': 'network create (nat/routed): recorded, before the NAT rules are synced',
  'createEndpoint.afterVeth': 'endpoint create: veth pair made, before its OVS port',
  'createEndpoint.afterPort': 'endpoint create: OVS port added, before it is numbered and recorded',
  'createEndpoint.done': 'endpoint create: recorded, before Docker hears back',
  'join.beforePersist': 'join: port mappings chosen, before the endpoint is persisted in OVSDB',
  'join.done': 'join: persisted, before Docker hears back',
  'leave.start': 'leave: before the DHCP client stops and the endpoint is updated',
  'deleteEndpoint.afterPort': 'endpoint delete: OVS port removed, before the veth is deleted',
  'deleteNetwork.afterBridge': 'network delete: bridge removed, before forwarding rules, model and NAT',
  'faucet.beforeWrite': 'FAUCET sync: configuration rendered and valid, before faucet.yaml is written',
  'faucet.afterWrite': 'FAUCET sync: faucet.yaml written, before FAUCET is asked to reload',
  'faucet.confirm': 'FAUCET sync: reload requested, before its confirmation is awaited',
  'nat.beforeApply': 'NAT sync: rules rendered, before nftables applies them',
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

export type FailAction =
  /** SIGKILL the daemon: nothing after this point runs, no clean-up, no reply to Docker. */
  | { readonly kind: 'kill' }
  /** Throw from this point: the step fails as if the host had refused it. */
  | { readonly kind: 'error' }
  /** Wait this long, then go on: widens a race window. */
  | { readonly kind: 'delay'; readonly ms: number };

const VARIABLE = 'DOVESNAP_FAILPOINTS';

function isFailpointName(name: string): name is FailpointName {
  return Object.hasOwn(FAILPOINTS, name);
}

function parseAction(name: string, raw: string): FailAction {
  if (raw === 'kill' || raw === 'error') return { kind: raw };
  const m = /^delay\(([0-9]{1,7})\)$/.exec(raw);
  if (m?.[1] !== undefined) return { kind: 'delay', ms: Number(m[1]) };
  throw new Error(
    `invalid value ${JSON.stringify(raw)} for failpoint ${name} in ${VARIABLE}: expected kill, error or delay(MS)`,
  );
}

/**
 * `NAME=ACTION[,NAME=ACTION…]`, e.g. `createEndpoint.afterVeth=kill,nat.beforeApply=delay(500)`.
 * An unknown name is an error rather than a no-op: a misspelt failpoint would make a fault test
 * pass without ever injecting its fault.
 */
export function parseFailpoints(spec: string): Map<FailpointName, FailAction> {
  const out = new Map<FailpointName, FailAction>();
  for (const term of spec
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')) {
    const eq = term.indexOf('=');
    const name = eq < 0 ? term : term.slice(0, eq);
    if (!isFailpointName(name)) {
      throw new Error(
        `invalid value ${JSON.stringify(term)} in ${VARIABLE}: no failpoint is named ${JSON.stringify(name)} (known: ${Object.keys(FAILPOINTS).join(', ')})`,
      );
    }
    if (eq < 0)
      throw new Error(
        `invalid value ${JSON.stringify(term)} in ${VARIABLE}: expected ${name}=kill, ${name}=error or ${name}=delay(MS)`,
      );
    out.set(name, parseAction(name, term.slice(eq + 1)));
  }
  return out;
}

let armed: ReadonlyMap<FailpointName, FailAction> = new Map();

/**
 * Arms the points. The daemon does so once it serves Docker, not before: a kill point on a
 * path that start-up recovery also takes must not keep the daemon from ever starting.
 */
export function armFailpoints(points: ReadonlyMap<FailpointName, FailAction>): void {
  armed = points;
}

export function armedFailpoints(): ReadonlyMap<FailpointName, FailAction> {
  return armed;
}

/** A place where a fault may be injected. Costs a map lookup when nothing is armed. */
export async function failpoint(name: FailpointName): Promise<void> {
  const action = armed.get(name);
  if (action === undefined) return;
  // Written synchronously: after a kill, no buffered logger would get its line out.
  const line = {
    level: 50,
    time: Date.now(),
    pid: process.pid,
    name: 'dovesnap',
    failpoint: name,
    action: action.kind,
    msg: `failpoint ${name}: ${action.kind}`,
  };
  try {
    writeSync(1, `${JSON.stringify(line)}\n`);
  } catch {
    // stdout gone: the fault is injected all the same.
  }
  if (action.kind === 'kill') {
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL of oneself is delivered before kill(2) returns; never go on regardless.
    await new Promise<never>(() => undefined);
  }
  if (action.kind === 'delay') {
    await sleep(action.ms);
    return;
  }
  throw new DovesnapError(ErrorCode.Internal, `injected failure at failpoint ${name} (${VARIABLE})`);
}
