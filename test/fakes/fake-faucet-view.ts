/**
 * The driver's view of FAUCET for unit tests: the operator's DPs and ACLs as plain sets, the
 * sync requests it got, and the spare entries it says FAUCET runs (none unless a test adds some).
 */
import type { FaucetView } from '../../src/driver/faucet-api.js';
import type { ReadyPort } from '../../src/driver/port-pool.js';

export class FakeFaucetView implements FaucetView {
  foreign = new Map<string, bigint>();
  acls = new Set<string>(['allowall']);
  usage = { input: new Set<string>(), output: new Set<string>() };
  syncs: string[] = [];
  /** Port numbers whose spare entry FAUCET runs, for every network. */
  spares = new Set<number>();
  /** Endpoints the driver said it opened at CreateEndpoint. */
  early: string[] = [];

  async foreignDps(): Promise<Map<string, bigint>> {
    return this.foreign;
  }
  async definedAcls(): Promise<Set<string>> {
    return this.acls;
  }
  async dpNameConflict(name: string): Promise<string | undefined> {
    return this.foreign.has(name) ? `DP ${name} is the operator's` : undefined;
  }
  async aclUsage(): Promise<{ input: Set<string>; output: Set<string> }> {
    return { input: new Set(this.usage.input), output: new Set(this.usage.output) };
  }
  /** VIDs the operator's own configuration uses. */
  operatorVids = new Set<number>();
  async operatorVlans(): Promise<ReadonlySet<number>> {
    return this.operatorVids;
  }
  async sync(reason: string): Promise<void> {
    this.syncs.push(reason);
  }
  runsSpare(_networkId: string, ofport: number): boolean {
    return this.spares.has(ofport);
  }
  /** Ready ports (host ends) FAUCET programmed; `allReady` says all of them are. */
  ready = new Set<string>();
  allReady = false;
  runsReady(_networkId: string, port: ReadyPort): boolean {
    return this.allReady || this.ready.has(port.hostIf);
  }
  /** Numbers FAUCET mirrors, for every network. */
  mirrored = new Set<number>();
  mirroredNumbers(): ReadonlySet<number> {
    return this.mirrored;
  }
  spareNumbers(): ReadonlySet<number> {
    return this.spares;
  }
  /** What idle() waits for (a test holds FAUCET "busy" with it). */
  busy: Promise<void> = Promise.resolve();
  idle(): Promise<void> {
    return this.busy;
  }
  openedEarly(endpointId: string): void {
    this.early.push(endpointId);
  }
}
