/**
 * Gives back the memory of output buffers the agent has already sent. Every read from a
 * command's pipe is a fresh Buffer whose bytes live outside V8's heap; once written to the
 * socket it is garbage, but V8 collects such buffers only when its young generation fills
 * (tiny Buffer objects fill it slowly) or when external memory has grown by tens of MiB.
 * Under a slow reader that let the agent grow from 59 to 94 MiB. While sessions run, this
 * checks external ArrayBuffer memory ten times a second and, once it has grown by
 * RECLAIM_STEP over what is live, runs a minor GC (a scavenge: well under a millisecond),
 * and a full GC when the growth survives the scavenge.
 */
import { memoryUsage } from 'node:process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Growth of external ArrayBuffer memory over what is live that triggers a scavenge. */
export const RECLAIM_STEP = 2 * 1024 * 1024;
/** Growth a scavenge could not undo that triggers a full GC. */
export const MAJOR_STEP = 4 * RECLAIM_STEP;
const CHECK_INTERVAL_MS = 100;

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void;

/** V8's gc(), exposed for this process without a command-line flag. */
function exposeGc(): GcFunction | null {
  const existing = (globalThis as { gc?: GcFunction }).gc;
  if (existing) return existing;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as GcFunction;
  } catch {
    return null;
  }
}

export class BufferReclaimer {
  readonly #gc: GcFunction | null;
  #timer: NodeJS.Timeout | null = null;
  /** External memory known to be live: measured when idle or right after a full GC. */
  #liveFloor = 0;
  /** Collections run so far, by kind (for tests and the log). */
  readonly collections = { minor: 0, major: 0 };

  constructor(gc: GcFunction | null = exposeGc()) {
    this.#gc = gc;
  }

  /** Whether reclaiming works in this runtime (it quietly does nothing otherwise). */
  get available(): boolean {
    return this.#gc !== null;
  }

  /** Sessions are running: start watching (idempotent). */
  start(): void {
    if (this.#timer || !this.#gc) return;
    this.#liveFloor = memoryUsage().arrayBuffers;
    this.#timer = setInterval(() => this.check(), CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  /** No session left: stop waking up. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One look at external memory (run by the timer; public for tests). */
  check(): void {
    const gc = this.#gc;
    if (!gc || memoryUsage().arrayBuffers - this.#liveFloor < RECLAIM_STEP) return;
    gc({ type: 'minor' });
    this.collections.minor++;
    // Buffers still queued during an earlier scavenge were promoted to the old generation,
    // which only a full GC frees; a full GC also tells what is really live.
    if (memoryUsage().arrayBuffers - this.#liveFloor >= MAJOR_STEP) {
      gc({ type: 'major' });
      this.collections.major++;
      this.#liveFloor = memoryUsage().arrayBuffers;
    }
  }
}
