// Encoders refuse what the spec forbids, so we never put an invalid frame on the wire.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameTooLargeError,
  FrameType,
  InvalidRequestError,
  MAX_ERROR_MESSAGE,
  decodeAll,
  encodeDataFrame,
  encodeError,
  encodeExecStart,
  encodeSignal,
  encodeWindowSize,
  parseFrame,
} from '../../src/wire/index.js';

const invalid = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof InvalidRequestError && e.code === 'INVALID_REQUEST');

describe('encoders', () => {
  it('refuse NUL in strings and bad environment names', () => {
    invalid(() => encodeExecStart({ argv: ['a\0b'] }));
    invalid(() => encodeExecStart({ env: { 'A=B': 'x' } }));
    invalid(() => encodeExecStart({ env: { '': 'x' } }));
    invalid(() => encodeExecStart({ env: { A: 'x\0' } }));
    invalid(() => encodeExecStart({ cwd: '/\0' }));
  });

  it('refuse out-of-range numbers', () => {
    invalid(() => encodeExecStart({ timeoutSeconds: -1 }));
    invalid(() => encodeExecStart({ timeoutSeconds: 1.5 }));
    invalid(() => encodeExecStart({ window: { rows: 0, cols: 80 } }));
    invalid(() => encodeWindowSize({ rows: 24, cols: 65536 }));
    invalid(() => encodeSignal(0));
    invalid(() => encodeSignal(65));
  });

  it('refuse payloads over the limit', () => {
    assert.throws(() => encodeDataFrame(FrameType.Stdout, new Uint8Array(11), 10), FrameTooLargeError);
    assert.throws(() => encodeExecStart({ argv: ['x'.repeat(100)] }, 1, 50), FrameTooLargeError);
  });

  it('cut long Error messages at a character boundary', () => {
    const frame = encodeError('INTERNAL_ERROR', 'é'.repeat(MAX_ERROR_MESSAGE));
    const [msg] = decodeAll(frame).map((f) => parseFrame(f));
    assert.equal(msg.type, FrameType.Error);
    if (msg.type === FrameType.Error) {
      assert.equal(msg.code, 'INTERNAL_ERROR');
      assert.equal(msg.message, 'é'.repeat(Math.floor(MAX_ERROR_MESSAGE / 2)));
    }
  });

  it('put the supported versions in UNSUPPORTED_VERSION errors', () => {
    const [msg] = decodeAll(encodeError('UNSUPPORTED_VERSION', 'no')).map((f) => parseFrame(f));
    assert.deepEqual(msg.type === FrameType.Error && msg.supportedVersions, [2, 1]);
  });
});
