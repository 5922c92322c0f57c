import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  attachPaths,
  dhcpDirFrom,
  dockerSocketPath,
  faucetMetricsUrl,
  faucetPidfile,
  faucetTimeoutMs,
  faucetVenv,
  forcedDatapath,
  gaugePrometheus,
  labStateDir,
  logLevel,
  narwhalStateDir,
  statusUrl,
} from '../../../src/config/environment.js';

/** The settings of the commands and libraries outside the daemon: each variable, its default, its error. */
describe('config/environment', () => {
  it('has the defaults the readers had where they were', () => {
    assert.equal(logLevel({}), 'info');
    assert.equal(dockerSocketPath({}), '/var/run/docker.sock');
    assert.equal(statusUrl(undefined, {}), 'http://127.0.0.1:9401');
    assert.equal(statusUrl('127.0.0.1:9401', {}), '127.0.0.1:9401');
    assert.equal(forcedDatapath({}), undefined);
    assert.equal(dhcpDirFrom({}), '/run/dovesnap/dhcp');
    assert.deepEqual(attachPaths({}), { dir: '/var/lib/dovesnap/attach', dhcpDir: '/run/dovesnap/attach-dhcp' });
    assert.equal(narwhalStateDir({}), '/var/lib/dovesnap/narwhal');
    assert.equal(labStateDir({}), '/var/lib/dovesnap/lab');
    assert.equal(faucetVenv({}), '/opt/dovesnap/venv');
    assert.equal(faucetTimeoutMs({}), undefined);
    assert.equal(faucetMetricsUrl({}), undefined);
    assert.equal(faucetPidfile({}), undefined);
    assert.deepEqual(gaugePrometheus({}), { port: 9303, addr: '127.0.0.1' });
  });

  it('reads each variable by its name', () => {
    assert.equal(logLevel({ DOVESNAP_LOG_LEVEL: 'debug' }), 'debug');
    assert.equal(dockerSocketPath({ DOVESNAP_DOCKER_SOCK: ' /tmp/d.sock ' }), '/tmp/d.sock');
    assert.equal(statusUrl(undefined, { DOVESNAP_STATUS_URL: 'http://[::1]:9401' }), 'http://[::1]:9401');
    assert.equal(forcedDatapath({ DOVESNAP_DATAPATH: 'netdev' }), 'netdev');
    assert.equal(forcedDatapath({ DOVESNAP_DATAPATH: 'system' }), 'system');
    assert.equal(forcedDatapath({ DOVESNAP_DATAPATH: 'other' }), undefined);
    assert.equal(dhcpDirFrom({ DOVESNAP_DHCP_DIR: '/tmp/dh' }), '/tmp/dh');
    assert.deepEqual(attachPaths({ DOVESNAP_ATTACH_DIR: '/a', DOVESNAP_ATTACH_DHCP_DIR: '/b' }), {
      dir: '/a',
      dhcpDir: '/b',
    });
    assert.equal(narwhalStateDir({ DOVESNAP_NARWHAL_DIR: '/n' }), '/n');
    assert.equal(labStateDir({ DOVESNAP_LAB_DIR: '/l' }), '/l');
    assert.equal(faucetVenv({ FAUCET_VENV: '/v' }), '/v');
    assert.equal(faucetTimeoutMs({ DOVESNAP_FAUCET_TIMEOUT_MS: '250' }), 250);
    assert.equal(faucetPidfile({ DOVESNAP_FAUCET_PIDFILE: '/run/f.pid' }), '/run/f.pid');
    assert.deepEqual(gaugePrometheus({ GAUGE_PROMETHEUS_PORT: '9999', GAUGE_PROMETHEUS_ADDR: '0.0.0.0' }), {
      port: 9999,
      addr: '0.0.0.0',
    });
  });

  it('names the variable and the value in its errors', () => {
    assert.throws(
      () => faucetTimeoutMs({ DOVESNAP_FAUCET_TIMEOUT_MS: '5' }),
      /invalid value "5" for environment variable DOVESNAP_FAUCET_TIMEOUT_MS: expected milliseconds, at least 100/,
    );
    assert.throws(
      () => faucetMetricsUrl({ DOVESNAP_FAUCET_METRICS: 'localhost:9302' }),
      /invalid value "localhost:9302" for environment variable DOVESNAP_FAUCET_METRICS: expected a URL/,
    );
    assert.throws(
      () => gaugePrometheus({ GAUGE_PROMETHEUS_PORT: '70000' }),
      /invalid value "70000" for environment variable GAUGE_PROMETHEUS_PORT: expected a port number 1..65535/,
    );
  });
});
