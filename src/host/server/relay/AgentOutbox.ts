import { FrameType, HEADER_SIZE, MAX_DATA_CHUNK, writeHeader } from '../../../wire/index.js';

/** One write for the agent's connection: whole frames, and the Stdin payload bytes among them. */
export interface OutboxBatch {
  readonly bytes: Uint8Array;
  readonly stdinBytes: number;
}

/** Largest block frames are gathered in (one write each): a whole 64 KiB Stdin frame. */
const BLOCK_SIZE = MAX_DATA_CHUNK + HEADER_SIZE;
/**
 * First block opened for Stdin in a turn: what is typed joins there. Each block that Stdin
 * fills makes the next one twice as large, up to BLOCK_SIZE, so a stream of writes is still
 * joined into 64 KiB frames. Other frames get blocks of their own size, so a session's
 * ExecStart no longer costs a 64 KiB block (1,000 sessions started at once: 64 MB allocated
 * and zeroed for nothing).
 */
export const MIN_STDIN_BLOCK = 4 * 1024;

/**
 * Frames from the client waiting for the agent's connection: gathered into blocks of up to
 * 64 KiB, one copy out of the WebSocket's message each, and handed over a block per write.
 * Consecutive Stdin frames are joined into one (spec §8.1: the same bytes in the same order),
 * so a client sending one-byte frames costs the server about a byte per byte, not a queued
 * write per frame. What waits is counted as the spec counts credit: Stdin payload bytes; the
 * other frames (Ping, Signal, WindowSize…) by number.
 */
export class AgentOutbox {
  /** The data frames joined here: Stdin (exec), or an upload's file bytes (UploadData, spec §12.7). */
  readonly #dataType: number;
  /** Blocks filled, not yet taken. */
  readonly #full: OutboxBatch[] = [];
  #block: Uint8Array | null = null;
  #fill = 0;
  #blockStdin = 0;
  /** Where the open Stdin frame's header is in the block, or -1. */
  #stdinHeaderAt = -1;
  #stdinBytes = 0;
  #controlFrames = 0;
  /** Size of the next block opened for Stdin. */
  #stdinBlockSize = MIN_STDIN_BLOCK;

  constructor(dataType: number = FrameType.Stdin) {
    this.#dataType = dataType;
  }

  /** Stdin payload bytes waiting. */
  get stdinBytes(): number {
    return this.#stdinBytes;
  }

  /** Frames other than Stdin waiting. */
  get controlFrames(): number {
    return this.#controlFrames;
  }

  get empty(): boolean {
    return this.#full.length === 0 && this.#fill === 0;
  }

  /** Copies a whole frame other than Stdin in (`frame` may be a view that dies after this call). */
  pushFrame(frame: Uint8Array): void {
    this.#closeStdinRun();
    this.#room(frame.length, frame.length);
    this.#block!.set(frame, this.#fill);
    this.#fill += frame.length;
    this.#controlFrames++;
  }

  /** Everything waiting, a block at a time, in order; the outbox is empty afterwards. */
  take(): OutboxBatch[] {
    this.#closeBlock();
    const batches = this.#full.splice(0);
    this.#stdinBytes = 0;
    this.#controlFrames = 0;
    this.#stdinBlockSize = MIN_STDIN_BLOCK;
    return batches;
  }

  /** Copies Stdin payload in, joined to the Stdin just before it if nothing came between. */
  pushStdin(payload: Uint8Array): void {
    this.#stdinBytes += payload.length;
    let at = 0;
    do {
      if (this.#stdinHeaderAt < 0) {
        this.#room(HEADER_SIZE + 1, Math.max(this.#stdinBlockSize, HEADER_SIZE + payload.length - at));
        this.#stdinHeaderAt = this.#fill;
        this.#fill += HEADER_SIZE;
      }
      const block = this.#block!;
      const n = Math.min(payload.length - at, block.length - this.#fill);
      block.set(payload.subarray(at, at + n), this.#fill);
      this.#fill += n;
      this.#blockStdin += n;
      at += n;
      if (this.#fill === block.length) {
        this.#stdinBlockSize = Math.min(BLOCK_SIZE, 2 * block.length);
        this.#closeBlock();
      }
    } while (at < payload.length);
  }

  /**
   * Makes room for `bytes` in the open block, closing it first if they do not fit; a new
   * block holds `wanted` bytes (at most BLOCK_SIZE, at least `bytes`).
   */
  #room(bytes: number, wanted: number): void {
    if (this.#block !== null && this.#block.length - this.#fill < bytes) this.#closeBlock();
    if (this.#block === null) {
      this.#block = new Uint8Array(Math.max(bytes, Math.min(BLOCK_SIZE, wanted)));
      this.#fill = 0;
    }
  }

  #closeStdinRun(): void {
    if (this.#stdinHeaderAt < 0) return;
    const at = this.#stdinHeaderAt;
    writeHeader(this.#block!, at, this.#dataType, this.#fill - at - HEADER_SIZE);
    this.#stdinHeaderAt = -1;
  }

  #closeBlock(): void {
    this.#closeStdinRun();
    if (this.#block !== null && this.#fill > 0) {
      this.#full.push({ bytes: this.#block.subarray(0, this.#fill), stdinBytes: this.#blockStdin });
    }
    this.#block = null;
    this.#fill = 0;
    this.#blockStdin = 0;
  }
}
