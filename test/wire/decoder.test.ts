// One test per framing rule (spec §2, §3.1), inputs as hex, including frames spanning
// several writes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DecoderClosedError,
  FrameDecoder,
  FrameTooLargeError,
  FrameType,
  MalformedFrameError,
  UnknownFrameTypeError,
  decodeSingleFrame,
  encodeDataFrame,
  encodeHeader,
  type RawFrame,
} from '../../src/wire/index.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function collect(options?: { maxPayload?: number }) {
  const frames: RawFrame[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f), options);
  return { frames, decoder };
}

describe('FrameDecoder', () => {
  it('delivers a frame inside one chunk as views of that chunk (no copy)', () => {
    const { frames, decoder } = collect();
    const chunk = hex('00000002 11 6869');
    decoder.push(chunk);
    assert.equal(frames.length, 1);
    assert.equal(frames[0].type, FrameType.Stdout);
    assert.equal(frames[0].payload.buffer, chunk.buffer);
    assert.equal(frames[0].bytes.byteOffset, chunk.byteOffset);
    assert.equal(toHex(frames[0].bytes), '00000002116869');
  });

  it('delivers many frames from one chunk in order', () => {
    const { frames, decoder } = collect();
    decoder.push(hex('00000001 11 61  00000001 12 62  00000000 03  00000001 11 63'));
    assert.deepEqual(
      frames.map((f) => [f.type, toHex(f.payload)]),
      [
        [0x11, '61'],
        [0x12, '62'],
        [0x03, ''],
        [0x11, '63'],
      ],
    );
  });

  it('assembles a frame spanning multiple writes, header split too', () => {
    const { frames, decoder } = collect();
    for (const part of ['00', '0000', '05', '11 68', '656c', '6c6f 00000000']) decoder.push(hex(part));
    assert.equal(frames.length, 1);
    assert.equal(toHex(frames[0].payload), '68656c6c6f');
    assert.equal(toHex(frames[0].bytes), '000000051168656c6c6f');
    assert.equal(decoder.buffered, 4);
    decoder.push(hex('02'));
    assert.equal(frames.length, 2);
    assert.equal(frames[1].payload.length, 0);
    decoder.end();
  });

  it('keeps no reference to a chunk after push returns: the caller may reuse its buffer', () => {
    const stream = Buffer.concat([
      encodeDataFrame(FrameType.Stdout, Buffer.from('first frame payload')),
      encodeDataFrame(FrameType.Stderr, Buffer.from('second')),
      encodeDataFrame(FrameType.Stdout, Buffer.alloc(300, 7)),
    ]);
    const seen: string[] = [];
    const decoder = new FrameDecoder((f) => seen.push(`${f.type}:${toHex(f.payload)}`));
    const reused = new Uint8Array(7);
    for (let i = 0; i < stream.length; i += 7) {
      const n = Math.min(7, stream.length - i);
      reused.set(stream.subarray(i, i + n));
      decoder.push(reused.subarray(0, n));
      reused.fill(0xee);
    }
    assert.deepEqual(seen, [
      `17:${Buffer.from('first frame payload').toString('hex')}`,
      `18:${Buffer.from('second').toString('hex')}`,
      `17:${'07'.repeat(300)}`,
    ]);
  });

  it('does not clobber frames already delivered when later input arrives', () => {
    const { frames, decoder } = collect();
    const a = encodeDataFrame(FrameType.Stdout, new Uint8Array(100).fill(1));
    const b = encodeDataFrame(FrameType.Stdout, new Uint8Array(100).fill(2));
    decoder.push(a.subarray(0, 50));
    decoder.push(Buffer.concat([a.subarray(50), b.subarray(0, 3)]));
    decoder.push(b.subarray(3));
    assert.ok(frames[0].payload.every((x) => x === 1));
    assert.ok(frames[1].payload.every((x) => x === 2));
  });

  it('checks the length against the limit from the header, before any payload', () => {
    const { frames, decoder } = collect({ maxPayload: 10 });
    assert.throws(() => decoder.push(hex('0000000b 02')), (e: unknown) => {
      assert.ok(e instanceof FrameTooLargeError);
      assert.equal(e.code, 'FRAME_TOO_LARGE');
      assert.equal(e.length, 11);
      assert.equal(e.limit, 10);
      return true;
    });
    assert.equal(frames.length, 0);
  });

  it('accepts a payload exactly at the limit', () => {
    const { frames, decoder } = collect({ maxPayload: 10 });
    decoder.push(encodeDataFrame(FrameType.Stdin, new Uint8Array(10)));
    assert.equal(frames[0].payload.length, 10);
  });

  it('checks the limit when the header arrives one byte at a time', () => {
    const { decoder } = collect({ maxPayload: 10 });
    for (const b of hex('000000')) decoder.push(Uint8Array.of(b));
    decoder.push(hex('ff'));
    assert.throws(() => decoder.push(hex('11')), FrameTooLargeError);
    assert.equal(decoder.buffered, 0);
  });

  it('rejects an unknown type with the high bit clear', () => {
    const { decoder } = collect();
    assert.throws(() => decoder.push(hex('00000000 7f')), (e: unknown) => {
      assert.ok(e instanceof UnknownFrameTypeError);
      assert.equal(e.code, 'UNKNOWN_FRAME_TYPE');
      assert.equal(e.frameType, 0x7f);
      return true;
    });
  });

  it('skips an unknown ignorable type without buffering its payload', () => {
    const { frames, decoder } = collect({ maxPayload: 1000 });
    decoder.push(hex('000003e8 ff'));
    for (let i = 0; i < 10; i++) {
      decoder.push(new Uint8Array(100));
      assert.equal(decoder.buffered, 0);
    }
    decoder.push(hex('00000001 11 7a'));
    assert.equal(frames.length, 1);
    assert.equal(toHex(frames[0].payload), '7a');
  });

  it('still applies the limit to ignorable frames', () => {
    const { decoder } = collect({ maxPayload: 4 });
    assert.throws(() => decoder.push(hex('00000005 ff')), FrameTooLargeError);
  });

  it('rejects fixed-size frames of the wrong size from the header', () => {
    for (const h of ['00000001 03', '00000003 04', '00000002 05', '00000015 10', '00000013 13', '00000007 21', '00000009 22']) {
      const { decoder } = collect();
      assert.throws(() => decoder.push(hex(h)), MalformedFrameError, h);
    }
  });

  it('rejects variable frames below their minimum size', () => {
    for (const h of ['00000001 01 00', '00000003 20 000000']) {
      const { decoder } = collect();
      assert.throws(() => decoder.push(hex(h)), MalformedFrameError, h);
    }
  });

  it('is dead after an error', () => {
    const { decoder } = collect();
    assert.throws(() => decoder.push(hex('00000000 7f')));
    assert.equal(decoder.closed, true);
    assert.throws(() => decoder.push(hex('00000000 03')), DecoderClosedError);
    assert.throws(() => decoder.end(), DecoderClosedError);
  });

  it('is dead after the frame sink throws', () => {
    const decoder = new FrameDecoder(() => {
      throw new Error('sink failed');
    });
    assert.throws(() => decoder.push(hex('00000000 03 00000000 03')), /sink failed/);
    assert.throws(() => decoder.push(hex('00000000 03')), DecoderClosedError);
  });

  it('reports a stream that ends inside a header or a payload', () => {
    for (const h of ['0000', '00000005 11 6869']) {
      const { decoder } = collect();
      decoder.push(hex(h));
      assert.throws(() => decoder.end(), MalformedFrameError);
    }
  });

  it('rejects an invalid maxPayload option', () => {
    assert.throws(() => new FrameDecoder(() => {}, { maxPayload: -1 }), RangeError);
    assert.throws(() => new FrameDecoder(() => {}, { maxPayload: 2 ** 32 }), RangeError);
  });
});

