import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../../../src/config/settings.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

describe('loadSettings', () => {
  it('has the documented defaults with an empty environment', () => {
    const s = loadSettings({});
    const { statusAllow, ...plain } = s;
    assert.equal(statusAllow.text, '127.0.0.0/8,::1/128');
    assert.deepEqual(plain, {
      faucetDir: '/etc/faucet',
      faucetConfigPath: '/etc/faucet/faucet.yaml',
      gaugeConfigPath: '/etc/faucet/gauge.yaml',
      defaultControllers: [],
      localFaucetControllers: ['tcp:127.0.0.1:6653'],
      sparePorts: 64,
      readyPorts: 128,
      dhcpDir: '/run/dovesnap/dhcp',
      gaugePrometheusPort: 9303,
      gaugePrometheusAddr: '127.0.0.1',
      pluginDir: '/run/docker/plugins',
      driverNames: ['dovesnap', 'ovs'],
      capabilities: { Scope: 'local', ConnectivityScope: 'local' },
      statusHost: '127.0.0.1',
      statusPort: 9401,
      statusHosts: [],
      statusPeers: [],
      ovsdbSocket: '/var/run/openvswitch/db.sock',
      dockerSocket: '/var/run/docker.sock',
      faucetPidfile: undefined,
      gaugePidfile: undefined,
      faucetMetricsUrl: undefined,
      faucetConfirmTimeoutMs: 15000,
      mirrorBridgeOut: undefined,
      mirrorBridgeIn: undefined,
      stacking: undefined,
      failpoints: new Map(),
      confrpc: undefined,
      dpHost: undefined,
    });
    assert.ok(Object.isFrozen(s));
  });

  it('DOVESNAP_STATUS_ALLOW lists the networks that may read the status API; a bad entry names the variable and the entry', () => {
    const s = loadSettings({ DOVESNAP_STATUS_ALLOW: '10.1.0.0/16, fd00::/8,192.0.2.7' });
    assert.equal(s.statusAllow.allows('10.1.200.3'), true);
    assert.equal(s.statusAllow.allows('::ffff:10.1.0.9'), true, 'an IPv4 peer of a dual-stack socket');
    assert.equal(s.statusAllow.allows('192.0.2.7'), true);
    assert.equal(s.statusAllow.allows('192.0.2.8'), false);
    assert.equal(s.statusAllow.allows('fd12::1'), true);
    assert.equal(s.statusAllow.allows('127.0.0.1'), true, 'loopback, always');
    assert.equal(s.statusAllow.allows('10.2.0.1'), false);
    assert.equal(s.statusAllow.allows(undefined), false);
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '::1/129']) {
      assert.throws(
        () => loadSettings({ DOVESNAP_STATUS_ALLOW: bad }),
        (err: unknown) =>
          isDovesnapError(err, ErrorCode.BadOption) &&
          err.message.includes('DOVESNAP_STATUS_ALLOW') &&
          err.message.includes(bad),
      );
    }
  });

  it('DOVESNAP_STATUS_HOSTS lists further names the status API may be called by; a bad entry names the variable and the entry', () => {
    assert.deepEqual(loadSettings({ DOVESNAP_STATUS_HOSTS: 'Dovesnap.Lab, [2001:db8::7]' }).statusHosts, [
      'dovesnap.lab',
      '2001:db8::7',
    ]);
    assert.throws(
      () => loadSettings({ DOVESNAP_STATUS_HOSTS: 'dovesnap.lab,*.lab' }),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.BadOption) &&
        err.message.includes('DOVESNAP_STATUS_HOSTS') &&
        err.message.includes("'*.lab' is not a host name"),
    );
  });

  it('reads the stacking variables of the original, and refuses incomplete or malformed ones', () => {
    const base = { DOVESNAP_DEFAULT_CONTROLLERS: 'tcp:127.0.0.1:6653' };
    const s = loadSettings({
      ...base,
      STACKING_INTERFACES: 'root:3:eth7,sw2:9:eth8',
      STACK_PRIORITY1: 'root',
      STACK_MIRROR_INTERFACE: 'root:2',
    });
    assert.deepEqual(s.stacking, {
      interfaces: [
        { remoteDp: 'root', remotePort: 3, interface: 'eth7' },
        { remoteDp: 'sw2', remotePort: 9, interface: 'eth8' },
      ],
      priority1: 'root',
      mirrorInterface: { dp: 'root', port: 2 },
    });
    assert.deepEqual(
      loadSettings({
        ...base,
        STACKING_INTERFACES: 'root:3:eth7',
        STACK_PRIORITY1: 'root',
        STACK_MIRROR_INTERFACE: 'dovesnap-h1:99:sink0',
      }).stacking?.mirrorInterface,
      { dp: 'dovesnap-h1', port: 99, interface: 'sink0' },
    );
    const bad: [Record<string, string>, string][] = [
      [{ STACKING_INTERFACES: 'root:3' }, 'STACKING_INTERFACES'],
      [{ STACKING_INTERFACES: 'root:x:eth7' }, 'DP:PORT:INTERFACE'],
      [{ STACKING_INTERFACES: 'root:3:eth7' }, 'STACK_PRIORITY1'],
      [{ STACK_PRIORITY1: 'root' }, 'needs STACKING_INTERFACES'],
      [
        { STACKING_INTERFACES: 'root:3:eth7', STACK_PRIORITY1: 'root', STACK_MIRROR_INTERFACE: 'root' },
        'STACK_MIRROR_INTERFACE',
      ],
      [
        { STACKING_INTERFACES: 'root:3:eth7', STACK_PRIORITY1: 'root', MIRROR_BRIDGE_OUT: 'eth9' },
        'STACK_MIRROR_INTERFACE',
      ],
      [{ MIRROR_BRIDGE_IN: 'eth9' }, 'needs MIRROR_BRIDGE_OUT'],
      [
        { STACKING_INTERFACES: 'root:3:eth7', STACK_PRIORITY1: 'root', STACK_MIRROR_INTERFACE: 'root:2:bad/name' },
        'DP:PORT:IFACE',
      ],
    ];
    for (const [env, hint] of bad) {
      assert.throws(
        () => loadSettings({ ...base, ...env }),
        (e: unknown) => isDovesnapError(e, ErrorCode.BadOption) && e.message.includes(hint),
        JSON.stringify(env),
      );
    }
    assert.throws(() => loadSettings({ STACKING_INTERFACES: 'root:3:eth7', STACK_PRIORITY1: 'root' }), /controllers/);
    assert.deepEqual(
      loadSettings({ ...base, STACK_OFCONTROLLERS: 'tcp:10.0.0.1:6653' }).defaultControllers,
      ['tcp:10.0.0.1:6653'],
      'STACK_OFCONTROLLERS wins',
    );
  });

  it('does not read process.env when given an environment', () => {
    const saved = process.env['DOVESNAP_STATUS_ADDR'];
    process.env['DOVESNAP_STATUS_ADDR'] = 'not valid';
    try {
      assert.equal(loadSettings({}).statusPort, 9401);
    } finally {
      if (saved === undefined) delete process.env['DOVESNAP_STATUS_ADDR'];
      else process.env['DOVESNAP_STATUS_ADDR'] = saved;
    }
  });

  for (const [prefix, dir] of [
    ['/opt/faucet', '/opt/faucet/etc/faucet'],
    ['/opt/faucet/', '/opt/faucet/etc/faucet'],
    ['', '/etc/faucet'],
  ] as const) {
    it(`FAUCET_PREFIX=${JSON.stringify(prefix)} puts the FAUCET files under ${dir}`, () => {
      const s = loadSettings({ FAUCET_PREFIX: prefix });
      assert.equal(s.faucetDir, dir);
      assert.equal(s.faucetConfigPath, `${dir}/faucet.yaml`);
      assert.equal(s.gaugeConfigPath, `${dir}/gauge.yaml`);
    });
  }

  it('reads and trims the other variables; blank means unset', () => {
    const s = loadSettings({
      DOVESNAP_DEFAULT_CONTROLLERS: ' tcp:127.0.0.1:6653, ssl:[::1]:6654 ',
      DOVESNAP_STATUS_ADDR: '0.0.0.0:8080',
      DOVESNAP_PLUGIN_DIR: ' /tmp/plugins ',
      DOVESNAP_FAUCET_PIDFILE: '/run/faucet.pid',
      DOVESNAP_GAUGE_PIDFILE: '   ',
      DOVESNAP_FAUCET_METRICS: 'http://127.0.0.1:9302/metrics',
      DOVESNAP_FAUCET_TIMEOUT_MS: '100',
      MIRROR_BRIDGE_OUT: 'mirrorout',
    });
    assert.deepEqual(s.defaultControllers, ['tcp:127.0.0.1:6653', 'ssl:[::1]:6654']);
    assert.equal(s.statusHost, '0.0.0.0');
    assert.equal(s.statusPort, 8080);
    assert.equal(s.pluginDir, '/tmp/plugins');
    assert.equal(s.faucetPidfile, '/run/faucet.pid');
    assert.equal(s.gaugePidfile, undefined);
    assert.equal(s.faucetMetricsUrl, 'http://127.0.0.1:9302/metrics');
    assert.equal(s.faucetConfirmTimeoutMs, 100);
    assert.equal(s.mirrorBridgeOut, 'mirrorout');
    assert.equal(s.mirrorBridgeIn, undefined);
    assert.deepEqual(loadSettings({ DOVESNAP_DEFAULT_CONTROLLERS: '  ' }).defaultControllers, []);
  });

  for (const [name, value] of [
    ['DOVESNAP_DEFAULT_CONTROLLERS', 'tcp:controller.example:6653'],
    ['DOVESNAP_DEFAULT_CONTROLLERS', '127.0.0.1:6653'],
    ['DOVESNAP_DEFAULT_CONTROLLERS', 'tcp:127.0.0.1:70000'],
    ['DOVESNAP_DEFAULT_CONTROLLERS', ','],
    ['DOVESNAP_STATUS_ADDR', '9401'],
    ['DOVESNAP_STATUS_ADDR', 'localhost'],
    ['DOVESNAP_STATUS_ADDR', ':9401'],
    ['DOVESNAP_STATUS_ADDR', '127.0.0.1:0'],
    ['DOVESNAP_STATUS_ADDR', '127.0.0.1:65536'],
    ['DOVESNAP_STATUS_ADDR', '127.0.0.1:http'],
    ['DOVESNAP_FAUCET_METRICS', '127.0.0.1:9302/metrics'],
    ['DOVESNAP_FAUCET_METRICS', 'ftp://127.0.0.1/metrics'],
    ['DOVESNAP_FAUCET_TIMEOUT_MS', '99'],
    ['DOVESNAP_FAUCET_TIMEOUT_MS', '1.5e3x'],
    ['DOVESNAP_FAUCET_TIMEOUT_MS', '1500.5'],
    ['DOVESNAP_READY_PORTS', 'many'],
    ['DOVESNAP_READY_PORTS', '2000'],
  ] as const) {
    it(`${name}=${JSON.stringify(value)} is refused with a message naming the variable`, () => {
      assert.throws(
        () => loadSettings({ [name]: value }),
        (err: unknown) =>
          isDovesnapError(err, ErrorCode.BadOption) &&
          err.message.includes(name) &&
          err.message.includes(JSON.stringify(value)),
      );
    });
  }
});

describe('loadSettings: IPv6 status address', () => {
  it('DOVESNAP_STATUS_ADDR=[::1]:9401 gives a host the status server can listen on, or is refused', () => {
    let s: ReturnType<typeof loadSettings>;
    try {
      s = loadSettings({ DOVESNAP_STATUS_ADDR: '[::1]:9401' });
    } catch (err) {
      assert.ok(isDovesnapError(err, ErrorCode.BadOption) && err.message.includes('DOVESNAP_STATUS_ADDR'));
      return;
    }
    assert.equal(s.statusHost, '::1');
    assert.equal(s.statusPort, 9401);
  });

  it('DOVESNAP_LOCAL_FAUCET names the local FAUCET; a bad value names the variable', () => {
    assert.deepEqual(loadSettings({ DOVESNAP_LOCAL_FAUCET: 'tcp:127.0.0.1:7653' }).localFaucetControllers, [
      'tcp:127.0.0.1:7653',
    ]);
    assert.throws(() => loadSettings({ DOVESNAP_LOCAL_FAUCET: 'localhost' }), /DOVESNAP_LOCAL_FAUCET/);
  });
});
