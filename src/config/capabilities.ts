import { badEnv, type Environment, nonEmpty } from './environment.js';

/** libnetwork's two scopes, in the words a remote driver's GetCapabilities answers with. */
export type DriverScope = 'local' | 'global';

/**
 * dovesnap's answer to Docker's `/NetworkDriver.GetCapabilities` (docs/swarm.md has the engine
 * source behind each point).
 *
 * `Scope` is libnetwork's DataScope: `local` (the default) keeps every network's addresses with
 * the host's own Docker; `global` makes a swarm manager's allocator give them out (pools and
 * each task's address), and makes Docker refuse non-swarm dovesnap networks on a swarm node and,
 * on engines before 23.0, any dovesnap network without a cluster store. `ConnectivityScope`
 * `global` tells Docker that containers of one network reach each other across hosts (which
 * FAUCET's stack does), so that on a swarm-scoped network Docker shares its service records
 * (names, `tasks.<service>`) across the swarm's gossip instead of keeping them per host; it
 * changes nothing for a network that is not swarm-scoped. Docker asks once, when it loads the
 * driver, never per network: the answer is the host's, from its environment.
 */
export interface DriverCapabilities {
  readonly Scope: DriverScope;
  readonly ConnectivityScope: DriverScope;
}

function scopeFrom(env: Environment, name: string): DriverScope | undefined {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return undefined;
  if (raw === 'local' || raw === 'global') return raw;
  throw badEnv(name, raw, 'expected local or global');
}

/**
 * DOVESNAP_SCOPE and DOVESNAP_CONNECTIVITY_SCOPE. An unset ConnectivityScope follows Scope, as
 * libnetwork itself takes an empty one (drivers/remote/driver.go, getCapabilities).
 */
export function driverCapabilities(env: Environment): DriverCapabilities {
  const scope = scopeFrom(env, 'DOVESNAP_SCOPE') ?? 'local';
  const connectivity = scopeFrom(env, 'DOVESNAP_CONNECTIVITY_SCOPE') ?? scope;
  return Object.freeze({ Scope: scope, ConnectivityScope: connectivity });
}

/** What dovesnap has always answered, and still does unless told otherwise. */
export const LOCAL_CAPABILITIES: DriverCapabilities = Object.freeze({ Scope: 'local', ConnectivityScope: 'local' });
