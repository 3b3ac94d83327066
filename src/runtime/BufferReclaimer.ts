/**
 * Gives back the memory of byte buffers a process has relayed: every socket or pipe read in
 * Node is a fresh buffer outside V8's heap, garbage once written on. V8 frees such buffers
 * only at a collection, and starts one for them only once tens of MiB have piled up (a
 * scavenge at 32 MiB of young buffers); glibc then keeps the freed, fragmented memory
 * resident. A relaying process therefore grew by 30 to 40 MiB under a slow reader.
 *
 * While sessions run, this looks at V8's external memory ten times a second and, once it has
 * grown by RECLAIM_STEP since the last collection, runs a scavenge (well under a
 * millisecond). Forced collections leave some dead buffers allocated (those that lived
 * through one, e.g. while a paused stream held them) until a collection that V8 runs as a
 * task: so, at most once a second after a forced scavenge, this asks for a full collection
 * run that way (`execution: 'async'`). Scavenges alone (what this did before) let the agent
 * grow with every byte it sent through the API server: 5.7 MiB of 64 MiB sent through a
 * paused socket stayed allocated. See docs/benchmarks.md.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Growth of external memory since the last collection that runs a scavenge. */
export const RECLAIM_STEP = 1024 * 1024;
/** Forced scavenges are followed by a full collection (as a task) at most this often. */
export const MAJOR_INTERVAL_MS = 1_000;
const CHECK_INTERVAL_MS = 100;

/** Memory held outside V8's heap (Buffer contents among it); cheaper than process.memoryUsage(). */
function externalMemory(): number {
  return getHeapStatistics().external_memory;
}

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void | Promise<void>;

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
  /** External memory after the last collection (or when watching began). */
  #baseline = 0;
  #scavengedSinceMajor = false;
  #lastMajor = 0;
  #collecting = false;
  /** Collections run so far, by kind (for tests and the log). */
  readonly collections = { minor: 0, major: 0 };

  readonly #majorIntervalMs: number;

  constructor(options: { majorIntervalMs?: number } = {}, gc: GcFunction | null = exposeGc()) {
    this.#gc = gc;
    this.#majorIntervalMs = options.majorIntervalMs ?? MAJOR_INTERVAL_MS;
  }

  /** Whether reclaiming works in this runtime (it quietly does nothing otherwise). */
  get available(): boolean {
    return this.#gc !== null;
  }

  /** Sessions are running: start watching (idempotent). */
  start(): void {
    if (this.#timer || !this.#gc) return;
    this.#baseline = externalMemory();
    this.#lastMajor = performance.now();
    this.#timer = setInterval(() => void this.check(), CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  /** No session left: stop waking up. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * One look at external memory (run by the timer; public for tests): resolves once the
   * collection it ran or asked for, if any, is done.
   */
  async check(): Promise<void> {
    const gc = this.#gc;
    if (!gc || this.#collecting) return;
    if (this.#scavengedSinceMajor && performance.now() - this.#lastMajor >= this.#majorIntervalMs) {
      this.#collecting = true;
      this.collections.major++;
      try {
        await gc({ type: 'major', execution: 'async' });
      } finally {
        this.#collecting = false;
        this.#scavengedSinceMajor = false;
        this.#lastMajor = performance.now();
        this.#baseline = externalMemory();
      }
      return;
    }
    const external = externalMemory();
    // Memory that went down (buffers freed since) lowers the mark.
    if (external < this.#baseline) this.#baseline = external;
    if (external - this.#baseline < RECLAIM_STEP) return;
    gc({ type: 'minor' });
    this.collections.minor++;
    this.#scavengedSinceMajor = true;
    // What survived is live (or still being freed): the next scavenge waits for as much growth again.
    this.#baseline = externalMemory();
  }
}
