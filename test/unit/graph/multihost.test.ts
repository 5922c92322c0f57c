import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { toDot, type HostGraphInput } from '../../../src/graph/dot.js';
import type { HostStatus, NetworkStatus } from '../../../src/status/documents.js';
import { statusNetwork } from '../../fixtures/status-docs.js';

/** Several hosts' documents in one picture: stack links between hosts, the controller, host labels. */

type StackIf = NonNullable<HostStatus['Stack']>['Interfaces'][number];

const CONTROLLER = 'tcp:10.239.0.1:6653';

function network(host: number, controllers: readonly string[] = [CONTROLLER]): NetworkStatus {
  const id = String(host).repeat(64);
  return statusNetwork({
    NetworkID: id,
    BridgeName: `ovsbr-${id.slice(0, 5)}`,
    BridgeDpid: `0x${host}0`,
    BridgeVLAN: 241,
    Controllers: controllers,
    HostPorts: [{ Interface: `dsstk${host}`, OFPort: 98, Kind: 'stack link' }],
  });
}

const link = (Interface: string, OFPort: number | null, RemoteDp: string, RemotePort: number): StackIf => ({
  Interface,
  OFPort,
  RemoteDp,
  RemotePort,
});

/** Host K of the harness (`make hosts`): stack switch dovesnap-dsh-hK, status http://10.239.0.1K:9401. */
function host(
  k: number,
  interfaces: readonly StackIf[],
  opts: { name?: string | null; controllers?: readonly string[] } = {},
): HostGraphInput {
  const name = opts.name === undefined ? `dsh-h${k}` : opts.name;
  const controllers = opts.controllers ?? [CONTROLLER];
  return {
    source: `http://10.239.0.1${k}:9401`,
    networks: { [String(k).repeat(64)]: network(k, controllers) },
    host: {
      ...(name === null ? {} : { HostName: name }),
      MirrorBridge: null,
      Stack: {
        DpName: `dovesnap-dsh-h${k}`,
        DpId: `0xe0f00000${k}`,
        Root: 'dovesnap-dsh-h1',
        Interfaces: interfaces,
        MirrorInterface: null,
        Problem: null,
        Controllers: controllers,
      },
    },
  };
}

const S = (k: number, h: number): string => `"h${h}:stack:dovesnap-dsh-h${k}"`;
/** The stack edge from switch K on the Hth host given to another, with its ends' labels. */
const E = (from: [number, number], to: [number, number], tail: string, head: string): string =>
  `${S(...from)} -> ${S(...to)} [taillabel="${tail}", headlabel="${head}", style=bold];`;
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Every edge between two stack-switch or far-DP nodes, as `from -> to [labels]`. */
const stackEdges = (dot: string): string[] =>
  dot
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^"h[0-9]+:stack:[^"]*" -> "(h[0-9]+:stack|dp):/.test(l));

// The harness's line of hosts: host J's interface towards K is dshJ-K; on host 2, the link to
// host 1 is OpenFlow port 1 and the one to host 3 port 2 (hosts.sh stack_port_on).
const H1 = host(1, [link('dsh1-2', 1, 'dovesnap-dsh-h2', 1)]);
const H2of2 = host(2, [link('dsh2-1', 1, 'dovesnap-dsh-h1', 1)]);
const H2of3 = host(2, [link('dsh2-1', 1, 'dovesnap-dsh-h1', 1), link('dsh2-3', 2, 'dovesnap-dsh-h3', 1)]);
const H3 = host(3, [link('dsh3-2', 1, 'dovesnap-dsh-h2', 2)]);

interface Case {
  readonly name: string;
  readonly inputs: readonly HostGraphInput[];
  /** The stack edges, exactly (order free). */
  readonly stack: readonly string[];
  /** Controller node ids and how many dashed edges reach each. */
  readonly controllers: Readonly<Record<string, number>>;
  readonly labels: readonly string[];
}

