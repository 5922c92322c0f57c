import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  buildSources,
  parseDeb822Sources,
  parseOneLineSources,
  renderDeb822,
  sourcesForSuite,
} from '../../../src/lab/images/apt-sources.js';

// This host's own file (a snapshot mirror's comments included).
const DEBIAN_SOURCES = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

describe('lab images: apt sources from the host', () => {
  it('reads deb822 stanzas, skipping deb-src only, disabled and non-main ones', () => {
    const text = `${DEBIAN_SOURCES}
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror.local/debian
Suites: bookworm
Components: main contrib
Enabled: no

Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
`;
    const all = parseDeb822Sources(text, 'x.sources');
    assert.equal(all.length, 3);
    assert.deepEqual(sourcesForSuite(all, 'bookworm'), [
      {
        uris: ['http://deb.debian.org/debian'],
        suites: ['bookworm', 'bookworm-updates'],
        signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
        from: 'x.sources',
      },
      {
        uris: ['http://deb.debian.org/debian-security'],
        suites: ['bookworm-security'],
        signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
        from: 'x.sources',
      },
    ]);
  });

  it('reads one-line entries with options, keeping only the suite, -updates and -security', () => {
    const all = parseOneLineSources(
      [
        '# a local mirror',
        'deb [arch=amd64 signed-by=/etc/apt/keyrings/local.gpg] http://mirror.local/debian bookworm main contrib',
        'deb http://mirror.local/debian bookworm-backports main',
        'deb-src http://mirror.local/debian bookworm main',
        'deb http://security.local/debian-security bookworm-security main',
        'deb http://mirror.local/debian bookworm non-free',
      ].join('\n'),
      'sources.list',
    );
    assert.deepEqual(sourcesForSuite(all, 'bookworm'), [
      {
        uris: ['http://mirror.local/debian'],
        suites: ['bookworm'],
        signedBy: '/etc/apt/keyrings/local.gpg',
        architectures: ['amd64'],
        from: 'sources.list',
      },
      { uris: ['http://security.local/debian-security'], suites: ['bookworm-security'], from: 'sources.list' },
    ]);
  });

  it('renders deb822 for mmdebstrap, main only, keeping an inline key as it was', () => {
    const inline = parseDeb822Sources(
      'Types: deb\nURIs: http://m/debian\nSuites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n',
      'k.sources',
    );
    assert.equal(
      renderDeb822(inline),
      'Types: deb\nURIs: http://m/debian\nSuites: bookworm\nComponents: main\nSigned-By: \n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n',
    );
  });

  it("uses /etc/apt's entries for the suite, and Debian's mirrors when it has none", () => {
    const etc = mkdtempSync(path.join(os.tmpdir(), 'dovesnap-apt-'));
    try {
      mkdirSync(path.join(etc, 'sources.list.d'));
      writeFileSync(path.join(etc, 'sources.list.d', 'nodesource.sources.disabled'), DEBIAN_SOURCES);
      let got = buildSources('bookworm', etc);
      assert.equal(got.fromHost, false);
      assert.deepEqual(
        got.sources.map((s) => [s.uris, s.suites]),
        [
          [['http://deb.debian.org/debian'], ['bookworm', 'bookworm-updates']],
          [['http://deb.debian.org/debian-security'], ['bookworm-security']],
        ],
      );
      writeFileSync(
        path.join(etc, 'sources.list.d', 'debian.sources'),
        DEBIAN_SOURCES.replaceAll('deb.debian.org', 'mirror.local'),
      );
      writeFileSync(path.join(etc, 'sources.list'), 'deb http://old.local/debian trixie main\n');
      got = buildSources('bookworm', etc);
      assert.equal(got.fromHost, true);
      assert.deepEqual(
        got.sources.flatMap((s) => s.uris),
        ['http://mirror.local/debian', 'http://mirror.local/debian-security'],
      );
    } finally {
      rmSync(etc, { recursive: true, force: true });
    }
  });
});
