import { HEADER_SIZE } from './constants.js';
import { type RawFrame, checkFrameHeader, payloadLengthOf } from './decoder.js';
import { MalformedFrameError } from './errors.js';

/**
 * The largest WebSocket message of joined frames on /cp's framed dialect (spec §12.10.1): a
 * message of several frames is at most this long. Every server accepts a frame this large.
 */
export const JOINED_MESSAGE_LIMIT = 65536;

/** Frames at most this long are joined with their neighbours; a longer one travels alone. */
export const JOINABLE_FRAME_SIZE = 16384;

/**
 * Each whole frame of a message that holds one or more (spec §12.10.1), in order; unknown
 * ignorable types are skipped. A message that ends inside a frame is malformed. The frames
 * are views of `message`.
 */
export function forEachFrame(message: Uint8Array, maxPayload: number, onFrame: (frame: RawFrame) => void): void {
  if (message.length === 0) throw new MalformedFrameError('an empty message holds no frame');
  for (let at = 0; at < message.length; ) {
    if (message.length - at < HEADER_SIZE) {
      throw new MalformedFrameError(`the message ends ${message.length - at} bytes into a frame header; frames are never split across messages`);
    }
    const header = message.subarray(at, at + HEADER_SIZE);
    const length = payloadLengthOf(header);
    const type = header[HEADER_SIZE - 1];
    const deliver = checkFrameHeader(type, length, maxPayload);
    const end = at + HEADER_SIZE + length;
    if (end > message.length) {
      throw new MalformedFrameError(`a frame declares ${length} payload bytes but the message holds ${message.length - at - HEADER_SIZE} more; frames are never split across messages`);
    }
    if (deliver) onFrame({ type, payload: message.subarray(at + HEADER_SIZE, end), bytes: message.subarray(at, end) });
    at = end;
  }
}

/**
 * Joins small frames into messages of up to JOINED_MESSAGE_LIMIT bytes, in order: a frame
 * longer than JOINABLE_FRAME_SIZE first sends what is joined, then goes alone. The owner
 * decides when a message is complete (`flush`): at the end of what it has to send now.
 * Joined frames go in a new array; a frame sent alone is the caller's own.
 */
export class FrameJoiner {
  readonly #send: (message: Uint8Array) => void;
  readonly #buffer = new Uint8Array(JOINED_MESSAGE_LIMIT);
  #length = 0;

  constructor(send: (message: Uint8Array) => void) {
    this.#send = send;
  }

  /** Bytes joined and not yet sent. */
  get pending(): number {
    return this.#length;
  }

  /** A whole frame. */
  frame(frame: Uint8Array): void {
    if (frame.length > JOINABLE_FRAME_SIZE) {
      this.flush();
      this.#send(frame);
      return;
    }
    if (this.#length + frame.length > JOINED_MESSAGE_LIMIT) this.flush();
    this.#buffer.set(frame, this.#length);
    this.#length += frame.length;
  }

  /** A frame given as its header and payload. */
  data(header: Uint8Array, payload: Uint8Array): void {
    const length = header.length + payload.length;
    if (length > JOINABLE_FRAME_SIZE) {
      this.flush();
      const frame = new Uint8Array(length);
      frame.set(header, 0);
      frame.set(payload, header.length);
      this.#send(frame);
      return;
    }
    if (this.#length + length > JOINED_MESSAGE_LIMIT) this.flush();
    this.#buffer.set(header, this.#length);
    this.#buffer.set(payload, this.#length + header.length);
    this.#length += length;
  }

  /** Sends what is joined, if anything, as one message. */
  flush(): void {
    if (this.#length === 0) return;
    const message = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    this.#send(message);
  }
}
