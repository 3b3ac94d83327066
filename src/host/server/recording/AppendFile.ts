import type { FileHandle } from 'node:fs/promises';

/**
 * Appends buffers to an open file in order, never blocking the caller: `append` queues, and
 * one writev at a time takes everything queued so far. Nothing is held back once the file can
 * take it, so a process killed at any moment leaves the file with every completed write in
 * it (the kernel has it) and at most the batch under way cut short.
 */
export class AppendFile {
  readonly #file: FileHandle;
  #queue: Buffer[] = [];
  #queued = 0;
  #writing = false;
  #closed = false;
  #error: Error | null = null;
  /** Bytes whose write has completed. */
  #written = 0;
  /** Waiters for the queue to empty. */
  #idle: Array<() => void> = [];

  constructor(file: FileHandle) {
    this.#file = file;
  }

  /** Bytes queued and not yet written. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Bytes this writer has written, all of them complete. */
  get writtenBytes(): number {
    return this.#written;
  }

  /** The first write failure (ENOSPC…); appends after it are dropped. */
  get error(): Error | null {
    return this.#error;
  }

  append(bytes: Buffer): void {
    if (this.#closed || this.#error) return;
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (!this.#writing) this.#writeQueued();
  }

  /** Resolves once everything appended so far is written (or has failed). */
  drained(): Promise<void> {
    if (!this.#writing) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Writes what is queued, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.drained();
    this.#closed = true;
    await this.#file.close().catch(() => undefined);
  }

  #writeQueued(): void {
    const batch = this.#queue;
    this.#queue = [];
    this.#writing = true;
    this.#writeBatch(batch);
  }

  #writeBatch(batch: Buffer[]): void {
    this.#file.writev(batch).then(({ bytesWritten: written }) => {
      this.#written += written;
      this.#queued -= written;
      // A regular file takes the whole batch unless the disk is full; the rest goes again.
      const rest = remainder(batch, written);
      if (rest.length > 0) this.#writeBatch(rest);
      else if (this.#queue.length > 0) this.#writeQueued();
      else this.#settle();
    }, (err: Error) => {
      this.#error = err;
      this.#queue = [];
      this.#queued = 0;
      this.#settle();
    });
  }

  #settle(): void {
    this.#writing = false;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}

function remainder(batch: Buffer[], written: number): Buffer[] {
  let skip = written;
  let i = 0;
  while (i < batch.length && skip >= batch[i].length) skip -= batch[i++].length;
  if (i === batch.length) return [];
  return [batch[i].subarray(skip), ...batch.slice(i + 1)];
}
