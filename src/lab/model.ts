/**
 * A lab as `dovesnap lab` builds it: the lab file after validation, with `defaults:` and
 * `groups:` folded into each node, links turned into networks of their own, and every name the
 * lab gives Docker already chosen. The loader (load.ts) makes it, the planner (plan.ts) compares
 * it with what runs, and nothing downstream ever reads the YAML again.
 */

/** The images `dovesnap lab image build` makes, and the node kinds that use them. */
export type LabImageRecipe = 'frr' | 'host' | 'capture';

export type LabNodeKind = 'router' | 'host' | 'capture' | 'custom';

export type LabNetworkMode = 'flat' | 'nat' | 'routed';

export interface LabHostRoute {
  /** A prefix, `a.b.c.d/len`. */
  readonly prefix: string;
  /** The next hop: an IPv4 address on the network (a node's name is resolved to its address). */
  readonly via: string;
}

/** A multi-access segment from `networks:`, or a point-to-point link from `links:`. */
export interface LabNetwork {
  /** The name in the file (`uplink`), or for a link the name of its endpoints (`r1-eth2-r2-eth1`). */
  readonly key: string;
  readonly kind: 'segment' | 'link';
  /** Docker's name: `<lab>-<key>`. */
  readonly dockerName: string;
  readonly mode: LabNetworkMode;
  /** Docker's IPAM pool. Absent: `--ipam-driver null`, and the lab sets declared addresses itself. */
  readonly subnet?: string;
  /** `nat`/`routed`: the host's address on the network (the bridge's own port). */
  readonly gateway?: string;
  readonly internal: boolean;
  /** Every `-o` the network is created with (`ovs.bridge.*`), the DPID included. */
  readonly options: Readonly<Record<string, string>>;
  /** Prefixes the host routes via a node on the network (`ovs.bridge.host_routes`). */
  readonly hostRoutes: readonly LabHostRoute[];
}

export interface LabInterface {
  /** The name the node sees, e.g. `eth1`. */
  readonly name: string;
  /** `LabNetwork.key` of the segment or link it is on. */
  readonly network: string;
  /** `a.b.c.d/len`; absent: Docker's IPAM picks one (segments with a subnet), DHCP, or none. */
  readonly address?: string;
  /** Given to Docker as the endpoint's MAC; absent: dovesnap chooses. */
  readonly mac?: string;
  /** FAUCET ACLs of the node's port here, as faucet.yaml names them (the lab's own resolved). */
  readonly acls?: readonly string[];
}

/** One of the lab's own FAUCET ACLs (`acls:`), written into faucet.yaml by `up`. */
export interface LabAcl {
  /** The name in the file. */
  readonly name: string;
  /** The name in faucet.yaml: `lab-<lab>.<name>`. */
  readonly faucetName: string;
  /** FAUCET's rules, as written (`- rule: {…}`). */
  readonly rules: readonly unknown[];
}

export interface LabRoute {
  /** `default` or `a.b.c.d/len`. */
  readonly dst: string;
  readonly via: string;
}

export interface LabFile {
  /** Absolute path in the container. */
  readonly path: string;
  readonly content: string;
  /** Octal file mode, e.g. 0o644. */
  readonly mode: number;
}

export interface LabNode {
  readonly key: string;
  /** `<lab>-<key>`, also the container's hostname's source (the hostname is `key`). */
  readonly containerName: string;
  readonly kind: LabNodeKind;
  /** The image the file names; absent when `recipe` is set. */
  readonly image?: string;
  /**
   * Set when the node runs an image `dovesnap lab image build` makes: `up` resolves it to the
   * recipe's current image (building it when it is missing).
   */
  readonly recipe?: LabImageRecipe;
  /** In the order the node sees them (sorted by name). */
  readonly interfaces: readonly LabInterface[];
  readonly routes: readonly LabRoute[];
  /** Container labels, `dovesnap.faucet.*` already spelled out. */
  readonly labels: Readonly<Record<string, string>>;
  readonly sysctls: Readonly<Record<string, string>>;
  readonly capAdd: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** `HOST:CONTAINER[:ro]`, host paths absolute. */
  readonly binds: readonly string[];
  readonly files: readonly LabFile[];
  /** Replaces the image's CMD when set. */
  readonly cmd?: readonly string[];
  /** Shell command lines run, in order, once the node's workload has started. */
  readonly exec: readonly string[];
  /** Nodes that must be up (and their `exec:` done) before this one is created. */
  readonly waitFor: readonly string[];
}

/** Where the file names an ACL: `up` refuses one neither in `acls:` nor in faucet.yaml, there. */
export interface LabAclUse {
  /** The name as faucet.yaml has it (the lab's own resolved to `lab-<lab>.<name>`). */
  readonly acl: string;
  /** The place it is written (in `defaults:` or a group when inherited); `message` empty. */
  readonly at: LabFileError;
}

export interface Lab {
  readonly name: string;
  /** Absolute path of the file it came from. */
  readonly file: string;
  /** The lab's own FAUCET ACLs, by name. */
  readonly acls: readonly LabAcl[];
  /** Every ACL the networks and nodes name, at its place in the file (absent: none known). */
  readonly aclUses?: readonly LabAclUse[];
  /** Segments then links, in the file's order. */
  readonly networks: readonly LabNetwork[];
  /** In the file's order; `plan.ts` orders them by `waitFor`. */
  readonly nodes: readonly LabNode[];
}

/** Where a validation error is, as editors print it: `lab.yaml:10:24: nodes.r1.x: …`. */
export interface LabFileError {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted key path, e.g. `nodes.r1.interfaces.eth1.adress`; empty for the document itself. */
  readonly path: string;
  readonly message: string;
}
