/**
 * `dovesnap confrpc keys`: the certificates and keys of faucetconfrpc's mutual TLS, made with the
 * openssl command: a CA, the server's pair (named, and with a subjectAltName, after the address
 * its clients dial) and one pair per client, all signed by that CA. The layout is the original
 * dovesnap's, which the daemon's remote store reads (see README, "FAUCET on another host"):
 *
 *   ADDR-ca.crt  ADDR-ca.key     the CA (its key stays on the controller's host)
 *   ADDR.crt     ADDR.key        the server's
 *   NAME.crt     NAME.key        each client's (a client host needs ADDR-ca.crt, NAME.crt, NAME.key)
 *
 * What exists is kept: a second run adds the clients that are missing, signed by the CA already
 * there. Nothing is overwritten without `force`, which makes the server's and the named clients'
 * pairs anew, signed by the CA there (a new one where there is none); `newCa` makes the CA anew
 * too (certificates of the old one then stop working).
 *
 * The plan (which openssl commands, which files) is pure and unit-tested; `makeKeys` runs it in a
 * private work directory inside DIR and moves the results into place only when all succeeded.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';

import { DovesnapError, ErrorCode } from '../util/errors.js';
import { runCommand } from '../net/exec.js';

/** The client name `make up CONFRPC=1` makes, and the daemon's default FAUCETCONFRPC_CLIENT. */
export const DEFAULT_CLIENT = 'faucetconfrpc';
export const DEFAULT_DAYS = 3650;
const MAX_DAYS = 36_500;

export interface KeysRequest {
  readonly dir: string;
  /** The server's address or DNS name, as the clients dial it (TLS checks the certificate against it). */
  readonly server: string;
  readonly clients: readonly string[];
  readonly days: number;
  readonly force: boolean;
  /** With `force`: a new CA too. */
  readonly newCa?: boolean;
}

export interface ServerName {
  readonly value: string;
  /** How the subjectAltName names it. */
  readonly kind: 'IP' | 'DNS';
}

function badOption(option: string, value: string, expected: string): DovesnapError {
  return new DovesnapError(
    ErrorCode.BadOption,
    `invalid value ${JSON.stringify(value)} for option ${option}: ${expected}`,
  );
}

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** --server: an IP address (not a wildcard one) or a DNS name; the file names are made from it. */
export function parseServerName(value: string): ServerName {
  const v = value.trim();
  const family = isIP(v);
  if (family !== 0) {
    if (v === '0.0.0.0' || /^[0:]+$/.test(v)) {
      throw badOption(
        '--server',
        value,
        'a wildcard address names no server: give the address (or DNS name) the clients dial, which TLS checks the certificate against',
      );
    }
    return { value: v, kind: 'IP' };
  }
  const labels = v.split('.');
  if (v.length > 253 || !labels.every((l) => DNS_LABEL.test(l)) || /^[0-9.]+$/.test(v)) {
    throw badOption('--server', value, 'expected an IP address or a DNS name (letters, digits, - and .)');
  }
  return { value: v, kind: 'DNS' };
}

const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** --client: a name for the certificate's CN and its files' names. */
export function checkClientName(name: string, server: ServerName): string {
  if (!CLIENT_NAME.test(name)) {
    throw badOption(
      '--client',
      name,
      'expected a name of letters, digits, ., _ and - (at most 64), as the files NAME.crt and NAME.key are named after it',
    );
  }
  if (name === server.value || name === `${server.value}-ca`) {
    throw badOption('--client', name, `the server's own files are named ${server.value}.* and ${server.value}-ca.*`);
  }
  return name;
}

/** --days: how long the certificates are valid. */
export function parseDays(value: string): number {
  const n = /^[0-9]+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_DAYS) {
    throw badOption('--days', value, `expected a whole number of days from 1 to ${MAX_DAYS}`);
  }
  return n;
}

/** One certificate and its key, by file name in DIR. */
export interface KeyPair {
  /** Who it is for: "ca", "server", or the client's name. */
  readonly role: 'ca' | 'server' | 'client';
  readonly name: string;
  readonly crt: string;
  readonly key: string;
}

export function keyPairs(server: ServerName, clients: readonly string[]): KeyPair[] {
  const pair = (role: KeyPair['role'], name: string, base: string): KeyPair => ({
    role,
    name,
    crt: `${base}.crt`,
    key: `${base}.key`,
  });
  return [
    pair('ca', 'CA', `${server.value}-ca`),
    pair('server', server.value, server.value),
    ...clients.map((c) => pair('client', c, c)),
  ];
}

