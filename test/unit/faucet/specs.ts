/** Desired states and fixtures shared by the FAUCET unit and contract tests. */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

import { OFPP_LOCAL, type FaucetDpSpec, type ManagedFaucetState } from '../../../src/faucet/types.js';
import type { ProblemCode } from '../../../src/faucet/validate.js';

/** Source fixtures, found from dist/test/unit/faucet/ (compiled) or test/unit/faucet/. */
export const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/faucet/', import.meta.url));

export function fixture(name: string): string {
  return readFileSync(`${FIXTURES}${name}`, 'utf8');
}

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it instead (review the diff!). */
export function assertGolden(name: string, actual: string): void {
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(`${FIXTURES}${name}`, actual);
  assert.equal(actual, fixture(name), `output differs from golden file ${name} (UPDATE_GOLDEN=1 to regenerate)`);
}

/** A NAT network: LOCAL port, two containers (one with an operator ACL), a mirror port. */
export const NET1: FaucetDpSpec = {
  name: 'dovesnet1',
  dpId: 0x10n,
  description: 'dovesnap network dovesnet1 (nat)',
  ports: [
    { number: OFPP_LOCAL, description: 'bridge LOCAL (gateway)', nativeVlan: 300, opstatusReconf: false },
    { number: 3, description: 'mirror to tcpdump', mirror: [2, 1], outputOnly: true },
    { number: 1, description: 'container web', nativeVlan: 300 },
    { number: 2, description: 'container db: "primary"', nativeVlan: 300, aclsIn: ['block-ssh', 'allow-all'] },
  ],
};

/** A flat network with an output ACL (egress pipeline) and a coprocessor port. */
export const NET2: FaucetDpSpec = {
  name: 'dovesnet2',
  dpId: 0xd0e5a90000000002n,
  description: 'dovesnap network dovesnet2 (flat)',
  egressPipeline: true,
  vlans: [{ vid: 400, description: 'dovesnet2 VLAN', aclsOut: ['allow-all'] }],
  ports: [
    { number: 1, description: 'container app', nativeVlan: 400 },
    { number: 8, description: 'coprocessor eno123', coprocessor: { strategy: 'vlan_vid' } },
  ],
};

/** NET1 after a container joined and the gateway description changed. */
export const NET1_UPDATED: FaucetDpSpec = {
  ...NET1,
  description: 'dovesnap network dovesnet1 (nat, 3 containers)',
  ports: [...NET1.ports, { number: 4, description: 'container cache', nativeVlan: 300, aclsIn: ['allow-all'] }],
};

export const OWNED = new Set(['dovesnet1', 'dovesnet2']);

export function state(dps: readonly FaucetDpSpec[], owned: ReadonlySet<string> = OWNED): ManagedFaucetState {
  return { dps, owned };
}

/** One DP `a` with port 1 on VLAN 100, plus `extra` lines under `dps.a.interfaces` or elsewhere. */
export function dp(ports: string, extraTop = '', dpExtra = ''): string {
  return `${extraTop}dps:\n  a:\n    dp_id: 1\n${dpExtra}    interfaces:\n${ports}`;
}
export const PORT1 = '      1: {native_vlan: 100}\n';

/**
 * Each class of problem, with the FAUCET rejection it mirrors. The contract test feeds these
 * same texts to FAUCET's own checker to prove that FAUCET rejects them too.
 */
