/**
 * One FAUCET configuration write, timed the same way through both backends: an edit to an ACL
 * of the benchmark's own (nothing uses it), from the start of the write until FAUCET's metrics
 * show it runs a faucet.yaml holding the edit.
 *
 * - faucetconfrpc: SetConfigFile (merge) to this machine's server, as a host's dovesnap sends it
 *   (src/confrpc/client.ts, the hosts' keys); the server validates a copy of the configuration,
 *   writes faucet.yaml, and FAUCET's stat reload (FAUCET_CONFIG_STAT_RELOAD=1) picks it up.
 * - the local file: the same edit written to faucet.yaml directly (atomic rename) and FAUCET
 *   sent SIGHUP, as the local backend does.
 *
 * Both count the same "done": FAUCET's faucet_config_hash_info carries the hash of a file that
 * holds the edit. This machine's dovesnap rewrites the file after each change it did not make
 * ("faucet.yaml changed"), so the hash looked for is that of the file as it is at each poll.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parse, parseDocument } from 'yaml';
import { confrpcProtoPath, confrpcSettings } from '../src/config/confrpc.js';
import { openConfrpc } from '../src/confrpc/client.js';

export interface WriteTiming {
  readonly backend: 'faucetconfrpc' | 'local file';
  /** Start -> the server answered (faucetconfrpc) or the file was renamed into place and FAUCET signalled (local). */
  readonly writtenMs: number;
  /** Start -> FAUCET runs a file holding the edit; null if not within the time limit. */
  readonly loadedMs: number | null;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The probe ACL's one rule: `allow` alternates, so that every write is a change. */
const aclRules = (allow: 0 | 1): unknown[] => [{ rule: { dl_type: 0x800, actions: { allow } } }];

/** The file with the probe ACL set, as an operator's YAML tool would write it. */
export function withProbeAcl(text: string, acl: string, allow: 0 | 1): string {
  // Integers as bigints: a dp_id is 64 bits, and a JS number would write back a rounded one
  // (seen: every host's DP renumbered for a moment, and each host writing its DPs again).
  const doc = parseDocument(text, { intAsBigInt: true });
  doc.setIn(['acls', acl], doc.createNode(aclRules(allow)));
  return doc.toString();
}

function holdsEdit(text: string, acl: string, allow: 0 | 1): boolean {
  const doc = (parse(text) ?? {}) as { acls?: Record<string, { rule?: { actions?: { allow?: unknown } } }[]> };
  const a = doc.acls?.[acl]?.[0]?.rule?.actions?.allow;
  // FAUCET's own form and the YAML dump's may write allow as 1 or true.
  return a === allow || a === (allow === 1);
}

async function loadedHash(metricsUrl: string): Promise<string> {
  const url = new URL(metricsUrl);
  url.searchParams.append('name[]', 'faucet_config_hash_info');
  const text = await fetch(url, { signal: AbortSignal.timeout(5000) })
    .then((r) => r.text())
    .catch(() => '');
  return /hashes="([^"]*)"/.exec(text)?.[1] ?? '';
}

/** Polls every 20 ms until FAUCET runs a faucet.yaml holding the edit; ms since `t0`, or null. */
async function waitLoaded(
  file: string,
  metricsUrl: string,
  acl: string,
  allow: 0 | 1,
  t0: number,
  timeoutMs: number,
): Promise<number | null> {
  while (performance.now() - t0 < timeoutMs) {
    const text = readFileSync(file, 'utf8');
    if (holdsEdit(text, acl, allow) && (await loadedHash(metricsUrl)).includes(sha256(text)))
      return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

export interface WriteProbe {
  /** One timed write through `backend`. */
  write(backend: WriteTiming['backend']): Promise<WriteTiming>;
  /** Takes the probe ACL out (through the server, which is up while hosts are) and closes the client. */
  close(): Promise<void>;
}

/**
 * A prober for FAUCET's file `file`, its server at `addr` (the hosts' FAUCETCONFRPC_ADDR; keys
 * from FAUCETCONFRPC_KEYDIR, /etc/dovesnap/confrpc by default) and its metrics at `metricsUrl`.
 */
export async function openWriteProbe(opts: {
  readonly file: string;
  readonly addr: string;
  readonly metricsUrl: string;
  readonly faucetPidfile: string;
  readonly acl: string;
  readonly timeoutMs: number;
}): Promise<WriteProbe> {
  const settings = confrpcSettings({ ...process.env, FAUCETCONFRPC_ADDR: opts.addr });
  if (settings === undefined) throw new Error(`FAUCETCONFRPC_ADDR=${opts.addr}: no faucetconfrpc settings`);
  const conn = openConfrpc({ ...settings, proto: confrpcProtoPath() });
  if (!(await conn.connect(() => undefined))) {
    conn.close();
    throw new Error(`the faucetconfrpc server at ${conn.target} did not answer`);
  }
  let allow: 0 | 1 = 0;
  let added = false;
  return {
    async write(backend) {
      allow = allow === 1 ? 0 : 1;
      const t0 = performance.now();
      if (backend === 'faucetconfrpc') {
        await conn.api.setConfigFile(JSON.stringify({ acls: { [opts.acl]: aclRules(allow) } }), { merge: true });
      } else {
        const tmp = `${opts.file}.dsb-tmp`;
        writeFileSync(tmp, withProbeAcl(readFileSync(opts.file, 'utf8'), opts.acl, allow), { mode: 0o600 });
        renameSync(tmp, opts.file);
        process.kill(Number(readFileSync(opts.faucetPidfile, 'utf8').trim()), 'SIGHUP');
      }
      added = true;
      const writtenMs = performance.now() - t0;
      const loadedMs = await waitLoaded(opts.file, opts.metricsUrl, opts.acl, allow, t0, opts.timeoutMs);
      return { backend, writtenMs, loadedMs };
    },
    async close() {
      try {
        if (added) await conn.api.setConfigFile('{}', { merge: true, delKeys: ['acls', opts.acl] });
      } finally {
        conn.close();
      }
    },
  };
}
