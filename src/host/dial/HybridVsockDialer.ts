import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { AGENT_VSOCK_PORT } from '../../wire/index.js';
import type { AgentDialer } from './AgentDialer.js';
import { connectSharedReads, releaseSharedReads } from './SharedReads.js';
import {
  AgentNotListeningError,
  DialAbortedError,
  DialTimeoutError,
  HandshakeProtocolError,
  VsockSocketUnavailableError,
} from './errors.js';

export interface HybridVsockDialerOptions {
  /** The hypervisor's vsock Unix socket (Cloud Hypervisor `--vsock socket=`, Firecracker `uds_path`). */
  socketPath: string;
  port?: number;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /**
   * Read the connection into the buffer shared by such connections (SharedReads): the owner
   * takes chunks with readSharedChunks, each valid only during its call, instead of 'data'.
   */
  sharedReads?: boolean;
}

/** A longer line than this without a newline is not an `OK <port>` answer (spec §7.2). */
export const MAX_HANDSHAKE_LINE = 64;

/**
 * Dials a guest port through the hybrid vsock of Cloud Hypervisor and Firecracker:
 * connect to the Unix socket, write `CONNECT <port>\n`, read `OK <n>\n`. Bytes that follow
 * the newline in the same read already belong to the session and are put back in front of
 * the stream (the original's reader dropped them).
 */
export class HybridVsockDialer implements AgentDialer {
  readonly target: string;
  readonly #socketPath: string;
  readonly #port: number;
  readonly #connectTimeoutMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #sharedReads: boolean;

  constructor(options: HybridVsockDialerOptions) {
    this.#socketPath = options.socketPath;
    this.#port = options.port ?? AGENT_VSOCK_PORT;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5_000;
    this.#sharedReads = options.sharedReads ?? false;
    this.target = `${this.#socketPath} port ${this.#port}`;
  }

  dial(signal?: AbortSignal): Promise<Duplex> {
    if (signal?.aborted) return Promise.reject(new DialAbortedError());
    return new Promise((resolve, reject) => {
      const shared = this.#sharedReads;
      // Shared reads: the handshake's chunks are views of the shared buffer, copied below.
      const socket: Socket = shared ? connectSharedReads(this.#socketPath, (chunk) => onData(chunk)) : connect({ path: this.#socketPath });
      let phase: 'connect' | 'handshake' = 'connect';
      let line: Buffer = Buffer.alloc(0);
      let settled = false;
      let timer = setTimeout(() => fail(new DialTimeoutError('connect', this.#connectTimeoutMs, this.#socketPath)), this.#connectTimeoutMs);

      const onAbort = () => fail(new DialAbortedError());
      signal?.addEventListener('abort', onAbort, { once: true });

      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeListener('data', onData);
        socket.removeListener('error', onError);
        socket.removeListener('close', onClose);
      };
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onError = (err: NodeJS.ErrnoException) =>
        fail(phase === 'connect' ? new VsockSocketUnavailableError(this.#socketPath, err) : new AgentNotListeningError(this.#port));
      const onClose = () => fail(new AgentNotListeningError(this.#port));
      const onData = (chunk: Uint8Array) => {
        if (phase !== 'handshake' || settled) return;
        line = Buffer.concat([line, chunk]);
        const nl = line.indexOf(0x0a);
        if (nl < 0) {
          if (line.length > MAX_HANDSHAKE_LINE) fail(new HandshakeProtocolError(printable(line)));
          return;
        }
        const answer = line.subarray(0, nl).toString('latin1');
        if (!/^OK \d+$/.test(answer)) {
          fail(new HandshakeProtocolError(printable(line.subarray(0, nl))));
          return;
        }
        settled = true;
        cleanup();
        // Until the new owner listens, an error must not crash the process; it still
        // destroys the socket, which the owner sees (destroyed, 'close').
        socket.on('error', () => undefined);
        socket.pause();
        const rest = line.subarray(nl + 1);
        if (shared) releaseSharedReads(socket, rest);
        else if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
      };

      socket.once('connect', () => {
        phase = 'handshake';
        clearTimeout(timer);
        timer = setTimeout(() => fail(new DialTimeoutError('handshake', this.#handshakeTimeoutMs, this.#socketPath)), this.#handshakeTimeoutMs);
        if (!shared) socket.on('data', onData);
        socket.write(`CONNECT ${this.#port}\n`);
      });
      socket.on('error', onError);
      socket.on('close', onClose);
    });
  }
}

/** The answer as a person can read it: control bytes escaped, cut to a line's worth. */
function printable(bytes: Buffer): string {
  const shown = bytes.subarray(0, MAX_HANDSHAKE_LINE).toString('latin1');
  // Quotes and backslashes too, so the quoted answer reads unambiguously.
  const escaped = shown.replace(/[^\x20-\x7e]|["\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return bytes.length > MAX_HANDSHAKE_LINE ? `${escaped}…` : escaped;
}
