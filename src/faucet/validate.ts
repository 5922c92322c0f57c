/**
 * A fast check of faucet.yaml, run before every write instead of spawning FAUCET's Python
 * checker. It covers what dovesnap could get wrong and what the operator's part of the file
 * could collide with; each rule mirrors a rejection FAUCET 1.10 itself makes (config_parser.py,
 * dp.py, port.py, vlan.py), so an `error` here means FAUCET would refuse the file. Things FAUCET
 * accepts but that are probably mistakes are `warning`s and never block a write.
 *
 * Limits: files named by `include`/`include-optional` are not read (references that could be
 * satisfied there become warnings), and ACL rule contents, meters and routers are not checked.
 */
import { DovesnapError, ErrorCode } from '../util/errors.js';
import { faucetDocumentToJs, parseFaucetDocument } from './yaml.js';
import { OFPP_LOCAL } from './types.js';

export type ProblemSeverity = 'error' | 'warning';

export type ProblemCode =
  | 'yaml-syntax'
  | 'top-level'
  | 'no-dps'
  | 'dp-name'
  | 'dp-id'
  | 'duplicate-dp-id'
  | 'no-interfaces'
  | 'unknown-key'
  | 'bad-value'
  | 'port-number'
  | 'duplicate-port'
  | 'vlan-vid'
  | 'duplicate-vid'
  | 'vlan-undefined'
  | 'no-vlans'
  | 'acl-undefined'
  | 'mirror-target'
  | 'stack-target'
  | 'port-kind'
  | 'include-not-checked';

export interface ConfigProblem {
  readonly severity: ProblemSeverity;
  readonly code: ProblemCode;
  /** Where, as YAML keys from the top: e.g. `dps.mynet.interfaces.3.native_vlan`. */
  readonly path: string;
  /** For people: names the DP/port/VLAN/key and the offending value. */
  readonly message: string;
}

/** DovesnapError(FaucetInvalid) that also carries every problem found. */
export class FaucetConfigInvalidError extends DovesnapError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], context = 'FAUCET configuration is invalid') {
    const shown = problems.slice(0, 5).map((problem) => problem.message);
    const more = problems.length > shown.length ? ` (and ${problems.length - shown.length} more)` : '';
    super(ErrorCode.FaucetInvalid, `${context}: ${shown.join('; ')}${more}`);
    this.name = 'FaucetConfigInvalidError';
    this.problems = problems;
  }
}

