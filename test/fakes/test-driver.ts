import { Driver, type DriverDeps } from '../../src/driver/driver.js';
import { createNatView } from '../../src/driver/nat-view.js';
import { StateStore } from '../../src/driver/state.js';
import { silentLogger } from '../../src/util/log.js';
import { FakeFaucetView } from './fake-faucet-view.js';
import { FakeHostNet } from './fake-host.js';
import { FakeVSwitch } from './fake-vswitch.js';

/** The fakes a unit-tested Driver runs on. */
export interface DriverFakes {
  readonly vswitch: FakeVSwitch;
  readonly host: FakeHostNet;
  readonly state: StateStore;
  readonly faucet: FakeFaucetView;
}

/**
 * A Driver over fakes, with the settings of a host whose local FAUCET is the default
 * controller on the userspace datapath, and a fixed "random" source (MACs and names are
 * predictable). `extra` replaces any dependency.
 */
export function testDriver(fakes: DriverFakes, extra: Partial<DriverDeps> = {}): Driver {
  return new Driver({
    ...fakes,
    nat: createNatView(fakes.state, fakes.host, silentLogger()),
    settings: {
      defaultControllers: ['tcp:127.0.0.1:6653'],
      localFaucetControllers: ['tcp:127.0.0.1:6653'],
      hostDatapath: 'netdev',
      ofportTimeoutMs: 1000,
    },
    logger: silentLogger(),
    random: (n) => new Uint8Array(n).fill(7),
    ...extra,
  });
}

/** A new set of fakes: no bridges, links, networks, or FAUCET spares. */
export function freshFakes(): DriverFakes {
  return {
    vswitch: new FakeVSwitch(),
    host: new FakeHostNet(),
    state: new StateStore(),
    faucet: new FakeFaucetView(),
  };
}
