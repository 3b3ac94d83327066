// The WebSocket close status that names an Error (spec §8.1), both ways, and the header
// accessors that host code uses instead of reading offsets by hand.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ErrorCode,
  FrameType,
  closeCodeForError,
  encodeDataFrame,
  encodeStdinClose,
  errorOfCloseCode,
  frameTypeOf,
  payloadLengthOf,
} from '../../src/wire/index.js';

describe('close codes', () => {
  it('maps every assigned error code to 4000 + n and back to its name', () => {
    for (const [name, wireCode] of Object.entries(ErrorCode)) {
      const close = closeCodeForError(wireCode);
      assert.equal(close, 4000 + wireCode);
      assert.deepEqual(errorOfCloseCode(close), { wireCode, name });
    }
  });

  it('names an unassigned code ERROR_<n>, as parseFrame does', () => {
    assert.deepEqual(errorOfCloseCode(4099), { wireCode: 99, name: 'ERROR_99' });
  });

  it('reads no error from other statuses', () => {
    for (const code of [1000, 1001, 1006, 1011, 3999, 5000]) assert.equal(errorOfCloseCode(code), null, String(code));
  });
});

describe('header accessors', () => {
  it('read the type and declared length of an encoded frame', () => {
    const stdin = encodeDataFrame(FrameType.Stdin, new Uint8Array(300));
    assert.equal(frameTypeOf(stdin), FrameType.Stdin);
    assert.equal(payloadLengthOf(stdin), 300);
    assert.equal(frameTypeOf(encodeStdinClose()), FrameType.StdinClose);
    assert.equal(payloadLengthOf(encodeStdinClose()), 0);
  });

  it('read a length above 2^31 without going negative', () => {
    assert.equal(payloadLengthOf(new Uint8Array([0xff, 0xff, 0xff, 0xfe, FrameType.Stdout])), 0xfffffffe);
  });
});
