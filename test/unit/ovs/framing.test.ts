import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JsonTextSplitter } from '../../../src/ovs/jsonrpc.js';
import { isDovesnapError, ErrorCode } from '../../../src/util/errors.js';

/** Feeds `chunks` and returns the parsed values of every completed text. */
function feed(splitter: JsonTextSplitter, chunks: readonly (Buffer | string)[]): unknown[] {
  return chunks
    .flatMap((chunk) => splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk))
    .map((t) => JSON.parse(t));
}

describe('JsonTextSplitter', () => {
  it('returns a message that arrives whole', () => {
    assert.deepEqual(feed(new JsonTextSplitter(), ['{"id":1,"result":[]}']), [{ id: 1, result: [] }]);
  });

  it('reassembles a message split across many chunks', () => {
    const text = '{"id":7,"result":[{"rows":[{"name":"br0"}]}],"error":null}';
    const splitter = new JsonTextSplitter();
    const out: unknown[] = [];
    for (const char of text) out.push(...feed(splitter, [char]));
    assert.deepEqual(out, [JSON.parse(text)]);
  });

  it('returns several messages from one chunk, with or without whitespace between them', () => {
    const out = feed(new JsonTextSplitter(), ['{"a":1}{"b":[2]}\n  [3,{"c":{}}] \r\n\t{"d":4}']);
    assert.deepEqual(out, [{ a: 1 }, { b: [2] }, [3, { c: {} }], { d: 4 }]);
  });

  it('keeps the tail of a chunk for the next one', () => {
    const splitter = new JsonTextSplitter();
    assert.deepEqual(feed(splitter, ['{"a":1}{"b"']), [{ a: 1 }]);
    assert.deepEqual(feed(splitter, [':2}']), [{ b: 2 }]);
  });

  it('ignores braces, brackets and escaped quotes inside strings', () => {
    const value = { s: 'a}b{c]d[e"f\\g\\"}', t: ['"', '\\', '{"x":[}'] };
    const text = JSON.stringify(value);
    const splitter = new JsonTextSplitter();
    const out: unknown[] = [];
    for (let i = 0; i < text.length; i += 3) out.push(...feed(splitter, [text.slice(i, i + 3)]));
    assert.deepEqual(out, [value]);
  });

  it('handles a string ending in an escaped backslash', () => {
    const value = { path: 'C:\\', next: '}' };
    assert.deepEqual(feed(new JsonTextSplitter(), [`${JSON.stringify(value)}{"z":0}`]), [value, { z: 0 }]);
  });

  it('reassembles multi-byte UTF-8 split in the middle of a character', () => {
    const value = { name: 'brücke-😀-端口', note: '}' };
    const bytes = Buffer.from(JSON.stringify(value));
    // Every split point, including each byte inside the 2-, 3- and 4-byte sequences.
    for (let cut = 1; cut < bytes.length; cut++) {
      const out = feed(new JsonTextSplitter(), [bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(out, [value], `split at byte ${cut}`);
    }
    const byteByByte = new JsonTextSplitter();
    const out: unknown[] = [];
    for (const byte of bytes) out.push(...feed(byteByByte, [Buffer.from([byte])]));
    assert.deepEqual(out, [value]);
  });

  it('rejects data that cannot start a message', () => {
    const splitter = new JsonTextSplitter();
    assert.throws(
      () => splitter.push(Buffer.from('{"a":1} x')),
      (err: unknown) => isDovesnapError(err, ErrorCode.Ovsdb) && /framing/.test(err.message),
    );
  });

  it('refuses to buffer without bound', () => {
    const splitter = new JsonTextSplitter(16);
    assert.throws(() => splitter.push(Buffer.from('{"long":"aaaaaaaaaaaaaaaaaaaaaaaa')), /longer than 16/);
  });
});
