import type { RawFrame } from '../../wire/index.js';

/** What a transport reports to the session on top of it. */
export interface FrameTransportEvents {
  /** A frame, in order. Its arrays may be views of the transport's buffers: copy what you keep. */
  frame(frame: RawFrame): void;
  /** The connection ended (`err`: why, if not cleanly). Called once. */
  close(err?: Error): void;
  /** A send that returned false has drained. */
  drain(): void;
  /** Stdin credit grew (WebSocket carrier). */
  credit(): void;
}

/**
 * A connection that carries whole frames (nats.js style): a byte stream (vsock, via
 * StreamFrameTransport) or a WebSocket (one frame per message, WebSocketFrameTransport).
 * The exec session on top knows nothing of which.
 */
export interface FrameTransport {
  /**
   * Hands over the events, once. Nothing is lost before: frames (and an end) that arrived
   * earlier are delivered now, in order.
   */
  attach(events: FrameTransportEvents): void;
  /** Sends a small frame in one buffer. False: backed up, wait for `drain`. */
  send(frame: Uint8Array): boolean;
  /** Sends a data frame (header + payload) without copying the payload where the carrier allows. */
  sendData(header: Uint8Array, payload: Uint8Array): boolean;
  /**
   * Stdin bytes that may be sent now (the WebSocket carrier's credit, spec §8.1.1);
   * Infinity where the carrier has its own flow control.
   */
  readonly stdinCredit: number;
  /**
   * The carrier sends each frame as one buffer (the WebSocket: a message per frame), so that
   * sendData joins header and payload into a new one; false where it writes them as given.
   */
  readonly framesInOneBuffer: boolean;
  pauseReading(): void;
  resumeReading(): void;
  /** Closes gracefully (the peer sees a normal end). */
  close(): void;
  /** Tears the connection down at once; `close(err)` is reported with `err`. */
  destroy(err?: Error): void;
}

/**
 * What every transport does alike: holds what arrives before `attach`, reports the end
 * once, and stops delivering after it.
 */
export abstract class FrameTransportBase implements FrameTransport {
  abstract readonly stdinCredit: number;
  abstract readonly framesInOneBuffer: boolean;
  #events: FrameTransportEvents | null = null;
  #early: RawFrame[] = [];
  #earlyEnd: { err?: Error } | null = null;
  #closed = false;

  abstract send(frame: Uint8Array): boolean;
  abstract sendData(header: Uint8Array, payload: Uint8Array): boolean;
  abstract pauseReading(): void;
  abstract resumeReading(): void;
  abstract close(): void;
  abstract destroy(err?: Error): void;

  /** The connection has ended (reported, or about to be). */
  get closed(): boolean {
    return this.#closed;
  }

  attach(events: FrameTransportEvents): void {
    if (this.#events) throw new Error('a FrameTransport carries one session: attach() was already called');
    this.#events = events;
    const early = this.#early;
    this.#early = [];
    for (const frame of early) events.frame(frame);
    if (this.#earlyEnd) events.close(this.#earlyEnd.err);
    this.attached();
  }

  /** Called once a session is attached (a transport that waited may start reading now). */
  protected attached(): void {}

  protected deliver(frame: RawFrame): void {
    if (this.#closed) return;
    if (this.#events) this.#events.frame(frame);
    // Before attach: keep a copy, the transport may reuse its buffers.
    else this.#early.push({ type: frame.type, payload: frame.payload.slice(), bytes: frame.bytes.slice() });
  }

  /** The connection ended; reported once. */
  protected finish(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#events) this.#events.close(err);
    else this.#earlyEnd = { err };
  }

  protected drained(): void {
    this.#events?.drain();
  }

  protected credited(): void {
    this.#events?.credit();
  }
}
