// AgentOutbox: client frames gathered for the agent's connection, checked by decoding what
// it hands over, and by the size of the blocks it allocates.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentOutbox, MIN_STDIN_BLOCK } from '../../src/host/server/relay/AgentOutbox.js';
import { FrameDecoder, FrameType, type RawFrame, encodeExecStart, encodeSignal } from '../../src/wire/index.js';

function decodeAll(batches: { bytes: Uint8Array }[]): RawFrame[] {
  const frames: RawFrame[] = [];
  const decoder = new FrameDecoder((f) => frames.push({ type: f.type, payload: f.payload.slice(), bytes: f.bytes.slice() }));
  for (const b of batches) decoder.push(b.bytes);
  return frames;
}

describe('AgentOutbox', () => {
  it('gives a control frame a block of its own size, not a 64 KiB one', () => {
    const outbox = new AgentOutbox();
    const execStart = encodeExecStart({ argv: ['cat'] });
    outbox.pushFrame(execStart);
    const batches = outbox.take();
    assert.equal(batches.length, 1);
    assert.deepEqual(Buffer.from(batches[0].bytes), Buffer.from(execStart));
    assert.equal(batches[0].bytes.buffer.byteLength, execStart.length);
    assert.equal(outbox.empty, true);
  });

  it('joins small Stdin writes in a small block, keeping other frames in their place', () => {
    const outbox = new AgentOutbox();
    outbox.pushStdin(Buffer.from('ab'));
    outbox.pushStdin(Buffer.from('c'));
    outbox.pushFrame(encodeSignal(2));
    outbox.pushStdin(Buffer.from('d'));
    const batches = outbox.take();
    assert.ok(batches.every((b) => b.bytes.buffer.byteLength <= MIN_STDIN_BLOCK), 'small writes take small blocks');
    const frames = decodeAll(batches);
    assert.deepEqual(
      frames.map((f) => [f.type, Buffer.from(f.payload).toString('latin1')]),
      [
        [FrameType.Stdin, 'abc'],
        [FrameType.Signal, '\u0002'],
        [FrameType.Stdin, 'd'],
      ],
    );
    assert.equal(batches.reduce((n, b) => n + b.stdinBytes, 0), 4);
  });

  it('gathers a million one-byte writes into frames of at most 64 KiB, the same bytes in order', () => {
    const outbox = new AgentOutbox();
    const data = Buffer.alloc(1_000_000);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    for (let i = 0; i < data.length; i++) outbox.pushStdin(data.subarray(i, i + 1));
    assert.equal(outbox.stdinBytes, data.length);
    const frames = decodeAll(outbox.take());
    assert.ok(frames.every((f) => f.type === FrameType.Stdin && f.payload.length <= 65536));
    assert.ok(frames.length < 1_000_000 / 4000, `${frames.length} frames`);
    assert.deepEqual(Buffer.concat(frames.map((f) => f.payload)), data);
  });

  it('joins a stream of 16 KiB writes into growing blocks, up to 64 KiB frames', () => {
    const outbox = new AgentOutbox();
    const data = Buffer.alloc(40 * 16384);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    for (let i = 0; i < 40; i++) outbox.pushStdin(data.subarray(i * 16384, (i + 1) * 16384));
    const frames = decodeAll(outbox.take());
    assert.ok(frames.length <= 13, `${frames.length} frames`);
    assert.ok(frames.every((f) => f.payload.length <= 65536));
    assert.deepEqual(Buffer.concat(frames.map((f) => f.payload)), data);
  });

  it('puts a whole 64 KiB Stdin payload in one block and one frame', () => {
    const outbox = new AgentOutbox();
    outbox.pushStdin(Buffer.alloc(65536, 7));
    const batches = outbox.take();
    assert.equal(batches.length, 1);
    const frames = decodeAll(batches);
    assert.equal(frames.length, 1);
    assert.equal(frames[0].payload.length, 65536);
  });
});
