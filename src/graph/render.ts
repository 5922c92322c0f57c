import { spawn } from 'node:child_process';
import { DovesnapError, ErrorCode } from '../util/errors.js';

/** Formats Graphviz's `dot` renders for us. */
export type RenderFormat = 'png' | 'svg';

/**
 * Renders DOT with Graphviz's `dot` (Debian's graphviz package, installed by `make up`): the
 * layout engine the diagram needs has no maintained pure-JavaScript equivalent that draws
 * clusters and port labels as dot does.
 */
export function renderDot(dot: string, format: RenderFormat): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('dot', [`-T${format}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e) =>
      reject(
        new DovesnapError(
          ErrorCode.HostCommand,
          `cannot run Graphviz's dot (install the graphviz package): ${e.message}`,
        ),
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out))
        : reject(new DovesnapError(ErrorCode.HostCommand, `dot failed (exit ${code}): ${err.trim()}`)),
    );
    child.stdin.on('error', () => undefined); // dot died early: 'close' reports why
    child.stdin.end(dot);
  });
}