export const BAD_CONFIGS: ReadonlyArray<{ name: string; text: string; code: ProblemCode; message: RegExp }> = [
  { name: 'YAML syntax', text: 'dps: [\n', code: 'yaml-syntax', message: /YAML/ },
  {
    name: 'duplicate DP name',
    text: `${dp(PORT1)}  a:\n    dp_id: 2\n    interfaces: {1: {native_vlan: 100}}\n`,
    code: 'yaml-syntax',
    message: /unique/i,
  },
  { name: 'no DP', text: 'acls:\n  x: [{rule: {actions: {allow: 1}}}]\n', code: 'no-dps', message: /no DP/ },
  { name: 'unknown top-level key', text: dp(PORT1, 'bogus: 1\n'), code: 'top-level', message: /'bogus'/ },
  {
    name: 'DP with no interfaces',
    text: 'dps:\n  a:\n    dp_id: 1\n    interfaces: {}\n',
    code: 'no-interfaces',
    message: /DP 'a' has no interfaces/,
  },
  {
    name: 'missing dp_id',
    text: 'dps:\n  a:\n    interfaces: {1: {native_vlan: 100}}\n',
    code: 'dp-id',
    message: /DP 'a': dp_id must be an integer/,
  },
  {
    name: 'quoted hex dp_id',
    text: dp(PORT1).replace('dp_id: 1', 'dp_id: "0x1"'),
    code: 'dp-id',
    message: /not '0x1'/,
  },
  {
    name: 'dp_id too large',
    text: dp(PORT1).replace('dp_id: 1', 'dp_id: 0x10000000000000000'),
    code: 'dp-id',
    message: /18446744073709551616/,
  },
  {
    name: 'duplicate dp_id',
    text: `${dp(PORT1)}  b:\n    dp_id: 0x1\n    interfaces: {1: {native_vlan: 100}}\n`,
    code: 'duplicate-dp-id',
    message: /DP 'b': dp_id 0x1 is also used by DP 'a'/,
  },
  {
    name: 'numeric DP name',
    text: 'dps:\n  123:\n    dp_id: 1\n    interfaces: {1: {native_vlan: 100}}\n',
    code: 'dp-name',
    message: /DP 123.*quote/,
  },
  {
    name: 'unsupported hardware',
    text: dp(PORT1, '', '    hardware: Acme\n'),
    code: 'bad-value',
    message: /hardware 'Acme'/,
  },
  {
    name: 'unknown DP key',
    text: dp(PORT1, '', '    colour: blue\n'),
    code: 'unknown-key',
    message: /DP 'a': unknown key 'colour'/,
  },
  {
    name: 'unknown port key',
    text: dp('      1: {native_vlan: 100, vlan: 5}\n'),
    code: 'unknown-key',
    message: /DP 'a' port 1: unknown key 'vlan'/,
  },
  {
    name: 'port 0',
    text: dp('      0: {native_vlan: 100}\n'),
    code: 'port-number',
    message: /port 0: port number 0 is invalid/,
  },
  {
    name: 'port above 0xF0000000',
    text: dp('      4026531841: {native_vlan: 100}\n'),
    code: 'port-number',
    message: /4026531841/,
  },
  {
    name: 'port named without number',
    text: dp('      eth0: {native_vlan: 100}\n'),
    code: 'port-number',
    message: /port 'eth0'/,
  },
  {
    name: 'VID out of range',
    text: dp('      1: {native_vlan: 4096}\n'),
    code: 'vlan-vid',
    message: /port 1: 'native_vlan' VID 4096 is outside 1..4095/,
  },
  {
    name: 'tagged VID out of range',
    text: dp('      1: {native_vlan: 100, tagged_vlans: [0]}\n'),
    code: 'vlan-vid',
    message: /'tagged_vlans' VID 0/,
  },
  {
    name: 'VLAN entry VID out of range',
    text: dp(PORT1, 'vlans:\n  big: {vid: 5000}\n'),
    code: 'vlan-vid',
    message: /VLAN 'big': vid 5000/,
  },
  {
    name: 'VLAN name undefined',
    text: dp('      1: {native_vlan: office}\n'),
    code: 'vlan-undefined',
    message: /VLAN 'office' in 'native_vlan' is not defined/,
  },
  {
    name: 'duplicate VID',
    text: dp(
      PORT1,
      'vlans:\n  office: {vid: 100}\n  dovesnet-vlan100: {vid: 100, acls_out: [x]}\nacls:\n  x: [{rule: {actions: {allow: 1}}}]\n',
    ),
    code: 'duplicate-vid',
    message: /VLAN 'dovesnet-vlan100': VID 100 is also used by VLAN 'office'/,
  },
  {
    name: 'native also tagged',
    text: dp('      1: {native_vlan: 100, tagged_vlans: [100]}\n'),
    code: 'bad-value',
    message: /VLAN 100 is both native and tagged/,
  },
  {
    name: 'port acls_in undefined',
    text: dp('      1: {native_vlan: 100, acls_in: [nope]}\n'),
    code: 'acl-undefined',
    message: /DP 'a' port 1: ACL 'nope' in 'acls_in' is not defined/,
  },
  {
    name: 'port acl_in undefined',
    text: dp('      1: {native_vlan: 100, acl_in: nope}\n'),
    code: 'acl-undefined',
    message: /ACL 'nope' in 'acl_in'/,
  },
  {
    name: 'VLAN acls_out undefined',
    text: dp(PORT1, 'vlans:\n  v: {vid: 7, acls_out: [gone]}\n'),
    code: 'acl-undefined',
    message: /VLAN 'v': ACL 'gone' in 'acls_out'/,
  },
  {
    name: 'acls_in not a list',
    text: dp('      1: {native_vlan: 100, acls_in: x}\n', 'acls:\n  x: [{rule: {actions: {allow: 1}}}]\n'),
    code: 'bad-value',
    message: /'acls_in' must be a list/,
  },
  {
    name: 'mirror target missing',
    text: dp(`${PORT1}      2: {mirror: [7]}\n`),
    code: 'mirror-target',
    message: /DP 'a' port 2: mirrored port 7 is not defined/,
  },
  {
    name: 'mirror port with a VLAN',
    text: dp(`${PORT1}      2: {mirror: [1], native_vlan: 100}\n`),
    code: 'port-kind',
    message: /port 2: a port with mirror cannot also have VLANs/,
  },
  {
    name: 'output_only with coprocessor',
    text: dp(`${PORT1}      2: {output_only: true, coprocessor: {strategy: vlan_vid}}\n`),
    code: 'port-kind',
    message: /cannot be combined/,
  },
  {
    name: 'ACL on a mirror port',
    text: dp(`${PORT1}      2: {mirror: [1], acls_in: [x]}\n`, 'acls:\n  x: [{rule: {actions: {allow: 1}}}]\n'),
    code: 'port-kind',
    message: /VLAN option 'acls_in'/,
  },
  {
    name: 'bad coprocessor strategy',
    text: dp(`${PORT1}      2: {coprocessor: {strategy: tunnel}}\n`),
    code: 'bad-value',
    message: /strategy must be 'vlan_vid', not 'tunnel'/,
  },
  {
    name: 'no VLAN anywhere',
    text: dp('      1: {description: idle}\n'),
    code: 'no-vlans',
    message: /DP 'a': no interface uses a VLAN/,
  },
  {
    name: 'stack peer missing',
    text: dp(`${PORT1}      2: {stack: {dp: b, port: 1}}\n`),
    code: 'stack-target',
    message: /stack DP 'b' is not defined/,
  },
  { name: 'bad version', text: dp(PORT1, 'version: 3\n'), code: 'top-level', message: /version 3/ },
];

