import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clientIfname } from '../../src/dhcp/files.js';

/**
 * DHCP clients without a network namespace or a DHCP server, for the supervisor: a stand-in
 * for `nsenter` (DhcpSupervisorOptions.nsenter) that records how it was started, writes the
 * pidfile as udhcpc does, and then waits, its command line holding udhcpc's arguments (so the
 * supervisor recognises it by pidfile and command line, as it does a real client). And a
 * container namespace whose interfaces the test renames: its link names (linkNames) and the
 * endpoint's interface by name (resolveIfname).
 */
export class FakeUdhcpc {
  readonly nsenter: string;
  private readonly dir: string;
  private readonly startsFile: string;
  /** The container's links, by ifindex order, as /proc/PID/net/dev lists them. */
  links: string[] = ['lo', 'eth0'];
  /** The endpoint's interface's name now; undefined: not up (resolveIfname answers undefined). */
  current: string | undefined = 'eth0';
  /** How many times resolveIfname was asked. */
  resolves = 0;
  /** How many times linkNames was read. */
  linkReads = 0;

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'dovesnap-fake-udhcpc-'));
    this.nsenter = path.join(this.dir, 'nsenter');
    this.startsFile = path.join(this.dir, 'starts');
    writeFileSync(this.startsFile, '');
    writeFileSync(
      this.nsenter,
      [
        '#!/bin/sh',
        '# Stand-in for `nsenter --net=NS -- busybox udhcpc ARGS`: records its pid and arguments, writes the pidfile, waits.',
        'pidfile=""; prev=""',
        'for a in "$@"; do if [ "$prev" = "-p" ]; then pidfile="$a"; fi; prev="$a"; done',
        `printf '%s' "$$" >> '${this.startsFile}'; for a in "$@"; do printf '\\t%s' "$a" >> '${this.startsFile}'; done; echo >> '${this.startsFile}'`,
        'echo "$$" > "$pidfile"',
        'trap \'rm -f "$pidfile"; exit 0\' TERM',
        'while :; do sleep 0.1; done',
        '',
      ].join('\n'),
    );
    chmodSync(this.nsenter, 0o755);
  }

  /** For DhcpSupervisorOptions.linkNames. */
  readonly linkNames = (_pid: number): string => {
    this.linkReads += 1;
    return this.links.join(' ');
  };

  /** For DhcpClientSpec.resolveIfname. */
  readonly resolveIfname = async (): Promise<string | undefined> => {
    this.resolves += 1;
    return this.current;
  };

  /** Renames an interface of the container, as `ip link set dev FROM name TO` would. */
  rename(from: string, to: string): void {
    this.links = this.links.map((l) => (l === from ? to : l));
    if (this.current === from) this.current = to;
  }

  /** Every start so far: its pid, interface (`-i`) and arguments. */
  starts(): { pid: number; ifname: string | undefined; args: string[] }[] {
    return readFileSync(this.startsFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [pid, ...args] = l.split('\t');
        return { pid: Number(pid), ifname: clientIfname(args), args };
      });
  }

  /** Waits until there have been `n` starts, and the last one has written its pidfile. */
  async started(
    n: number,
    pidfile: string,
    timeoutMs = 5000,
  ): Promise<{ pid: number; ifname: string | undefined; args: string[] }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.starts();
      const last = s[n - 1];
      let written: string | undefined;
      try {
        written = readFileSync(pidfile, 'utf8').trim();
      } catch {
        written = undefined;
      }
      if (s.length >= n && last !== undefined && written === String(last.pid)) return last;
      if (Date.now() > deadline) throw new Error(`expected ${n} starts of the fake udhcpc, saw ${s.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kills every fake client this made and removes its files. */
  close(): void {
    for (const s of this.starts()) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
