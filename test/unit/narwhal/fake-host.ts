import type { NarwhalHost } from '../../../src/narwhal/host.js';
import type { TaggedRule } from '../../../src/narwhal/docker-user.js';
import type { IpArgs, Sysctl } from '../../../src/narwhal/plan.js';

/**
 * A NarwhalHost that records what it is asked and keeps just enough state (links, chains,
 * DOCKER-USER rules) for the driver, the command and the collector to be exercised without a
 * host. `ipAnswers` gives canned output for `ip` queries.
 */
export class FakeHost implements NarwhalHost {
  readonly calls: string[] = [];
  readonly links = new Set<string>();
  readonly chains = new Map<string, 'netdev' | 'inet'>();
  rules: TaggedRule[] = [];
  readonly sysctlLog: { settings: readonly Sysctl[]; netns: string | undefined }[] = [];
  /** Throws when a command line contains this text. */
  failOn: string | undefined;
  ipAnswers: (args: IpArgs, netns: string | undefined) => string | undefined = () => undefined;

  async ip(args: IpArgs, netns?: string): Promise<string> {
    const line = `${netns === undefined ? '' : `[${netns}] `}ip ${args.join(' ')}`;
    this.calls.push(line);
    if (this.failOn !== undefined && line.includes(this.failOn)) throw new Error(`failed: ${line}`);
    const answer = this.ipAnswers(args, netns);
    if (answer !== undefined) return answer;
    if (netns === undefined && args[0] === 'link' && args[1] === 'add') this.links.add(args[2] ?? '');
    if (netns === undefined && args[0] === 'link' && args[1] === 'del') this.links.delete(args[3] ?? '');
    return '';
  }

  async sysctls(settings: readonly Sysctl[], netns?: string): Promise<void> {
    this.sysctlLog.push({ settings, netns });
    this.calls.push(
      `${netns === undefined ? '' : `[${netns}] `}sysctl ${settings.map((s) => `${s.key}=${s.value}`).join(' ')}`,
    );
  }

  async nft(script: string): Promise<void> {
    this.calls.push(
      `nft ${script
        .split('\n')
        .filter((l) => l.startsWith('add chain') || l.startsWith('delete chain'))
        .join(' | ')}`,
    );
    if (this.failOn !== undefined && script.includes(this.failOn)) throw new Error('nft failed');
    for (const line of script.split('\n')) {
      const add = /^add chain (netdev|inet) narwhal (\S+) \{/.exec(line);
      if (add) this.chains.set(add[2] ?? '', add[1] as 'netdev' | 'inet');
      const del = /^delete chain (?:netdev|inet) narwhal (\S+)/.exec(line);
      if (del) this.chains.delete(del[1] ?? '');
    }
  }

  async nftChains(): Promise<{ family: 'netdev' | 'inet'; chain: string }[]> {
    return [...this.chains].map(([chain, family]) => ({ family, chain }));
  }

  async insertDockerUserRules(rules: readonly (readonly string[])[]): Promise<void> {
    for (const spec of rules) {
      const comment = spec[spec.indexOf('--comment') + 1] ?? '';
      if (!this.rules.some((r) => r.spec.join(' ') === spec.join(' ')))
        this.rules.push({ tool: 'iptables', comment, spec });
    }
    this.calls.push(`docker-user insert ${rules.length}`);
  }

  async deleteDockerUserRules(rules: readonly (readonly string[])[]): Promise<void> {
    const gone = new Set(rules.map((r) => r.join(' ')));
    this.rules = this.rules.filter((r) => !gone.has(r.spec.join(' ')));
    this.calls.push(`docker-user delete ${rules.length}`);
  }

  async taggedDockerUserRules(prefix: string): Promise<TaggedRule[]> {
    return this.rules.filter((r) => r.comment.startsWith(prefix));
  }

  async deleteTaggedRule(rule: TaggedRule): Promise<void> {
    this.rules = this.rules.filter((r) => r !== rule);
    this.calls.push(`docker-user delete "${rule.comment}"`);
  }

  /** Host settings readSysctl answers; a missing key is a setting the kernel does not have. */
  readonly settings = new Map<string, string>([['ipv6/conf/all/force_forwarding', '0']]);

  readSysctl(key: string): string | undefined {
    return this.settings.get(key);
  }

  linkExists(name: string): boolean {
    return this.links.has(name);
  }

  async linkNames(prefix: string): Promise<string[]> {
    return [...this.links].filter((l) => l.startsWith(prefix));
  }
}
