import { hostname } from 'node:os';
import { badEnv, type Environment, nonEmpty } from './environment.js';

/** A host part of DP names: what a host name may be (letters, digits, `-`, `_`, `.`), at most 63 characters. */
export const HOST_PART = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * DOVESNAP_HOST_NAME: this host's part of its DP names when several hosts share one FAUCET
 * (`<network>@<host>`, the stack switch `dovesnap-<host>`: driver/dp-naming.ts). Default: the
 * host name. Read only with the remote backend (FAUCETCONFRPC_ADDR): with the local file, DP
 * names stay the networks' names and it is refused, so that it is never set in vain.
 */
export function dpHostSetting(env: Environment, remote: boolean, host: () => string = hostname): string | undefined {
  const given = nonEmpty(env, 'DOVESNAP_HOST_NAME');
  if (!remote) {
    if (given !== undefined)
      throw badEnv(
        'DOVESNAP_HOST_NAME',
        given,
        'names this host in a shared FAUCET configuration: needs FAUCETCONFRPC_ADDR',
      );
    return undefined;
  }
  if (given !== undefined) {
    if (!HOST_PART.test(given))
      throw badEnv(
        'DOVESNAP_HOST_NAME',
        given,
        'expected 1 to 63 letters, digits, _ . - (starting with a letter or digit)',
      );
    return given;
  }
  const name = host();
  // A host name that is no valid host part (odd, but the kernel allows it) must be given instead.
  if (!HOST_PART.test(name))
    throw badEnv(
      'DOVESNAP_HOST_NAME',
      '',
      `the host name ${JSON.stringify(name)} cannot be a DP name's host part; set DOVESNAP_HOST_NAME`,
    );
  return name;
}