// Facts from FAUCET 1.10 (valve_of.py, valve.py, and the `defaults` of dp.py, port.py, vlan.py).
const MAX_PHYSICAL_PORT = 0xf0000000n;
const SPECIAL_PORTS = new Set([BigInt(OFPP_LOCAL), 0xfffffff8n /* OFPP_IN_PORT */]);
const MAX_DPID = (1n << 64n) - 1n;
const TOP_LEVEL_KEYS = new Set(['acls', 'dps', 'meters', 'routers', 'vlans', 'include', 'include-optional', 'version']);
const SUPPORTED_HARDWARE = new Set([
  'Allied-Telesis',
  'Aruba',
  'CiscoC9K',
  'Generic',
  'GenericTFM',
  'Lagopus',
  'Netronome',
  'NoviFlow',
  'Open vSwitch',
  'Open vSwitch TFM',
  'ZodiacFX',
  'ZodiacGX',
]);
const DP_KEYS = new Set([
  'advertise_interval',
  'arp_neighbor_timeout',
  'cache_update_guard_time',
  'combinatorial_port_flood',
  'cookie',
  'description',
  'dot1x',
  'dp_acls',
  'dp_id',
  'drop_broadcast_source_address',
  'drop_spoofed_faucet_mac',
  'egress_pipeline',
  'fast_advertise_interval',
  'faucet_dp_mac',
  'global_vlan',
  'group_table',
  'hardware',
  'high_priority',
  'highest_priority',
  'idle_dst',
  'ignore_learn_ins',
  'interface_ranges',
  'interfaces',
  'lacp_timeout',
  'learn_ban_timeout',
  'learn_jitter',
  'lldp_beacon',
  'low_priority',
  'lowest_priority',
  'max_host_fib_retry_count',
  'max_hosts_per_resolve_cycle',
  'max_resolve_backoff_time',
  'max_wildcard_table_size',
  'metrics_rate_limit_sec',
  'min_wildcard_table_size',
  'multi_out',
  'name',
  'nd_neighbor_timeout',
  'ofchannel_log',
  'packetin_pps',
  'port_table_scale_factor',
  'priority_offset',
  'proactive_learn_v4',
  'proactive_learn_v6',
  'slowpath_pps',
  'stack',
  'strict_packet_in_cookie',
  'table_sizes',
  'timeout',
  'use_classification',
  'use_idle_timeout',
]);
const PORT_KEYS = new Set([
  'acl_in',
  'acls_in',
  'coprocessor',
  'count_untag_vlan_miss',
  'description',
  'dot1x',
  'dot1x_acl',
  'dot1x_dyn_acl',
  'dot1x_mab',
  'enabled',
  'hairpin',
  'hairpin_unicast',
  'lacp',
  'lacp_active',
  'lacp_collect_and_distribute',
  'lacp_passthrough',
  'lacp_port_id',
  'lacp_port_priority',
  'lacp_resp_interval',
  'lacp_selected',
  'lacp_standby',
  'lacp_unselected',
  'lldp_beacon',
  'lldp_peer_mac',
  'loop_protect',
  'loop_protect_external',
  'max_hosts',
  'max_lldp_lost',
  'mirror',
  'name',
  'native_vlan',
  'number',
  'opstatus_reconf',
  'output_only',
  'permanent_learn',
  'receive_lldp',
  'restricted_bcast_arpnd',
  'stack',
  'tagged_vlans',
  'unicast_flood',
]);
const VLAN_KEYS = new Set([
  'acl_in',
  'acl_out',
  'acls_in',
  'acls_out',
  'description',
  'dot1x_assigned',
  'edge_learn_stack_root',
  'faucet_mac',
  'faucet_vips',
  'max_hosts',
  'minimum_ip_size_check',
  'name',
  'proactive_arp_limit',
  'proactive_nd_limit',
  'reserved_internal_vlan',
  'routes',
  'targeted_gw_resolution',
  'unicast_flood',
  'vid',
]);
/** Port options that make a port a non-VLAN port (port.py check_config). */
const NON_VLAN_OPTIONS = ['stack', 'mirror', 'coprocessor', 'output_only'] as const;
/** Options a non-VLAN port may still set. */
const VLAN_AGNOSTIC_OPTIONS = new Set(['enabled', 'number', 'name', 'description', 'max_lldp_lost']);
/** Truthy FAUCET defaults: setting these to their default on a non-VLAN port is allowed. */
const TRUTHY_PORT_DEFAULTS = new Map<string, unknown>([
  ['unicast_flood', true],
  ['opstatus_reconf', true],
  ['max_hosts', 255n],
  ['lacp_resp_interval', 1n],
  ['lacp_port_priority', 255n],
  ['lacp_port_id', -1n],
]);

type JsMap = Map<unknown, unknown>;

function asMap(value: unknown): JsMap | undefined {
  return value instanceof Map ? value : undefined;
}

/** Python truthiness, which is what FAUCET's `if x` checks use. */
function truthy(value: unknown): boolean {
  if (value instanceof Map) return value.size > 0;
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value) && value !== 0n;
}

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (value instanceof Map) return '{...}';
  return String(value);
}

function isRef(value: unknown): value is string | bigint {
  return typeof value === 'string' || typeof value === 'bigint';
}

/** `x` or `[x, y]`, as FAUCET accepts for acl_in/mirror; undefined if absent. */
function listOf(value: unknown): unknown[] | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value : [value];
}

function portNumbersInRange(spec: string): bigint[] {
  // interface_ranges keys look like "1-6,8,10-12"
  const numbers: bigint[] = [];
  for (const part of spec.split(',')) {
    const range = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(part);
    if (range?.[1] !== undefined && range[2] !== undefined) {
      for (let n = BigInt(range[1]); n <= BigInt(range[2]) && numbers.length < 100_000; n += 1n) numbers.push(n);
    } else if (/^\s*\d+\s*$/.test(part)) {
      numbers.push(BigInt(part.trim()));
    }
  }
  return numbers;
}

class Checker {
  readonly problems: ConfigProblem[] = [];
  /** Set when includes exist: references may be satisfied by files we do not read. */
  private referenceSeverity: ProblemSeverity = 'error';

  constructor(private readonly root: JsMap) {}

