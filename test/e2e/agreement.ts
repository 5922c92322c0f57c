import { parse } from 'yaml';
import { docker, faucetYaml, hostLinks, must, run, status } from './harness.js';

/**
 * Whether Docker's view and the host agree, looked at from outside as an operator would: the
 * fault-matrix and load tests call this after every injected fault and every burst. Each
 * disagreement is one sentence naming the object; an empty list means they agree.
 */

export interface DockerNetwork {
  readonly id: string;
  readonly name: string;
  readonly subnets: readonly string[];
  /** Endpoint id → container name, for the containers Docker has on the network now. */
  readonly endpoints: ReadonlyMap<string, string>;
}

interface InspectedNetwork {
  Id: string;
  Name: string;
  IPAM?: { Config?: { Subnet?: string }[] | null };
  Containers?: Record<string, { Name: string; EndpointID: string }> | null;
}

/** Docker's dovesnap networks (driver `dovesnap` or its older name `ovs`) and their endpoints. */
export async function dockerDovesnapNetworks(): Promise<Map<string, DockerNetwork>> {
  const ids = new Set<string>();
  for (const driver of ['dovesnap', 'ovs']) {
    const out = await docker('network', 'ls', '--no-trunc', '--filter', `driver=${driver}`, '--format', '{{.ID}}');
    for (const id of out.split('\n').filter((l) => l !== '')) ids.add(id);
  }
  const out = new Map<string, DockerNetwork>();
  if (ids.size === 0) return out;
  const inspected = JSON.parse(await docker('network', 'inspect', ...ids)) as InspectedNetwork[];
  for (const n of inspected) {
    const endpoints = new Map(Object.values(n.Containers ?? {}).map((c) => [c.EndpointID, c.Name] as const));
    out.set(n.Id, {
      id: n.Id,
      name: n.Name,
      subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s !== ''),
      endpoints,
    });
  }
  return out;
}

async function ovsRows(table: 'Bridge' | 'Port'): Promise<{ name: string; ids: Record<string, string> }[]> {
  const json = JSON.parse(
    await must('ovs-vsctl', ['--timeout=10', '--format=json', '--columns=name,external_ids', 'list', table]),
  ) as { data: [string, ['map', [string, string][]]][] };
  return json.data.map(([name, [, pairs]]) => ({ name, ids: Object.fromEntries(pairs) }));
}

function difference<T>(a: Iterable<T>, b: ReadonlySet<T>): T[] {
  return [...a].filter((x) => !b.has(x));
}

/**
 * Every check of "nothing leaked, nothing missing" between Docker and the host:
 * networks (OVS bridges, the status API, FAUCET DPs, DOCKER-USER rules, NAT rules), endpoints
 * (veths, OVS ports, FAUCET interface entries) and the DHCP clients of dovesnap endpoints.
 */