/** Valid files, including the corners FAUCET accepts and a naive checker might not. */
export const GOOD_CONFIGS: ReadonlyArray<{ name: string; text: string }> = [
  { name: 'bare VID without vlans entry', text: dp(PORT1) },
  { name: 'LOCAL port with native VLAN', text: dp('      4294967294: {native_vlan: 100}\n') },
  { name: 'highest physical port', text: dp('      4026531840: {native_vlan: 100}\n') },
  { name: 'hex dp_id', text: dp(PORT1).replace('dp_id: 1', 'dp_id: 0xffffffffffffffff') },
  { name: 'quoted numeric DP name', text: "dps:\n  '123':\n    dp_id: 1\n    interfaces: {1: {native_vlan: 100}}\n" },
  {
    name: 'named port with number, mirrored by name',
    text: dp('      p1: {native_vlan: 100, number: 3}\n      2: {mirror: [p1]}\n'),
  },
  { name: 'output_only and mirror together', text: dp(`${PORT1}      2: {mirror: 1, output_only: true}\n`) },
  { name: 'coprocessor with mirror', text: dp(`${PORT1}      2: {mirror: [1], coprocessor: {strategy: vlan_vid}}\n`) },
  {
    name: 'no VLAN on this DP but one is defined',
    text: dp('      1: {description: idle}\n', 'vlans:\n  v: {vid: 7}\n'),
  },
  { name: 'VLAN key is its VID', text: dp('      1: {native_vlan: 7}\n', 'vlans:\n  7: {description: seven}\n') },
  {
    name: 'anchors and merge keys',
    text: dp('      1: &access {native_vlan: 100, description: access}\n      2: {<<: *access, description: second}\n'),
  },
  { name: 'empty optional sections', text: dp(PORT1, 'acls: {}\nmeters: {}\nrouters: {}\nvlans: {}\n') },
];
