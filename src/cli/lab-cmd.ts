import { readFile, stat, writeFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { LabDocker } from '../lab/docker.js';
import { labToDot } from '../lab/graph.js';
import { loadLabFile } from '../lab/load.js';
import { Progress } from '../lab/progress.js';
import { labNames, labStatus, renderLabStatus } from '../lab/status.js';
import { labDown } from '../lab/down.js';
import { labUp } from '../lab/up.js';
import type { LabContext, LabImages } from '../lab/context.js';
import { renderDot } from '../graph/render.js';
import type { NetworksStatus } from '../status/documents.js';
import { fetchJson } from './status-cmd.js';
import { statusUrl } from '../config/environment.js';

/**
 * `dovesnap lab`: a network-defence lab from one file. `up` converges what runs to the file,
 * `down` and `status` find the lab by its labels and state (a lab NAME, or a FILE for its name),
 * `graph` draws it, `image` builds the images its nodes run.
 */

const LAB_NAME = /^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/;

async function isFile(arg: string): Promise<boolean> {
  return stat(arg).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * The lab a FILE|NAME argument means. A file is read only for its `name:`, leniently, so that
 * `down` works with a file edited (even broken) since `up`.
 */
export async function labNameOf(arg: string): Promise<string> {
  if (await isFile(arg)) {
    const doc = parseDocument(await readFile(arg, 'utf8'), { uniqueKeys: false });
    const name: unknown = doc.get('name');
    if (typeof name === 'string' && LAB_NAME.test(name)) return name;
    throw new DovesnapError(
      ErrorCode.BadOption,
      `${arg}: no valid lab name in it (name: ${JSON.stringify(name ?? null)})`,
    );
  }
  if (LAB_NAME.test(arg)) return arg;
  if (/\.ya?ml$/i.test(arg)) throw new DovesnapError(ErrorCode.NotFound, `lab file ${arg} does not exist`);
  throw new DovesnapError(
    ErrorCode.BadOption,
    `invalid lab ${JSON.stringify(arg)}: expected a lab file or a lab name ([a-z0-9-], at most 20 characters)`,
  );
}

function context(images: LabImages): LabContext {
  return { docker: new LabDocker(), images, progress: new Progress(), out: (t) => process.stdout.write(t) };
}

export function registerLabCommands(program: Command, images: () => Promise<LabImages>): Command {
  const lab = program
    .command('lab')
    .description('a network-defence lab from one file: routers, hosts, segments and links on dovesnap networks');

  lab
    .command('up <file>')
    .description(
      'make what runs match the lab file: create what is missing, recreate what changed, remove what left the file',
    )
    .option('--dry-run', 'print what would be created, changed and removed; change nothing')
    .action(async (file: string, opts: { dryRun?: boolean }) => {
      const spec = await loadLabFile(resolve(file));
      await labUp(context(await images()), spec, { dryRun: opts.dryRun === true });
    });

  lab
    .command('down <file|name>')
    .description(
      "remove every container and network of the lab (found by its labels and state, not by the file's contents)",
    )
    .action(async (arg: string) => {
      await labDown(context(await images()), await labNameOf(arg));
    });

  lab
    .command('status [file|name]')
    .description(
      "nodes (state, interfaces, addresses), networks and links, and routers' OSPF neighbours; without an argument, the labs on this host",
    )
    .option('--json', 'print JSON')
    .action(async (arg: string | undefined, opts: { json?: boolean }) => {
      const docker = new LabDocker();
      if (arg === undefined) {
        const all = await Promise.all((await labNames(docker)).map((n) => labStatus(docker, n)));
        if (opts.json === true) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
        else if (all.length === 0) process.stdout.write('no labs\n');
        else
          for (const s of all)
            process.stdout.write(
              `${s.name}: ${s.nodes.filter((n) => n.state === 'running').length}/${s.nodes.length} nodes running, ${s.networks.length} networks${s.file === undefined ? '' : `, from ${s.file}`}\n`,
            );
        return;
      }
      const s = await labStatus(docker, await labNameOf(arg));
      process.stdout.write(opts.json === true ? `${JSON.stringify(s, null, 2)}\n` : renderLabStatus(s));
    });

  lab
    .command('graph <file|name>')
    .description(
      "draw the lab: its nodes, segments, links, the host's gateway, addresses and OpenFlow ports (Graphviz)",
    )
    .option('-o, --output <file>', 'output file: .svg, .png or .dot', 'lab.svg')
    .option('--status <url>', 'status API of the dovesnap daemon, for bridges, DPIDs, VLANs and ports', statusUrl())
    .action(async (arg: string, opts: { output: string; status: string }) => {
      const format = extname(opts.output).slice(1).toLowerCase();
      if (!['svg', 'png', 'dot'].includes(format))
        throw new DovesnapError(
          ErrorCode.BadOption,
          `invalid value ${JSON.stringify(opts.output)} for option -o/--output: the file must end in .svg, .png or .dot`,
        );
      const s = await labStatus(new LabDocker(), await labNameOf(arg));
      if (s.nodes.length === 0 && s.networks.length === 0)
        throw new DovesnapError(
          ErrorCode.NotFound,
          `lab ${s.name} does not run: nothing to draw (dovesnap lab up FILE first)`,
        );
      const base = /^https?:\/\//.test(opts.status) ? opts.status : `http://${opts.status}`;
      const daemon = (await fetchJson(base, '/networks').catch(() => undefined)) as NetworksStatus | undefined;
      const dot = labToDot(s, daemon);
      await writeFile(opts.output, format === 'dot' ? dot : await renderDot(dot, format as 'svg' | 'png'));
      process.stdout.write(
        `wrote ${opts.output}: lab ${s.name}, ${s.nodes.length} nodes, ${s.networks.length} networks${daemon === undefined ? ' (status API not answering: no ports or VLANs)' : ''}\n`,
      );
    });

  return lab;
}
