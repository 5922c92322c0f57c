import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dhcpcdArgs, dhcpcdConfig, dhcpcdFiles } from '../../../src/attach/dhcpcd.js';

describe('dhcpcd for dovesnap attach', () => {
  const files = dhcpcdFiles('/run/dovesnap/attach-dhcp', '0123456789ab_eth1');

  it('keeps every file of one attachment apart, the mount namespace under a directory of its own', () => {
    assert.equal(files.root, '/run/dovesnap/attach-dhcp/0123456789ab_eth1.dhcpcd');
    assert.equal(files.run, `${files.root}/run`);
    assert.equal(files.db, `${files.root}/db`);
    assert.equal(files.mountNs, '/run/dovesnap/attach-dhcp/mnt/0123456789ab_eth1');
    assert.notEqual(
      dhcpcdFiles('/d', 'aaaaaaaaaaaa_eth1').run,
      dhcpcdFiles('/d', 'bbbbbbbbbbbb_eth1').run,
      "two containers' eth1 never share a directory",
    );
  });

  it('runs in the foreground, with its own configuration, no hooks, the host name, then the options, then the interface', () => {
    assert.deepEqual(dhcpcdArgs(files, 'eth1', 'web', ['--noarp']), [
      '-B',
      '-f',
      files.conf,
      '-c',
      '/bin/true',
      '-h',
      'web',
      '--noarp',
      'eth1',
    ]);
  });

  it('asks for IPv4 only, without link-local fallback', () => {
    const conf = dhcpcdConfig();
    assert.match(conf, /^ipv4only$/m);
    assert.match(conf, /^noipv4ll$/m);
    assert.doesNotMatch(conf, /hook/);
  });
});
