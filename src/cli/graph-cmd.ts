import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { HostStatus, NetworksStatus } from '../status/documents.js';
import { DovesnapError, ErrorCode, errorMessage } from '../util/errors.js';
import { toDot, type HostGraphInput } from '../graph/dot.js';
import { renderDot } from '../graph/render.js';
import { fetchJson } from './status-cmd.js';

/**
 * `dovesnap graph`: the wiring diagram of one or more hosts, from their status APIs, rendered
 * by Graphviz's `dot` (Debian's graphviz package, installed by `make up`) or written as DOT.
 */

const FORMATS = ['png', 'svg', 'dot'] as const;

function statusBase(addr: string): string {
  const a = addr.trim();
  return /^https?:\/\//.test(a) ? a : `http://${a}`;
}

/** One host's documents, or why they could not be read. */
async function readHost(source: string): Promise<HostGraphInput> {
  const base = statusBase(source);
  try {
    const networks = (await fetchJson(base, '/networks')) as NetworksStatus;
    // An older daemon has no /host: draw what it has.
    const host = (await fetchJson(base, '/host').catch(() => undefined)) as HostStatus | undefined;
    return { source, networks, host };
  } catch (err) {
    return { source, networks: {}, host: undefined, unreachable: errorMessage(err) };
  }
}

export async function runGraph(opts: { output: string; status: string }): Promise<void> {
  const format = extname(opts.output).slice(1).toLowerCase();
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value ${JSON.stringify(opts.output)} for option -o/--output: the file must end in ${FORMATS.map((f) => `.${f}`).join(', ')}`,
    );
  }
  const sources = opts.status
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (sources.length === 0)
    throw new DovesnapError(
      ErrorCode.BadOption,
      `invalid value ${JSON.stringify(opts.status)} for option --status: expected HOST:PORT[,HOST:PORT…]`,
    );
  // Every host at once, and one that cannot be read drawn as such: a picture of the stack is
  // wanted most when a host is down, and the others' part of it is still true.
  const inputs: HostGraphInput[] = await Promise.all(sources.map(readHost));
  const down = inputs.filter((i) => i.unreachable !== undefined);
  if (down.length === inputs.length)
    throw new DovesnapError(ErrorCode.NotFound, down.map((i) => i.unreachable).join('; '));
  for (const i of down) process.stderr.write(`dovesnap graph: ${i.source} drawn as not reachable: ${i.unreachable}\n`);
  const dot = toDot(inputs);
  if (format === 'dot') await writeFile(opts.output, dot);
  else await writeFile(opts.output, await renderDot(dot, format as 'png' | 'svg'));
  const n = inputs.reduce((acc, i) => acc + Object.keys(i.networks).length, 0);
  const read = inputs.filter((i) => i.unreachable === undefined).map((i) => i.source);
  const missing = down.length === 0 ? '' : ` (${down.map((i) => i.source).join(', ')} not reachable)`;
  process.stdout.write(`wrote ${opts.output}: ${n} network${n === 1 ? '' : 's'} from ${read.join(', ')}${missing}\n`);
}
