import type { Duplex } from 'node:stream';
import { ExecSessionState, FrameType, MAX_DATA_CHUNK, encodeHeader } from '../../wire/index.js';

export type OutputStream = typeof FrameType.Stdout | typeof FrameType.Stderr;

/**
 * The agent's half of one connection's exec session: frames out, in order, with the
 * socket's own flow control. Data frames go out as a 5-byte header and the payload in one
 * corked write (writev): the payload is never copied. `write` returns false once the socket
 * is backed up; the caller stops producing until `onDrain` fires.
 */
export class FrameWriter {
  readonly #socket: Duplex;
  readonly #state: ExecSessionState;

  constructor(socket: Duplex, state: ExecSessionState) {
    this.#socket = socket;
    this.#state = state;
  }

  /** False while frames are waiting in the socket's buffer beyond its high-water mark. */
  get backedUp(): boolean {
    return this.#socket.writableNeedDrain;
  }

  get open(): boolean {
    return this.#socket.writable && !this.#socket.destroyed;
  }

  /** A complete frame (Started, Exit, Error, Pong…). Dropped once the session has ended. */
  send(type: number, frame: Uint8Array): boolean {
    if (!this.open || this.#state.ended || !this.#state.agentFrame(type)) return !this.backedUp;
    return this.#socket.write(frame);
  }

  /** Output bytes as Stdout or Stderr frames of at most 64 KiB each (spec §2.3). */
  sendData(type: OutputStream, data: Uint8Array): boolean {
    let ok = !this.backedUp;
    for (let at = 0; at < data.length; at += MAX_DATA_CHUNK) {
      const chunk = data.subarray(at, Math.min(at + MAX_DATA_CHUNK, data.length));
      if (!this.open || this.#state.ended || !this.#state.agentFrame(type)) return ok;
      this.#socket.cork();
      this.#socket.write(encodeHeader(type, chunk.length));
      ok = this.#socket.write(chunk);
      this.#socket.uncork();
    }
    return ok;
  }
}
