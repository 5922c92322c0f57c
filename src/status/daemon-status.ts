import type { StackingSettings } from '../config/settings.js';
import type { MirrorBridge } from '../driver/mirror-bridge.js';
import type { Stack } from '../driver/stack.js';
import type { OvsdbHealth } from '../ovs/vswitch.js';
import type { Health, HostStatus } from './documents.js';

/** What `GET /host` is made of: the host-wide switches, and the DPs FAUCET's configuration has. */
export interface HostStatusSources {
  readonly mirror: MirrorBridge | undefined;
  readonly stack: Stack | undefined;
  readonly stacking: StackingSettings | undefined;
  /** The DPs of FAUCET's configuration that are not dovesnap's. */
  readonly foreignDps: () => Promise<{ has(name: string): boolean }>;
  /** HostName: DOVESNAP_HOST_NAME (with the remote backend) or the host name. */
  readonly hostName: string;
  /** The stack switch's controllers (STACK_OFCONTROLLERS or the default ones). */
  readonly stackControllers: readonly string[];
}

/** `GET /host`: the mirror bridge and the stack switch, each with what keeps it from being whole. */
export async function hostStatus(src: HostStatusSources): Promise<HostStatus> {
  const m = src.mirror?.describe();
  const f = src.stack?.facts();
  const st = src.stacking;
  let stackProblem = src.stack?.problem();
  if (st !== undefined && stackProblem === undefined) {
    // FAUCET would refuse a stack port to a switch it does not know, so such a link is left out: say so.
    const known = await src.foreignDps().catch(() => undefined);
    const missing =
      known === undefined ? [] : st.interfaces.filter((i) => !known.has(i.remoteDp)).map((i) => i.remoteDp);
    if (known !== undefined && st.priority1 !== f?.dpName && !known.has(st.priority1)) {
      stackProblem = `the stack root ${st.priority1} (STACK_PRIORITY1) is not a DP in FAUCET's configuration: stacking is left out of it until it is`;
    } else if (missing.length > 0) {
      stackProblem = `FAUCET's configuration has no DP ${[...new Set(missing)].join(', ')}: the stack link${missing.length > 1 ? 's' : ''} to it ${missing.length > 1 ? 'are' : 'is'} left out`;
    }
  }
  return {
    HostName: src.hostName,
    MirrorBridge:
      m?.bridge === undefined || m.out === undefined
        ? null
        : { Bridge: m.bridge, Out: m.out, In: m.in ?? null, Links: m.links, Problem: m.problem ?? null },
    Stack:
      st === undefined
        ? null
        : {
            DpName: f?.dpName ?? null,
            DpId: f === undefined ? null : `0x${f.dpId.toString(16)}`,
            Root: st.priority1,
            Interfaces: st.interfaces.map((i) => ({
              Interface: i.interface,
              OFPort: f?.interfaces.find((x) => x.interface === i.interface)?.ofport ?? null,
              RemoteDp: i.remoteDp,
              RemotePort: i.remotePort,
            })),
            MirrorInterface:
              st.mirrorInterface === undefined ? null : `${st.mirrorInterface.dp}:${st.mirrorInterface.port}`,
            Problem: stackProblem ?? null,
            Controllers: src.stackControllers,
          },
  };
}

/** `GET /health`: starting until the daemon serves; degraded while OVSDB is away or FAUCET is in trouble. */
export function daemonHealth(ready: boolean, ovsdb: OvsdbHealth, faucetTrouble: string | undefined): Health {
  if (!ready) return { status: 'starting' };
  if (!ovsdb.connected)
    return {
      status: 'degraded',
      reason: `OVSDB unreachable since ${new Date(ovsdb.since).toISOString()}: ${ovsdb.lastError ?? 'connection lost'}`,
    };
  return faucetTrouble === undefined ? { status: 'ok' } : { status: 'degraded', reason: faucetTrouble };
}
