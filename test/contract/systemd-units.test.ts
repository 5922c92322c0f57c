import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

describe('the daemon under systemd and under make up', () => {
  it('gets the same memory settings (MALLOC_ARENA_MAX, docs/benchmarks.md)', async () => {
    const { readFile } = await import('node:fs/promises');
    const unit = await readFile(`${UNITS}dovesnap.service`, 'utf8');
    const up = await readFile(fileURLToPath(new URL('../../../scripts/up.sh', import.meta.url)), 'utf8');
    const inUnit = /^Environment=MALLOC_ARENA_MAX=(\S+)$/m.exec(unit)?.[1];
    const inUp = /^\s*\[MALLOC_ARENA_MAX\]="([^"]*)"$/m.exec(up)?.[1];
    assert.equal(inUnit, '2', 'dovesnap.service sets MALLOC_ARENA_MAX=2');
    assert.equal(inUp, inUnit, "scripts/up.sh's daemon_env sets the same");
  });
});
