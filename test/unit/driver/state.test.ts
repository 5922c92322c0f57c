import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StateStore, endpointRecord, type StateChange } from '../../../src/driver/state.js';
import { publishedFrom } from '../../../src/driver/persist.js';

const NET = 'a1'.repeat(32);

describe('StateStore change feed', () => {
  it('publishes every put, update and removal to subscribers, until they unsubscribe', () => {
    const s = new StateStore();
    const seen: string[] = [];
    const off = s.subscribe((c: StateChange) =>
      seen.push(`${c.kind} ${c.id.slice(0, 2)} ${c.record === undefined ? 'gone' : 'set'}`),
    );
    s.putEndpoint(
      endpointRecord({ id: 'e1', networkId: NET, hostIf: 'dspe1', containerIf: 'dsce1', mac: '0e:00:00:00:00:01' }),
    );
    s.updateEndpoint('e1', { sandboxKey: '/n/1' });
    s.removeEndpoint('e1');
    s.removeEndpoint('e1'); // already gone: no event
    off();
    s.putEndpoint(
      endpointRecord({ id: 'e2', networkId: NET, hostIf: 'dspe2', containerIf: 'dsce2', mac: '0e:00:00:00:00:02' }),
    );
    assert.deepEqual(seen, ['endpoint e1 set', 'endpoint e1 set', 'endpoint e1 gone']);
  });

  it('a subscriber that throws does not stop the change or the other subscribers', () => {
    const s = new StateStore();
    let calls = 0;
    s.subscribe(() => {
      throw new Error('bad subscriber');
    });
    s.subscribe(() => calls++);
    s.putEndpoint(
      endpointRecord({ id: 'e1', networkId: NET, hostIf: 'dspe1', containerIf: 'dsce1', mac: '0e:00:00:00:00:01' }),
    );
    assert.equal(calls, 1);
    assert.ok(s.endpoint('e1'));
  });

  it('counts joined, unresolved endpoints, including those removed since, for the fast path', () => {
    let now = 1000;
    const s = new StateStore(() => now);
    s.putEndpoint(
      endpointRecord({
        id: 'e1',
        networkId: NET,
        hostIf: 'dspe1',
        containerIf: 'dsce1',
        mac: '0e:00:00:00:00:01',
        sandboxKey: '/n/1',
        joinedAt: 900,
      }),
    );
    s.putEndpoint(
      endpointRecord({
        id: 'e2',
        networkId: NET,
        hostIf: 'dspe2',
        containerIf: 'dsce2',
        mac: '0e:00:00:00:00:02',
        sandboxKey: '/n/2',
        joinedAt: 950,
      }),
    );
    assert.deepEqual(
      s.unresolvedJoins(NET, 920).live.map((e) => e.id),
      ['e1'],
    );
    s.removeEndpoint('e1');
    assert.deepEqual(s.unresolvedJoins(NET, 920), { live: [], removed: 1 });
    now += 200_000; // tombstones expire
    assert.deepEqual(s.unresolvedJoins(NET, 920), { live: [], removed: 0 });
  });
});

describe('published ports as stored', () => {
  it("reads dovesnap's own form and converts Docker's PortBinding form written by older versions", () => {
    assert.deepEqual(publishedFrom([{ protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53 }]), [
      { protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53 },
    ]);
    assert.deepEqual(
      publishedFrom([
        { Proto: 6, IP: '', Port: 80, HostIP: '0.0.0.0', HostPort: 8080, HostPortEnd: 8080 },
        { Proto: 132, Port: 9, HostPort: 9 },
      ]),
      [{ protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }],
    );
    assert.deepEqual(publishedFrom('garbage'), []);
  });
});
