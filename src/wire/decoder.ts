import {
  DEFAULT_MAX_PAYLOAD,
  FIXED_PAYLOAD_SIZE,
  FRAME_TYPE_NAMES,
  HEADER_SIZE,
  IGNORABLE_TYPE_BIT,
  MIN_PAYLOAD_SIZE,
} from './constants.js';
import {
  DecoderClosedError,
  FrameTooLargeError,
  MalformedFrameError,
  UnknownFrameTypeError,
} from './errors.js';

/** One frame cut from the byte stream. Both arrays are views; see FrameDecoder. */
export interface RawFrame {
  readonly type: number;
  /** The payload: `bytes` without its 5-byte header. */
  readonly payload: Uint8Array;
  /** The whole frame, header included, as it came off the wire (relay it unchanged). */
  readonly bytes: Uint8Array;
}

export interface FrameDecoderOptions {
  /** Largest payload accepted, checked from the header before anything is buffered. */
  maxPayload?: number;
}

/**
 * Validates a frame header (spec §2, §3.1 steps 2–4) and returns whether the frame is to be
 * delivered (false: an unknown ignorable type, to be skipped).
 */
export function checkFrameHeader(type: number, length: number, maxPayload: number): boolean {
  if (length > maxPayload) throw new FrameTooLargeError(length, maxPayload);
  if (FRAME_TYPE_NAMES[type] === undefined) {
    if ((type & IGNORABLE_TYPE_BIT) !== 0) return false;
    throw new UnknownFrameTypeError(type);
  }
  const fixed = FIXED_PAYLOAD_SIZE[type];
  if (fixed !== undefined && length !== fixed) {
    throw new MalformedFrameError(
      `${FRAME_TYPE_NAMES[type]} frame must have a ${fixed}-byte payload, not ${length} bytes`,
    );
  }
  const min = MIN_PAYLOAD_SIZE[type];
  if (min !== undefined && length < min) {
    throw new MalformedFrameError(
      `${FRAME_TYPE_NAMES[type]} frame needs at least ${min} payload bytes, got ${length}`,
    );
  }
  return true;
}

function readLength(b: Uint8Array, at: number): number {
  // Multiplication keeps the value unsigned (a << 24 would go negative).
  return b[at] * 0x1000000 + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
}

/** The type of an encoded frame, read from its header (frame or header alone). */
export function frameTypeOf(frame: Uint8Array): number {
  return frame[HEADER_SIZE - 1];
}

/** The payload length an encoded frame's header declares. */
export function payloadLengthOf(frame: Uint8Array): number {
  return readLength(frame, 0);
}

/**
 * Incremental frame decoder for a byte stream (spec §3.1).
 *
 * `push(chunk)` hands each complete frame to `onFrame` synchronously. A frame that lies
 * wholly inside one chunk is delivered as views of that chunk (no copy); only a frame that
 * spans chunks is assembled, once, into a buffer sized from its header after the header
 * passed the limit check. The decoder keeps no reference to a chunk after `push` returns,
 * so callers may reuse their buffers; delivered views stay valid as long as the caller's
 * chunk is not overwritten.
 *
 * The first error (a ProtocolError, or anything `onFrame` throws) is rethrown and the
 * decoder is dead: every later call throws DecoderClosedError.
 */
export class FrameDecoder {
  readonly maxPayload: number;
  readonly #onFrame: (frame: RawFrame) => void;
  readonly #header = new Uint8Array(HEADER_SIZE);
  #headerFill = 0;
  /** Frame being assembled across chunks (header included), or null. */
  #frame: Uint8Array | null = null;
  #frameFill = 0;
  #frameType = 0;
  /** Payload bytes still to discard of an ignored frame. */
  #skip = 0;
  #dead = false;