  private add(code: ProblemCode, path: string, message: string, severity: ProblemSeverity = 'error'): void {
    this.problems.push({ severity, code, path, message });
  }

  private section(name: string): JsMap {
    const value = this.root.get(name);
    if (value === undefined) return new Map();
    const map = asMap(value);
    if (map === undefined) {
      this.add('top-level', name, `top-level '${name}' must be a mapping, not ${show(value)}`);
      return new Map();
    }
    return map;
  }

  private unknownKeys(conf: JsMap, known: ReadonlySet<string>, path: string, what: string): void {
    for (const key of conf.keys()) {
      if (typeof key !== 'string' || !known.has(key)) {
        this.add('unknown-key', `${path}.${String(key)}`, `${what}: unknown key ${show(key)}`);
      }
    }
  }

  run(): void {
    for (const key of this.root.keys()) {
      if (typeof key !== 'string' || !TOP_LEVEL_KEYS.has(key))
        this.add('top-level', String(key), `unknown top-level key ${show(key)}`);
    }
    const version = this.root.get('version');
    if (version !== undefined && version !== 2n)
      this.add('top-level', 'version', `version ${show(version)} is not supported (only 2)`);
    if (this.root.has('include') || this.root.has('include-optional')) {
      this.referenceSeverity = 'warning';
      this.add(
        'include-not-checked',
        'include',
        'included files are not checked; references to their ACLs, VLANs and DPs are assumed to exist',
        'warning',
      );
    }

    const acls = this.section('acls');
    const vlans = this.checkVlans(this.section('vlans'), acls);
    this.section('meters');
    this.section('routers');
    const dps = this.section('dps');
    if (dps.size === 0)
      this.add('no-dps', 'dps', 'no DP is configured (FAUCET refuses a file without one)', this.referenceSeverity);
    this.checkDps(dps, vlans, acls);
  }

  /** `single` is FAUCET's one-name form (acl_in), `plural` its list form (acls_in). */
  private checkAclRefs(
    conf: JsMap,
    single: string | undefined,
    plural: string,
    acls: JsMap,
    path: string,
    what: string,
  ): void {
    if (single !== undefined && truthy(conf.get(single)) && truthy(conf.get(plural))) {
      this.add(
        'bad-value',
        `${path}.${single}`,
        `${what}: both '${single}' and '${plural}' are set; use only '${plural}'`,
      );
    }
    const pluralValue = conf.get(plural);
    if (pluralValue !== undefined && pluralValue !== null && !Array.isArray(pluralValue)) {
      this.add('bad-value', `${path}.${plural}`, `${what}: '${plural}' must be a list, not ${show(pluralValue)}`);
    }
    for (const key of single === undefined ? [plural] : [single, plural]) {
      for (const name of listOf(conf.get(key)) ?? []) {
        if (key === plural && !Array.isArray(pluralValue)) break;
        if (!isRef(name))
          this.add('bad-value', `${path}.${key}`, `${what}: ACL name ${show(name)} in '${key}' must be a string`);
        else if (!acls.has(name))
          this.add(
            'acl-undefined',
            `${path}.${key}`,
            `${what}: ACL ${show(name)} in '${key}' is not defined in 'acls'`,
            this.referenceSeverity,
          );
      }
    }
  }

  /** Returns the VLAN keys FAUCET can resolve a port's VLAN reference against. */
  private checkVlans(vlans: JsMap, acls: JsMap): Map<unknown, bigint | undefined> {
    const resolved = new Map<unknown, bigint | undefined>();
    const byVid = new Map<bigint, string>();
    for (const [key, value] of vlans) {
      const path = `vlans.${String(key)}`;
      const what = `VLAN ${show(key)}`;
      const conf = value === null ? new Map<unknown, unknown>() : asMap(value);
      if (conf === undefined) {
        this.add('bad-value', path, `${what} must be a mapping, not ${show(value)}`);
        continue;
      }
      this.unknownKeys(conf, VLAN_KEYS, path, what);
      const vid = conf.get('vid') ?? key;
      if (typeof vid !== 'bigint' || vid < 1n || vid > 4095n) {
        this.add('vlan-vid', `${path}.vid`, `${what}: vid ${show(vid)} is not a VID in 1..4095`);
        resolved.set(key, undefined);
      } else {
        const other = byVid.get(vid);
        if (other !== undefined)
          this.add(
            'duplicate-vid',
            `${path}.vid`,
            `${what}: VID ${vid} is also used by VLAN ${other} (VIDs must be unique across 'vlans')`,
          );
        byVid.set(vid, show(key));
        resolved.set(key, vid);
      }
      this.checkAclRefs(conf, 'acl_in', 'acls_in', acls, path, what);
      this.checkAclRefs(conf, 'acl_out', 'acls_out', acls, path, what);
    }
    return resolved;
  }

