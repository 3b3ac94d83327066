import { Duplex } from 'node:stream';
import { loadAddon, type NativeSocket } from './addon.js';
import { errnoName, ioError, pollStatusError } from './errors.js';

export interface FdStreamOptions {
  /** Keep the write side open after the peer's end of stream (default false, as net.Socket). */
  readonly allowHalfOpen?: boolean;
  readonly readableHighWaterMark?: number;
  readonly writableHighWaterMark?: number;
}

// Poll bits, as libuv's UV_READABLE / UV_WRITABLE (also exported by the addon).
const READABLE = 1;
const WRITABLE = 2;

/** Bytes asked of one read(); a chunk at least half this size is handed on as is, smaller ones are copied. */
const READ_SIZE = 64 * 1024;
/** Reads per readiness callback, so that one busy socket does not starve the others (epoll is level-triggered: it comes back). */
const READS_PER_WAKEUP = 16;

/** One read buffer shared by all streams: reads are synchronous, and a buffer is only kept when handed on. */
let spareReadBuffer: Buffer | null = null;

interface PendingWrite {
  readonly buffers: Buffer[];
  /** buffers[0..index) are written; buffers[index] may be the unwritten rest of one. */
  index: number;
  readonly callback: (error?: Error | null) => void;
}

/**
 * A nonblocking stream socket fd (AF_VSOCK, or AF_UNIX for tests) as a Duplex.
 *
 * Backpressure both ways: while the readable side is full (push() returned false) the fd is
 * not polled for reading, so the kernel's buffers fill and the peer's writes stop; a write
 * the socket cannot take waits for it to become writable before Writable asks for more.
 * End of stream from the peer ends the readable side (and, without allowHalfOpen, our write
 * side); end() shuts down our write side; destroy() closes the fd, once. Failures are
 * VsockError VSOCK_IO with the errno (ECONNRESET, EPIPE, ...).
 */
export class FdStream extends Duplex {
  readonly #socket: NativeSocket;
  /** What the poll handle watches now. */
  #polled = 0;
  /** Readable asked for data and has not been refused by push() since. */
  #reading = false;
  #pendingWrite: PendingWrite | null = null;

  /**
   * @param fd a connected stream socket descriptor, which this stream now owns (it is made
   *   nonblocking and closed on destroy); this layer's own code passes an opened NativeSocket.
   */
  constructor(fd: number | NativeSocket, options: FdStreamOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    });
    if (typeof fd === 'number') {
      const { Socket } = loadAddon();
      try {
        this.#socket = new Socket(fd);
      } catch (error) {
        throw ioError(error, `taking fd ${fd} as a socket`);
      }
    } else {
      this.#socket = fd;
    }
    this.#socket.onready = (status, events) => this.#onReady(status, events);
  }

  /** The descriptor; -1 once the stream is destroyed. */
  get fd(): number {
    return this.#socket.fd;
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    this.#readAvailable();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#startWrite([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    this.#startWrite(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.#socket.shutdown();
    } catch (error) {
      // ENOTCONN: the connection is already gone both ways; there is nothing left to end.
      if (errnoName(error) !== 'ENOTCONN') return callback(ioError(error, 'ending the write side'));
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    this.#reading = false;
    this.#polled = 0;
    this.#socket.close();
    callback(error);
    // The write in flight did not happen: say so (after 'close', so it does not become the stream's error).
    if (pending) process.nextTick(pending.callback, ioError(Object.assign(new Error('canceled'), { code: 'ECANCELED' }), 'writing'));
  }

  #onReady(status: number, events: number): void {
    if (this.destroyed) return;
    if (status < 0) {
      this.#polled = 0; // the native side stopped polling
      this.destroy(pollStatusError(status, 'waiting on the socket'));
      return;
    }
    if (events & WRITABLE && this.#pendingWrite) this.#flush();
    if (events & READABLE && this.#reading) this.#readAvailable();
  }

  #watch(events: number, on: boolean): void {
    const next = on ? this.#polled | events : this.#polled & ~events;
    if (next === this.#polled || this.destroyed) return;
    this.#polled = next;
    this.#socket.poll(next);
  }

  #readAvailable(): void {
    for (let i = 0; i < READS_PER_WAKEUP; i++) {
      if (!this.#reading || this.destroyed) return;
      const buffer = spareReadBuffer ?? Buffer.allocUnsafeSlow(READ_SIZE);
      spareReadBuffer = null;
      let n: number;
      try {
        n = this.#socket.read(buffer);
      } catch (error) {
        spareReadBuffer = buffer;
        this.destroy(ioError(error, 'reading from the socket'));
        return;
      }
      if (n <= 0) {
        spareReadBuffer = buffer;
        if (n < 0) return this.#watch(READABLE, true);
        this.#reading = false;
        this.#watch(READABLE, false);
        this.push(null);
        return;
      }
      let chunk: Buffer;
      if (n >= READ_SIZE / 2) {
        chunk = buffer.subarray(0, n);
      } else {
        chunk = Buffer.allocUnsafe(n);
        buffer.copy(chunk, 0, 0, n);
        spareReadBuffer = buffer;
      }
      if (!this.push(chunk)) {
        this.#reading = false;
        this.#watch(READABLE, false);
        return;
      }
    }
    this.#watch(READABLE, true);
  }

  #startWrite(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    // Writable hands over one batch at a time, after the previous one's callback: nothing is pending here.
    this.#pendingWrite = { buffers, index: 0, callback };
    this.#flush();
  }

  /** Writes what the socket takes; waits for writable when it is full; calls back when all is written. */
  #flush(): void {
    const pending = this.#pendingWrite;
    if (!pending) return;
    const { buffers } = pending;
    while (pending.index < buffers.length) {
      let written: number;
      try {
        written = this.#socket.writev(buffers, pending.index);
      } catch (error) {
        this.#pendingWrite = null;
        this.#watch(WRITABLE, false);
        pending.callback(ioError(error, 'writing to the socket'));
        return;
      }
      if (written < 0) return this.#watch(WRITABLE, true);
      // Drop what went out: whole buffers (empty ones too), then the front of a partly written one.
      while (pending.index < buffers.length && written >= buffers[pending.index].length) {
        written -= buffers[pending.index].length;
        pending.index++;
      }
      if (written > 0) buffers[pending.index] = buffers[pending.index].subarray(written);
    }
    this.#pendingWrite = null;
    this.#watch(WRITABLE, false);
    pending.callback();
  }
}

