// Messages of joined frames on /cp's framed dialect (spec §12.10.1): cut back into the same
// frames, never past a message's end; joined in order, large frames alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameJoiner,
  FrameType,
  JOINABLE_FRAME_SIZE,
  JOINED_MESSAGE_LIMIT,
  MalformedFrameError,
  UnknownFrameTypeError,
  encodeHeader,
  encodePing,
  forEachFrame,
} from '../../src/wire/index.js';

const MAX = 1 << 20;

function frames(message: Uint8Array): number[][] {
  const out: number[][] = [];
  forEachFrame(message, MAX, (f) => out.push([f.type, ...f.payload]));
  return out;
}

function frame(type: number, payload: number[]): Uint8Array {
  return Uint8Array.from([...encodeHeader(type, payload.length), ...payload]);
}

describe('forEachFrame', () => {
  it('cuts a message into its frames, in order, and skips an unknown ignorable type', () => {
    const message = Uint8Array.from([...encodePing(new Uint8Array(8).fill(7)), ...frame(0xfe, [1, 2]), ...frame(0x0c, [9, 8, 7])]);
    assert.deepEqual(frames(message), [[FrameType.Ping, 7, 7, 7, 7, 7, 7, 7, 7], [0x0c, 9, 8, 7]]);
  });

  it('refuses a message that ends inside a header or a payload, or holds nothing', () => {
    const ping = encodePing(new Uint8Array(8));
    assert.throws(() => frames(Uint8Array.from([...ping, 0, 0])), MalformedFrameError);
    assert.throws(() => frames(ping.subarray(0, ping.length - 1)), MalformedFrameError);
    assert.throws(() => frames(new Uint8Array(0)), MalformedFrameError);
  });

  it('checks every header as a single frame is checked', () => {
    assert.throws(() => frames(Uint8Array.from([...encodePing(new Uint8Array(8)), ...frame(0x3f, [])])), UnknownFrameTypeError);
  });
});

describe('FrameJoiner', () => {
  it('joins small frames until flushed, sends a large one alone after what waits', () => {
    const sent: Uint8Array[] = [];
    const joiner = new FrameJoiner((m) => sent.push(m));
    joiner.frame(encodePing(new Uint8Array(8)));
    joiner.data(encodeHeader(0x0c, 3), Uint8Array.of(1, 2, 3));
    assert.equal(sent.length, 0);
    const large = new Uint8Array(JOINABLE_FRAME_SIZE + 1);
    joiner.data(encodeHeader(0x0c, large.length), large);
    joiner.frame(encodePing(new Uint8Array(8)));
    joiner.flush();
    joiner.flush();
    assert.deepEqual(sent.map((m) => frames(m).map((f) => f[0])), [[FrameType.Ping, 0x0c], [0x0c], [FrameType.Ping]]);
  });

  it('never makes a message longer than the limit', () => {
    const sent: Uint8Array[] = [];
    const joiner = new FrameJoiner((m) => sent.push(m));
    const payload = new Uint8Array(JOINABLE_FRAME_SIZE - 5);
    for (let i = 0; i < 10; i++) joiner.data(encodeHeader(0x0c, payload.length), payload);
    joiner.flush();
    assert.ok(sent.every((m) => m.length <= JOINED_MESSAGE_LIMIT));
    assert.equal(sent.reduce((n, m) => n + frames(m).length, 0), 10);
  });
});
