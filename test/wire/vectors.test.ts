// Every vector of spec/vectors.json, checked four ways (as mqtt-packet does): decode the
// stream, encode byte-exact (canonical vectors), encode then decode, and decode the stream
// fed one byte at a time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameDecoder,
  ProtocolError,
  decodeAll,
  encodeMessage,
  parseFrame,
  type Message,
} from '../../src/wire/index.js';
import { messageOf, plain, vectorBytes, vectors } from './vectors.js';

function decodeStream(bytes: Uint8Array, chunkSize: number): Message[] {
  const out: Message[] = [];
  const decoder = new FrameDecoder((f) => out.push(parseFrame(f)));
  for (let i = 0; i < bytes.length; i += chunkSize) decoder.push(bytes.subarray(i, i + chunkSize));
  decoder.end();
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

describe('spec/vectors.json', () => {
  it('has at least 12 vectors, valid and invalid', () => {
    assert.ok(vectors.length >= 12);
    assert.ok(vectors.some((v) => v.error));
    assert.ok(vectors.some((v) => v.frames));
  });

  for (const v of vectors) {
    describe(v.name, () => {
      const bytes = vectorBytes(v);
      if (v.error) {
        it(`fails with ${v.error}`, () => {
          assert.throws(
            () => decodeStream(bytes, bytes.length || 1),
            (err: unknown) => err instanceof ProtocolError && err.code === v.error,
          );
        });
        it(`fails with ${v.error} when fed one byte at a time`, () => {
          assert.throws(
            () => decodeStream(bytes, 1),
            (err: unknown) => err instanceof ProtocolError && err.code === v.error,
          );
        });
        return;
      }
      const expected = v.frames!.map((m) => plain(messageOf(m)));
      it('decodes', () => {
        assert.deepEqual(decodeAll(bytes).map((f) => plain(parseFrame(f))), expected);
      });
      it('decodes one byte at a time', () => {
        const step = bytes.length > 100_000 ? 4099 : 1;
        assert.deepEqual(decodeStream(bytes, step).map(plain), expected);
      });
      it('encodes then decodes to the same meaning', () => {
        const encoded = concat(v.frames!.map((m) => encodeMessage(messageOf(m))));
        assert.deepEqual(decodeAll(encoded).map((f) => plain(parseFrame(f))), expected);
      });
      if (v.canonical) {
        it('encodes byte-exact', () => {
          const encoded = concat(v.frames!.map((m) => encodeMessage(messageOf(m))));
          assert.equal(Buffer.from(encoded).toString('hex'), Buffer.from(bytes).toString('hex'));
        });
      }
    });
  }
});
