import { isMap, isScalar, isSeq, type Document, type Pair, type YAMLMap } from 'yaml';
import { readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { writeFileAtomic } from './store.js';
import { flowSeq, yamlMap } from './entries.js';
import { PORT_STATS_INTERVAL_S, gaugeConfig, type GaugeConfigOptions } from './initial-files.js';
import { TO_STRING_OPTIONS, parseFaucetDocument } from './yaml.js';

/**
 * gauge.yaml is the operator's, like faucet.yaml. dovesnap makes sure of three things in it, so
 * that the ports of every dovesnap switch are monitored with no hand configuration, and changes
 * nothing else (comments, the operator's watchers and dbs stay as they are):
 *
 * - `faucet_configs` lists dovesnap's faucet.yaml (Gauge watches the DPs it defines);
 * - a Prometheus db exists (the operator's first one is used; else `dovesnap_prometheus`);
 * - a `port_state` and a `port_stats` watcher cover every DP (`all_dps: true`): the operator's
 *   own, if there is one of that type, or `dovesnap_port_state` / `dovesnap_port_stats`.
 */

export const DOVESNAP_WATCHERS = { port_state: 'dovesnap_port_state', port_stats: 'dovesnap_port_stats' } as const;
const DOVESNAP_DB = 'dovesnap_prometheus';

function scalar(node: unknown): unknown {
  return isScalar(node) ? node.value : node;
}

function field(map: YAMLMap, key: string): unknown {
  return scalar(map.get(key, true));
}

function keyOf(p: Pair): string {
  return String(scalar(p.key));
}

/**
 * The operator's gauge.yaml with what dovesnap needs in it; undefined if nothing needs to change.
 * A file that does not parse is left alone (an error naming the file and the problem).
 */
export function ensureGaugeWatchers(
  text: string | undefined,
  opts: GaugeConfigOptions,
  file = 'gauge.yaml',
): string | undefined {
  if (text === undefined || text.trim() === '') return gaugeConfig(opts);
  // Edited as a plain document: the nodes added are not parsed ones.
  const doc = parseFaucetDocument(text) as unknown as Document;
  if (doc.errors.length > 0)
    throw new DovesnapError(
      ErrorCode.FaucetInvalid,
      `${file} does not parse, so dovesnap leaves it alone: ${doc.errors[0]?.message ?? 'YAML error'}`,
    );
  if (doc.contents === null) doc.contents = yamlMap([]);
  const root: unknown = doc.contents;
  if (!isMap(root))
    throw new DovesnapError(ErrorCode.FaucetInvalid, `${file} is not a mapping, so dovesnap leaves it alone`);
  let changed = false;

  const configs = root.get('faucet_configs', true);
  if (isSeq(configs)) {
    if (!configs.items.some((i) => scalar(i) === opts.faucetConfigPath)) {
      configs.add(opts.faucetConfigPath);
      changed = true;
    }
  } else {
    root.set('faucet_configs', flowSeq([opts.faucetConfigPath]));
    changed = true;
  }

  const mapAt = (key: string): YAMLMap => {
    const found: unknown = root.get(key, true);
    if (isMap(found)) return found;
    const made = yamlMap([]);
    root.set(key, made);
    return made;
  };
  const dbMap = mapAt('dbs');
  const theirs = dbMap.items.find((p) => isMap(p.value) && field(p.value, 'type') === 'prometheus');
  let dbName = theirs === undefined ? undefined : keyOf(theirs);
  if (dbName === undefined) {
    dbName = DOVESNAP_DB;
    dbMap.set(
      dbName,
      yamlMap([
        ['type', 'prometheus'],
        ['prometheus_port', opts.prometheusPort],
        ['prometheus_addr', opts.prometheusAddr],
      ]),
    );
    changed = true;
  }

  const watcherMap = mapAt('watchers');
  for (const [type, name] of Object.entries(DOVESNAP_WATCHERS)) {
    const covered = watcherMap.items.some((p) => {
      return (
        keyOf(p) !== name && isMap(p.value) && field(p.value, 'type') === type && field(p.value, 'all_dps') === true
      );
    });
    const ours = yamlMap([
      ['type', type],
      ['all_dps', true],
      ['interval', type === 'port_stats' ? PORT_STATS_INTERVAL_S : undefined],
      ['db', dbName],
    ]);
    const existing = watcherMap.get(name, true);
    if (covered) {
      if (existing !== undefined) {
        watcherMap.delete(name);
        changed = true;
      }
      continue;
    }
    if (!isMap(existing) || JSON.stringify(existing.toJSON()) !== JSON.stringify(ours.toJSON())) {
      watcherMap.set(name, ours);
      changed = true;
    }
  }
  return changed ? doc.toString({ ...TO_STRING_OPTIONS, indent: 2 }) : undefined;
}

/**
 * Brings gauge.yaml up to what dovesnap needs (see ensureGaugeWatchers), atomically, and asks
 * Gauge to reload if it changed. Returns whether it changed.
 */
export async function syncGaugeFile(
  path: string,
  opts: GaugeConfigOptions,
  reload: () => Promise<void>,
): Promise<boolean> {
  let text: string | undefined;
  let like: Stats | undefined;
  try {
    like = await stat(path);
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const wanted = ensureGaugeWatchers(text, opts, path);
  if (wanted === undefined) return false;
  await writeFileAtomic(path, wanted, like);
  await reload();
  return true;
}
