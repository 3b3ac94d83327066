import { type Socket, connect } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Reads of every connection opened with `connectSharedReads` land in this one buffer: Node
 * calls back synchronously after each read and never reads two sockets at once, so the
 * buffer is free again when the callback returns. Nothing is allocated per read, where a
 * plain socket allocates a buffer each time (garbage for V8 to collect, then memory glibc
 * keeps), and a read takes up to 256 KiB instead of 64 KiB.
 */
const SHARED_READ_BUFFER = new Uint8Array(256 * 1024);

/** Takes each chunk read; the chunk is a view that is valid only during the call. */
export type ChunkHandler = (chunk: Uint8Array) => void;

interface SharedReadState {
  handler: ChunkHandler | null;
  /** Bytes read before the owner set its handler (the rest of a handshake's read), copied. */
  early: Uint8Array | null;
}

const states = new WeakMap<Duplex, SharedReadState>();

/** A Unix-socket connection read into the shared buffer; chunks go to `handler`. */
export function connectSharedReads(path: string, handler: ChunkHandler): Socket {
  const state: SharedReadState = { handler, early: null };
  const socket = connect({
    path,
    onread: {
      buffer: SHARED_READ_BUFFER,
      callback: (bytes, buffer) => {
        state.handler?.(buffer.subarray(0, bytes));
        // Reading stops only when the owner pauses the socket.
        return true;
      },
    },
  });
  states.set(socket, state);
  return socket;
}

/**
 * Hands the connection over: no handler until the owner's (readSharedChunks), and `early`
 * (bytes that followed a handshake in its read) kept for it.
 */
export function releaseSharedReads(socket: Duplex, early: Uint8Array): void {
  const state = states.get(socket);
  if (!state) return;
  state.handler = null;
  state.early = early.length > 0 ? early.slice() : null;
}

/**
 * Sets the owner's handler of a stream opened with `connectSharedReads` (the bytes kept at
 * the handover first) and returns true; false for any other stream: use its 'data' events.
 */
export function readSharedChunks(stream: Duplex, handler: ChunkHandler): boolean {
  const state = states.get(stream);
  if (!state) return false;
  state.handler = handler;
  const early = state.early;
  state.early = null;
  if (early) handler(early);
  return true;
}
