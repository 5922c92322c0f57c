/**
 * The lab file's shape, defined once: `parseLab` checks a file against it, and
 * `scripts/write-lab-schema.sh` turns the same definition into `schema/lab.schema.json` (JSON
 * Schema 2020-12), so that an editor's help and the loader's refusals never disagree.
 *
 * Editors with yaml-language-server (VS Code's YAML extension, Neovim, Helix…) pick the schema
 * up from a first-line comment in the lab file:
 *
 *     # yaml-language-server: $schema=/path/to/dovesnap/schema/lab.schema.json
 *
 * (or from a `yaml.schemas` setting mapping it to `*.lab.yaml`).
 *
 * Only the shape is here: every object is strict (an unknown key is an error), names and
 * addresses have their patterns. What needs the whole file (references, subnets, cycles) is in
 * check.ts. No transforms: shorthands stay as written, so the JSON Schema says what a user may
 * write, and resolve.ts expands them.
 */
import { z } from 'zod';

/** `name:`: also the prefix of every Docker name the lab makes. */
export const LAB_NAME = /^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/;
/** Names of networks, links and nodes (and so of Docker objects `<lab>-<name>`). */
export const OBJECT_NAME = /^[a-z0-9][a-z0-9-]{0,19}$/;
/** An interface name as Linux takes it (15 bytes), never the loopback. */
export const INTERFACE_NAME = /^(?!lo$)[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/;
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_SRC = `${OCTET}(\\.${OCTET}){3}`;
export const IPV4 = new RegExp(`^${IPV4_SRC}$`);
export const IPV4_CIDR = new RegExp(`^${IPV4_SRC}/(3[0-2]|[12]?[0-9])$`);
/** A unicast MAC: the first octet's lowest bit is clear. */
export const UNICAST_MAC = /^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$/;
/** `NODE:IFACE`; the parts are checked against the names above in check.ts, with better messages. */
const ENDPOINT = /^[^:\s]+:[^:\s]+$/;

const cidr = (what: string) =>
  z.string().regex(IPV4_CIDR, { error: `expected an IPv4 ${what} with its prefix length, such as 192.168.1.0/24` });
const ipv4 = () => z.string().regex(IPV4, { error: 'expected an IPv4 address such as 192.168.1.1' });
const objectName = (what: string) =>
  z
    .string()
    .regex(OBJECT_NAME, { error: `a ${what} name is 1-20 characters a-z, 0-9 and -, starting with a letter or digit` });
const intIn = (min: number, max: number) =>
  z
    .number()
    .int({ error: `expected a whole number from ${min} to ${max}` })
    .min(min, { error: `expected a whole number from ${min} to ${max}` })
    .max(max, { error: `expected a whole number from ${min} to ${max}` });
const stringOrList = () => z.union([z.string(), z.array(z.string())]);
const scalar = () => z.union([z.string(), z.number(), z.boolean()]);

const dpid = z
  .union([
    z
      .string()
      .regex(/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/, { error: 'expected a datapath ID in hex (0x1) or decimal (1)' }),
    // A YAML integer. Large ones lose precision as numbers; the loader reads them from the file's text.
    z.number().min(1, { error: 'a datapath ID is at least 1' }),
  ])
  .describe(
    'OpenFlow datapath ID, hex string ("0x2a") or integer; default: derived from the lab and network names (0x0d5a0000 followed by the FNV-1a hash of "<lab>/<name>"). Unique within the lab.',
  );

const optionKey = z.string().regex(/^ovs\.bridge\.[a-z0-9_]+$/, {
  error: 'an option name starts with ovs.bridge. (e.g. ovs.bridge.mirror_tunnel_vid)',
});

/** Keys a segment and a link share. */
const bridgeShape = {
  vlan: intIn(1, 4094).optional().describe('VLAN of the node ports (ovs.bridge.vlan), 1-4094; default 100.'),
  dpid: dpid.optional(),
  mtu: intIn(68, 65535).optional().describe('MTU of the bridge and of every interface on it (ovs.bridge.mtu).'),
  default_acl: z
    .string()
    .optional()
    .describe('FAUCET ACL for ports without a portacl label (ovs.bridge.default_acl); must exist in faucet.yaml.'),
  mirror: z.boolean().optional().describe('Mirror every node port on this network (the dovesnap.faucet.mirror label).'),
  options: z
    .record(optionKey, scalar())
    .optional()
    .describe(
      'Any further dovesnap network option, e.g. ovs.bridge.mirror_tunnel_vid: 300. Options that have their own key here (vlan, dpid…) must be given by that key.',
    ),
};

const hostRoute = z
  .union([
    z.string().describe('"PREFIX via NODE-or-IPv4", e.g. "192.168.102.0/24 via r1".'),
    z.strictObject({
      prefix: cidr('prefix').describe('The destination, a.b.c.d/len; must not overlap the subnet.'),
      via: z
        .string()
        .describe("Next hop: a node's name (its static address on this network) or an IPv4 address in the subnet."),
    }),
  ])
  .describe('A route the host adds towards a node on the network (ovs.bridge.host_routes).');

const network = z
  .strictObject({
    mode: z
      .enum(['flat', 'nat', 'routed'])
      .optional()
      .describe(
        'flat (no host address; internal), nat (host gateway with NAT) or routed (host gateway, no NAT). Default flat.',
      ),
    subnet: cidr('subnet')
      .optional()
      .describe(
        'IPv4 subnet. Required for nat and routed (Docker IPAM pool); on flat only used to check node addresses.',
      ),
    gateway: ipv4()
      .optional()
      .describe("nat/routed: the host's address on the network; default the subnet's first address."),
    ...bridgeShape,
    nat_acl: z.string().optional().describe('Input ACL of the gateway port, nat/routed (ovs.bridge.nat_acl).'),
    add_ports: stringOrList()
      .optional()
      .describe(
        'Host interfaces to put on the bridge, IFACE[/OFPORT[/ACL[/VLAN]]] (ovs.bridge.add_ports); a list is joined with ",".',
      ),
    dhcp: z
      .boolean()
      .optional()
      .describe('Nodes lease their addresses from a DHCP server on the network (ovs.bridge.dhcp); flat only.'),
    dhcp_server: z
      .string()
      .optional()
      .describe('IP[,IP...]: the DHCP servers whose leases are taken (ovs.bridge.dhcp_server); needs dhcp.'),
    dhcp_subnet: cidr('subnet')
      .optional()
      .describe('Leases outside this subnet are refused (ovs.bridge.dhcp_subnet); needs dhcp.'),
    antispoof: z
      .boolean()
      .optional()
      .describe(
        "Ports admit only their node's own MAC and addresses (ovs.bridge.antispoof). Needs mode nat or routed, or dhcp: true; no mac: on its interfaces.",
      ),
    userspace: z
      .boolean()
      .optional()
      .describe('true: userspace datapath, false: kernel datapath (ovs.bridge.userspace); default detected.'),
    preallocate_ports: intIn(0, 100000)
      .optional()
      .describe('FAUCET ports configured ahead for this many containers (ovs.bridge.preallocate_ports).'),
    controller: z
      .string()
      .optional()
      .describe("OpenFlow controllers, tcp:IP:PORT[,...] (ovs.bridge.controller); default the daemon's."),
    host_routes: z
      .array(hostRoute)
      .optional()
      .describe('Prefixes the host routes via a node on this network (nat/routed only).'),
  })
  .meta({ id: 'Network', description: 'A multi-access segment: one Docker network, one OVS bridge.' });

const link = z
  .strictObject({
    endpoints: z
      .array(z.string().regex(ENDPOINT, { error: 'expected NODE:IFACE, e.g. r1:eth2' }))
      .length(2, { error: 'a link has exactly two endpoints' })
      .describe('The two ends, NODE:IFACE each, on two different nodes; each interface is created on its node.'),
    addresses: z
      .array(cidr('address'))
      .length(2, { error: 'give two addresses, one per endpoint' })
      .optional()
      .describe('One address per endpoint (same order), a.b.c.d/len, both in one subnet.'),
    name: objectName('link')
      .optional()
      .describe("The link's name (Docker network <lab>-<name>); default <nodeA>-<ifA>-<nodeB>-<ifB>."),
    ...bridgeShape,
  })
  .meta({ id: 'Link', description: 'A point-to-point link: its own flat, internal network with two ports.' });

const iface = z
  .union([
    objectName('network').describe('Shorthand: the network this interface is on.'),
    z.strictObject({
      network: objectName('network')
        .optional()
        .describe('The network (a key of networks:); absent when a link names this NODE:IFACE.'),
      address: cidr('address')
        .optional()
        .describe('Static address a.b.c.d/len; absent: IPAM (nat/routed), DHCP or none.'),
      mac: z
        .string()
        .regex(UNICAST_MAC, { error: 'expected a unicast MAC address such as 0e:00:00:00:00:01' })
        .optional()
        .describe(
          "MAC address of the interface, set by the lab once the node has started; default dovesnap's choice. Not on an antispoof network.",
        ),
      acl: z
        .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
        .optional()
        .describe(
          "FAUCET ACLs of this port, applied in order: names in acls: (the lab's own) or ACLs of faucet.yaml. The portacl label for this network.",
        ),
    }),
  ])
  .meta({ id: 'Interface', description: 'An interface of the node: on one network, or one end of a link.' });

const route = z.union([
  z.string().describe('"DST via IPv4", e.g. "default via 192.168.101.1".'),
  z.strictObject({
    dst: z
      .string()
      .regex(/^(default|[0-9./]+)$/, { error: 'expected default or a prefix a.b.c.d/len' })
      .describe('default or a prefix a.b.c.d/len.'),
    via: ipv4().describe("Next hop, an address on one of the node's subnets."),
  }),
]);

const fileMode = z
  .union([
    z.string().regex(/^0?[0-7]{3,4}$/, { error: 'expected an octal file mode such as "0644"' }),
    z
      .number()
      .int({ error: 'expected an octal file mode such as 0644' })
      .min(0, { error: 'expected an octal file mode such as 0644' }),
  ])
  .describe('Octal file mode, "0644" or 0644 (read as octal, like chmod); default 0644.');

const file = z
  .union([
    z.string().describe('Shorthand: source path, relative to the lab file.'),
    z.strictObject({
      content: z.string().optional().describe("The file's text."),
      source: z.string().optional().describe('A file to copy, relative to the lab file.'),
      mode: fileMode.optional(),
    }),
  ])
  .describe('A file put into the container before it starts: content or source, not both.');

const nodeShape = {
  kind: z
    .enum(['router', 'host', 'capture'])
    .optional()
    .describe('router (FRR image, forwarding on), host or capture; default host, or custom when image is given.'),
  image: z.string().min(1).optional().describe("Docker image; replaces the kind's built image."),
  interfaces: z
    .record(
      z.string().regex(INTERFACE_NAME, {
        error: 'an interface name is 1-15 characters a-z, A-Z, 0-9, _ . -, starting with a letter, and not lo',
      }),
      iface,
    )
    .optional()
    .describe("The node's interfaces by name (eth1: uplink, or eth1: {network, address, mac})."),
  routes: z.array(route).optional().describe('Static routes: {dst, via} or "DST via IPv4".'),
  labels: z
    .record(z.string().min(1), scalar())
    .optional()
    .describe(
      'Container labels; portacl, mirror, mac_prefix, antispoof and capture become dovesnap.faucet.<key> (per network: NET:VALUE/NET2:VALUE with the networks’ Docker names, <lab>-<network>). A capture node captures on all its networks unless it sets capture itself.',
    ),
  sysctls: z
    .record(
      z.string().regex(/^[a-zA-Z0-9_./-]+$/, { error: 'expected a sysctl name such as net.ipv4.ip_forward' }),
      z.union([z.string(), z.number()]),
    )
    .optional()
    .describe('Kernel parameters of the container, e.g. net.ipv4.ip_forward: 1.'),
  'cap-add': z
    .array(
      z.string().regex(/^[A-Z][A-Z0-9_]*$/, { error: 'expected a capability name in upper case, such as NET_ADMIN' }),
    )
    .optional()
    .describe('Capabilities added (NET_ADMIN; CAP_ prefix optional); merged with the inherited ones.'),
  env: z
    .record(z.string().regex(/^[^=\s]+$/, { error: 'an environment variable name has no = and no space' }), scalar())
    .optional()
    .describe('Environment variables.'),
  binds: z
    .array(
      z.string().regex(/^[^:]+:\/[^:]*(:(ro|rw))?$/, {
        error: 'expected HOST:CONTAINER[:ro|rw] with an absolute CONTAINER path',
      }),
    )
    .optional()
    .describe('Bind mounts HOST:CONTAINER[:ro|rw]; HOST relative to the lab file.'),
  files: z
    .record(
      z
        .string()
        .regex(/^(\/[^/]+)+$/, { error: 'a file is named by its absolute path in the container, e.g. /etc/motd' }),
      file,
    )
    .optional()
    .describe('Files put into the container, by absolute path.'),
  config: z
    .string()
    .optional()
    .describe(
      'router only: /etc/frr/frr.conf; text with a newline is the content, otherwise a path relative to the lab file.',
    ),
  cmd: stringOrList().optional().describe("Replaces the image's command: a string (run by /bin/sh -c) or a list."),
  exec: stringOrList().optional().describe('Shell command lines run in order once the node has started.'),
  'wait-for': z
    .array(z.string())
    .optional()
    .describe('Nodes that must be up (their exec done) before this one is created.'),
};

const nodeFields = z
  .strictObject(nodeShape)
  .meta({ id: 'NodeFields', description: 'Node fields inherited by nodes (every node key except group).' });

const node = z
  .strictObject({
    ...nodeShape,
    group: objectName('group').optional().describe('A group of groups: whose fields this node inherits.'),
  })
  .meta({ id: 'Node', description: 'A container. Inherits: kind built-ins < defaults < its group < itself.' });

export const LabFileSpec = z
  .strictObject({
    name: z
      .string()
      .regex(LAB_NAME, {
        error: 'a lab name is 1-20 characters a-z, 0-9 and -, starting and ending with a letter or digit',
      })
      .describe("The lab's name; containers are <name>-<node>, networks <name>-<network>."),
    defaults: nodeFields.optional().describe('Node fields every node inherits.'),
    groups: z
      .record(objectName('group'), nodeFields)
      .optional()
      .describe('Named sets of node fields; a node picks one with group:.'),
    acls: z
      .record(
        objectName('acl'),
        z
          .array(
            z.strictObject({
              rule: z.record(z.string(), z.unknown()).describe('FAUCET match fields and actions, as in faucet.yaml.'),
            }),
          )
          .min(1, { error: 'an ACL has at least one rule' }),
      )
      .optional()
      .describe(
        "The lab's own FAUCET ACLs, rules as in faucet.yaml's acls: (- rule: {…}); written into faucet.yaml as lab-<lab>.<name> by up, removed by down. Networks (default_acl, nat_acl), interfaces (acl) and the portacl label name them by their name here.",
      ),
    networks: z.record(objectName('network'), network).optional().describe('Segments by name.'),
    links: z.array(link).optional().describe('Point-to-point links between two nodes.'),
    nodes: z
      .record(objectName('node'), node)
      .refine((m) => Object.keys(m).length > 0, { error: 'a lab has at least one node' })
      .describe("The lab's containers by name."),
  })
  .meta({
    $id: 'urn:dovesnap:schema:lab:1',
    title: 'dovesnap lab file',
    description: 'A lab for `dovesnap lab`: networks, links and the containers on them.',
  });

export type LabFileInput = z.infer<typeof LabFileSpec>;
export type NetworkInput = z.infer<typeof network>;
export type LinkInput = z.infer<typeof link>;
export type NodeInput = z.infer<typeof node>;
export type NodeFieldsInput = z.infer<typeof nodeFields>;
export type InterfaceInput = z.infer<typeof iface>;
export type RouteInput = z.infer<typeof route>;
export type HostRouteInput = z.infer<typeof hostRoute>;
export type FileInput = z.infer<typeof file>;

/** The JSON Schema of the lab file, generated from `LabFileSpec`. */
export function labJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(LabFileSpec, { target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** The text of `schema/lab.schema.json`, as the script writes it and the unit test compares it. */
export function labJsonSchemaText(): string {
  return `${JSON.stringify(labJsonSchema(), null, 2)}\n`;
}
