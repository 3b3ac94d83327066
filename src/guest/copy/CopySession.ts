import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { AgentLogger } from '../AgentLog.js';
import {
  CopySessionState,
  type CopyFromMessage,
  type CopyToMessage,
  type ErrorCodeName,
  FrameDecoder,
  FrameType,
  type Message,
  ProtocolError,
  type RawFrame,
  type StatMessage,
  encodeCounts,
  encodeError,
  encodePathError,
  encodePong,
  encodeStatResult,
  parseFrame,
} from '../../wire/index.js';
import { SessionError } from '../errors.js';
import type { SessionContext } from '../session/AgentSession.js';
import { CopyError, shown } from './CopyError.js';
import { CopyWriter } from './CopyWriter.js';
import { O, closeQuietly } from './RootFs.js';
import { statPath } from './statPath.js';
import { TreeReceiver } from './TreeReceiver.js';
import { TreeSender, isCancelled } from './TreeSender.js';

/** After the agent ended its side, a socket whose bytes are all flushed is closed this much later if the client keeps it open. */
const LINGER_MS = 10_000;

type Phase = 'awaiting-request' | 'running' | 'ended';

/**
 * One copy operation on one connection (spec §12): Stat, CopyFrom (the agent sends a
 * tree) or CopyTo (the agent receives one), chosen by the client's first frame. It checks
 * the client's frames against the operation's state machine, runs the operation inside the
 * container root, and ends with its result or an Error frame naming the path concerned.
 * It owns the connection; `done` settles once the connection is closed and the operation
 * has let go of every file it held.
 */
export class CopySession {
  readonly done: Promise<void>;
  readonly #socket: Duplex;
  readonly #context: SessionContext;
  readonly #state = new CopySessionState();
  readonly #writer: CopyWriter;
  readonly #decoder: FrameDecoder;
  readonly #log: AgentLogger;
  readonly #startedAt = performance.now();
  #resolveDone!: () => void;
  #phase: Phase = 'awaiting-request';
  #parsing = true;
  #socketClosed = false;
  /** The operation has let go of its files (true until one starts). */
  #settled = true;
  #rootFd = -1;
  #sender: TreeSender | null = null;
  #receiver: TreeReceiver | null = null;
  #startDeadline: NodeJS.Timeout | null;
  #linger: NodeJS.Timeout | null = null;

