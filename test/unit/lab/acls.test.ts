import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aclsNamed, missingAclErrors, missingAcls, planAcls } from '../../../src/lab/acl-plan.js';
import { formatError } from '../../../src/lab/positions.js';
import { errorsOf, parse, posOf } from './helpers.js';

const LAB = `
name: def
acls:
  to-servers:
    - rule: { dl_type: 0x800, ip_proto: 6, tcp_dst: 22, actions: { allow: 0 } }
    - rule: { actions: { allow: 1 } }
  office-in:
    - rule: { actions: { allow: 1 } }
networks:
  office: { subnet: 10.30.1.0/24, default_acl: office-in }
  servers: { subnet: 10.30.2.0/24, default_acl: operator-acl }
nodes:
  fw:
    kind: router
    interfaces:
      eth1: { network: office, address: 10.30.1.1/24 }
      eth2: { network: servers, address: 10.30.2.1/24, acl: [to-servers, operator-two] }
  h:
    labels: { portacl: "def-office:office-in" }
    interfaces:
      eth1: { network: office, address: 10.30.1.2/24 }
`;

describe("a lab's own ACLs", () => {
  it("are named lab-<lab>.<name> in faucet.yaml; networks, interfaces and portacl labels resolve to them; other names stay the operator's", () => {
    const lab = parse(LAB);
    assert.deepEqual(
      lab.acls.map((a) => a.faucetName),
      ['lab-def.to-servers', 'lab-def.office-in'],
    );
    assert.equal(lab.networks.find((n) => n.key === 'office')?.options['ovs.bridge.default_acl'], 'lab-def.office-in');
    assert.equal(lab.networks.find((n) => n.key === 'servers')?.options['ovs.bridge.default_acl'], 'operator-acl');
    const fw = lab.nodes.find((n) => n.key === 'fw');
    assert.equal(
      fw?.labels['dovesnap.faucet.portacl'],
      'def-servers:lab-def.to-servers,operator-two',
      "an interface's acl is the portacl label on its network",
    );
    assert.deepEqual(fw?.interfaces.find((i) => i.name === 'eth2')?.acls, ['lab-def.to-servers', 'operator-two']);
    assert.equal(
      lab.nodes.find((n) => n.key === 'h')?.labels['dovesnap.faucet.portacl'],
      'def-office:lab-def.office-in',
    );
    assert.deepEqual(aclsNamed(lab), ['lab-def.office-in', 'lab-def.to-servers', 'operator-acl', 'operator-two']);
  });

  it('an interface acl and a portacl label on one node is an error at the acl', () => {
    const errs = errorsOf(`
name: def
nodes:
  h:
    labels: { portacl: x }
    interfaces:
      eth1: { network: n, acl: y }
networks:
  n: {}
`);
    assert.deepEqual(
      errs.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`),
      ["7:32 nodes.h.interfaces.eth1.acl: h gives its ports' ACLs in labels.portacl already; give them in one place"],
    );
  });

  it('a rule that is not "- rule: {…}" is refused at its place', () => {
    const errs = errorsOf(`
name: def
acls:
  a:
    - allow: 1
nodes:
  h: {}
`);
    assert.deepEqual(
      errs.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`),
      ['5:7 acls.a[0].allow: unknown key "allow"', '5:7 acls.a[0].rule: missing required key "rule"'],
    );
  });

  it('the plan compares by content: added, changed, removed, and nothing when equal', () => {
    const lab = parse(LAB);
    const faucet = (acls: string): string =>
      `dps: {}\nacls:\n  operator-acl:\n    - rule: {actions: {allow: 1}}\n${acls}`;
    assert.deepEqual(planAcls(faucet(''), lab), {
      added: ['lab-def.office-in', 'lab-def.to-servers'],
      changed: [],
      removed: [],
    });
    const same = faucet(
      '  lab-def.to-servers:\n    - rule: {dl_type: 0x800, ip_proto: 6, tcp_dst: 22, actions: {allow: 0}}\n    - rule: {actions: {allow: 1}}\n  lab-def.office-in:\n    - rule:\n        actions:\n          allow: 1\n',
    );
    assert.deepEqual(planAcls(same, lab), { added: [], changed: [], removed: [] }, 'flow or block style, same content');
    const other =
      same.replace('tcp_dst: 22', 'tcp_dst: 80') +
      '  lab-def.gone:\n    - rule: {actions: {allow: 0}}\n  lab-defx.kept:\n    - rule: {actions: {allow: 0}}\n';
    assert.deepEqual(
      planAcls(other, lab),
      { added: [], changed: ['lab-def.to-servers'], removed: ['lab-def.gone'] },
      "another lab's ACLs are not this lab's",
    );
  });

  it("names neither the lab's nor in faucet.yaml are missing", () => {
    const lab = parse(LAB);
    assert.deepEqual(missingAcls('acls:\n  operator-acl: []\n', lab), ['operator-two']);
    assert.deepEqual(missingAcls('acls:\n  operator-acl: []\n  operator-two: []\n', lab), []);
  });

  it('a missing ACL is an error at each place the file names it, inherited ones where written', () => {
    const text = `${LAB}groups:
  g: { labels: { portacl: "nope-b" } }
  k: { interfaces: { eth1: { network: office, acl: [office-in, nope-c] } } }
`.replace(
      '      eth1: { network: office, address: 10.30.1.2/24 }',
      '      eth1: { network: office, address: 10.30.1.2/24 }\n  i:\n    group: g\n  j:\n    group: k',
    );
    const lab = parse(text);
    const errs = missingAclErrors('acls:\n  operator-acl: []\n', lab);
    const at = (needle: string): string => {
      const p = posOf(text, needle);
      return `${p.line}:${p.col}`;
    };
    const why = (acl: string): string =>
      `ACL "${acl}" is neither in the lab's acls: nor in faucet.yaml (a port naming a missing ACL stays closed)`;
    assert.deepEqual(
      errs.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`),
      [
        `${at('operator-two')} nodes.fw.interfaces.eth2.acl[1]: ${why('operator-two')}`,
        `${at('"nope-b"')} groups.g.labels.portacl: ${why('nope-b')}`,
        `${at('nope-c')} groups.k.interfaces.eth1.acl[1]: ${why('nope-c')}`,
      ],
    );
    assert.match(
      formatError(errs[0]!),
      /^\/labs\/lab\.yaml:\d+:\d+: nodes\.fw\.interfaces\.eth2\.acl\[1\]: ACL "operator-two" is neither/,
    );
    assert.deepEqual(
      missingAclErrors('acls:\n  operator-acl: []\n  operator-two: []\n  nope-b: []\n  nope-c: []\n', lab),
      [],
    );
  });
});
