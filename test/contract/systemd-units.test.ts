import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { daemonEnvironment, MAKE_UP_DAEMON_ENV } from '../../src/config/daemon-env.js';

/**
 * The shipped systemd units keep their least-privilege settings (docs/security.md): systemd's
 * own analyser, offline, must accept each unit file and rate its exposure no worse than when the
 * sandbox was written. A directive dropped or a capability added fails here, not on a host.
 */

const UNITS = fileURLToPath(new URL('../../../deploy/systemd/', import.meta.url));

function analyze(args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', args as string[], { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code =
        err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

// Exposure thresholds are systemd's scale times ten: 55 is "5.5 MEDIUM".
const LIMITS: Record<string, number> = {
  'dovesnap.service': 55,
  'dovesnap-faucet.service': 20,
  'dovesnap-gauge.service': 20,
  'dovesnap-faucetconfrpc.service': 20,
};

describe('systemd units (systemd-analyze, offline)', () => {
  for (const [unit, threshold] of Object.entries(LIMITS)) {
    it(`${unit} is rated ${threshold / 10} or better and parses cleanly`, async () => {
      const rating = await analyze(['security', '--offline=true', `--threshold=${threshold}`, `${UNITS}${unit}`]);
      assert.notEqual(rating.code, 127, 'systemd-analyze is needed (Debian package systemd)');
      assert.equal(rating.code, 0, rating.out.split('\n').slice(-3).join('\n'));
      assert.match(rating.out, /Overall exposure level/);
      const verify = await analyze(['verify', '--man=no', `${UNITS}${unit}`]);
      // Units it is ordered against (docker.service, openvswitch-switch.service) may be absent here: only its own lines count.
      const own = verify.out
        .split('\n')
        .filter((l) => l.includes(unit) && !/\.service: Failed to|not found|No such file/.test(l));
      assert.deepEqual(own, [], verify.out);
    });
  }
});

/** NAME=VALUE of a unit's Environment= lines, in order. */
function unitEnvironment(unit: string): string[] {
  return [...unit.matchAll(/^Environment=(\S+=\S*)$/gm)].map((m) => m[1] ?? '');
}

/** Variables of scripts/lib.sh, as bash sets them. */
function libShValues(names: readonly string[]): Promise<string[]> {
  const lib = fileURLToPath(new URL('../../../scripts/lib.sh', import.meta.url));
  const script = `source "$1"; shift; for n in "$@"; do printf '%s\\n' "\${!n}"; done`;
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', script, 'lib', lib, ...names], { encoding: 'utf8', env: {} }, (err, stdout) =>
      err === null ? resolve(stdout.split('\n').slice(0, names.length)) : reject(err),
    );
  });
}

describe('the daemon under systemd and under make up', () => {
  it("dovesnap.service sets what make up does (dovesnap settings --env), but systemd's own PATH, HOME and LANG", async () => {
    const { readFile } = await import('node:fs/promises');
    const unit = await readFile(`${UNITS}dovesnap.service`, 'utf8');
    const fromMakeUp = daemonEnvironment({}).filter((line) => !/^(PATH|HOME|LANG)=/.test(line));
    assert.deepEqual([...unitEnvironment(unit)].sort(), fromMakeUp);
    assert.ok(fromMakeUp.includes('MALLOC_ARENA_MAX=2'), 'fewer malloc arenas (docs/benchmarks.md)');
  });

  it("starts FAUCET and Gauge where the daemon's environment says they are (scripts/lib.sh)", async () => {
    const [faucetOf, gaugeOf, metrics, faucetPid, gaugePid, status] = await libShValues([
      'FAUCET_OF_PORT',
      'GAUGE_OF_PORT',
      'FAUCET_METRICS_URL',
      'FAUCET_PIDFILE',
      'GAUGE_PIDFILE',
      'DOVESNAP_STATUS_ADDR',
    ]);
    assert.equal(
      MAKE_UP_DAEMON_ENV['DOVESNAP_DEFAULT_CONTROLLERS'],
      `tcp:127.0.0.1:${faucetOf},tcp:127.0.0.1:${gaugeOf}`,
    );
    assert.equal(MAKE_UP_DAEMON_ENV['DOVESNAP_FAUCET_METRICS'], metrics);
    assert.equal(MAKE_UP_DAEMON_ENV['DOVESNAP_FAUCET_PIDFILE'], faucetPid);
    assert.equal(MAKE_UP_DAEMON_ENV['DOVESNAP_GAUGE_PIDFILE'], gaugePid);
    assert.equal(MAKE_UP_DAEMON_ENV['DOVESNAP_STATUS_ADDR'], status);
  });
});
