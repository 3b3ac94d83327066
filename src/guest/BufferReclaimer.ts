/**
 * Gives back the memory of output buffers the agent has already sent. Every read from a
 * command's pipe is a fresh Buffer whose bytes live outside V8's heap; once written to the
 * socket it is garbage, but V8 collects such buffers only when its young generation fills
 * (tiny Buffer objects fill it slowly) or when external memory has grown by tens of MiB.
 * Under a slow reader that let the agent grow from 59 to 94 MiB. While sessions run, this
 * checks external memory ten times a second and, once it has grown by
 * RECLAIM_STEP over what is live, runs a minor GC (a scavenge: well under a millisecond),
 * and a full GC when the growth survives the scavenge.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Growth of external ArrayBuffer memory over what is live that triggers a scavenge. */
export const RECLAIM_STEP = 2 * 1024 * 1024;
/** Growth a scavenge could not undo that triggers a full GC... */
export const MAJOR_STEP = 4 * RECLAIM_STEP;
/** ...at most this often. */
const MAJOR_INTERVAL_MS = 1_000;
const CHECK_INTERVAL_MS = 100;

/** Memory held outside V8's heap (Buffer contents among it); cheaper than process.memoryUsage(). */
function externalMemory(): number {
  return getHeapStatistics().external_memory;
}

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
  /** External memory when the first session started: what is live when idle. */
  #liveFloor = 0;
  #lastMajor = -Infinity;
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
    this.#liveFloor = externalMemory();
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
    if (!gc || externalMemory() - this.#liveFloor < RECLAIM_STEP) return;
    gc({ type: 'minor' });
    this.collections.minor++;
    // Buffers still queued during an earlier scavenge were promoted to the old generation,
    // which only a full GC frees. V8 frees collected buffers on a background thread, so the
    // figure right after a GC still counts some: the floor stays what it was when idle, and
    // full GCs are spaced out in case the growth is really live (many busy sessions).
    const now = performance.now();
    if (externalMemory() - this.#liveFloor >= MAJOR_STEP && now - this.#lastMajor >= MAJOR_INTERVAL_MS) {
      gc({ type: 'major' });
      this.collections.major++;
      this.#lastMajor = now;
    }
  }
}