describe('decodeSingleFrame (WebSocket carrier)', () => {
  it('returns the message itself as the frame', () => {
    const msg = hex('00000002 02 6869');
    const f = decodeSingleFrame(msg)!;
    assert.equal(f.bytes, msg);
    assert.equal(toHex(f.payload), '6869');
  });

  it('rejects a message shorter than a header', () => {
    assert.throws(() => decodeSingleFrame(hex('000000')), MalformedFrameError);
  });

  it('rejects a message holding more or less than one frame', () => {
    assert.throws(() => decodeSingleFrame(hex('00000001 02 6869')), MalformedFrameError);
    assert.throws(() => decodeSingleFrame(hex('00000003 02 6869')), MalformedFrameError);
  });

  it('returns null for an ignorable unknown type', () => {
    assert.equal(decodeSingleFrame(hex('00000001 90 00')), null);
  });

  it('applies the limit', () => {
    assert.throws(() => decodeSingleFrame(hex('00000003 02 000000'), 2), FrameTooLargeError);
  });
});

describe('encodeHeader', () => {
  it('writes the length big-endian then the type', () => {
    assert.equal(toHex(encodeHeader(FrameType.Stdout, 0x01020304)), '0102030411');
    assert.equal(toHex(encodeHeader(FrameType.Stdin, 0xffffffff)), 'ffffffff02');
  });
  it('rejects lengths that do not fit', () => {
    assert.throws(() => encodeHeader(FrameType.Stdout, -1), RangeError);
    assert.throws(() => encodeHeader(FrameType.Stdout, 2 ** 32), RangeError);
  });
});
