import type { NarwhalHost } from './host.js';
import { deleteLink } from '../net/links.js';
import { chainOwner, isDriverLinkName, ruleTagOwner, type ChainOwner } from './names.js';
import { deleteChainScript } from './rules.js';

/**
 * narwhal's leftovers: what carries its marks (names, see names.ts) and belongs to nothing.
 *
 * Rules of a link whose interface is gone are always leftovers: a command link goes with its
 * container, and since Linux 6.11 a netdev chain outlives its device (and would bind to the
 * next interface of that name). The command removes those each time it runs. The daemon also
 * knows its own links and networks, and removes driver links of endpoints it never recorded
 * (a daemon killed between `ip link add` and writing the record) and rules of networks it no
 * longer has.
 */
export interface Known {
  /** Whether a driver link is an endpoint's (or one being made). Without it driver links are not judged. */
  readonly driverLink?: (name: string) => boolean;
  /** Whether a network (12 hex characters of its ID) exists. Without it network rules are not judged. */
  readonly network?: (id12: string) => boolean;
}

export interface Collected {
  readonly links: string[];
  readonly chains: string[];
  readonly rules: string[];
}

function isLeftover(host: NarwhalHost, owner: ChainOwner, known: Known): boolean {
  if (owner.kind === 'network') return known.network !== undefined && !known.network(owner.id12);
  if (!host.linkExists(owner.ifname)) return true;
  return isDriverLinkName(owner.ifname) && known.driverLink !== undefined && !known.driverLink(owner.ifname);
}

export async function collectLeftovers(host: NarwhalHost, known: Known): Promise<Collected> {
  const links: string[] = [];
  if (known.driverLink !== undefined) {
    for (const name of (await host.linkNames('nw')).filter(isDriverLinkName)) {
      if (known.driverLink(name)) continue;
      await deleteLink(name, host);
      links.push(name);
    }
  }
  const chains: string[] = [];
  for (const { family, chain } of await host.nftChains()) {
    const owner = chainOwner(chain);
    if (owner === undefined || !isLeftover(host, owner, known)) continue;
    await host.nft(deleteChainScript(family, chain));
    chains.push(`${family} ${chain}`);
  }
  const rules: string[] = [];
  for (const rule of await host.taggedDockerUserRules('narwhal ')) {
    const owner = ruleTagOwner(rule.comment);
    if (owner === undefined || !isLeftover(host, owner, known)) continue;
    await host.deleteTaggedRule(rule);
    rules.push(`${rule.tool}: ${rule.comment}`);
  }
  return { links, chains, rules };
}
