import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, linkLocalFromMac, parseCidr, parseLinkAddress } from '../../../src/narwhal/addresses.js';
import {
  chainOwner,
  commandLinkName,
  driverLinkNames,
  escapeChainPart,
  ingressChain,
  isDriverLinkName,
  linkForwardChain,
  natChain,
  networkChain,
  networkLinkPrefix,
  ruleTagOwner,
  unescapeChainPart,
} from '../../../src/narwhal/names.js';
import { isDovesnapError, ErrorCode } from '../../../src/util/errors.js';

const NET = '905de9a1e9ca6d0975c81bbf38ba60d13dc6d7c8769cb1de6273a51ec2e5d225';
const EP = 'f481f81674fc0ade38e3de3571b44ecdc7f0a2b082ff1146644da69b696435ed';

describe('narwhal addresses', () => {
  it('splits what Docker IPAM gives, and takes a bare address as a single one', () => {
    assert.deepEqual(parseCidr('10.0.0.5/24', 4, 'x'), { address: '10.0.0.5', prefixLength: 24 });
    assert.deepEqual(parseCidr('fd00::5/64', 6, 'x'), { address: 'fd00::5', prefixLength: 64 });
    assert.deepEqual(parseCidr('10.0.0.5', 4, 'x'), { address: '10.0.0.5', prefixLength: 32 });
  });

  it('a link address is one address: /32 and /128 pass, other prefixes and other families are refused naming the flag', () => {
    assert.equal(parseLinkAddress('192.0.2.1/32', 4, '-4/--ipv4'), '192.0.2.1');
    assert.equal(parseLinkAddress('2001:db8::1', 6, '-6/--ipv6'), '2001:db8::1');
    for (const [text, family] of [
      ['192.0.2.1/24', 4],
      ['2001:db8::1', 4],
      ['192.0.2.1', 6],
      ['300.1.1.1', 4],
      ['2001:db8::1/129', 6],
    ] as const) {
      assert.throws(
        () => parseLinkAddress(text, family, '-4/--ipv4'),
        (e: unknown) =>
          isDovesnapError(e, ErrorCode.BadOption) &&
          e.message.includes(JSON.stringify(text)) &&
          e.message.includes('-4/--ipv4'),
      );
    }
  });

  it("derives the kernel's EUI-64 link-local address from a MAC (values seen on this kernel)", () => {
    assert.equal(linkLocalFromMac('b2:ba:09:e6:b5:52'), 'fe80::b0ba:9ff:fee6:b552');
    assert.equal(linkLocalFromMac('0e:29:d2:ef:61:cf'), 'fe80::c29:d2ff:feef:61cf');
  });

  it('knows whether an address lies in a subnet, for both families and compressed forms', () => {
    assert.equal(cidrContains({ address: '10.97.0.0', prefixLength: 24 }, '10.97.0.200', 4), true);
    assert.equal(cidrContains({ address: '10.97.0.0', prefixLength: 24 }, '169.254.0.1', 4), false);
    assert.equal(cidrContains({ address: 'fd97::', prefixLength: 64 }, 'fd97::1', 6), true);
    assert.equal(cidrContains({ address: 'fd97::', prefixLength: 64 }, 'fe80::1', 6), false);
    assert.equal(cidrContains({ address: 'fe80::', prefixLength: 10 }, 'febf:1:2::3', 6), true);
    assert.equal(cidrContains({ address: '::ffff:10.0.0.0', prefixLength: 120 }, '::ffff:10.0.0.7', 6), true);
    assert.equal(cidrContains({ address: '0.0.0.0', prefixLength: 0 }, '1.2.3.4', 4), true);
  });
});

describe('narwhal names', () => {
  it("driver links: nw + 6 hex of the network + 7 of the endpoint, 15 bytes; the network's links share a prefix", () => {
    const n = driverLinkNames(NET, EP);
    assert.deepEqual(n, { host: 'nw905de9f481f81', container: 'nx905de9f481f81' });
    assert.equal(n.host.length, 15);
    assert.ok(n.host.startsWith(networkLinkPrefix(NET)));
    assert.equal(isDriverLinkName(n.host), true);
    assert.equal(isDriverLinkName(commandLinkName(EP)), false, "the command's nw-… names are not the driver's");
    assert.equal(commandLinkName(EP), 'nw-f481f81674fc');
    assert.throws(() => driverLinkNames('not-hex', EP), /not a hex ID/);
  });

  it('chain names carry the interface name reversibly, and say whose they are', () => {
    for (const name of ['nw-f481f81674fc', 'web_1', 'a-b_c.d', 'eth0', '_-_-']) {
      assert.equal(unescapeChainPart(escapeChainPart(name)), name);
      assert.match(ingressChain(name), /^[a-z][A-Za-z0-9_.]*$/, 'nft chain names allow neither dashes nor quoting');
      assert.deepEqual(chainOwner(ingressChain(name)), { kind: 'link', ifname: name });
      assert.deepEqual(chainOwner(linkForwardChain(name)), { kind: 'link', ifname: name });
    }
    assert.notEqual(ingressChain('a-b'), ingressChain('a_b'));
    assert.deepEqual(chainOwner(networkChain(NET)), { kind: 'network', id12: NET.slice(0, 12) });
    assert.deepEqual(chainOwner(natChain(NET)), { kind: 'network', id12: NET.slice(0, 12) });
    assert.equal(chainOwner('input'), undefined);
    assert.equal(chainOwner('in_bad_x'), undefined, 'not an escape narwhal writes');
  });

  it("DOCKER-USER comments say whose a rule is; dovesnap's own are not narwhal's", () => {
    assert.deepEqual(ruleTagOwner('narwhal link nw-f481f81674fc'), { kind: 'link', ifname: 'nw-f481f81674fc' });
    assert.deepEqual(ruleTagOwner(`narwhal net ${NET.slice(0, 12)}`), { kind: 'network', id12: NET.slice(0, 12) });
    assert.equal(ruleTagOwner(`dovesnap ${NET.slice(0, 12)}`), undefined);
  });
});
