import { ComposeLabel, Label, parseContainerLabels, type ComposeNetwork } from '../model/labels.js';

/**
 * Opening a container's port at CreateEndpoint, before dovesnap knows whose it is. Pure.
 *
 * Why: FAUCET reprograms a VLAN's flooding for every port event it sees as a change, at a cost
 * that grows with the ports on the VLAN. A port added to the bridge admin-down and raised once
 * the container is known gives three such events (FAUCET takes any ADD for "up", then sees the
 * raised port without carrier, then with it). A port whose host end is already up when it joins
 * the bridge gives one: the ADD, at CreateEndpoint; the carrier that follows when Docker raises
 * the container's end changes nothing FAUCET acts on.
 *
 * The price is that the link can carry traffic as soon as Docker raises the container's end,
 * before dovesnap has resolved the container. That is allowed only when the entry FAUCET already
 * runs for the port's number (a spare: the network's VLAN and default ACL) is exactly what this
 * container will get, whichever container it turns out to be: the network does not turn on
 * anti-spoofing, and no container Docker knows that could be joining this network carries a
 * label that changes its port (an ACL, mirroring, anti-spoofing, capture, or a label dovesnap would refuse
 * and keep the port closed for). Anything uncertain keeps the old order.
 */

/** The labels whose presence can make a port's entry differ from a spare's, or keep it closed. */
export const POLICY_LABELS: readonly string[] = [
  Label.portacl,
  Label.mirror,
  Label.antispoof,
  Label.macPrefix,
  Label.capture,
];

export interface LabelledContainer {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The network's names, as container labels may give them; `compose` undefined: not learnt yet. */
export interface EarlyOpenNetwork {
  readonly name: string;
  readonly compose: ComposeNetwork | null | undefined;
}

/**
 * The first container (by name) that could join `network` with a port that is not the
 * network's default, or undefined if there is none. `resolvedHere`: containers that already
 * have their endpoint on this network (their port is not the one being created).
 */
export function policyHolder(
  containers: readonly LabelledContainer[],
  network: EarlyOpenNetwork,
  resolvedHere: ReadonlySet<string>,
): string | undefined {
  for (const c of containers) {
    if (resolvedHere.has(c.id)) continue;
    // Its labels may name this network by a compose-file name not known yet.
    if (network.compose === undefined && c.labels[ComposeLabel.project] !== undefined) return c.name;
    let parsed: ReturnType<typeof parseContainerLabels>;
    try {
      parsed = parseContainerLabels(c.labels, { name: network.name, compose: network.compose ?? undefined });
    } catch {
      // A label dovesnap refuses keeps the port closed: never open it early.
      return c.name;
    }
    if (parsed.portAcls.length > 0 || parsed.mirror || parsed.antispoof === true || parsed.capture === true)
      return c.name;
  }
  return undefined;
}