const CASES: readonly Case[] = [
  {
    name: 'two hosts: their link is one edge, both ends labelled, no node for the other host as a far DP',
    inputs: [H1, H2of2],
    stack: [E([1, 0], [2, 1], 'dsh1-2 1', 'dsh2-1 1')],
    controllers: { [`"faucet:${CONTROLLER}"`]: 4 },
    labels: ['host dsh-h1\\ndovesnap at http://10.239.0.11:9401', 'host dsh-h2\\ndovesnap at http://10.239.0.12:9401'],
  },
  {
    name: 'three hosts in a line: two edges, each matched by its ports at both ends',
    inputs: [H1, H2of3, H3],
    stack: [E([1, 0], [2, 1], 'dsh1-2 1', 'dsh2-1 1'), E([2, 1], [3, 2], 'dsh2-3 2', 'dsh3-2 1')],
    controllers: { [`"faucet:${CONTROLLER}"`]: 6 },
    labels: ['host dsh-h1', 'host dsh-h2', 'host dsh-h3\\ndovesnap at http://10.239.0.13:9401'],
  },
  {
    name: 'the hosts given in another order: the same links',
    inputs: [H3, H1, H2of3],
    stack: [E([3, 0], [2, 2], 'dsh3-2 1', 'dsh2-3 2'), E([1, 1], [2, 2], 'dsh1-2 1', 'dsh2-1 1')],
    controllers: { [`"faucet:${CONTROLLER}"`]: 6 },
    labels: [],
  },
  {
    name: 'two of three hosts: the link to the host not given goes to a far DP node, as for one host',
    inputs: [H1, H2of3],
    stack: [
      E([1, 0], [2, 1], 'dsh1-2 1', 'dsh2-1 1'),
      `${S(2, 1)} -> "dp:dovesnap-dsh-h3" [taillabel="dsh2-3 2", headlabel="1", style=bold];`,
    ],
    controllers: { [`"faucet:${CONTROLLER}"`]: 4 },
    labels: ['FAUCET DP dovesnap-dsh-h3'],
  },
  {
    name: 'two links between the same two switches (two cables): two edges, each with its own ports',
    inputs: [
      host(1, [link('a1', 1, 'dovesnap-dsh-h2', 2), link('a2', 2, 'dovesnap-dsh-h2', 1)]),
      host(2, [link('b1', 1, 'dovesnap-dsh-h1', 2), link('b2', 2, 'dovesnap-dsh-h1', 1)]),
    ],
    stack: [E([1, 0], [2, 1], 'a1 1', 'b2 2'), E([1, 0], [2, 1], 'a2 2', 'b1 1')],
    controllers: { [`"faucet:${CONTROLLER}"`]: 4 },
    labels: [],
  },
  {
    name: 'a link only one end declares (the other host not stacked to it yet): one edge, the far port number',
    inputs: [H1, host(2, [])],
    stack: [E([1, 0], [2, 1], 'dsh1-2 1', '1')],
    controllers: { [`"faucet:${CONTROLLER}"`]: 4 },
    labels: [],
  },
  {
    name: 'loopback controllers are each host’s own FAUCET: one node per host; older daemons: no host name',
    inputs: [
      host(1, [], { name: null, controllers: ['tcp:127.0.0.1:6653'] }),
      host(2, [], { name: null, controllers: ['tcp:127.0.0.1:6653'] }),
    ],
    stack: [],
    controllers: { '"faucet:h0:tcp:127.0.0.1:6653"': 2, '"faucet:h1:tcp:127.0.0.1:6653"': 2 },
    labels: ['label="dovesnap at http://10.239.0.11:9401"', 'FAUCET\\ntcp:127.0.0.1:6653\\non http://10.239.0.12:9401'],
  },
];

describe('the wiring diagram of several hosts', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const dot = toDot(c.inputs);
      assert.deepEqual(stackEdges(dot).sort(), [...c.stack].sort());
      for (const [cid, edges] of Object.entries(c.controllers)) {
        assert.equal(
          dot.split('\n').filter((l) => l.trim().startsWith(`${cid} [shape=doubleoctagon`)).length,
          1,
          `one node ${cid}`,
        );
        assert.equal(
          dot.split('\n').filter((l) => new RegExp(`-> ${esc(cid)} \\[style=dashed`).test(l)).length,
          edges,
          `dashed edges to ${cid} from every network and stack switch`,
        );
      }
      assert.equal(
        dot.split('\n').filter((l) => l.includes('[shape=doubleoctagon')).length,
        Object.keys(c.controllers).length,
        'no other controller node',
      );
      for (const l of c.labels) assert.ok(dot.includes(l), `the DOT has ${JSON.stringify(l)}`);
      // Nodes outside the hosts are declared outside every cluster: Graphviz puts a node in the
      // cluster that names it first.
      const clusters = dot.slice(0, dot.lastIndexOf('  }\n'));
      assert.doesNotMatch(clusters, /"(faucet|dp):[^"]*" \[shape/);
      const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '', 'Graphviz has nothing to warn about');
    });
  }
});

describe('a host whose status API cannot be read', () => {
  it('is a box that says why, beside the hosts that are drawn; their stack links go to its switch as a far DP', () => {
    const down: HostGraphInput = {
      source: 'http://10.239.0.12:9401',
      networks: {},
      host: undefined,
      unreachable:
        'cannot reach the dovesnap status API at http://10.239.0.12:9401 (is the daemon running? try: make up): fetch failed',
    };
    const dot = toDot([H1, down]);
    const lines = dot.split('\n').map((l) => l.trim());
    assert.deepEqual(
      lines.filter((l) => l.includes('[shape=note')),
      [
        '"h1:down:http://10.239.0.12:9401" [shape=note, style=filled, fillcolor="#f6d5d5", label="not drawn: cannot reach the dovesnap status API at http://10.239.0.12:9401 (is the daemon running? try: make up): fetch failed"];',
      ],
    );
    assert.ok(lines.includes('label="dovesnap at http://10.239.0.12:9401";'), 'its box is labelled with its address');
    assert.ok(
      lines.some((l) => l.startsWith('"h0:net:')),
      'the reachable host is drawn whole',
    );
    assert.deepEqual(
      stackEdges(dot).map((l) => l.split(' [')[0]),
      ['"h0:stack:dovesnap-dsh-h1" -> "dp:dovesnap-dsh-h2"'],
    );
    const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});
