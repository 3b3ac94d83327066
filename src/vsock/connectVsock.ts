import { loadAddon } from './addon.js';
import { abortedError, awaitConnected, connectError } from './awaitConnected.js';
import { assertUint32 } from './constants.js';
import type { FdStream, FdStreamOptions } from './FdStream.js';
import { refuseForbiddenCid } from './forbiddenCid.js';

export interface ConnectVsockOptions {
  /** The guest's CID (never 0, 1, 2 or this machine's own: see refuseForbiddenCid). */
  readonly cid: number;
  readonly port: number;
  /** Give up after this long (default 10 s) with VSOCK_CONNECT_TIMEOUT. */
  readonly timeoutMs?: number;
  /** Aborting rejects with VSOCK_ABORTED and closes the socket. */
  readonly signal?: AbortSignal;
  /** For the connected FdStream (allowHalfOpen, high-water marks). */
  readonly streamOptions?: FdStreamOptions;
}

/**
 * Connects an AF_VSOCK stream socket to `port` of guest `cid` (QEMU vhost-vsock). Rejects
 * with VsockError: VSOCK_FORBIDDEN_CID (before any socket is made), VSOCK_CONNECT_REFUSED,
 * VSOCK_CONNECT_TIMEOUT, VSOCK_ABORTED, VSOCK_UNAVAILABLE, VSOCK_ADDON_MISSING or VSOCK_IO.
 */
export async function connectVsock(options: ConnectVsockOptions): Promise<FdStream> {
  const { cid, port, signal } = options;
  assertUint32(cid, 'cid');
  assertUint32(port, 'port');
  refuseForbiddenCid(cid);
  const target = `vsock port ${port} of CID ${cid}`;
  if (signal?.aborted) throw abortedError(target, signal.reason);
  let started;
  try {
    started = loadAddon().vsockConnect(cid, port);
  } catch (error) {
    throw connectError(error, target);
  }
  return awaitConnected(started.socket, started.pending, { target, timeoutMs: options.timeoutMs, signal, streamOptions: options.streamOptions });
}
