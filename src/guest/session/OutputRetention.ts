import { FrameType, type OverflowPolicy, UnexpectedFrameError } from '../../wire/index.js';
import type { OutputStream } from './FrameWriter.js';

/** A chunk as the command wrote it, kept until the client acknowledges it. */
interface Retained {
  /** Order across both streams, so that a replay interleaves them as they were written. */
  readonly seq: number;
  /** Offset of `data[0]` in its stream. */
  offset: number;
  data: Uint8Array;
}

/** One stream's retained bytes: [start, end) of the stream, in chunks. */
class StreamRetention {
  readonly chunks: Retained[] = [];
  /** First offset still held: everything before was acknowledged or dropped. */
  start = 0;
  /** Bytes the command has written to this stream in total. */
  end = 0;
  /** Bytes dropped unacknowledged (overflow drop). */
  dropped = 0;

  get held(): number {
    return this.end - this.start;
  }

  /** Forgets everything before `offset` (acknowledged, or dropped when `drop`). */
  trimTo(offset: number, drop: boolean): void {
    if (offset <= this.start) return;
    if (drop) this.dropped += offset - this.start;
    this.start = offset;
    const chunks = this.chunks;
    let n = 0;
    while (n < chunks.length && chunks[n].offset + chunks[n].data.length <= offset) n++;
    chunks.splice(0, n);
    const head = chunks[0];
    if (head !== undefined && head.offset < offset) {
      head.data = head.data.subarray(offset - head.offset);
      head.offset = offset;
    }
  }
}

/** What a resume gets: how much of the asked-for output is gone, and the rest in order. */
export interface Replay {
  stdoutLost: number;
  stderrLost: number;
  /** Chunks from the client's offsets on, in the order the command wrote them. */
  chunks: Array<{ stream: OutputStream; data: Uint8Array }>;
}

/**
 * The output a lingering session keeps until its client acknowledges it (spec §10.3): up to
 * `windowBytes` per stream. The chunks are the very buffers read from the command and sent
 * on the connection, kept by reference (no copy). When a stream holds its window, the
 * session pauses the command (overflow pause) or, with overflow drop, this drops the
 * oldest bytes and counts them.
 */
export class OutputRetention {
  readonly windowBytes: number;
  readonly overflow: OverflowPolicy;
  readonly #stdout = new StreamRetention();
  readonly #stderr = new StreamRetention();
  #seq = 0;

  constructor(windowBytes: number, overflow: OverflowPolicy) {
    this.windowBytes = windowBytes;
    this.overflow = overflow;
  }

  #of(stream: OutputStream): StreamRetention {
    return stream === FrameType.Stdout ? this.#stdout : this.#stderr;
  }

  /** Bytes the command has written to `stream`: its offset, and the count Exit reports. */
  written(stream: OutputStream): number {
    return this.#of(stream).end;
  }

  /** Keeps a chunk the command wrote (sent now, or later by a resume). */
  add(stream: OutputStream, data: Uint8Array): void {
    if (data.length === 0) return;
    const s = this.#of(stream);
    s.chunks.push({ seq: this.#seq++, offset: s.end, data });
    s.end += data.length;
    if (this.overflow === 'drop' && s.held > this.windowBytes) s.trimTo(s.end - this.windowBytes, true);
  }

  /** True when a stream holds its whole window: with overflow pause, the command must wait. */
  get full(): boolean {
    return this.#stdout.held >= this.windowBytes || this.#stderr.held >= this.windowBytes;
  }

  /** OutputAck (§10.4): the client has everything before these offsets. */
  acknowledge(stdoutBytes: number, stderrBytes: number): void {
    for (const [s, n, name] of [
      [this.#stdout, stdoutBytes, 'stdout'],
      [this.#stderr, stderrBytes, 'stderr'],
    ] as const) {
      if (n > s.end) throw new UnexpectedFrameError(`OutputAck acknowledges ${n} ${name} bytes, but only ${s.end} were sent`);
      s.trimTo(n, false);
    }
  }

  /**
   * What a client that has `stdoutBytes` and `stderrBytes` gets again (§10.6): bytes before
   * what is still held are lost; throws when it claims more than was written.
   */
  replayFrom(stdoutBytes: number, stderrBytes: number): Replay {
    const out = this.#stdout;
    const err = this.#stderr;
    const from = [Math.max(stdoutBytes, out.start), Math.max(stderrBytes, err.start)];
    const pick = (s: StreamRetention, offset: number, stream: OutputStream) =>
      s.chunks
        .filter((c) => c.offset + c.data.length > offset)
        .map((c) => ({ seq: c.seq, stream, data: c.offset < offset ? c.data.subarray(offset - c.offset) : c.data }));
    const chunks = [...pick(out, from[0], FrameType.Stdout), ...pick(err, from[1], FrameType.Stderr)]
      .sort((a, b) => a.seq - b.seq)
      .map(({ stream, data }) => ({ stream, data }));
    return { stdoutLost: from[0] - stdoutBytes, stderrLost: from[1] - stderrBytes, chunks };
  }

  /** Whether a client may claim these offsets: not beyond what was written. */
  covers(stdoutBytes: number, stderrBytes: number): boolean {
    return stdoutBytes <= this.#stdout.end && stderrBytes <= this.#stderr.end;
  }
}
