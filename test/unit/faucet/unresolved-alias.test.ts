import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFaucetConfigFacts } from '../../../src/faucet/config-facts.js';
import { faucetDocumentToJs, parseFaucetDocument } from '../../../src/faucet/yaml.js';
import { ErrorCode, isDovesnapError } from '../../../src/util/errors.js';

// Found by the fuzz tests (test/unit/fuzz): the yaml library parses an alias whose anchor is
// never set without an error, then throws a plain ReferenceError when the document is read.
describe('faucet.yaml with an alias to an anchor that is not set', () => {
  const text = 'acls:\n  web: *nosuch\ndps: {}\n';

  it('reads as not parsed, instead of throwing a ReferenceError', () => {
    assert.equal(readFaucetConfigFacts(text).parsed, false);
    assert.equal(readFaucetConfigFacts('*!').parsed, false);
  });

  it('is a FaucetInvalid error naming the YAML problem where the document is converted', () => {
    assert.throws(
      () => faucetDocumentToJs(parseFaucetDocument(text)),
      (err: unknown) =>
        isDovesnapError(err, ErrorCode.FaucetInvalid) && /not valid YAML: .*alias/i.test((err as Error).message),
    );
  });
});
