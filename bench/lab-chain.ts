/**
 * The chain lab `bench/lab.ts` measures: an uplink NATed by the host, K FRR routers in a row
 * joined by point-to-point links, and one host on a segment behind the last router. Pure: it
 * returns the lab file's text; the benchmark writes it to a temporary directory.
 *
 *   host (.1, NAT) --uplink-- r1 --link-- r2 --link-- … -- rK --hosts-- h1
 *      10.238.T.0/24          eth1  eth2 10.238.(T+1).x/30 eth1 eth2 10.238.(T+2).0/24
 *
 * Every router runs OSPF area 0 with point-to-point interfaces, hello 1 s and dead 4 s (the
 * timers of examples/ospf-lab.yaml); r1 originates the default route, rK announces the hosts
 * segment, and the host routes the link and hosts prefixes via r1 (`host_routes:`), so that h1
 * reaches the host's uplink address across all K routers and the host can answer it.
 */
import { stringify } from 'yaml';

export interface ChainOptions {
  /** Routers in the chain, 2..64 (the links' /30s share one /24). */
  readonly routers: number;
  /** The lab's name: its containers are `<name>-r1`, …, `<name>-h1`. */
  readonly name: string;
  /** Third octet T of 10.238.T.0/24, the uplink; T+1 holds the links, T+2 the hosts segment, T+3 names the routers (their OSPF IDs). */
  readonly third: number;
}

/** The addresses a chain lab uses, for the benchmark's probes. */
export interface ChainAddresses {
  /** The host's own address on the uplink (the gateway): where h1's TCP probe goes. */
  readonly uplinkGateway: string;
  readonly uplinkSubnet: string;
  readonly linkSubnet: string;
  readonly hostsSubnet: string;
  /** h1's address. */
  readonly host: string;
}

const LAB_NAME = /^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/;

function check(opts: ChainOptions): void {
  if (!Number.isInteger(opts.routers) || opts.routers < 2 || opts.routers > 64) {
    throw new Error(`--chain: a chain has 2..64 routers (its links' /30s share one /24), got ${opts.routers}`);
  }
  if (!Number.isInteger(opts.third) || opts.third < 0 || opts.third > 252)
    throw new Error(
      `third octet: 0..252 (it, the next two /24s and the routers' IDs in the third, all in 10.238.0.0/16), got ${opts.third}`,
    );
  if (!LAB_NAME.test(opts.name))
    throw new Error(
      `lab name: 1-20 of a-z, 0-9 and -, starting and ending with a letter or digit, got ${JSON.stringify(opts.name)}`,
    );
}

export function chainAddresses(opts: ChainOptions): ChainAddresses {
  check(opts);
  const t = opts.third;
  return {
    uplinkGateway: `10.238.${t}.1`,
    uplinkSubnet: `10.238.${t}.0/24`,
    linkSubnet: `10.238.${t + 1}.0/24`,
    hostsSubnet: `10.238.${t + 2}.0/24`,
    host: `10.238.${t + 2}.2`,
  };
}

/** The OSPF neighbours each router of the chain must have Full: r1 and rK one, the others two. */
export function chainNeighbours(routers: number): Map<string, number> {
  return new Map(Array.from({ length: routers }, (_, i) => [`r${i + 1}`, i === 0 || i === routers - 1 ? 1 : 2]));
}

/** /etc/frr/frr.conf of router i (1-based) of a chain of `k`. */
function frrConfig(i: number, k: number, t: number): string {
  const ospfIface = (name: string): string[] => [
    `interface ${name}`,
    ' ip ospf network point-to-point',
    ' ip ospf hello-interval 1',
    ' ip ospf dead-interval 4',
    '!',
  ];
  const lines = ['frr defaults traditional', `hostname r${i}`, 'log stdout', 'service integrated-vtysh-config', '!'];
  // eth1 faces the uplink (r1) or the previous router; eth2 the next router or the hosts (rK).
  if (i > 1) lines.push(...ospfIface('eth1'));
  if (i < k) lines.push(...ospfIface('eth2'));
  // Router IDs are only names; 10.238.(T+3).i keeps them apart from every chain's addresses.
  lines.push('router ospf', ` ospf router-id 10.238.${t + 3}.${i}`);
  if (i === 1) lines.push(' passive-interface eth1');
  if (i === k) lines.push(' passive-interface eth2');
  if (i === 1) lines.push(` network 10.238.${t}.0/24 area 0`);
  lines.push(` network 10.238.${t + 1}.0/24 area 0`);
  if (i === k) lines.push(` network 10.238.${t + 2}.0/24 area 0`);
  if (i === 1) lines.push(' default-information originate always');
  lines.push('!', '');
  return lines.join('\n');
}

/** The chain lab's file, as YAML text that `dovesnap lab up` reads. */
export function chainLab(opts: ChainOptions): string {
  check(opts);
  const { routers: k, third: t } = opts;
  const a = chainAddresses(opts);
  const links = Array.from({ length: k - 1 }, (_, j) => ({
    endpoints: [`r${j + 1}:eth2`, `r${j + 2}:eth1`],
    addresses: [`10.238.${t + 1}.${4 * j + 1}/30`, `10.238.${t + 1}.${4 * j + 2}/30`],
  }));
  const nodes: Record<string, unknown> = {};
  for (let i = 1; i <= k; i++) {
    const interfaces: Record<string, unknown> = {};
    if (i === 1) interfaces['eth1'] = { network: 'uplink', address: `10.238.${t}.2/24` };
    if (i === k) interfaces['eth2'] = { network: 'hosts', address: `10.238.${t + 2}.1/24` };
    nodes[`r${i}`] = {
      kind: 'router',
      // A middle router has only its links' ends, which the links create.
      ...(Object.keys(interfaces).length > 0 ? { interfaces } : {}),
      ...(i === 1 ? { routes: [`default via ${a.uplinkGateway}`] } : {}),
      config: frrConfig(i, k, t),
    };
  }
  nodes['h1'] = {
    kind: 'host',
    interfaces: { eth1: { network: 'hosts', address: `${a.host}/24` } },
    routes: [`default via 10.238.${t + 2}.1`],
    'wait-for': [`r${k}`],
  };
  const doc = {
    name: opts.name,
    networks: {
      uplink: {
        mode: 'nat',
        subnet: a.uplinkSubnet,
        gateway: a.uplinkGateway,
        host_routes: [
          { prefix: a.linkSubnet, via: 'r1' },
          { prefix: a.hostsSubnet, via: 'r1' },
        ],
      },
      hosts: { subnet: a.hostsSubnet },
    },
    links,
    nodes,
  };
  return `# ${k} OSPF routers in a chain, generated by bench/lab.ts\n${stringify(doc, { lineWidth: 0 })}`;
}
