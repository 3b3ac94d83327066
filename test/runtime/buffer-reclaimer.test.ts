// BufferReclaimer: garbage buffers are given back while sessions run, with V8's real gc()
// (exposed at run time, as in the agent, the API server and the mux).
import assert from 'node:assert/strict';
import { memoryUsage } from 'node:process';
import { describe, it } from 'node:test';
import { BufferReclaimer, RECLAIM_STEP } from '../../src/runtime/BufferReclaimer.js';

/** Like relayed output: many 64 KiB buffers, each dropped once "sent". */
function churn(bytes: number): void {
  let sink = 0;
  for (let at = 0; at < bytes; at += 65536) sink += Buffer.allocUnsafeSlow(65536).length;
  assert.equal(sink >= bytes, true);
}

/** A started reclaimer for `fn`, stopped afterwards. */
async function withReclaimer(fn: (r: BufferReclaimer) => Promise<void>, majorIntervalMs = 60_000): Promise<void> {
  const r = new BufferReclaimer({ majorIntervalMs });
  r.start();
  try {
    await fn(r);
  } finally {
    r.stop();
  }
}

/** ArrayBuffer memory once V8's background freeing has caught up. */
async function settledArrayBuffers(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  return memoryUsage().arrayBuffers;
}

describe('BufferReclaimer', () => {
  it('exposes gc() in a process started without --expose-gc', () => {
    assert.equal(new BufferReclaimer().available, true);
  });

  it('does nothing while external memory stays under the step', async () => {
    await withReclaimer(async (r) => {
      await r.check();
      assert.deepEqual(r.collections, { minor: 0, major: 0 });
    });
  });

  it('scavenges garbage buffers once they pass the step, and ArrayBuffer memory falls back', async () => {
    await withReclaimer(async (r) => {
      const before = memoryUsage().arrayBuffers;
      churn(4 * RECLAIM_STEP);
      assert.ok(memoryUsage().arrayBuffers - before >= RECLAIM_STEP, 'the churn should leave garbage behind');
      await r.check();
      assert.deepEqual(r.collections, { minor: 1, major: 0 });
      const held = (await settledArrayBuffers()) - before;
      assert.ok(held < RECLAIM_STEP, `${held} bytes still held`);
    });
  });

  it('keeps what is live, and waits for as much growth again before the next scavenge', async () => {
    await withReclaimer(async (r) => {
      const live = Array.from({ length: 64 }, () => Buffer.alloc(65536, 7));
      await r.check();
      const { minor } = r.collections;
      await r.check();
      assert.equal(r.collections.minor, minor, 'live buffers alone must not make it collect again');
      churn(4 * RECLAIM_STEP);
      await r.check();
      assert.equal(r.collections.minor, minor + 1);
      assert.ok(live.every((b) => b.length === 65536 && b[65535] === 7));
    });
  });

  it('follows forced scavenges with a full collection run as a task, spaced out', async () => {
    await withReclaimer(async (r) => {
      churn(4 * RECLAIM_STEP);
      await r.check();
      assert.deepEqual(r.collections, { minor: 1, major: 0 });
      await new Promise((resolve) => setTimeout(resolve, 60));
      await r.check();
      assert.deepEqual(r.collections, { minor: 1, major: 1 });
      // Nothing scavenged since: no second full collection.
      await new Promise((resolve) => setTimeout(resolve, 60));
      await r.check();
      assert.deepEqual(r.collections, { minor: 1, major: 1 });
    }, 50);
  });
});
