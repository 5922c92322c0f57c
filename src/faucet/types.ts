/**
 * The desired FAUCET state dovesnap hands to `renderFaucetConfig`: only the parts of
 * faucet.yaml that dovesnap owns. Everything else in the file belongs to the operator.
 *
 * Values are plain numbers/strings in FAUCET's own units so that rendering is a mechanical
 * mapping; checking them against what FAUCET accepts is the validator's job (validate.ts),
 * which runs on the rendered file as a whole.
 */

/** How one write of faucet.yaml ended, as the daemon counts it (status/metrics.ts) and shows it (status/live.ts). */
export type FaucetConfigOutcome = 'confirmed' | 'rejected' | 'timeout' | 'invalid' | 'failed';

/** OpenFlow's LOCAL port: the bridge's own interface. FAUCET accepts it as a port number. */
export const OFPP_LOCAL = 0xfffffffe;

/** FAUCET's `hardware` for every bridge dovesnap makes. */
export const DEFAULT_HARDWARE = 'Open vSwitch';

export interface FaucetCoprocessorSpec {
  /** The only strategy FAUCET implements. */
  readonly strategy: 'vlan_vid';
  /** First VID used to address ports through the coprocessor (FAUCET default 1000). */
  readonly vlanVidBase?: number;
}

/**
 * One OpenFlow port of a dovesnap bridge. FAUCET splits ports into VLAN ports (`nativeVlan`
 * and/or `taggedVlans`) and non-VLAN ports (`mirror`, `outputOnly`, `coprocessor`); a port is
 * one or the other, never both (the validator enforces FAUCET's rules).
 */
export interface FaucetPortSpec {
  /** OpenFlow port number, 1..0xF0000000 or OFPP_LOCAL (4294967294). */
  readonly number: number;
  readonly description: string;
  /** FAUCET's `name` of the port; FAUCET restarts a port whose name changes (see coproName). */
  readonly name?: string;
  /** Untagged VID. Rendered as a bare VID, which FAUCET resolves to a `vlans:` entry with that
   * vid if one exists, or creates implicitly. */
  readonly nativeVlan?: number;
  readonly taggedVlans?: readonly number[];
  /** Port ACL names, in the order FAUCET applies them; each must exist in `acls:`. */
  readonly aclsIn?: readonly string[];
  /** FAUCET's default is true; dovesnap sets false where a link flap must not reprogram. */
  readonly opstatusReconf?: boolean;
  /** Numbers of the ports (in the same DP) whose traffic this port receives a copy of. */
  readonly mirror?: readonly number[];
  readonly coprocessor?: FaucetCoprocessorSpec;
  /** Drop everything arriving on this port (mirror destinations). */
  readonly outputOnly?: boolean;
  /** A stack link: the DP and port at its other end. */
  readonly stack?: { readonly dp: string; readonly port: number };
  /**
   * dovesnap's own mark, never written to FAUCET: a capture port (label dovesnap.faucet.capture),
   * whose `mirror` lists every VLAN port of its DP. What it copies is the network's, not one
   * container's choice, so a port number in its list is not "mirrored" in the sense that keeps
   * a number from being handed out (driver/faucet-planner.ts, mirroredIn).
   */
  readonly capture?: true;
}

/**
 * A VLAN dovesnap itself must define in the top-level `vlans:` map, e.g. to attach an output
 * ACL to a network's VLAN. FAUCET's `vlans:` map is global: its VIDs must be unique across
 * the whole file, and an entry applies to every DP using that VID. Ports that only need a VID
 * do not need one of these.
 *
 * The entry's key is `managedVlanName(dpName, vid)` (render.ts), which is how dovesnap later
 * recognises (and removes) the VLANs that belong to its DPs.
 */
export interface FaucetVlanSpec {
  readonly vid: number;
  readonly description?: string;
  readonly aclsIn?: readonly string[];
  /** Output ACLs; FAUCET applies them only on DPs with `egress_pipeline: true`. */
  readonly aclsOut?: readonly string[];
  /** How many hosts FAUCET may learn on the VLAN, per DP (its default 256; driver/vlan-capacity.ts). */
  readonly maxHosts?: number;
}

/** One dovesnap bridge: a DP named after its Docker network. */
export interface FaucetDpSpec {
  /** The Docker network name; also the DP's key under `dps:`. */
  readonly name: string;
  readonly dpId: bigint;
  readonly description: string;
  /** Default DEFAULT_HARDWARE. */
  readonly hardware?: string;
  readonly ports: readonly FaucetPortSpec[];
  readonly egressPipeline?: boolean;
  readonly vlans?: readonly FaucetVlanSpec[];
  /** `stack: {priority: N}`: set on the stack's root. */
  readonly stackPriority?: number;
}

/**
 * An ACL dovesnap writes itself (the stack mirror's tunnel). Its key in `acls:` starts with
 * OWNED_ACL_PREFIX, which is how dovesnap recognises (and removes) its own. Rules are plain
 * FAUCET rule maps.
 */
export interface FaucetAclSpec {
  readonly name: string;
  readonly rules: readonly Readonly<Record<string, unknown>>[];
}

export const OWNED_ACL_PREFIX = 'dovesnap-';

/** A stack switch's settle ACL, used by no port (driver/stack-settle.ts says why). */
export function stackSettleAclName(stackDp: string): string {
  return `${OWNED_ACL_PREFIX}stack-settled-${stackDp}`;
}

/**
 * An interface entry dovesnap keeps inside a DP it does not own (the far end of a stack link
 * on the operator's switch). Its description starts with FOREIGN_PORT_MARK, which is how
 * dovesnap recognises its own entries there; entries without it are never touched.
 */
export interface FaucetForeignPortSpec {
  readonly dp: string;
  readonly port: FaucetPortSpec;
}

export const FOREIGN_PORT_MARK = 'dovesnap stack link';

/**
 * Everything dovesnap wants in faucet.yaml, as one snapshot (never a delta).
 *
 * `owned` is the set of DP names dovesnap manages: it MUST contain every name in `dps`, plus
 * every name dovesnap managed before and whose DP must now be removed. The renderer touches a
 * DP entry only if its name is owned, so a DP the operator wrote is never overwritten, even if
 * a Docker network later gets the same name: use `checkDpClaim` (render.ts) before claiming a
 * new name. The placeholder DP is always dovesnap's and needs no entry here.
 */
export interface ManagedFaucetState {
  readonly dps: readonly FaucetDpSpec[];
  readonly owned: ReadonlySet<string>;
  readonly acls?: readonly FaucetAclSpec[];
  readonly foreignPorts?: readonly FaucetForeignPortSpec[];
  /** VLAN entries of dovesnap's not tied to one DP (keyed `sharedVlanName(vid)`, render.ts): see driver/vlan-capacity.ts. */
  readonly vlans?: readonly FaucetVlanSpec[];
  /**
   * Entries with dovesnap's names that are other hosts' (several hosts writing one FAUCET's
   * configuration, this host through the local file: driver/dp-naming.ts otherHostsDps): their
   * DPs, and the shared VLAN entries and ACLs those DPs use. The renderer leaves them as they are,
   * unless this host wants the same shared entry.
   */
  readonly kept?: KeptEntries;
}

export interface KeptEntries {
  readonly dps: ReadonlySet<string>;
  readonly vlans: ReadonlySet<string>;
  readonly acls: ReadonlySet<string>;
}
