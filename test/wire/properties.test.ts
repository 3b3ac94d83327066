// Property tests: every message type survives encode → decode, however the byte stream
// is cut into chunks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ERROR_CODE_NAMES,
  FrameDecoder,
  FrameType,
  decodeAll,
  encodeMessage,
  parseFrame,
  type Message,
} from '../../src/wire/index.js';
import { message } from './arbitraries.js';
import { plain } from './vectors.js';

function normalise(m: Message): Record<string, unknown> {
  // Error codes are derived from the wire number on decode.
  if (m.type === FrameType.Error) return plain({ ...m, code: ERROR_CODE_NAMES[m.wireCode] });
  return plain(m);
}

function decodeChunks(chunks: Uint8Array[]): Message[] {
  const out: Message[] = [];
  const decoder = new FrameDecoder((f) => out.push(parseFrame(f)));
  for (const c of chunks) decoder.push(c);
  decoder.end();
  return out;
}

describe('wire properties', () => {
  it('every message round-trips through encode and decode', () => {
    fc.assert(
      fc.property(message, (m) => {
        const [decoded] = decodeAll(encodeMessage(m)).map((f) => parseFrame(f));
        assert.deepEqual(normalise(decoded), normalise(m));
      }),
      { numRuns: 3000 },
    );
  });

  it('a stream of messages decodes the same however it is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
        (messages, sizes) => {
          const stream = Buffer.concat(messages.map((m) => encodeMessage(m)));
          const chunks: Uint8Array[] = [];
          for (let at = 0, i = 0; at < stream.length; i++) {
            const n = sizes[i % sizes.length];
            chunks.push(stream.subarray(at, at + n));
            at += n;
          }
          assert.deepEqual(decodeChunks(chunks).map(normalise), messages.map(normalise));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('every split point of a multi-frame stream, and every pair of split points', () => {
    const messages: Message[] = [
      { type: FrameType.Started, version: 1, pid: 42, sessionId: new Uint8Array(16).fill(9) },
      { type: FrameType.Stdout, data: Buffer.from('hello\n') },
      { type: FrameType.Stderr, data: new Uint8Array(0) },
      { type: FrameType.Stderr, data: Buffer.from('oops\n') },
      { type: FrameType.Exit, kind: 0, code: 3, signal: 0, coreDumped: false, stdoutBytes: 6, stderrBytes: 5 },
    ];
    const stream = Buffer.concat(messages.map((m) => encodeMessage(m)));
    const expected = messages.map(normalise);
    for (let i = 0; i <= stream.length; i++) {
      assert.deepEqual(decodeChunks([stream.subarray(0, i), stream.subarray(i)]).map(normalise), expected);
      for (let j = i; j <= stream.length; j += 3) {
        const parts = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
        assert.deepEqual(decodeChunks(parts).map(normalise), expected);
      }
    }
  });
});
