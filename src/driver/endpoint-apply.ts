import type { Logger } from '../util/log.js';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { failpoint } from '../util/failpoints.js';
import type { VSwitch } from '../ovs/vswitch.js';
import type { CreateEndpointResponse } from '../model/plugin-protocol.js';
import type { HostNet } from './host.js';
import type { NetworkRecord, StateStore } from './state.js';
import { staysOpen, type EndpointPlan, type OwnPortPlan, type ReadyPortPlan } from './endpoint-plan.js';

/**
 * Carries out a CreateEndpoint plan (driver/endpoint-plan.ts): the only place where a new
 * endpoint's veth, OVS port and record are made. A failure undoes all of it before the error
 * goes back to Docker, which sends no DeleteEndpoint for a CreateEndpoint it was refused.
 */

export interface EndpointApplyDeps {
  readonly vswitch: VSwitch;
  readonly host: HostNet;
  readonly state: StateStore;
  readonly log: Logger;
  readonly ofportTimeoutMs: number;
  /** Host ends being made right now, which the collector must leave alone. */
  readonly creating: Set<string>;
  /** Tells the FAUCET view the endpoint's port carries traffic already (FaucetView.openedEarly). */
  openedEarly(endpointId: string): void;
}

export async function applyCreateEndpoint(
  deps: EndpointApplyDeps,
  net: NetworkRecord,
  plan: EndpointPlan,
): Promise<CreateEndpointResponse> {
  if (plan.readyPort !== undefined && (await takeReadyPort(deps, net, plan.readyPort))) return plan.readyPort.response;
  if ('refused' in plan.ownPort) throw new DovesnapError(ErrorCode.Conflict, plan.ownPort.refused);
  await makeOwnPort(deps, net, plan.ownPort);
  return plan.response;
}

/**
 * The endpoint takes a ready port (driver/port-pool.ts): FAUCET already forwards its traffic, so
 * nothing is asked of FAUCET now. False if it could not (the port is left as it was, and the
 * endpoint gets a port of its own).
 */
async function takeReadyPort(deps: EndpointApplyDeps, net: NetworkRecord, plan: ReadyPortPlan): Promise<boolean> {
  const { port, record } = plan;
  // Between the write below and the model's record, the collector must not take it for an orphan.
  deps.creating.add(port.hostIf);
  try {
    if (plan.setMac) await deps.host.setLinkMac(port.containerIf, record.mac);
    // One write: the port stops being a ready port and becomes this endpoint's.
    await deps.vswitch.setPortExternalIds(port.hostIf, plan.externalIds);
    deps.state.putEndpoint(record);
  } catch (err) {
    deps.log.warn(
      { endpoint: record.id, port: port.hostIf, err: errorMessage(err) },
      'could not take a ready port; making one',
    );
    return false;
  } finally {
    deps.creating.delete(port.hostIf);
  }
  deps.openedEarly(record.id);
  deps.log.info(
    { network: net.id, endpoint: record.id, port: port.hostIf, ofport: port.ofport, mac: record.mac, readyPort: true },
    'endpoint created',
  );
  try {
    await failpoint('createEndpoint.done');
  } catch (err) {
    // The port was this endpoint's now, so it goes with it.
    await rollBack(deps, net, port.hostIf, record.id, err);
    throw err;
  }
  return true;
}

/** A veth pair and an OVS port of the endpoint's own, numbered by ovs-vswitchd before the endpoint is recorded. */
async function makeOwnPort(deps: EndpointApplyDeps, net: NetworkRecord, plan: OwnPortPlan): Promise<void> {
  const { host, vswitch } = deps;
  const { record, port } = plan;
  // Removes the pair again itself if it fails half-way.
  await host.createVeth(plan.veth);
  try {
    await failpoint('createEndpoint.afterVeth');
    if (plan.openEarly) await host.setLinkUp(port.name);
    await vswitch.addPort(port);
    await failpoint('createEndpoint.afterPort');
    const ofport = await vswitch.waitOfport(port.name, deps.ofportTimeoutMs);
    const open = staysOpen(plan, ofport);
    // Not the spare's number after all: FAUCET has no entry to run it under yet.
    if (plan.openEarly && !open) await host.setLinkDown(port.name);
    deps.state.putEndpoint({ ...record, ofport });
    if (open) deps.openedEarly(record.id);
    deps.log.info(
      { network: net.id, endpoint: record.id, port: port.name, ofport, mac: record.mac, openedEarly: open },
      'endpoint created',
    );
    await failpoint('createEndpoint.done');
  } catch (err) {
    await rollBack(deps, net, port.name, record.id, err);
    throw err;
  }
}

/** Undoes all CreateEndpoint may have made: port, veth and record. Each step succeeds if its object is gone. */
async function rollBack(
  deps: EndpointApplyDeps,
  net: NetworkRecord,
  hostIf: string,
  endpointId: string,
  err: unknown,
): Promise<void> {
  deps.log.warn({ endpoint: endpointId, err: errorMessage(err) }, 'endpoint creation failed; rolling back');
  await deps.vswitch.deletePort(net.bridgeName, hostIf).catch(() => undefined);
  await deps.host.deleteLink(hostIf).catch(() => undefined);
  deps.state.removeEndpoint(endpointId);
}
