/**
 * createVethsUp against the real kernel: several pairs from two `ip -batch` runs, each end up
 * and kept out of the host's stack, tx offload off on the container end, and all or nothing.
 * Links are named `dstl…` (no prefix the daemon's collector removes) and deleted afterwards.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createVethsUp, deleteLink, hostLinkExists, type VethSpec } from '../../src/net/links.js';

const made: string[] = [];

function spec(tag: string, i: number): VethSpec {
  const host = `dstl${tag}h${i}`;
  made.push(host);
  return {
    names: { host, container: `dstl${tag}c${i}` },
    containerMac: `0e:00:00:00:00:0${i}`,
    mtu: 1400,
    disableContainerTxOffload: true,
    quietContainerEnd: true,
  };
}

function flags(name: string): string[] {
  const [link] = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dev', name], { encoding: 'utf8' })) as {
    flags: string[];
    mtu: number;
    address: string;
  }[];
  return link?.flags ?? [];
}

function sys(path: string): string {
  return readFileSync(`/proc/sys/net/${path}`, 'utf8').trim();
}

describe('createVethsUp (real links)', () => {
  after(async () => {
    for (const name of made) await deleteLink(name).catch(() => undefined);
  });

  it('makes every pair, both ends up and out of the host stack, tx offload off on the container end', async () => {
    const tag = randomBytes(3).toString('hex');
    const specs = [spec(tag, 1), spec(tag, 2), spec(tag, 3)];
    await createVethsUp(specs);
    for (const s of specs) {
      const { host, container } = s.names;
      assert.ok(flags(host).includes('UP'), `${host} up`);
      assert.ok(flags(container).includes('UP'), `${container} up`);
      for (const end of [host, container]) {
        assert.equal(sys(`ipv4/conf/${end}/arp_ignore`), '8');
        assert.equal(sys(`ipv6/conf/${end}/disable_ipv6`), '1');
      }
      assert.equal(readFileSync(`/sys/class/net/${container}/address`, 'utf8').trim(), s.containerMac);
      assert.equal(readFileSync(`/sys/class/net/${container}/mtu`, 'utf8').trim(), '1400');
      const offload = execFileSync('ethtool', ['-k', container], { encoding: 'utf8' });
      assert.match(offload, /^tx-checksumming: off/m);
    }
  });

  it('all or nothing: a pair that cannot be made leaves none of the batch', async () => {
    const tag = randomBytes(3).toString('hex');
    const specs = [spec(tag, 1), spec(tag, 2), spec(tag, 3)];
    // The second pair's host name is taken: `ip -batch` stops there, after making the first.
    execFileSync('ip', ['link', 'add', `dstl${tag}h2`, 'type', 'veth', 'peer', 'name', `dstl${tag}x2`]);
    try {
      await assert.rejects(createVethsUp(specs), /ip -batch/);
      assert.equal(hostLinkExists(`dstl${tag}h1`), false, 'the first pair is deleted again');
      assert.equal(hostLinkExists(`dstl${tag}h3`), false);
      assert.equal(hostLinkExists(`dstl${tag}h2`), true, 'the link that was there before is left alone');
    } finally {
      execFileSync('ip', ['link', 'del', `dstl${tag}h2`]);
    }
  });
});
