import type { NativeSocket } from './addon.js';
import { errnoName, ioError, pollStatusAsSystemError, VSOCK_UNAVAILABLE_ERRNOS, VsockError } from './errors.js';
import { FdStream, type FdStreamOptions } from './FdStream.js';

const WRITABLE = 2;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ConnectWait {
  /** Names the peer in messages, e.g. "vsock port 2222 of CID 3". */
  readonly target: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly streamOptions?: FdStreamOptions;
}

export function abortedError(target: string, reason?: unknown): VsockError {
  return new VsockError('VSOCK_ABORTED', `connecting to ${target} was aborted`, reason === undefined ? {} : { cause: reason });
}

/** A failed connect (at once, or reported later through SO_ERROR) as a VsockError that says what to do. */
export function connectError(error: unknown, target: string): VsockError {
  const errno = errnoName(error);
  const details = { errno, syscall: (error as { syscall?: string }).syscall, cause: error };
  switch (errno) {
    // The native module's own copy of the safety rule (refuseForbiddenCid runs first, so rarely seen).
    case 'FORBIDDEN_CID':
      return new VsockError('VSOCK_FORBIDDEN_CID', `refusing to connect to ${target}: the host, the wildcard or this machine's own CID`, details);
    // vsock answers a port nobody listens on with a reset, where TCP and Unix sockets say refused.
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'ENOENT':
      return new VsockError('VSOCK_CONNECT_REFUSED', `nothing is listening on ${target} (${errno}): is the agent running yet? retry, or check the port`, details);
    case 'ETIMEDOUT':
      return new VsockError('VSOCK_CONNECT_TIMEOUT', `the kernel gave up connecting to ${target} (ETIMEDOUT): is the VM running and its vsock device up?`, details);
    case 'ENODEV':
    case 'EHOSTUNREACH':
      return new VsockError('VSOCK_IO', `no VM is reachable at ${target} (${errno}): is the instance running, with that CID?`, details);
  }
  if (errno !== undefined && VSOCK_UNAVAILABLE_ERRNOS.has(errno)) {
    return new VsockError('VSOCK_UNAVAILABLE', `cannot connect to ${target}: this kernel has no AF_VSOCK support (${errno}); load the vhost_vsock module`, details);
  }
  return ioError(error, `connecting to ${target}`);
}

/**
 * Waits for a nonblocking connect to finish (the socket turns writable; SO_ERROR says how it
 * went) and returns the connected socket as an FdStream. On timeout, abort or failure the
 * socket is closed and the promise rejects with VSOCK_CONNECT_TIMEOUT, VSOCK_ABORTED or the
 * connect error.
 */
export function awaitConnected(socket: NativeSocket, pending: boolean, wait: ConnectWait): Promise<FdStream> {
  if (!pending) return Promise.resolve(new FdStream(socket, wait.streamOptions));
  const timeoutMs = wait.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const { signal, target } = wait;
  if (signal?.aborted) {
    socket.close();
    return Promise.reject(abortedError(target, signal.reason));
  }
  return new Promise((resolve, reject) => {
    const finish = (error: VsockError | null): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.onready = undefined;
      socket.poll(0);
      if (error) {
        socket.close();
        reject(error);
      } else {
        resolve(new FdStream(socket, wait.streamOptions));
      }
    };
    const onAbort = (): void => finish(abortedError(target, signal?.reason));
    socket.onready = (status) => {
      if (status < 0) return finish(connectError(pollStatusAsSystemError(status), target));
      try {
        socket.checkConnected();
      } catch (error) {
        return finish(connectError(error, target));
      }
      finish(null);
    };
    const timer = setTimeout(
      () => finish(new VsockError('VSOCK_CONNECT_TIMEOUT', `connecting to ${target} took longer than ${timeoutMs} ms: is the VM up and its agent listening? retry, or allow more time`)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.poll(WRITABLE);
  });
}
