// BufferReclaimer: garbage output buffers are given back while sessions run, with V8's real
// gc() (exposed at run time, as in the agent).
import assert from 'node:assert/strict';
import { memoryUsage } from 'node:process';
import { describe, it } from 'node:test';
import { BufferReclaimer, RECLAIM_STEP } from '../../src/guest/BufferReclaimer.js';

/** Like a command's output: many 64 KiB buffers, each dropped once "sent". */
function churn(bytes: number): void {
  let sink = 0;
  for (let at = 0; at < bytes; at += 65536) sink += Buffer.allocUnsafeSlow(65536).length;
  assert.equal(sink >= bytes, true);
}

/** A started reclaimer for `fn`, stopped afterwards. */
function withReclaimer(fn: (r: BufferReclaimer) => void): void {
  const r = new BufferReclaimer();
  r.start();
  try {
    fn(r);
  } finally {
    r.stop();
  }
}

describe('BufferReclaimer', () => {
  it('exposes gc() in a process started without --expose-gc', () => {
    assert.equal(new BufferReclaimer().available, true);
  });

  it('does nothing while external memory stays under the step', () => {
    withReclaimer((r) => {
      r.check();
      assert.deepEqual(r.collections, { minor: 0, major: 0 });
    });
  });

  it('collects garbage buffers once they pass the step, and external memory falls back', () => {
    withReclaimer((r) => {
      const before = memoryUsage().arrayBuffers;
      churn(4 * RECLAIM_STEP);
      assert.ok(memoryUsage().arrayBuffers - before >= RECLAIM_STEP, 'the churn should leave garbage behind');
      r.check();
      assert.ok(r.collections.minor + r.collections.major >= 1);
      assert.ok(memoryUsage().arrayBuffers - before < RECLAIM_STEP, `${memoryUsage().arrayBuffers - before} bytes still held`);
    });
  });

  it('keeps what is live: buffers still referenced survive', () => {
    withReclaimer((r) => {
      const live = Array.from({ length: 64 }, () => Buffer.alloc(65536, 7));
      churn(4 * RECLAIM_STEP);
      r.check();
      assert.ok(live.every((b) => b.length === 65536 && b[65535] === 7));
    });
  });
});
