import { ErrorCode, isDovesnapError } from '../util/errors.js';
import { runCommand } from '../net/exec.js';
import { FORWARD_CHAIN, splitRuleSpec } from '../net/forwarding.js';

/**
 * narwhal's rules in Docker's DOCKER-USER chain, for IPv4 (iptables) and, where Docker manages
 * an IPv6 firewall too, IPv6 (ip6tables): through the same tools Docker uses, so that they work
 * on iptables-nft and legacy alike. Where a family has no DOCKER-USER chain, Docker does not
 * filter it and nothing is needed.
 */

const TOOLS = ['iptables', 'ip6tables'] as const;
export type IptablesTool = (typeof TOOLS)[number];

async function chainExists(tool: IptablesTool): Promise<boolean> {
  try {
    await runCommand(tool, ['-w', '-n', '-L', FORWARD_CHAIN]);
    return true;
  } catch (err) {
    if (isDovesnapError(err, ErrorCode.HostCommand)) return false;
    throw err;
  }
}

async function ruleExists(tool: IptablesTool, rule: readonly string[]): Promise<boolean> {
  return runCommand(tool, ['-w', '-C', FORWARD_CHAIN, ...rule]).then(
    () => true,
    () => false,
  );
}

async function toolsWithChain(): Promise<IptablesTool[]> {
  const out: IptablesTool[] = [];
  for (const t of TOOLS) if (await chainExists(t)) out.push(t);
  return out;
}

/** Puts the rules at the top of DOCKER-USER, in order, unless there already. */
export async function insertDockerUserRules(rules: readonly (readonly string[])[]): Promise<void> {
  for (const tool of await toolsWithChain()) {
    for (const rule of [...rules].reverse()) {
      if (!(await ruleExists(tool, rule))) await runCommand(tool, ['-w', '-I', FORWARD_CHAIN, ...rule]);
    }
  }
}

/** Removes every copy of the rules; succeeds when there are none. */
export async function deleteDockerUserRules(rules: readonly (readonly string[])[]): Promise<void> {
  for (const tool of await toolsWithChain()) {
    for (const rule of rules) {
      while (await ruleExists(tool, rule)) await runCommand(tool, ['-w', '-D', FORWARD_CHAIN, ...rule]);
    }
  }
}

export interface TaggedRule {
  readonly tool: IptablesTool;
  readonly comment: string;
  /** The rule as `-D` takes it. */
  readonly spec: readonly string[];
}

/** Rules of DOCKER-USER whose comment starts with `prefix`, from `iptables -S` output. Pure. */
export function parseTaggedRules(tool: IptablesTool, iptablesS: string, prefix: string): TaggedRule[] {
  const out: TaggedRule[] = [];
  for (const line of iptablesS.split('\n')) {
    if (!line.startsWith(`-A ${FORWARD_CHAIN} `)) continue;
    const spec = splitRuleSpec(line.slice(`-A ${FORWARD_CHAIN} `.length));
    const i = spec.indexOf('--comment');
    const comment = i >= 0 ? spec[i + 1] : undefined;
    if (comment?.startsWith(prefix)) out.push({ tool, comment, spec });
  }
  return out;
}

export async function taggedDockerUserRules(prefix: string): Promise<TaggedRule[]> {
  const out: TaggedRule[] = [];
  for (const tool of await toolsWithChain()) {
    const { stdout } = await runCommand(tool, ['-w', '-S', FORWARD_CHAIN]);
    out.push(...parseTaggedRules(tool, stdout, prefix));
  }
  return out;
}

export async function deleteTaggedRule(rule: TaggedRule): Promise<void> {
  await runCommand(rule.tool, ['-w', '-D', FORWARD_CHAIN, ...rule.spec]).catch((err: unknown) => {
    // Removed meanwhile by someone else (the command and the daemon both collect): done.
    if (!isDovesnapError(err, ErrorCode.HostCommand)) throw err;
  });
}
