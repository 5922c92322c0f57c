import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bringNicHome, findNic, returnsToHost, type HostNic, type NicIdentity } from '../../../src/attach/nic.js';
import { FakeHostNics } from '../../fakes/fake-host-nics.js';

const eno2: NicIdentity = { ifindex: 3, mac: '52:54:00:aa:bb:02', permAddr: '52:54:00:aa:bb:02', kind: undefined };
/** A NIC whose driver has no permanent MAC: found by ifindex and MAC. */
const plain: NicIdentity = { ifindex: 7, mac: '0e:00:00:00:00:07', permAddr: undefined, kind: undefined };
const link = (ifname: string, ifindex: number, address: string, extra: Partial<HostNic> = {}): HostNic => ({
  ifname,
  ifindex,
  address,
  permAddr: undefined,
  kind: undefined,
  ...extra,
});

describe('attach: finding a --direct-phys NIC the kernel returned', () => {
  it('by its permanent MAC, whatever MAC and index it came back with', () => {
    const links = [
      link('eth0', 2, '52:54:00:aa:bb:01'),
      link('dev9', 9, '02:42:00:00:00:99', { permAddr: '52:54:00:aa:bb:02' }),
    ];
    assert.equal(findNic(eno2, '02:42:00:00:00:99', links)?.ifname, 'dev9');
    assert.equal(
      findNic(eno2, undefined, [link('eth1', 3, '52:54:00:aa:bb:02')])?.ifname,
      'eth1',
      'iproute2 omits permaddr where it equals the MAC',
    );
    assert.equal(
      findNic(eno2, undefined, [link('eth1', 3, '52:54:00:aa:bb:03')]),
      undefined,
      'the same index with another permanent MAC is another NIC',
    );
  });

  it('without a permanent MAC: by index and a MAC it had (its own or the one given in the container); by a MAC on one link only if the index changed', () => {
    assert.equal(findNic(plain, undefined, [link('eth1', 7, plain.mac ?? '')])?.ifname, 'eth1');
    assert.equal(
      findNic(plain, '02:11:22:33:44:55', [link('eth1', 7, '02:11:22:33:44:55')])?.ifname,
      'eth1',
      'the MAC set by attach',
    );
    assert.equal(
      findNic(plain, undefined, [link('eth1', 7, '0e:99:99:99:99:99')]),
      undefined,
      'an index taken by another link',
    );
    assert.equal(
      findNic(plain, undefined, [link('dev12', 12, plain.mac ?? '')])?.ifname,
      'dev12',
      'a new index, a unique MAC',
    );
    assert.equal(
      findNic(plain, undefined, [link('dev12', 12, plain.mac ?? ''), link('dev13', 13, plain.mac ?? '')]),
      undefined,
      'two links with that MAC: neither',
    );
  });

  it('never a link of another kind carrying its MAC (a VLAN sub-interface, a bridge)', () => {
    const links = [
      link('eno2.42', 8, '52:54:00:aa:bb:02', { kind: 'vlan' }),
      link('br0', 7, plain.mac ?? '', { kind: 'bridge' }),
    ];
    assert.equal(findNic(eno2, undefined, links), undefined);
    assert.equal(findNic(plain, undefined, links), undefined);
  });

  it('a driver NIC (no link kind) and CAN come back to the host; veth, macvlan, VLAN links die with the namespace', () => {
    assert.equal(returnsToHost(eno2), true);
    assert.equal(returnsToHost({ ...eno2, kind: 'can' }), true);
    for (const kind of ['veth', 'macvlan', 'vlan', 'ipvlan'])
      assert.equal(returnsToHost({ ...plain, kind }), false, kind);
  });
});

describe('attach: bringing a --direct-phys NIC home', () => {
  it('waits for the kernel to return it under its in-container name, then renames it back', async () => {
    const nics = new FakeHostNics();
    nics.returns(link('eth1', 3, '52:54:00:aa:bb:02'), 2);
    assert.equal(await bringNicHome(nics, 'eno2', eno2, undefined, 5_000), 'home');
    assert.deepEqual(nics.renames, [['eth1', 'eno2']]);
  });

  it('says "away" when it is not back within the wait (the sweep tries again), "home" when it already is', async () => {
    const nics = new FakeHostNics();
    assert.equal(await bringNicHome(nics, 'eno2', eno2, undefined, 0), 'away');
    nics.returns(link('eno2', 3, '52:54:00:aa:bb:02'));
    assert.equal(await bringNicHome(nics, 'eno2', eno2, undefined, 0), 'home');
    assert.deepEqual(nics.renames, [], 'nothing to rename');
  });

  it('does not wait for a kind the kernel destroys with the namespace', async () => {
    const started = Date.now();
    assert.equal(
      await bringNicHome(new FakeHostNics(), 'vnic0', { ...plain, kind: 'veth' }, undefined, 5_000),
      'destroyed',
    );
    assert.ok(Date.now() - started < 1_000);
  });

  it('leaves it and says so when the host has another link of its name now', async () => {
    const nics = new FakeHostNics();
    nics.returns(link('dev9', 9, '52:54:00:aa:bb:02'));
    nics.returns(link('eno2', 4, '52:54:00:cc:cc:cc'));
    await assert.rejects(
      bringNicHome(nics, 'eno2', eno2, undefined, 0),
      /dev9 is eno2 back from the container, but the host now has another eno2/,
    );
    assert.deepEqual(nics.renames, []);
  });
});
