import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importChanges, labImageTag } from '../../../src/lab/images.js';
import { canonicalJson } from '../../../src/util/canonical-json.js';
import {
  LAB_IMAGE_RECIPES,
  appRoot,
  recipeHash,
  recipeNamed,
  recipeSpec,
  tagForHash,
  type DebianRecipe,
  type ScriptRecipe,
} from '../../../src/lab/images/recipes.js';
import { FRR_ENTRYPOINT } from '../../../src/lab/images/entrypoints.js';
import { mmdebstrapArgs, requireMmdebstrap } from '../../../src/lab/images/mmdebstrap.js';
import { mountsBelow } from '../../../src/lab/images/workdir.js';
import { importResult } from '../../../src/engine/images.js';
import { isDovesnapError } from '../../../src/util/errors.js';

const frr = recipeSpec('frr') as DebianRecipe;
const host = recipeSpec('host') as ScriptRecipe;

describe('lab image recipes: hash and tag', () => {
  it('tag each recipe dovesnap-lab-<recipe>:<first 12 hex of its hash>, the same on every call', () => {
    for (const r of LAB_IMAGE_RECIPES) {
      const hash = recipeHash(r);
      assert.match(hash, /^[0-9a-f]{64}$/);
      assert.equal(recipeHash(r), hash);
      assert.equal(labImageTag(r), `dovesnap-lab-${r}:${hash.slice(0, 12)}`);
      assert.equal(tagForHash(r, hash), labImageTag(r));
    }
    assert.equal(
      new Set(LAB_IMAGE_RECIPES.map((r) => recipeHash(r))).size,
      LAB_IMAGE_RECIPES.length,
      'three recipes, three hashes',
    );
  });

  it('change when the entry point script changes, and only then (not with package or key order)', () => {
    const base = recipeHash('frr', frr);
    const script = frr.files[0];
    assert.ok(script !== undefined);
    const edited: DebianRecipe = { ...frr, files: [{ ...script, content: `${script.content}# one more line\n` }] };
    assert.notEqual(recipeHash('frr', edited), base);
    assert.notEqual(recipeHash('frr', { ...frr, files: [{ ...script, mode: 0o700 }] }), base);
    // Same content, other order: apt installs the same set.
    assert.equal(
      recipeHash('frr', { ...frr, packages: [...frr.packages].reverse(), excludes: [...frr.excludes].reverse() }),
      base,
    );
    assert.equal(
      recipeHash('frr', {
        config: frr.config,
        files: frr.files,
        hookDirs: frr.hookDirs,
        excludes: frr.excludes,
        packages: frr.packages,
        variant: frr.variant,
        suite: frr.suite,
        builder: 'mmdebstrap',
      }),
      base,
    );
  });

  it('change with the packages, the variant, the suite, the excludes and the image configuration', () => {
    const base = recipeHash('frr', frr);
    const variants: DebianRecipe[] = [
      { ...frr, packages: [...frr.packages, 'bird2'] },
      { ...frr, variant: 'minbase' },
      { ...frr, suite: 'trixie' },
      { ...frr, excludes: frr.excludes.slice(1) },
      { ...frr, hookDirs: [] },
      { ...frr, config: { ...frr.config, cmd: ['/bin/sh'] } },
      { ...frr, config: { ...frr.config, env: { ...frr.config.env, X: '1' } } },
    ];
    for (const v of variants) assert.notEqual(recipeHash('frr', v), base, JSON.stringify(v).slice(0, 120));
    // The same spec under another recipe's name is another image.
    assert.notEqual(recipeHash('capture', frr), base);
  });

  it("host's hash follows its build script's content", () => {
    const read =
      (text: string) =>
      (rel: string): string => {
        assert.equal(rel, 'scripts/build-test-image.sh');
        return text;
      };
    const a = recipeHash('host', host, read('#!/bin/bash\necho one\n'));
    assert.equal(recipeHash('host', host, read('#!/bin/bash\necho one\n')), a);
    assert.notEqual(recipeHash('host', host, read('#!/bin/bash\necho two\n')), a);
    // By default it reads the repository's (or installed app's) script.
    const real = readFileSync(path.join(appRoot(), 'scripts/build-test-image.sh'), 'utf8');
    assert.equal(recipeHash('host'), recipeHash('host', host, read(real)));
  });

  it('canonical JSON sorts keys at every level and keeps array order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[2,1]},"b":1}');
  });

  it('name an unknown recipe and the choices', () => {
    assert.equal(recipeNamed('frr'), 'frr');
    assert.throws(
      () => recipeNamed('quagga'),
      (err: unknown) => isDovesnapError(err) && /'quagga'/.test(err.message) && /frr, host, capture/.test(err.message),
    );
  });

  it('label the image with the recipe and its full hash, and set CMD and ENV', () => {
    const hash = recipeHash('frr');
    assert.deepEqual(importChanges('frr', hash, frr.config), [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'CMD ["/usr/local/sbin/dovesnap-frr"]',
      'LABEL dovesnap.lab.recipe=frr',
      `LABEL dovesnap.lab.recipe.hash=${hash}`,
    ]);
  });
});

