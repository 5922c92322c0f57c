/**
 * A bridge and its ports as OVSDB has them: what the VSwitch interface (./vswitch.ts) answers
 * and the replica (./replica.ts) builds from its tables. Its own module so that those two do not
 * import each other.
 */

export interface PortState {
  readonly name: string;
  readonly uuid: string;
  /** Undefined while unassigned or -1. */
  readonly ofport: number | undefined;
  readonly ofportRequest: number | undefined;
  readonly type: string;
  readonly error: string | undefined;
  readonly externalIds: Readonly<Record<string, string>>;
}

export interface BridgeState {
  readonly name: string;
  readonly uuid: string;
  readonly datapathType: string;
  /** other_config:datapath-id as we wrote it. */
  readonly dpid: string | undefined;
  /** Sorted. */
  readonly controllers: readonly string[];
  readonly failMode: string | undefined;
  readonly externalIds: Readonly<Record<string, string>>;
  /** Sorted by name; excludes the bridge's own internal port. */
  readonly ports: readonly PortState[];
}
