import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../../../src/config/settings.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

describe('DOVESNAP_STATUS_PEERS', () => {
  it('none by default', () => {
    assert.deepEqual(loadSettings({}).statusPeers, []);
  });

  it('reads the other hosts’ status APIs as base URLs, in order, each once', () => {
    assert.deepEqual(
      loadSettings({
        DOVESNAP_STATUS_PEERS:
          ' http://10.239.0.12:9401, https://dovesnap2.lab:9401/ ,http://[fd00::3]:9401,http://10.239.0.12:9401,http://H:80',
      }).statusPeers,
      ['http://10.239.0.12:9401', 'https://dovesnap2.lab:9401', 'http://[fd00::3]:9401', 'http://h:80'],
    );
  });

  for (const [bad, entry] of [
    ['10.239.0.12:9401', '10.239.0.12:9401'],
    ['http://10.239.0.12', 'http://10.239.0.12'],
    ['http://10.239.0.12:9401/networks', 'http://10.239.0.12:9401/networks'],
    ['http://10.239.0.12:9401,ftp://h:21', 'ftp://h:21'],
    ['http://user:pw@h:9401', 'http://user:pw@h:9401'],
    ['http://h:9401/?x=1', 'http://h:9401/?x=1'],
    ['http://h:70000', 'http://h:70000'],
  ] as const) {
    it(`refuses ${JSON.stringify(bad)} naming the variable, the value and the entry`, () => {
      assert.throws(
        () => loadSettings({ DOVESNAP_STATUS_PEERS: bad }),
        (err: unknown) =>
          isDovesnapError(err, ErrorCode.BadOption) &&
          err.message.includes('DOVESNAP_STATUS_PEERS') &&
          err.message.includes(JSON.stringify(bad)) &&
          err.message.includes(JSON.stringify(entry)) &&
          err.message.includes('http://HOST:PORT'),
      );
    });
  }
});
