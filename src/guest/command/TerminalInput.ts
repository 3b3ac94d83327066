import { writeSync } from 'node:fs';

/** VEOF as a terminal sends it by default: ^D. */
const VEOF = 0x04;
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 50;

/**
 * Stdin into a terminal's master side, with backpressure. node-pty's own write() queues
 * without limit and never says when its queue is empty, so the agent writes the master
 * (non-blocking, node-pty sets O_NONBLOCK) itself: synchronously, on the main thread, so a
 * write can never land on a descriptor node-pty has closed and the kernel reused. What the
 * terminal cannot take yet (EAGAIN) is kept and retried on a backing-off timer; meanwhile
 * write() returns false and the session stops reading its connection.
 */
export class TerminalInput {
  readonly #fd: number;
  readonly #onDrain: () => void;
  #pending: Uint8Array | null = null;
  #retryMs = RETRY_FIRST_MS;
  #timer: NodeJS.Timeout | null = null;
  #open = true;
  #atLineStart = true;
  #ended = false;
  #eofTyped = false;

  constructor(fd: number, onDrain: () => void) {
    this.#fd = fd;
    this.#onDrain = onDrain;
  }

  /** False: part of `data` waits for the terminal; onDrain follows once it is written. */
  write(data: Uint8Array): boolean {
    if (!this.#open || this.#ended || data.length === 0) return this.#pending === null;
    const last = data[data.length - 1];
    this.#atLineStart = last === 0x0a || last === 0x0d;
    return this.#push(data);
  }

  /** No more input comes (StdinClose); the end of file itself is typed by typeEof(). False if already ended or closed. */
  end(): boolean {
    if (this.#ended || !this.#open) return false;
    this.#ended = true;
    return true;
  }

  /**
   * End of input as a user gives it (spec §9.8), after what was written: ^D at the start of
   * a line; after a partial line, a first ^D only hands that line to the reader, so a second
   * one follows. Typed again (one ^D) each time the exec helper finds that everything typed
   * has been read while the command still runs.
   */
  typeEof(): void {
    if (!this.#open || !this.#ended) return;
    const first = !this.#eofTyped;
    this.#eofTyped = true;
    this.#push(first && !this.#atLineStart ? Uint8Array.of(VEOF, VEOF) : Uint8Array.of(VEOF));
  }

  /** The terminal is gone: nothing more is written, and nobody waits for a drain. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const waiting = this.#pending !== null;
    this.#pending = null;
    if (waiting) this.#onDrain();
  }

  #push(data: Uint8Array): boolean {
    if (this.#pending !== null) {
      const joined = new Uint8Array(this.#pending.length + data.length);
      joined.set(this.#pending);
      joined.set(data, this.#pending.length);
      this.#pending = joined;
      return false;
    }
    this.#pending = data;
    this.#flush();
    return this.#pending === null;
  }

  #flush(): void {
    this.#timer = null;
    while (this.#open && this.#pending !== null) {
      let written: number;
      try {
        written = writeSync(this.#fd, this.#pending);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.#timer = setTimeout(() => this.#retry(), this.#retryMs);
          this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
          return;
        }
        // EIO: every process holding the terminal is gone; the input has nowhere to go.
        this.close();
        return;
      }
      this.#retryMs = RETRY_FIRST_MS;
      this.#pending = written === this.#pending.length ? null : this.#pending.subarray(written);
    }
  }

  #retry(): void {
    this.#flush();
    if (this.#pending === null && this.#open) this.#onDrain();
  }
}
