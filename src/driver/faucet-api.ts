import type { AclUsage } from './faucet-desired.js';
import type { ReadyPort } from './port-pool.js';
import type { DpHolder } from './dp-naming.js';

/** What the driver needs to know of FAUCET's configuration, and how it asks for a re-render. */
export interface FaucetView {
  /** DPs defined in faucet.yaml that dovesnap does not manage: name → dp_id. */
  foreignDps(): Promise<Map<string, bigint>>;
  /**
   * Why a network may not be called `name` in FAUCET's configuration; undefined if it may.
   * `network`: the network being named (with its `dpHost`, several hosts: its DP is
   * `<name>@<dpHost>`, which must not be another host's or the operator's; driver/dp-naming.ts).
   */
  dpNameConflict(
    name: string,
    network?: { readonly id: string; readonly dpHost?: string },
  ): Promise<string | undefined>;
  /** Every DP of the configuration with whose it is (several hosts: driver/dp-naming.ts). Absent: foreignDps only. */
  dpHolders?(): Promise<DpHolder[]>;
  /** The DPs a stacking interface may link to: the operator's and other hosts' dovesnap stack switches. Absent: foreignDps. */
  stackableDps?(): Promise<Set<string>>;
  /** ACL names faucet.yaml defines. */
  definedAcls(): Promise<Set<string>>;
  /** Which ACLs faucet.yaml uses on input and on output. */
  aclUsage(): Promise<AclUsage>;
  /** The VIDs the operator's own `vlans:` entries and DPs use (driver/vlan-sharing.ts). Absent: none. */
  operatorVlans?(): Promise<ReadonlySet<number>>;
  /** Re-render and apply FAUCET's config from the current state; the promise settles when FAUCET confirmed it. */
  sync(reason: string): Promise<void>;
  /**
   * Whether FAUCET runs, right now, the network's spare entry for this port number (its VLAN
   * and default ACL), on a switch it has finished starting. Absent: never.
   */
  runsSpare?(networkId: string, ofport: number): boolean;
  /** The endpoint's port was opened at CreateEndpoint on a spare entry (see driver/early-open.ts). */
  openedEarly?(endpointId: string): void;
  /** Whether FAUCET runs this ready port's entry and the switch has its flows (driver/port-pool.ts). Absent: never. */
  runsReady?(networkId: string, port: ReadyPort): boolean;
  /** Settles when no FAUCET reload of dovesnap's is running or queued. */
  idle?(): Promise<void>;
  /** Port numbers of the network that FAUCET runs, or was last given, in a `mirror:` list. */
  mirroredNumbers?(networkId: string): ReadonlySet<number>;
  /** The numbers of the network's spare entries in the last plan (driver/faucet-plan.ts). */
  spareNumbers?(networkId: string): ReadonlySet<number>;
}