  constructor(onFrame: (frame: RawFrame) => void, options: FrameDecoderOptions = {}) {
    const max = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) {
      throw new RangeError(`maxPayload must be an integer from 0 to 4294967295, got ${max}`);
    }
    this.maxPayload = max;
    this.#onFrame = onFrame;
  }

  /** Bytes of an incomplete frame currently held. */
  get buffered(): number {
    return this.#frame !== null ? this.#frameFill : this.#headerFill;
  }

  /** True after an error; no more input is accepted. */
  get closed(): boolean {
    return this.#dead;
  }

  push(chunk: Uint8Array): void {
    if (this.#dead) throw new DecoderClosedError();
    try {
      this.#consume(chunk);
    } catch (err) {
      this.#dead = true;
      this.#frame = null;
      throw err;
    }
  }

  /** The stream ended: an incomplete frame is a truncation error. */
  end(): void {
    if (this.#dead) throw new DecoderClosedError();
    if (this.#headerFill > 0 || this.#frame !== null || this.#skip > 0) {
      this.#dead = true;
      throw new MalformedFrameError('the stream ended in the middle of a frame');
    }
  }

  #consume(chunk: Uint8Array): void {
    let off = 0;
    const end = chunk.length;
    while (off < end) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, end - off);
        this.#skip -= n;
        off += n;
        continue;
      }
      if (this.#frame !== null) {
        const frame = this.#frame;
        const n = Math.min(frame.length - this.#frameFill, end - off);
        frame.set(chunk.subarray(off, off + n), this.#frameFill);
        this.#frameFill += n;
        off += n;
        if (this.#frameFill === frame.length) {
          this.#frame = null;
          this.#deliver(this.#frameType, frame);
        }
        continue;
      }
      if (this.#headerFill === 0 && end - off >= HEADER_SIZE) {
        // Fast path: the header is in this chunk.
        const length = readLength(chunk, off);
        const type = chunk[off + 4];
        const total = HEADER_SIZE + length;
        if (!checkFrameHeader(type, length, this.maxPayload)) {
          off += HEADER_SIZE;
          this.#skip = length;
          continue;
        }
        if (end - off >= total) {
          this.#deliver(type, chunk.subarray(off, off + total));
          off += total;
        } else {
          this.#startAssembly(type, chunk.subarray(off, end), total);
          off = end;
        }
        continue;
      }
      // The header itself is split across chunks.
      const n = Math.min(HEADER_SIZE - this.#headerFill, end - off);
      this.#header.set(chunk.subarray(off, off + n), this.#headerFill);
      this.#headerFill += n;
      off += n;
      if (this.#headerFill < HEADER_SIZE) continue;
      this.#headerFill = 0;
      const length = readLength(this.#header, 0);
      const type = this.#header[4];
      if (!checkFrameHeader(type, length, this.maxPayload)) {
        this.#skip = length;
        continue;
      }
      this.#startAssembly(type, this.#header, HEADER_SIZE + length);
      if (length === 0) {
        const frame = this.#frame!;
        this.#frame = null;
        this.#deliver(type, frame);
      }
    }
  }

  #startAssembly(type: number, head: Uint8Array, total: number): void {
    // `total` was bounded by checkFrameHeader, so this allocation is within the limit.
    const frame = new Uint8Array(total);
    frame.set(head, 0);
    this.#frame = frame;
    this.#frameFill = head.length;
    this.#frameType = type;
  }

  #deliver(type: number, bytes: Uint8Array): void {
    this.#onFrame({ type, payload: bytes.subarray(HEADER_SIZE), bytes });
  }
}

/**
 * Decodes exactly one frame that fills `message` (the WebSocket carrier, spec §8.2).
 * Returns null for an ignorable unknown type.
 */
export function decodeSingleFrame(
  message: Uint8Array,
  maxPayload: number = DEFAULT_MAX_PAYLOAD,
): RawFrame | null {
  if (message.length < HEADER_SIZE) {
    throw new MalformedFrameError(
      `a message of ${message.length} bytes is shorter than a frame header (${HEADER_SIZE} bytes)`,
    );
  }
  const length = readLength(message, 0);
  const type = message[4];
  if (!checkFrameHeader(type, length, maxPayload)) {
    if (message.length !== HEADER_SIZE + length) {
      throw new MalformedFrameError(frameLengthMismatch(length, message.length));
    }
    return null;
  }
  if (message.length !== HEADER_SIZE + length) {
    throw new MalformedFrameError(frameLengthMismatch(length, message.length));
  }
  return { type, payload: message.subarray(HEADER_SIZE), bytes: message };
}

function frameLengthMismatch(length: number, messageLength: number): string {
  return `frame header declares ${length} payload bytes but the message carries ${messageLength - HEADER_SIZE}; send exactly one frame per message`;
}

/** Collects every frame of a complete byte sequence; for tests and tools. */
export function decodeAll(bytes: Uint8Array, options?: FrameDecoderOptions): RawFrame[] {
  const frames: RawFrame[] = [];
  const decoder = new FrameDecoder((f) => frames.push(f), options);
  decoder.push(bytes);
  decoder.end();
  return frames;
}
