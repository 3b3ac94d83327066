import type { Duplex } from 'node:stream';
import { FrameDecoder, type FrameDecoderOptions, ProtocolError } from '../../wire/index.js';
import { ClientProtocolError, ConnectionLostError } from './errors.js';
import { FrameTransportBase } from './FrameTransport.js';

/**
 * Frames over a byte stream (the vsock carrier, spec §7): decoded incrementally, data
 * frames written as header + payload in one corked write (no copy). Nothing is read before
 * a session is attached, so no byte is lost in between.
 */
export class StreamFrameTransport extends FrameTransportBase {
  readonly stdinCredit = Infinity;
  readonly framesInOneBuffer = false;
  readonly #stream: Duplex;
  readonly #decoder: FrameDecoder;

  constructor(stream: Duplex, options: FrameDecoderOptions = {}) {
    super();
    this.#stream = stream;
    this.#decoder = new FrameDecoder((frame) => this.deliver(frame), options);
    stream.on('data', (chunk: Buffer) => this.#received(chunk));
    stream.on('drain', () => this.drained());
    stream.on('error', (err) => this.finish(new ConnectionLostError(err.message, err)));
    stream.on('end', () => this.#ended());
    stream.on('close', () => this.finish(new ConnectionLostError('the connection closed')));
    // 'data' listeners switch a stream to flowing: hold it until a session is attached.
    stream.pause();
    if (stream.destroyed) this.finish(new ConnectionLostError('the connection closed before the session began'));
  }

  protected override attached(): void {
    this.#stream.resume();
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    return this.#stream.write(frame);
  }

  sendData(header: Uint8Array, payload: Uint8Array): boolean {
    if (this.closed) return false;
    this.#stream.cork();
    this.#stream.write(header);
    const ok = this.#stream.write(payload);
    this.#stream.uncork();
    return ok;
  }

  pauseReading(): void {
    this.#stream.pause();
  }

  resumeReading(): void {
    if (!this.closed) this.#stream.resume();
  }

  close(): void {
    if (!this.closed) this.#stream.end();
  }

  destroy(err?: Error): void {
    if (this.closed) return;
    this.finish(err);
    this.#stream.destroy();
  }

  #received(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.#decoder.push(chunk);
    } catch (err) {
      this.destroy(err instanceof ProtocolError ? new ClientProtocolError(`the agent broke the protocol: ${err.message}`, err) : (err as Error));
    }
  }

  /** End of stream: clean between frames, truncation inside one. */
  #ended(): void {
    try {
      this.#decoder.end();
      this.finish();
    } catch (err) {
      this.finish(new ConnectionLostError(`the stream ended inside a frame (${(err as Error).message})`, err));
    }
  }
}
