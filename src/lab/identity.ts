import { createHash } from 'node:crypto';
import type { LabNetwork, LabNode } from './model.js';
import { canonicalJson } from '../util/canonical-json.js';

/**
 * How `dovesnap lab` knows its own objects: every network and container it makes carries these
 * labels, so `down` and `status` find them from Docker itself, even after a crash, an edited
 * file or a lost state file; and the hash of the definition each was made from, so that `up`
 * changes exactly what changed.
 */

export const LAB_LABEL = 'dovesnap.lab';
export const NODE_LABEL = 'dovesnap.lab.node';
export const NETWORK_LABEL = 'dovesnap.lab.network';
export const HASH_LABEL = 'dovesnap.lab.hash';
/** Nodes: `router`, `host`, `capture` or `custom`; networks: `segment` or `link`. */
export const KIND_LABEL = 'dovesnap.lab.kind';

function digest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

export function networkHash(net: LabNetwork): string {
  return digest({ v: 1, net });
}

/**
 * A node's container is made from its definition, its image (a recipe's tag carries the
 * recipe's hash; another image is named by its ID, so a rebuilt image counts as a change) and
 * the networks it is on: a network made anew takes its nodes' containers with it.
 */
export function nodeHash(node: LabNode, image: string, networkHashes: readonly string[]): string {
  return digest({ v: 1, node, image, networks: networkHashes });
}

/** Nodes: each declared interface and the lab network it is on, `eth1=uplink,eth2=r1-eth2-r2-eth1`. */
export const INTERFACES_LABEL = 'dovesnap.lab.interfaces';

export function interfacesLabel(node: LabNode): string {
  return node.interfaces.map((i) => `${i.name}=${i.network}`).join(',');
}

export function labLabels(
  lab: string,
  kind: 'node' | 'network',
  key: string,
  hash: string,
  objectKind: string,
): Record<string, string> {
  return {
    [LAB_LABEL]: lab,
    [kind === 'node' ? NODE_LABEL : NETWORK_LABEL]: key,
    [HASH_LABEL]: hash,
    [KIND_LABEL]: objectKind,
  };
}