describe('lab images: mmdebstrap', () => {
  it('builds the essential variant with the merged-usr hook, the packages, the excludes and our files', () => {
    const plan = mmdebstrapArgs(frr, '/w/apt.sources', '/w', '/w/rootfs.tar');
    const a = plan.args;
    assert.ok(a.includes('--variant=essential'));
    assert.ok(a.includes('--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr'));
    assert.ok(a.includes('--include=frr,iproute2,iputils-ping,traceroute,procps,tcpdump'));
    assert.ok(a.includes('--dpkgopt=path-exclude=/usr/share/doc/*'));
    assert.ok(a.includes('--customize-hook=upload /w/file-0 /usr/local/sbin/dovesnap-frr'));
    assert.ok(a.includes(`--customize-hook=chmod 755 "$1"'/usr/local/sbin/dovesnap-frr'`));
    assert.deepEqual(a.slice(-3), ['bookworm', '/w/rootfs.tar', '/w/apt.sources']);
    assert.deepEqual(plan.uploads, [{ hostFile: '/w/file-0', content: FRR_ENTRYPOINT }]);
  });

  it('says that make up installs mmdebstrap when it is missing', () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'dovesnap-nopath-'));
    try {
      assert.throws(
        () => requireMmdebstrap({ PATH: empty }),
        (err: unknown) =>
          isDovesnapError(err) && /mmdebstrap is not installed/.test(err.message) && /make up/.test(err.message),
      );
      writeFileSync(path.join(empty, 'mmdebstrap'), '#!/bin/sh\n', { mode: 0o755 });
      assert.equal(requireMmdebstrap({ PATH: `/nonexistent:${empty}` }), path.join(empty, 'mmdebstrap'));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("lab images: the frr entry point's daemons", () => {
  const daemons = (conf: string, env: Record<string, string> = {}): string => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dovesnap-frr-'));
    try {
      writeFileSync(path.join(dir, 'frr.conf'), conf);
      writeFileSync(path.join(dir, 'dovesnap-frr'), FRR_ENTRYPOINT);
      return execFileSync('/bin/sh', [path.join(dir, 'dovesnap-frr'), '--daemons', path.join(dir, 'frr.conf')], {
        env: { PATH: '/usr/bin:/bin', ...env },
        encoding: 'utf8',
      }).trim();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('are zebra and staticd, plus what the routers in frr.conf need', () => {
    assert.equal(daemons('hostname r1\n!\n'), 'zebra staticd');
    assert.equal(daemons('router ospf\n ospf router-id 1.1.1.1\n'), 'zebra staticd ospfd');
    assert.equal(daemons('router ospf6\n'), 'zebra staticd ospf6d');
    assert.equal(daemons('router bgp 65001\n neighbor 10.0.0.2 remote-as 65002\n'), 'zebra staticd bgpd');
    assert.equal(daemons('router rip\n'), 'zebra staticd ripd');
    assert.equal(daemons('router ripng\n'), 'zebra staticd ripngd');
    assert.equal(daemons('router isis CORE\n'), 'zebra staticd isisd');
    assert.equal(daemons('router ospf vrf blue\nrouter bgp 1\n neighbor x bfd\n'), 'zebra staticd ospfd bgpd bfdd');
  });

  it('ignore commented-out routers and take DOVESNAP_FRR_DAEMONS as well', () => {
    assert.equal(daemons('! router bgp 1\n'), 'zebra staticd');
    assert.equal(daemons('router ospf\n', { DOVESNAP_FRR_DAEMONS: 'pimd' }), 'zebra staticd ospfd pimd');
  });
});

describe('lab images: the build directory and the import', () => {
  it('finds the mounts left below a build directory, deepest first, with escaped names', () => {
    const info = [
      '22 1 0:21 / / rw - ext4 /dev/vda rw',
      '90 22 0:5 / /tmp/b/tmp/mm/dev/null rw - devtmpfs udev rw',
      '91 22 0:20 / /tmp/b/tmp/mm/sys rw - sysfs sysfs rw',
      '92 91 0:25 / /tmp/b/tmp/mm/sys/fs/cgroup rw - cgroup2 cgroup2 rw',
      '93 22 0:26 / /tmp/b\\040x/proc rw - proc proc rw',
      '94 22 0:27 / /tmp/bb/proc rw - proc proc rw',
    ].join('\n');
    assert.deepEqual(mountsBelow(info, '/tmp/b'), [
      '/tmp/b/tmp/mm/sys/fs/cgroup',
      '/tmp/b/tmp/mm/dev/null',
      '/tmp/b/tmp/mm/sys',
    ]);
    assert.deepEqual(mountsBelow(info, '/tmp/b x'), ['/tmp/b x/proc']);
  });

  it("reads the image id from the engine's progress stream and fails on an error line", () => {
    const id = `sha256:${'ab'.repeat(32)}`;
    assert.equal(importResult(`{"status":"${id}"}\r\n`), id);
    assert.throws(
      () =>
        importResult(
          '{"errorDetail":{"message":"archive/tar: invalid tar header"},"error":"archive/tar: invalid tar header"}\n',
        ),
      /import failed: archive\/tar: invalid tar header/,
    );
    assert.throws(() => importResult(''), /did not report an image id \(empty answer\)/);
    assert.throws(() => importResult('not json\n'), /unreadable progress line/);
  });
});