  private checkDps(dps: JsMap, vlans: Map<unknown, bigint | undefined>, acls: JsMap): void {
    const dpIds = new Map<bigint, string>();
    const portsByDp = new Map<string, { numbers: Set<bigint>; names: Set<string> }>();
    const pending: Array<() => void> = [];
    let anyVlan = vlans.size > 0;
    const nonVlanDps = new Set<string>();
    const dpNames: string[] = [];

    for (const [key, value] of dps) {
      const name = String(key);
      const path = `dps.${name}`;
      const what = `DP ${show(key)}`;
      if (typeof key !== 'string') {
        this.add('dp-name', path, `${what}: DP names must be strings; quote the key ('${name}')`);
      }
      const conf = asMap(value);
      if (conf === undefined) {
        this.add('bad-value', path, `${what} must be a mapping, not ${show(value)}`);
        continue;
      }
      dpNames.push(name);
      this.unknownKeys(conf, DP_KEYS, path, what);
      const explicitName = conf.get('name');
      if (explicitName !== undefined && explicitName !== key)
        this.add('dp-name', `${path}.name`, `${what}: name ${show(explicitName)} differs from its key`);

      const dpId = conf.get('dp_id');
      if (typeof dpId !== 'bigint') {
        this.add('dp-id', `${path}.dp_id`, `${what}: dp_id must be an integer (decimal or 0x hex), not ${show(dpId)}`);
      } else if (dpId < 0n || dpId > MAX_DPID) {
        this.add('dp-id', `${path}.dp_id`, `${what}: dp_id ${dpId} is outside 0..2^64-1`);
      } else {
        const other = dpIds.get(dpId);
        if (other !== undefined)
          this.add(
            'duplicate-dp-id',
            `${path}.dp_id`,
            `${what}: dp_id 0x${dpId.toString(16)} is also used by DP ${other}`,
          );
        dpIds.set(dpId, show(key));
      }
      const hardware = conf.get('hardware');
      if (hardware !== undefined && (typeof hardware !== 'string' || !SUPPORTED_HARDWARE.has(hardware))) {
        this.add('bad-value', `${path}.hardware`, `${what}: hardware ${show(hardware)} is not one FAUCET supports`);
      }
      this.checkAclRefs(conf, undefined, 'dp_acls', acls, path, what);

      const interfaces = conf.get('interfaces') ?? new Map<unknown, unknown>();
      const ranges = conf.get('interface_ranges') ?? new Map<unknown, unknown>();
      const interfaceMap = asMap(interfaces);
      const rangeMap = asMap(ranges);
      if (interfaceMap === undefined)
        this.add('bad-value', `${path}.interfaces`, `${what}: 'interfaces' must be a mapping, not ${show(interfaces)}`);
      if (rangeMap === undefined)
        this.add(
          'bad-value',
          `${path}.interface_ranges`,
          `${what}: 'interface_ranges' must be a mapping, not ${show(ranges)}`,
        );
      if (
        (interfaceMap?.size ?? 0) + (rangeMap?.size ?? 0) === 0 &&
        interfaceMap !== undefined &&
        rangeMap !== undefined
      ) {
        this.add('no-interfaces', `${path}.interfaces`, `${what} has no interfaces (FAUCET needs at least one)`);
      }

      const numbers = new Set<bigint>();
      const names = new Set<string>();
      const ports: Array<{ path: string; what: string; conf: JsMap }> = [];
      const numberOwner = new Map<bigint, string>();
      for (const [portKey, portValue] of interfaceMap ?? []) {
        const portPath = `${path}.interfaces.${String(portKey)}`;
        const portWhat = `${what} port ${show(portKey)}`;
        const portConf = asMap(portValue);
        if (portConf === undefined) {
          this.add('bad-value', portPath, `${portWhat} must be a mapping, not ${show(portValue)}`);
          continue;
        }
        const number = portConf.get('number') ?? portKey;
        if (
          typeof number !== 'bigint' ||
          !((number >= 1n && number <= MAX_PHYSICAL_PORT) || SPECIAL_PORTS.has(number))
        ) {
          this.add(
            'port-number',
            portPath,
            `${portWhat}: port number ${show(number)} is invalid (1..${MAX_PHYSICAL_PORT}, or LOCAL ${OFPP_LOCAL})`,
          );
        } else {
          const other = numberOwner.get(number);
          if (other !== undefined)
            this.add(
              'duplicate-port',
              portPath,
              `${portWhat}: port number ${number} is also configured by port ${other}; FAUCET keeps only one`,
              'warning',
            );
          numberOwner.set(number, show(portKey));
          numbers.add(number);
        }
        const portName = portConf.get('name') ?? String(portKey);
        if (typeof portName === 'string') names.add(portName);
        ports.push({ path: portPath, what: portWhat, conf: portConf });
      }
      for (const rangeKey of rangeMap?.keys() ?? []) {
        for (const number of portNumbersInRange(String(rangeKey))) numbers.add(number);
      }
      portsByDp.set(name, { numbers, names });

      for (const port of ports) {
        const kind = this.checkPort(port.path, port.what, port.conf, vlans, acls, numbers, names);
        if (kind === 'vlan') anyVlan = true;
        if (kind === 'non-vlan') nonVlanDps.add(name);
        const stack = asMap(port.conf.get('stack'));
        if (stack !== undefined) {
          pending.push(() => this.checkStack(port.path, port.what, stack, portsByDp));
        }
      }
    }
    for (const check of pending) check();
    if (!anyVlan) {
      for (const name of dpNames) {
        if (!nonVlanDps.has(name))
          this.add(
            'no-vlans',
            `dps.${name}.interfaces`,
            `DP '${name}': no interface uses a VLAN, and no VLAN is defined`,
          );
      }
    }
  }

