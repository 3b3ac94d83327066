import { EventEmitter } from 'node:events';
import type { NativeSocket } from './addon.js';
import { errnoName, ioError, pollStatusError, VSOCK_UNAVAILABLE_ERRNOS, VsockError } from './errors.js';
import { FdStream, type FdStreamOptions } from './FdStream.js';

const READABLE = 1;
/** Connections accepted per readiness callback; the rest wait for the next loop turn (level-triggered). */
const ACCEPTS_PER_WAKEUP = 64;
/** After a failed accept (EMFILE...), pause this long instead of spinning on a socket that stays readable. */
const ACCEPT_RETRY_MS = 100;

export interface FdServer {
  on(event: 'connection', listener: (stream: FdStream) => void): this;
  /** An accept failed (EMFILE...); the server keeps listening and retries shortly. */
  on(event: 'error', listener: (error: VsockError) => void): this;
  on(event: 'close', listener: () => void): this;
  once(event: 'connection', listener: (stream: FdStream) => void): this;
  once(event: 'error', listener: (error: VsockError) => void): this;
  once(event: 'close', listener: () => void): this;
}

/**
 * Accepts connections on a listening socket fd and emits each as an FdStream. The accept
 * code VsockServer and the Unix test server share. close() stops accepting and releases
 * the address at once; connections already accepted stay open (as with net.Server).
 */
export class FdServer extends EventEmitter {
  #socket: NativeSocket | null;
  #retryTimer: NodeJS.Timeout | null = null;
  readonly #streamOptions: FdStreamOptions;

  protected constructor(socket: NativeSocket, streamOptions: FdStreamOptions = {}) {
    super();
    this.#socket = socket;
    this.#streamOptions = streamOptions;
    socket.onready = (status) => this.#acceptPending(status);
    socket.poll(READABLE);
  }

  get listening(): boolean {
    return this.#socket !== null;
  }

  close(): Promise<void> {
    const socket = this.#socket;
    if (socket) {
      this.#socket = null;
      if (this.#retryTimer) clearTimeout(this.#retryTimer);
      socket.close();
      process.nextTick(() => this.emit('close'));
    }
    return Promise.resolve();
  }

  #acceptPending(status: number): void {
    if (status < 0) return this.#failed(pollStatusError(status, 'waiting for connections'));
    for (let i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
      const socket = this.#socket;
      if (!socket) return;
      let peer: NativeSocket | null;
      try {
        peer = socket.accept();
      } catch (error) {
        return this.#failed(ioError(error, 'accepting a connection'));
      }
      if (peer === null) return;
      this.emit('connection', new FdStream(peer, this.#streamOptions));
    }
  }

  #failed(error: VsockError): void {
    const socket = this.#socket;
    if (!socket) return;
    socket.poll(0);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#socket?.poll(READABLE);
    }, ACCEPT_RETRY_MS);
    this.emit('error', error);
  }
}

/** A failed socket/bind/listen for `address` as a VsockError that says what to do. */
export function listenError(error: unknown, address: string): VsockError {
  const errno = errnoName(error);
  const details = { errno, syscall: (error as { syscall?: string }).syscall, cause: error };
  if (errno === 'EADDRINUSE') {
    return new VsockError('VSOCK_ADDRESS_IN_USE', `${address} is already in use: stop the other listener or choose another port`, details);
  }
  if (errno !== undefined && VSOCK_UNAVAILABLE_ERRNOS.has(errno)) {
    return new VsockError('VSOCK_UNAVAILABLE', `cannot listen on ${address}: this kernel has no AF_VSOCK support (${errno}); load the vsock modules (vmw_vsock_virtio_transport in a guest, vhost_vsock on a host)`, details);
  }
  if (errno === 'EACCES') {
    return new VsockError('VSOCK_IO', `cannot listen on ${address}: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE; a socket path needs a writable directory)`, details);
  }
  if (errno === 'EADDRNOTAVAIL') {
    return new VsockError('VSOCK_IO', `cannot listen on ${address}: that CID is not this machine's; listen on VMADDR_CID_ANY (the default)`, details);
  }
  return ioError(error, `listening on ${address}`);
}
