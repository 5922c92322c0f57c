import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The apt sources a lab image is built from: the host's own entries for the suite (a machine may
 * point apt at a local mirror or a snapshot), else Debian's public mirrors. Only the suite
 * itself, its -updates and its -security, and only `main`: the images are made of Debian
 * packages from main, and backports or proposed-updates would make them differ between hosts.
 */

export interface AptSource {
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  /** A keyring path, or an inline key block (deb822 only); absent: apt's default keyrings. */
  readonly signedBy?: string;
  readonly architectures?: readonly string[];
  /** The file it came from, for messages. */
  readonly from: string;
}

export function suitesFor(suite: string): string[] {
  return [suite, `${suite}-updates`, `${suite}-security`];
}

/** One-line `deb [opt=val …] URI SUITE COMPONENT…` entries (sources.list, *.list). */
export function parseOneLineSources(text: string, from: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const m = /^(\S+)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (m === null || m[1] !== 'deb') continue;
    const opts = new Map<string, string>();
    for (const o of (m[2] ?? '').trim().split(/\s+/)) {
      const eq = o.indexOf('=');
      if (eq > 0) opts.set(o.slice(0, eq).toLowerCase(), o.slice(eq + 1));
    }
    const components = (m[5] ?? '').split(/\s+/).filter((c) => c !== '');
    if (!components.includes('main')) continue;
    const signedBy = opts.get('signed-by');
    const arch = opts.get('arch');
    out.push({
      uris: [m[3] ?? ''],
      suites: [m[4] ?? ''],
      ...(signedBy === undefined ? {} : { signedBy }),
      ...(arch === undefined ? {} : { architectures: arch.split(',') }),
      from,
    });
  }
  return out;
}

/** deb822 stanzas (*.sources): `Types:`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`, `Enabled:`. */
export function parseDeb822Sources(text: string, from: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let key: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^[ \t]/.test(line) && key !== undefined) {
        // A continuation line (a multi-line field such as an inline Signed-By key).
        fields.set(key, `${fields.get(key) ?? ''}\n${line}`);
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      key = line.slice(0, colon).trim().toLowerCase();
      fields.set(key, line.slice(colon + 1).trim());
    }
    const words = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter((w) => w !== '');
    if (!words('types').includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    if (!words('components').includes('main')) continue;
    const signedBy = fields.get('signed-by');
    const arch = words('architectures');
    out.push({
      uris: words('uris'),
      suites: words('suites'),
      ...(signedBy === undefined || signedBy === '' ? {} : { signedBy }),
      ...(arch.length === 0 ? {} : { architectures: arch }),
      from,
    });
  }
  return out;
}

/** The entries that serve `suite` (its suite, -updates, -security), narrowed to those suites. */
export function sourcesForSuite(all: readonly AptSource[], suite: string): AptSource[] {
  const wanted = new Set(suitesFor(suite));
  const out: AptSource[] = [];
  for (const s of all) {
    const suites = s.suites.filter((x) => wanted.has(x));
    if (suites.length > 0 && s.uris.length > 0) out.push({ ...s, suites });
  }
  return out;
}

/** Debian's public mirrors, when the host has no entry for the suite. */
export function defaultSources(suite: string): AptSource[] {
  return [
    { uris: ['http://deb.debian.org/debian'], suites: [suite, `${suite}-updates`], from: 'default' },
    { uris: ['http://deb.debian.org/debian-security'], suites: [`${suite}-security`], from: 'default' },
  ];
}

/**
 * A deb822 file for mmdebstrap (it reads a MIRROR argument that names a `.sources` file as
 * deb822). Components are always `main` alone.
 */
export function renderDeb822(sources: readonly AptSource[]): string {
  return sources
    .map((s) => {
      const lines = ['Types: deb', `URIs: ${s.uris.join(' ')}`, `Suites: ${s.suites.join(' ')}`, 'Components: main'];
      if (s.architectures !== undefined) lines.push(`Architectures: ${s.architectures.join(' ')}`);
      // An inline key keeps its continuation lines as they were.
      if (s.signedBy !== undefined) lines.push(`Signed-By: ${s.signedBy}`);
      return `${lines.join('\n')}\n`;
    })
    .join('\n');
}

/** Reads /etc/apt/sources.list and sources.list.d/{*.list,*.sources} (missing files are skipped). */
export function readHostSources(etcApt = '/etc/apt'): AptSource[] {
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  };
  const out: AptSource[] = [];
  const main = path.join(etcApt, 'sources.list');
  const mainText = read(main);
  if (mainText !== undefined) out.push(...parseOneLineSources(mainText, main));
  let names: string[] = [];
  try {
    names = readdirSync(path.join(etcApt, 'sources.list.d')).sort();
  } catch {
    names = [];
  }
  for (const name of names) {
    const file = path.join(etcApt, 'sources.list.d', name);
    const text = name.endsWith('.list') || name.endsWith('.sources') ? read(file) : undefined;
    if (text === undefined) continue;
    out.push(...(name.endsWith('.list') ? parseOneLineSources(text, file) : parseDeb822Sources(text, file)));
  }
  return out;
}

/** What a build of `suite` uses: the host's entries for it, or Debian's public mirrors. */
export function buildSources(suite: string, etcApt = '/etc/apt'): { sources: AptSource[]; fromHost: boolean } {
  const host = sourcesForSuite(readHostSources(etcApt), suite);
  return host.length > 0 ? { sources: host, fromHost: true } : { sources: defaultSources(suite), fromHost: false };
}