  constructor(socket: Duplex, context: SessionContext) {
    this.#socket = socket;
    this.#context = context;
    this.#log = context.log.child({ session: randomBytes(6).toString('hex') });
    this.#writer = new CopyWriter(socket, this.#state);
    this.#decoder = new FrameDecoder((frame) => this.#onFrame(frame));
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    const seconds = context.startTimeoutMs / 1000;
    this.#startDeadline = setTimeout(() => {
      this.#startDeadline = null;
      this.#fail(new SessionError('START_TIMEOUT', `no complete request arrived within ${seconds} s of connecting`));
    }, context.startTimeoutMs);

    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('end', () => this.#clientGone('the client closed the connection'));
    socket.on('error', (error) => {
      this.#clientGone(`connection error: ${error.message}`);
      socket.destroy();
    });
    socket.on('close', () => {
      this.#socketClosed = true;
      if (this.#linger !== null) clearTimeout(this.#linger);
      this.#clientGone('the connection closed');
      this.#maybeDone();
    });
  }

  /** The agent is stopping: the operation ends with SHUTTING_DOWN (an upload leaves no partial file). */
  shutdown(): void {
    this.#fail(new SessionError('SHUTTING_DOWN', 'the agent is shutting down; retry when it is back'));
  }

  // ---- from the client ----------------------------------------------------------------------

  #receive(chunk: Buffer): void {
    if (!this.#parsing) return; // after the end: read only to notice the client's close
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      this.#parsing = false;
      if (!(error instanceof ProtocolError)) this.#log.error({ err: error }, 'unexpected failure handling a frame');
      else this.#log.info({ code: error.code, err: error.message }, 'protocol error from the client');
      this.#fail(error as Error);
    }
  }

  /** Runs inside decoder.push: throwing here ends the operation with a protocol error. */
  #onFrame(frame: RawFrame): void {
    const m = parseFrame(frame);
    if (!this.#state.clientFrame(m)) return; // sent before the client learnt we ended
    switch (m.type) {
      case FrameType.CopyTo:
      case FrameType.CopyFrom:
      case FrameType.Stat:
        return this.#begin(m);
      case FrameType.Ping:
        this.#writer.send({ type: FrameType.Pong, token: m.token }, encodePong(m.token));
        return;
      case FrameType.Error:
        return this.#clientGone(`the client ended the operation: ${m.code} ${m.message}`);
      case FrameType.Pong:
        return;
      default:
        this.#receiver?.push(m);
    }
  }

  // ---- the operation ------------------------------------------------------------------------

  #begin(request: CopyToMessage | CopyFromMessage | StatMessage): void {
    if (this.#startDeadline !== null) clearTimeout(this.#startDeadline);
    this.#startDeadline = null;
    this.#phase = 'running';
    this.#log.info({ operation: this.#state.operation, path: Buffer.from(request.path).toString() }, 'copy started');
    try {
      this.#rootFd = openSync(this.#context.root.path, O.O_PATH | O.O_DIRECTORY);
    } catch (error) {
      return this.#fail(new CopyError('COPY_UNAVAILABLE', `the agent cannot open the container root ${this.#context.root.path}: ${(error as Error).message}`));
    }
    if (request.type === FrameType.Stat) {
      try {
        const answer = statPath(this.#rootFd, request);
        this.#writer.send({ type: FrameType.StatResult, ...answer }, encodeStatResult(answer));
        this.#end('stat done', {});
      } catch (error) {
        this.#fail(error as Error);
      }
      return;
    }
    this.#settled = false;
    let operation: Promise<{ entries: number; bytes: number }>;
    try {
      if (request.type === FrameType.CopyFrom) {
        this.#sender = new TreeSender(this.#rootFd, request, this.#writer);
        operation = this.#sender.run();
      } else {
        // Upload frames wait (the socket paused) while the files behind them are written.
        this.#receiver = new TreeReceiver(this.#rootFd, request, { pause: () => this.#socket.pause(), resume: () => this.#socket.resume() });
        operation = this.#receiver.result.then((result) => {
          this.#writer.send({ type: FrameType.CopyResult, ...result }, encodeCounts(FrameType.CopyResult, result.entries, result.bytes));
          return result;
        });
      }
    } catch (error) {
      operation = Promise.reject(error);
    }
    operation.then(
      (result) => this.#end('copy ended', result),
      (error: Error) => {
        if (!isCancelled(error)) this.#fail(error);
      },
    ).finally(() => {
      this.#settled = true;
      this.#closeRoot();
      this.#maybeDone();
    });
  }

  /** Ends the operation with an Error frame (spec §12.9); a running operation stops. */
  #fail(error: Error): void {
    if (this.#phase === 'ended') return;
    let frame: Uint8Array;
    let code: ErrorCodeName;
    if (error instanceof CopyError) {
      code = error.code;
      frame = encodePathError(code, error.message, error.path);
    } else if (error instanceof SessionError || error instanceof ProtocolError) {
      code = error.code;
      frame = encodeError(code, error.message);
    } else {
      this.#log.error({ err: error }, 'the copy failed unexpectedly');
      code = 'INTERNAL_ERROR';
      frame = encodeError(code, `the agent failed: ${error.message}`);
    }
    this.#writer.send({ type: FrameType.Error, code, wireCode: 0, message: error.message } as Message, frame);
    this.#stop(error);
    const path = error instanceof CopyError && error.path.length > 0 ? shown(error.path) : undefined;
    this.#finishLog('copy failed', { code, path, err: error.message });
    this.#closeSocket();
  }

  #end(message: string, counts: { entries?: number; bytes?: number }): void {
    if (this.#phase === 'ended') return;
    this.#finishLog(message, counts);
    this.#closeSocket();
  }

  #finishLog(message: string, fields: Record<string, unknown>): void {
    this.#phase = 'ended';
    this.#parsing = false;
    if (this.#startDeadline !== null) clearTimeout(this.#startDeadline);
    this.#startDeadline = null;
    this.#log.info({ operation: this.#state.operation ?? undefined, ...fields, ms: Math.round(performance.now() - this.#startedAt) }, message);
  }

  /** Closes our side once everything is flushed; reading goes on, to see the client close. */
  #closeSocket(): void {
    this.#writer.end();
    this.#socket.resume();
    this.#socket.once('finish', () => {
      if (this.#socket.readableEnded) this.#socket.destroy();
      else if (!this.#socketClosed) this.#linger = setTimeout(() => this.#socket.destroy(), LINGER_MS);
    });
  }

  /** Stops a running operation: a download's walk, an upload's writes (its temporary file removed). */
  #stop(reason: Error): void {
    this.#sender?.cancel();
    this.#receiver?.abort(reason);
  }

  /** The client left (closed, reset, or sent Error) before the end. */
  #clientGone(reason: string): void {
    if (this.#phase === 'ended') {
      if (!this.#socketClosed && this.#socket.writableFinished) this.#socket.destroy();
      return;
    }
    this.#finishLog('client gone: copy stopped', { reason });
    this.#stop(new SessionError('INTERNAL_ERROR', reason));
    this.#socket.destroy();
  }

  #closeRoot(): void {
    if (this.#rootFd >= 0) closeQuietly(this.#rootFd);
    this.#rootFd = -1;
  }

  #maybeDone(): void {
    if (!this.#socketClosed || !this.#settled) return;
    this.#closeRoot();
    this.#resolveDone();
  }
}
