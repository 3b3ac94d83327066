import type { Duplex } from 'node:stream';
import type { AgentLogger } from '../AgentLog.js';
import { type ErrorCodeName, FrameDecoder, ProtocolError, type RawFrame, encodeError } from '../../wire/index.js';
import { type ConnectionOperation, type Operations, dispatchFirstFrame } from './firstFrame.js';

/** After the agent ended its side, a socket whose bytes are all flushed is closed this much later if the client keeps it open. */
const LINGER_MS = 10_000;

/**
 * One connection to the agent (spec §7): its bytes decoded into frames, the first of which
 * picks what the connection carries (firstFrame.ts: an exec session, a resume, a listing);
 * every later frame goes to that operation. It owns the socket: a client that sends nothing
 * in time gets START_TIMEOUT (§9.10), a protocol error ends the connection with an Error
 * (§3.3), and `done` settles once the socket is closed.
 */
export class AgentConnection {
  readonly done: Promise<void>;
  readonly socket: Duplex;
  readonly log: AgentLogger;
  readonly #decoder: FrameDecoder;
  readonly #operations: Operations;
  #operation: ConnectionOperation | null = null;
  #resolveDone!: () => void;
  #closed = false;
  /** This side ended the connection (a last frame, or a refusal); the socket is being closed. */
  #finished = false;
  #parsing = true;
  #linger: NodeJS.Timeout | null = null;
  #startDeadline: NodeJS.Timeout | null;

  constructor(socket: Duplex, log: AgentLogger, operations: Operations, startTimeoutMs: number) {
    this.socket = socket;
    this.log = log;
    this.#operations = operations;
    this.#decoder = new FrameDecoder((frame) => this.#onFrame(frame));
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.#startDeadline = setTimeout(() => {
      this.#startDeadline = null;
      this.refuse('START_TIMEOUT', `no ExecStart arrived within ${startTimeoutMs / 1000} s of connecting (nor a copy request); a client sends ExecStart first (spec §4.1), or CopyTo, CopyFrom or Stat (§12)`);
    }, startTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('end', () => this.#ended('the client closed the connection'));
    socket.on('error', (error) => {
      this.#ended(`connection error: ${error.message}`);
      socket.destroy();
    });
    socket.on('close', () => {
      this.#closed = true;
      if (this.#linger !== null) clearTimeout(this.#linger);
      this.#clearStartDeadline();
      this.#ended('the connection closed');
      this.#resolveDone();
    });
  }

  /** No operation has taken the connection yet (it waits for its first frame). */
  get pending(): boolean {
    return this.#operation === null && !this.#finished;
  }

  /** The agent is stopping: a connection that carries nothing yet is refused. */
  shutdown(): void {
    if (this.pending) this.refuse('SHUTTING_DOWN', 'the agent is shutting down; retry when it is back');
  }

  pauseReading(): void {
    if (!this.#finished) this.socket.pause();
  }

  resumeReading(): void {
    if (!this.#finished) this.socket.resume();
  }

  /** Ends this side: one Error, then the connection closes (the operation, if any, is over). */
  refuse(code: ErrorCodeName, message: string): void {
    this.finish(encodeError(code, message));
  }

  /**
   * Ends this side after `lastFrame` (already checked by the operation) is flushed: no more
   * parsing, but the socket is read on, discarding, so that the client's close is noticed.
   */
  finish(lastFrame?: Uint8Array): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#parsing = false;
    this.#clearStartDeadline();
    const socket = this.socket;
    if (socket.destroyed) return;
    if (lastFrame && socket.writable) socket.write(lastFrame);
    if (!socket.writableEnded) socket.end();
    socket.resume();
    socket.once('finish', () => {
      if (socket.readableEnded) socket.destroy();
      else if (!this.#closed) this.#linger = setTimeout(() => socket.destroy(), LINGER_MS);
    });
  }

  /** Closes at once, discarding what was not written (the client went away). */
  destroy(): void {
    this.#finished = true;
    this.#parsing = false;
    this.#clearStartDeadline();
    this.socket.destroy();
  }

  #receive(chunk: Buffer): void {
    if (!this.#parsing) return; // after the end: read only to notice the client's close
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      this.#parsing = false;
      const [code, message] =
        error instanceof ProtocolError ? [error.code, error.message] : ['INTERNAL_ERROR' as const, `the agent failed: ${(error as Error).message}`];
      if (error instanceof ProtocolError) this.log.info({ code, err: message }, 'protocol error from the client');
      else this.log.error({ err: error }, 'unexpected failure handling a frame');
      if (this.#operation !== null) this.#operation.failed(code, message);
      else this.refuse(code, message);
    }
  }

  /** Runs inside decoder.push: throwing here ends the connection with a protocol error. */
  #onFrame(frame: RawFrame): void {
    if (this.#operation !== null) {
      this.#operation.frame(frame);
      return;
    }
    this.#clearStartDeadline();
    this.#operation = dispatchFirstFrame(frame, this, this.#operations);
  }

  /** The client closed, half-closed or reset the connection, or it failed. */
  #ended(reason: string): void {
    if (this.#finished) {
      // Both directions are done once the client closed and our last bytes are flushed.
      if (!this.#closed && this.socket.writableFinished) this.socket.destroy();
      return;
    }
    this.#finished = true;
    this.#parsing = false;
    this.#clearStartDeadline();
    this.socket.destroy();
    this.#operation?.connectionLost(reason);
  }

  #clearStartDeadline(): void {
    if (this.#startDeadline !== null) clearTimeout(this.#startDeadline);
    this.#startDeadline = null;
  }
}

/** A connection the agent will not serve (spec §9.10 TOO_MANY_SESSIONS): one Error, then close. */
export function refuseConnection(socket: Duplex, code: ErrorCodeName, message: string): void {
  socket.on('error', () => socket.destroy());
  socket.on('data', () => {}); // discard the request; read on to see the client close
  socket.end(encodeError(code, message));
  socket.once('finish', () => setTimeout(() => socket.destroy(), LINGER_MS).unref());
}