  private checkStack(
    path: string,
    what: string,
    stack: JsMap,
    portsByDp: ReadonlyMap<string, { numbers: Set<bigint>; names: Set<string> }>,
  ): void {
    const dp = stack.get('dp');
    const port = stack.get('port');
    const peer = typeof dp === 'string' ? portsByDp.get(dp) : undefined;
    if (peer === undefined) {
      this.add(
        'stack-target',
        `${path}.stack.dp`,
        `${what}: stack DP ${show(dp)} is not defined`,
        this.referenceSeverity,
      );
    } else if (
      !((typeof port === 'bigint' && peer.numbers.has(port)) || (typeof port === 'string' && peer.names.has(port)))
    ) {
      this.add(
        'stack-target',
        `${path}.stack.port`,
        `${what}: stack port ${show(port)} is not defined in DP ${show(dp)}`,
      );
    }
  }

  /**
   * Checks one port; says whether it refers to a VLAN (which FAUCET then creates implicitly if
   * needed, making VLANs exist for every DP), is a non-VLAN port, or neither.
   */
  private checkPort(
    path: string,
    what: string,
    conf: JsMap,
    vlans: ReadonlyMap<unknown, bigint | undefined>,
    acls: JsMap,
    numbers: ReadonlySet<bigint>,
    names: ReadonlySet<string>,
  ): 'vlan' | 'non-vlan' | 'none' {
    this.unknownKeys(conf, PORT_KEYS, path, what);
    const resolveVlan = (ref: unknown, key: string): bigint | undefined => {
      if (vlans.has(ref)) return vlans.get(ref);
      for (const vid of vlans.values()) if (vid !== undefined && vid === ref) return vid;
      if (typeof ref !== 'bigint') {
        this.add(
          'vlan-undefined',
          `${path}.${key}`,
          `${what}: VLAN ${show(ref)} in '${key}' is not defined in 'vlans' (a bare VID must be a number)`,
          this.referenceSeverity,
        );
        return undefined;
      }
      if (ref < 1n || ref > 4095n) {
        this.add('vlan-vid', `${path}.${key}`, `${what}: '${key}' VID ${ref} is outside 1..4095`);
        return undefined;
      }
      return ref;
    };

    const native = conf.get('native_vlan');
    const nativeVid = native === undefined || native === null ? undefined : resolveVlan(native, 'native_vlan');
    const tagged = conf.get('tagged_vlans');
    if (tagged !== undefined && tagged !== null && !Array.isArray(tagged)) {
      this.add('bad-value', `${path}.tagged_vlans`, `${what}: 'tagged_vlans' must be a list, not ${show(tagged)}`);
    } else {
      for (const ref of tagged ?? []) {
        const vid = resolveVlan(ref, 'tagged_vlans');
        if (vid !== undefined && vid === nativeVid)
          this.add('bad-value', `${path}.tagged_vlans`, `${what}: VLAN ${vid} is both native and tagged`);
      }
    }
    this.checkAclRefs(conf, 'acl_in', 'acls_in', acls, path, what);

    for (const ref of listOf(conf.get('mirror')) ?? []) {
      const exists = (typeof ref === 'bigint' && numbers.has(ref)) || (typeof ref === 'string' && names.has(ref));
      if (!exists)
        this.add('mirror-target', `${path}.mirror`, `${what}: mirrored port ${show(ref)} is not defined in this DP`);
    }
    const coprocessor = conf.get('coprocessor');
    if (truthy(coprocessor) && asMap(coprocessor)?.get('strategy') !== 'vlan_vid') {
      this.add(
        'bad-value',
        `${path}.coprocessor`,
        `${what}: coprocessor strategy must be 'vlan_vid', not ${show(asMap(coprocessor)?.get('strategy'))}`,
      );
    }

    const nonVlan = NON_VLAN_OPTIONS.filter((option) => truthy(conf.get(option)));
    const vlanPort = truthy(native) || truthy(tagged);
    if (vlanPort && nonVlan.length > 0) {
      this.add(
        'port-kind',
        path,
        `${what}: a port with ${nonVlan.join('/')} cannot also have VLANs (native_vlan/tagged_vlans)`,
      );
    } else if (nonVlan.length > 1) {
      const allowed = conf.get('output_only')
        ? ['mirror', 'output_only']
        : conf.get('mirror')
          ? ['mirror', 'coprocessor']
          : [];
      const extra = nonVlan.filter((option) => !allowed.includes(option));
      if (extra.length > 0)
        this.add('port-kind', path, `${what}: options ${nonVlan.join(', ')} cannot be combined on one port`);
    }
    if (nonVlan.length > 0 && !vlanPort) {
      const aclExempt = truthy(conf.get('stack')) || truthy(coprocessor);
      for (const [key, value] of conf) {
        if (
          typeof key !== 'string' ||
          VLAN_AGNOSTIC_OPTIONS.has(key) ||
          (NON_VLAN_OPTIONS as readonly string[]).includes(key)
        )
          continue;
        if (aclExempt && key.startsWith('acl')) continue;
        if (truthy(value) && value !== TRUTHY_PORT_DEFAULTS.get(key)) {
          this.add(
            'port-kind',
            `${path}.${key}`,
            `${what}: VLAN option '${key}' (${show(value)}) is not allowed on a ${nonVlan.join('/')} port`,
          );
        }
      }
      return 'non-vlan';
    }
    return vlanPort ? 'vlan' : 'none';
  }
}

