import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  daemonEnvironment,
  faucetEndpoints,
  MAKE_UP_DAEMON_ENV,
  passedThrough,
} from '../../../src/config/daemon-env.js';
import { loadSettings } from '../../../src/config/settings.js';

describe("the daemon's environment (dovesnap settings --env)", () => {
  it("is make up's defaults alone, sorted, for an empty caller", () => {
    assert.deepEqual(daemonEnvironment({}), [
      'DOVESNAP_DEFAULT_CONTROLLERS=tcp:127.0.0.1:6653,tcp:127.0.0.1:6654',
      'DOVESNAP_FAUCET_METRICS=http://127.0.0.1:9302/metrics',
      'DOVESNAP_FAUCET_PIDFILE=/run/dovesnap/faucet.pid',
      'DOVESNAP_GAUGE_PIDFILE=/run/dovesnap/gauge.pid',
      'DOVESNAP_STATUS_ADDR=127.0.0.1:9401',
      'FAUCETCONFRPC_ADDR=',
      'FAUCETCONFRPC_CLIENT=faucetconfrpc',
      'FAUCETCONFRPC_CONNRETRIES=5',
      'FAUCETCONFRPC_KEYDIR=/etc/dovesnap/confrpc',
      'FAUCETCONFRPC_PORT=59999',
      'FAUCET_PREFIX=',
      'HOME=/root',
      'LANG=C.UTF-8',
      'MALLOC_ARENA_MAX=2',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ]);
  });

  it("takes the caller's DOVESNAP_* and the original's names over the defaults, and nothing else", () => {
    const env = daemonEnvironment({
      DOVESNAP_STATUS_ADDR: '0.0.0.0:9401',
      DOVESNAP_READY_PORTS: '0',
      FAUCET_PREFIX: '/srv',
      MIRROR_BRIDGE_OUT: 'eno9',
      STACK_OFCONTROLLERS: 'tcp:10.0.0.1:6653',
      PATH: '/home/me/bin',
      HOME: '/home/me',
      GAUGE_PROMETHEUS_PORT: '9999',
      SUDO_USER: 'me',
    });
    assert.ok(env.includes('DOVESNAP_STATUS_ADDR=0.0.0.0:9401'));
    assert.ok(env.includes('DOVESNAP_READY_PORTS=0'));
    assert.ok(env.includes('FAUCET_PREFIX=/srv'));
    assert.ok(env.includes('MIRROR_BRIDGE_OUT=eno9'));
    assert.ok(env.includes('STACK_OFCONTROLLERS=tcp:10.0.0.1:6653'));
    assert.ok(env.includes(`PATH=${MAKE_UP_DAEMON_ENV['PATH']}`), "the caller's PATH is not the daemon's");
    assert.ok(env.includes('HOME=/root'));
    assert.ok(!env.some((l) => l.startsWith('GAUGE_PROMETHEUS_PORT=') || l.startsWith('SUDO_USER=')));
    assert.equal(env.filter((l) => l.startsWith('DOVESNAP_STATUS_ADDR=')).length, 1);
  });

  it('sorts by byte, as LC_ALL=C sort does (scripts/up.sh compares it with the running daemon)', () => {
    const env = daemonEnvironment({ STACK_PRIORITY1: 'core', STACKING_INTERFACES: 'core:3:eth5', DOVESNAP_a: 'x' });
    const bytes = [...env].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual(env, bytes);
    assert.ok(env.indexOf('DOVESNAP_STATUS_ADDR=127.0.0.1:9401') < env.indexOf('DOVESNAP_a=x'));
    assert.ok(env.indexOf('STACKING_INTERFACES=core:3:eth5') < env.indexOf('STACK_PRIORITY1=core'));
  });

  it('passes every variable loadSettings reads, but the Gauge exporter make up fixes', () => {
    const read = new Set<string>();
    const spy = new Proxy({} as NodeJS.ProcessEnv, {
      get(_target, name) {
        if (typeof name === 'string') read.add(name);
        return undefined;
      },
    });
    loadSettings(spy);
    const missed = [...read].filter((name) => !passedThrough(name) && !name.startsWith('GAUGE_PROMETHEUS_'));
    assert.deepEqual(missed, []);
    assert.ok(read.size > 10, `loadSettings read ${[...read].join(', ')}`);
  });

  it("points the operator's commands at make up's FAUCET unless the daemon's variables say otherwise", () => {
    assert.deepEqual(faucetEndpoints({}), {
      metricsUrl: 'http://127.0.0.1:9302/metrics',
      pidfile: '/run/dovesnap/faucet.pid',
    });
    assert.deepEqual(
      faucetEndpoints({ DOVESNAP_FAUCET_METRICS: 'http://10.0.0.2:9302/metrics', DOVESNAP_FAUCET_PIDFILE: ' ' }),
      { metricsUrl: 'http://10.0.0.2:9302/metrics', pidfile: '/run/dovesnap/faucet.pid' },
    );
  });
});
