import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { renderFaucetConfig } from '../../../src/faucet/render.js';
import type { FaucetDpSpec, ManagedFaucetState } from '../../../src/faucet/types.js';
import { validateFaucetConfig } from '../../../src/faucet/validate.js';

/** Stacking: dovesnap's stack DP, its tunnel ACL, and the far end of each stack link inside the operator's switch. */

const OPERATOR = `# the operator's file
acls:
  allow:
  - rule:
      actions: {allow: 1}
dps:
  root:   # the root switch, another host
    dp_id: 0x99
    hardware: Open vSwitch
    stack: {priority: 1}
    interfaces:
      1:
        description: to the test host
        native_vlan: 100
      7:
        description: the operator's own port
        native_vlan: 200
`;

const STACK_DP: FaucetDpSpec = {
  name: 'dovesnap-host1',
  dpId: 0x0e0f00n,
  description: 'dovesnap stack switch of host1',
  ports: [{ number: 1, description: 'stack link to root', stack: { dp: 'root', port: 5 } }],
};

function managed(withLink: boolean, linkNumber = 5): ManagedFaucetState {
  return {
    dps: [STACK_DP],
    owned: new Set([STACK_DP.name]),
    acls: [
      {
        name: 'dovesnap-mirror-tunnel-356',
        rules: [
          { vlan_vid: 356, actions: { allow: 0 } },
          { actions: { allow: 0, output: { tunnel: { dp: 'root', port: 2, tunnel_id: 356, type: 'vlan' } } } },
        ],
      },
    ],
    foreignPorts: withLink
      ? [
          {
            dp: 'root',
            port: {
              number: linkNumber,
              description: 'dovesnap stack link to dovesnap-host1',
              stack: { dp: 'dovesnap-host1', port: 1 },
            },
          },
        ]
      : [],
  };
}

type Doc = {
  acls: Record<string, unknown>;
  dps: Record<
    string,
    {
      interfaces: Record<string, { description?: string; native_vlan?: number; stack?: { dp: string; port: number } }>;
      stack?: unknown;
    }
  >;
};

describe('renderFaucetConfig: stacking', () => {
  it("writes the far end of a stack link into the operator's DP, and nothing else there", () => {
    const out = renderFaucetConfig(OPERATOR, managed(true));
    const doc = parse(out) as Doc;
    assert.deepEqual(doc.dps['root']?.interfaces['5'], {
      description: 'dovesnap stack link to dovesnap-host1',
      stack: { dp: 'dovesnap-host1', port: 1 },
    });
    assert.deepEqual(doc.dps['root']?.interfaces['7'], { description: "the operator's own port", native_vlan: 200 });
    assert.deepEqual(doc.dps['dovesnap-host1']?.interfaces['1']?.stack, { dp: 'root', port: 5 });
    assert.ok(out.includes('  root:   # the root switch, another host\n'), 'operator bytes kept');
    assert.deepEqual(Object.keys(doc.acls).sort(), ['allow', 'dovesnap-mirror-tunnel-356']);
    assert.equal(
      validateFaucetConfig(out).filter((i) => i.severity === 'error').length,
      0,
      JSON.stringify(validateFaucetConfig(out)),
    );
  });

  it('is byte-stable, and removing the link and the stack returns the original bytes', () => {
    const once = renderFaucetConfig(OPERATOR, managed(true));
    assert.equal(renderFaucetConfig(once, managed(true)), once);
    const moved = renderFaucetConfig(once, managed(true, 6));
    assert.equal((parse(moved) as Doc).dps['root']?.interfaces['5'], undefined, 'the old number is gone');
    assert.ok((parse(moved) as Doc).dps['root']?.interfaces['6']);
    assert.equal(
      renderFaucetConfig(moved, { dps: [], owned: new Set([STACK_DP.name]), acls: [], foreignPorts: [] }),
      OPERATOR,
    );
  });

  it("never overwrites an operator's entry at the same number", () => {
    const out = renderFaucetConfig(OPERATOR, managed(true, 7));
    assert.deepEqual((parse(out) as Doc).dps['root']?.interfaces['7'], {
      description: "the operator's own port",
      native_vlan: 200,
    });
  });
});