export async function disagreements(): Promise<string[]> {
  const problems: string[] = [];
  const networks = await dockerDovesnapNetworks();
  const netIds = new Set(networks.keys());
  const endpointIds = new Set([...networks.values()].flatMap((n) => [...n.endpoints.keys()]));
  const portRows = await ovsRows('Port');
  // An endpoint's host end: its own pair (dsp…), or the ready port it took (dsq…; see driver/port-pool.ts).
  const portOfEndpoint = new Map(
    portRows.flatMap((p) =>
      p.ids['dovesnap-endpoint-id'] === undefined ? [] : [[p.ids['dovesnap-endpoint-id'], p.name] as const],
    ),
  );
  const hostIfs = new Set([...endpointIds].map((id) => portOfEndpoint.get(id) ?? `dsp${id.slice(0, 12)}`));
  // Ready ports, announced to FAUCET or still waiting for a quiet FAUCET (dovesnap-ready-pending).
  const readyPorts = portRows.filter(
    (p) =>
      (p.ids['dovesnap-ready-port'] ?? p.ids['dovesnap-ready-pending']) !== undefined &&
      netIds.has(p.ids['dovesnap-network-id'] ?? ''),
  );
  for (const p of readyPorts) hostIfs.add(p.name);
  const readyPeers = new Set(
    readyPorts.map((p) => p.ids['dovesnap-ready-port'] ?? p.ids['dovesnap-ready-pending'] ?? ''),
  );

  const bridges = (await ovsRows('Bridge')).filter((b) => b.ids['dovesnap-network-id'] !== undefined);
  const bridgeNets = new Set(bridges.map((b) => b.ids['dovesnap-network-id'] ?? ''));
  for (const id of difference(bridgeNets, netIds))
    problems.push(`OVS bridge of network ${id.slice(0, 12)}, which Docker does not have`);
  for (const id of difference(netIds, bridgeNets))
    problems.push(`Docker network ${networks.get(id)?.name} has no OVS bridge`);

  const statusNets = new Set(Object.keys(await status()));
  for (const id of difference(statusNets, netIds))
    problems.push(`status API lists network ${id.slice(0, 12)}, which Docker does not have`);
  for (const id of difference(netIds, statusNets))
    problems.push(`status API lacks Docker network ${networks.get(id)?.name}`);

  const links = new Set([...(await hostLinks('dsp')), ...(await hostLinks('dsq'))]);
  for (const l of difference(links, hostIfs))
    problems.push(`veth ${l} belongs to no endpoint Docker has, nor is it a ready port`);
  for (const l of difference(hostIfs, links)) problems.push(`endpoint's veth ${l} is missing`);
  const peers = [...(await hostLinks('dsc')), ...difference(await hostLinks('dsr'), readyPeers)];
  for (const l of peers) problems.push(`container-side veth ${l} is still in the host's namespace`);

  const ports = portRows.filter((p) => p.ids['dovesnap-endpoint-id'] !== undefined);
  const portEndpoints = new Set(ports.map((p) => p.ids['dovesnap-endpoint-id'] ?? ''));
  for (const id of difference(portEndpoints, endpointIds))
    problems.push(`OVS port of endpoint ${id.slice(0, 12)}, which Docker does not have`);
  for (const id of difference(endpointIds, portEndpoints)) problems.push(`endpoint ${id.slice(0, 12)} has no OVS port`);

  const faucet = parse(faucetYaml()) as {
    dps?: Record<string, { description?: string; interfaces?: Record<string, { description?: string }> }>;
  } | null;
  const names = new Map([...networks.values()].map((n) => [n.name, n] as const));
  for (const [dpName, dp] of Object.entries(faucet?.dps ?? {})) {
    const m = /^dovesnap network ([0-9a-f]{64})$/.exec(dp.description ?? '');
    if (m?.[1] === undefined) continue;
    if (!netIds.has(m[1])) {
      problems.push(`faucet.yaml has DP ${dpName} of network ${m[1].slice(0, 12)}, which Docker does not have`);
      continue;
    }
    const containers = new Set([...(names.get(dpName)?.endpoints.values() ?? [])]);
    for (const [port, entry] of Object.entries(dp.interfaces ?? {})) {
      const named = /^\/(\S+) [0-9a-f]+$/.exec(entry.description ?? '');
      if (named?.[1] !== undefined && !containers.has(named[1]))
        problems.push(
          `faucet.yaml DP ${dpName} port ${port} is for container ${named[1]}, which is not on the network`,
        );
    }
  }

  const userRules = await run('iptables', ['-w', '-S', 'DOCKER-USER']);
  const prefixes = new Set([...netIds].map((id) => id.slice(0, 12)));
  for (const m of userRules.stdout.matchAll(/--comment "?dovesnap ([0-9a-f]{12})"?/g)) {
    if (m[1] !== undefined && !prefixes.has(m[1]))
      problems.push(`DOCKER-USER rule of network ${m[1]}, which Docker does not have`);
  }

  const nat = await run('nft', ['list', 'table', 'ip', 'dovesnap']);
  const subnets = new Set([...networks.values()].flatMap((n) => n.subnets));
  for (const m of nat.stdout.matchAll(/(10\.231\.[0-9]+\.0\/24)/g)) {
    if (m[1] !== undefined && !subnets.has(m[1]))
      problems.push(`nftables table ip dovesnap has rules for ${m[1]}, which no Docker network has`);
  }

  // A DHCP network's client names its endpoint in its pidfile path (/run/dovesnap/dhcp/<endpoint>.pid).
  const clients = await run('pgrep', ['-a', 'udhcpc']);
  for (const line of clients.stdout.split('\n')) {
    const m = /\/dovesnap\/dhcp\/([0-9a-f]{64})\.pid\b/.exec(line);
    if (m?.[1] !== undefined && !endpointIds.has(m[1]))
      problems.push(`DHCP client of endpoint ${m[1].slice(0, 12)}, which Docker does not have: ${line}`);
  }
  return [...new Set(problems)];
}

/** Waits until Docker and the host agree (the daemon's start-up pass may still be running). */
export async function waitAgreement(timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string[] = [];
  for (;;) {
    last = await disagreements();
    if (last.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`Docker and the host disagree after ${timeoutMs} ms:\n  ${last.join('\n  ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
