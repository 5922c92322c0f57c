import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { runCommand } from '../net/exec.js';
import { hostLinkExists, hostLinkNames } from '../net/links.js';
import { applyNftScript } from '../net/nft.js';
import {
  deleteDockerUserRules,
  deleteTaggedRule,
  insertDockerUserRules,
  taggedDockerUserRules,
  type TaggedRule,
} from './docker-user.js';
import { NFT_TABLE } from './names.js';
import type { IpArgs, Sysctl } from './plan.js';

/**
 * The host operations narwhal needs, as one interface: the command, the driver and the
 * collector use it, and their unit tests use a fake. A network namespace is given as a path
 * (`/proc/PID/ns/net`, Docker's SandboxKey); commands run there through nsenter, with the
 * host's own `ip` and `sysctl`, so nothing is needed inside the container's image.
 */
export interface NarwhalHost {
  /** Runs `ip ARGS` on the host or in a namespace; returns its standard output. */
  ip(args: IpArgs, netns?: string): Promise<string>;
  sysctls(settings: readonly Sysctl[], netns?: string): Promise<void>;
  nft(script: string): Promise<void>;
  /** Chains of narwhal's tables: `netdev narwhal` and `inet narwhal`. */
  nftChains(): Promise<{ readonly family: 'netdev' | 'inet'; readonly chain: string }[]>;
  insertDockerUserRules(rules: readonly (readonly string[])[]): Promise<void>;
  deleteDockerUserRules(rules: readonly (readonly string[])[]): Promise<void>;
  taggedDockerUserRules(prefix: string): Promise<TaggedRule[]>;
  deleteTaggedRule(rule: TaggedRule): Promise<void>;
  /** A host setting below /proc/sys/net (`ipv6/conf/all/forwarding`); undefined if the kernel has none. */
  readSysctl(key: string): string | undefined;
  /** Whether the host (not a namespace) has a link of this name. */
  linkExists(name: string): boolean;
  linkNames(prefix: string): Promise<string[]>;
}

function nsArgs(file: string, args: readonly string[], netns: string | undefined): [string, string[]] {
  return netns === undefined ? [file, [...args]] : ['nsenter', [`--net=${netns}`, file, ...args]];
}

async function listChains(family: 'netdev' | 'inet'): Promise<{ family: 'netdev' | 'inet'; chain: string }[]> {
  const r = await runCommand('nft', ['-j', 'list', 'table', family, NFT_TABLE]).catch(() => undefined);
  if (r === undefined) return [];
  const parsed = JSON.parse(r.stdout) as { nftables?: { chain?: { name?: unknown } }[] };
  return (parsed.nftables ?? []).flatMap((o) =>
    typeof o.chain?.name === 'string' ? [{ family, chain: o.chain.name }] : [],
  );
}

export interface RealHostOptions {
  /** Told every command before it runs (`dovesnap narwhal --trace`). */
  readonly trace?: (line: string) => void;
}

export function realNarwhalHost(opts: RealHostOptions = {}): NarwhalHost {
  const trace = opts.trace ?? (() => undefined);
  const run = async (file: string, args: readonly string[], netns?: string, input?: string): Promise<string> => {
    const [f, a] = nsArgs(file, args, netns);
    trace(`${f} ${a.join(' ')}${input === undefined ? '' : `\n${input.trimEnd()}`}`);
    return (await runCommand(f, a, input === undefined ? {} : { input })).stdout;
  };
  return {
    ip: (args, netns) => run('ip', args, netns),
    async sysctls(settings, netns) {
      if (netns !== undefined) {
        if (settings.length > 0)
          await run('sysctl', ['-q', '-w', ...settings.map((s) => `net/${s.key}=${s.value}`)], netns);
        return;
      }
      // The host's own settings: written directly (the files are writable as root).
      for (const s of settings) {
        const file = `/proc/sys/net/${s.key}`;
        if (s.optional === true && !existsSync(file)) continue;
        trace(`sysctl -w net/${s.key}=${s.value}`);
        await writeFile(file, `${s.value}\n`);
      }
    },
    async nft(script) {
      trace(`nft -f -\n${script.trimEnd()}`);
      await applyNftScript(script);
    },
    nftChains: async () => [...(await listChains('netdev')), ...(await listChains('inet'))],
    async insertDockerUserRules(rules) {
      for (const r of rules) trace(`iptables -I DOCKER-USER ${r.join(' ')}`);
      await insertDockerUserRules(rules);
    },
    async deleteDockerUserRules(rules) {
      await deleteDockerUserRules(rules);
    },
    taggedDockerUserRules,
    async deleteTaggedRule(rule) {
      trace(`${rule.tool} -D DOCKER-USER ${rule.spec.join(' ')}`);
      await deleteTaggedRule(rule);
    },
    readSysctl(key) {
      try {
        return readFileSync(`/proc/sys/net/${key}`, 'utf8').trim();
      } catch {
        return undefined;
      }
    },
    linkExists: (name) => hostLinkExists(name),
    linkNames: (prefix) => hostLinkNames(prefix),
  };
}