/** An openssl invocation: its arguments (paths absolute). */
export type OpensslStep = readonly string[];

export interface KeysPlan {
  /** The openssl configuration the steps read (extensions of each kind of certificate). */
  readonly config: string;
  readonly steps: readonly OpensslStep[];
  /** File names made in the work directory, to move into DIR (keys are made 0600, certificates 0644). */
  readonly install: readonly string[];
  /** File names already in DIR and kept. */
  readonly kept: readonly string[];
  /** Whether a new CA is made (then every certificate it signed before stops being trusted). */
  readonly newCa: boolean;
}

/**
 * The openssl configuration: no distinguished-name prompts (each step gives -subj), and the
 * extensions of the CA, the server (its subjectAltName) and the clients. TLS 1.3 with ECDSA keys
 * needs only digitalSignature.
 */
export function opensslConfig(server: ServerName): string {
  const leaf = ['basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature'];
  const ids = ['subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always'];
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'CN = unused',
    '[ca_ext]',
    'basicConstraints = critical, CA:TRUE, pathlen:0',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '[server_ext]',
    ...leaf,
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${server.kind}:${server.value}`,
    ...ids,
    '[client_ext]',
    ...leaf,
    'extendedKeyUsage = clientAuth',
    ...ids,
    '',
  ].join('\n');
}

function newKey(path: string): OpensslStep {
  return ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path];
}

/**
 * Which pairs to make, from the files DIR already has (`existing`, file names). Throws, naming
 * the files, when a pair is half there, when certificates exist whose CA does not, or when the
 * CA's key is missing while something is to be signed.
 */
function pairsToMake(req: KeysRequest, pairs: readonly KeyPair[], existing: ReadonlySet<string>): Set<KeyPair> {
  const [ca, ...leaves] = pairs as [KeyPair, ...KeyPair[]];
  const make = new Set<KeyPair>(req.force ? leaves : []);
  if (req.force && req.newCa === true) make.add(ca);
  for (const p of pairs) {
    if (make.has(p)) continue;
    const n = Number(existing.has(p.crt)) + Number(existing.has(p.key));
    if (n === 0) make.add(p);
    // A CA certificate without its key (an operator's own CA) is enough while nothing is to be signed.
    if (n !== 1 || (p === ca && existing.has(p.crt))) continue;
    const [there, missing] = existing.has(p.crt) ? [p.crt, p.key] : [p.key, p.crt];
    throw new DovesnapError(
      ErrorCode.Conflict,
      `${join(req.dir, there)} exists but ${join(req.dir, missing)} does not: remove it, or use --force to make the pair anew`,
    );
  }
  const kept = leaves.filter((p) => !make.has(p));
  if (make.has(ca) && kept.length > 0) {
    throw new DovesnapError(
      ErrorCode.Conflict,
      `${join(req.dir, ca.crt)} does not exist, but ${kept.map((p) => join(req.dir, p.crt)).join(', ')} do: a new CA would not have signed them; use --force to make them anew with it`,
    );
  }
  const toSign = leaves.filter((p) => make.has(p));
  if (!make.has(ca) && toSign.length > 0 && !existing.has(ca.key)) {
    throw new DovesnapError(
      ErrorCode.NotFound,
      `${join(req.dir, ca.key)} does not exist: ${toSign.map((p) => p.crt).join(', ')} cannot be signed by ${join(req.dir, ca.crt)} without it`,
    );
  }
  return make;
}

/** What to do in the work directory `work`, given the files DIR already has (see pairsToMake). */
export function planKeys(req: KeysRequest, existing: ReadonlySet<string>, work: string): KeysPlan {
  const server = parseServerName(req.server);
  const clients = [...new Set(req.clients)].map((c) => checkClientName(c, server));
  const pairs = keyPairs(server, clients);
  const [ca, ...leaves] = pairs as [KeyPair, ...KeyPair[]];
  const make = pairsToMake(req, pairs, existing);
  const cfg = join(work, 'openssl.cnf');
  const caCrt = join(make.has(ca) ? work : req.dir, ca.crt);
  const caKey = join(make.has(ca) ? work : req.dir, ca.key);
  const days = String(req.days);
  const steps: OpensslStep[] = [];
  if (make.has(ca)) {
    steps.push(newKey(caKey));
    const subject = `/CN=dovesnap faucetconfrpc CA for ${server.value}`;
    const ext = ['-config', cfg, '-extensions', 'ca_ext'];
    steps.push([
      'req',
      '-new',
      '-x509',
      ...ext,
      '-key',
      caKey,
      '-subj',
      subject,
      '-days',
      days,
      '-sha256',
      '-out',
      caCrt,
    ]);
  }
  for (const p of leaves) {
    if (!make.has(p)) {
      // Kept: it must be one this CA signed, or the server and clients will not trust each other.
      steps.push(['verify', '-CAfile', caCrt, join(req.dir, p.crt)]);
      continue;
    }
    const key = join(work, p.key);
    const csr = join(work, `${p.name}.csr`);
    const ext = ['-extfile', cfg, '-extensions', p.role === 'server' ? 'server_ext' : 'client_ext'];
    // Each run's work directory is new, so the serial file starts from a random serial.
    const signer = ['-CA', caCrt, '-CAkey', caKey, '-CAserial', join(work, 'ca.srl'), '-CAcreateserial'];
    steps.push(newKey(key));
    steps.push(['req', '-new', '-config', cfg, '-key', key, '-subj', `/CN=${p.name}`, '-out', csr]);
    steps.push(['x509', '-req', '-in', csr, ...signer, '-days', days, '-sha256', ...ext, '-out', join(work, p.crt)]);
    steps.push(['verify', '-CAfile', caCrt, join(work, p.crt)]);
  }
  return {
    config: opensslConfig(server),
    steps,
    install: pairs.filter((p) => make.has(p)).flatMap((p) => [p.crt, p.key]),
    kept: pairs.flatMap((p) => (make.has(p) ? [] : [p.crt, p.key].filter((f) => existing.has(f)))),
    newCa: make.has(ca),
  };
}

/** Runs openssl with these arguments; rejects (naming the command) when it fails. */
export type OpensslRunner = (args: readonly string[]) => Promise<void>;

/** The `openssl` command of this host. */
export async function runOpenssl(args: readonly string[]): Promise<void> {
  try {
    await runCommand('openssl', args, { timeoutMs: 60_000 });
  } catch (err) {
    if ((err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') {
      throw new DovesnapError(ErrorCode.HostCommand, 'the openssl command was not found (Debian package openssl)');
    }
    throw err;
  }
}

export interface KeysResult {
  readonly made: readonly string[];
  readonly kept: readonly string[];
  readonly newCa: boolean;
  /** What a client host copies: the CA certificate and, per client, its pair (full paths). */
  readonly forClients: ReadonlyMap<string, readonly string[]>;
}

async function listNames(dir: string): Promise<Set<string>> {
  try {
    return new Set(await readdir(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw err;
  }
}

/** Moves a finished file into DIR: without `force`, never over a file that appeared meanwhile. */
async function place(from: string, to: string, force: boolean): Promise<void> {
  if (force) {
    await rename(from, to);
    return;
  }
  try {
    await link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new DovesnapError(
        ErrorCode.Conflict,
        `${to} appeared while the keys were made; nothing of it was overwritten`,
      );
    }
    throw err;
  }
}

export async function makeKeys(req: KeysRequest, openssl: OpensslRunner): Promise<KeysResult> {
  // Options first: a bad one must not leave a directory behind.
  const server = parseServerName(req.server);
  const clients = [...new Set(req.clients)].map((c) => checkClientName(c, server));
  // The directory holds private keys: a new one is root's alone. Only it: a recursive mkdir
  // would give the same mode to the parents it makes (/etc/dovesnap, where Prometheus's
  // configuration lives too).
  await mkdir(dirname(req.dir), { recursive: true });
  await mkdir(req.dir, { recursive: true, mode: 0o700 });
  const work = join(req.dir, `.keys-${randomBytes(6).toString('hex')}`);
  const plan = planKeys(req, await listNames(req.dir), work);
  await mkdir(work, { mode: 0o700 });
  try {
    await writeFile(join(work, 'openssl.cnf'), plan.config, { mode: 0o600 });
    for (const step of plan.steps) await openssl(step);
    for (const name of plan.install) await chmod(join(work, name), name.endsWith('.key') ? 0o600 : 0o644);
    for (const name of plan.install) await place(join(work, name), join(req.dir, name), req.force);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const pairs = keyPairs(server, clients);
  const caCrt = join(req.dir, `${server.value}-ca.crt`);
  return {
    made: plan.install.map((n) => join(req.dir, n)),
    kept: plan.kept.map((n) => join(req.dir, n)),
    newCa: plan.newCa,
    forClients: new Map(
      pairs
        .filter((p) => p.role === 'client')
        .map((p) => [p.name, [caCrt, join(req.dir, p.crt), join(req.dir, p.key)]]),
    ),
  };
}