/** Every problem found in `text`, errors first. Pure; fast enough for every write. */
export function validateFaucetConfig(text: string): ConfigProblem[] {
  const doc = parseFaucetDocument(text);
  if (doc.errors.length > 0) {
    return doc.errors.map((error) => ({
      severity: 'error',
      code: 'yaml-syntax',
      path: '',
      message: `YAML: ${error.message}`,
    }));
  }
  const root = faucetDocumentToJs(doc);
  if (root === null || root === undefined) {
    return [
      { severity: 'error', code: 'no-dps', path: '', message: 'the file is empty (FAUCET needs at least one DP)' },
    ];
  }
  const map = asMap(root);
  if (map === undefined)
    return [
      { severity: 'error', code: 'top-level', path: '', message: `the top level must be a mapping, not ${show(root)}` },
    ];
  const checker = new Checker(map);
  checker.run();
  const rank = (problem: ConfigProblem): number => (problem.severity === 'error' ? 0 : 1);
  return [...checker.problems].sort((a, b) => rank(a) - rank(b));
}

/** Throws FaucetConfigInvalidError (code FaucetInvalid) if `text` has any error. */
export function assertValidFaucetConfig(text: string, context?: string): void {
  const errors = validateFaucetConfig(text).filter((problem) => problem.severity === 'error');
  if (errors.length > 0) throw new FaucetConfigInvalidError(errors, context);
}
