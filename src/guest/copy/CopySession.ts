import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import type { AgentLogger } from '../AgentLog.js';
import {
  CopySessionState,
  type CopyRequestMessage,
  type ErrorCodeName,
  FrameType,
  type Message,
  ProtocolError,
  type RawFrame,
  encodeCounts,
  encodeError,
  encodePathError,
  encodePong,
  encodeStatResult,
  parseFrame,
} from '../../wire/index.js';
import { SessionError } from '../errors.js';
import type { AgentConnection } from '../session/AgentConnection.js';
import type { SessionContext } from '../session/AgentSession.js';
import type { ConnectionOperation } from '../session/firstFrame.js';
import { CopyError, shown } from './CopyError.js';
import { CopyWriter } from './CopyWriter.js';
import { O, closeQuietly } from './RootFs.js';
import { statPath } from './statPath.js';
import { TreeReceiver } from './TreeReceiver.js';
import { TreeSender, isCancelled } from './TreeSender.js';

type Phase = 'awaiting-request' | 'running' | 'ended';

/**
 * One copy operation on one connection (spec §12): Stat, CopyFrom (the agent sends a
 * tree) or CopyTo (the agent receives one), chosen by the connection's first frame
 * (firstFrame.ts). It checks the client's frames against the operation's state machine,
 * runs the operation inside the container root, and ends with its result or an Error frame
 * naming the path concerned. The connection (AgentConnection) owns the socket; `done`
 * settles once it is closed and the operation has let go of every file it held.
 */
export class CopySession implements ConnectionOperation {
  readonly done: Promise<void>;
  readonly #connection: AgentConnection;
  readonly #context: SessionContext;
  readonly #state = new CopySessionState();
  readonly #writer: CopyWriter;
  readonly #log: AgentLogger;
  readonly #startedAt = performance.now();
  #phase: Phase = 'awaiting-request';
  /** The operation has let go of its files (true until one starts). */
  #settled = true;
  #resolveSettled!: () => void;
  #rootFd = -1;
  #sender: TreeSender | null = null;
  #receiver: TreeReceiver | null = null;

  constructor(connection: AgentConnection, context: SessionContext) {
    this.#connection = connection;
    this.#context = context;
    this.#log = context.log.child({ session: randomBytes(6).toString('hex') });
    this.#writer = new CopyWriter(connection.socket, this.#state);
    const settled = new Promise<void>((resolve) => (this.#resolveSettled = resolve));
    this.done = Promise.all([connection.done, settled]).then(() => this.#closeRoot());
  }

  /** The agent is stopping: the operation ends with SHUTTING_DOWN (an upload leaves no partial file). */
  shutdown(): void {
    this.#fail(new SessionError('SHUTTING_DOWN', 'the agent is shutting down; retry when it is back'));
  }

  /** The connection's first frame: the request. */
  begin(request: CopyRequestMessage): void {
    this.#state.clientFrame(request);
    this.#begin(request);
    if (this.#settled) this.#resolveSettled();
  }

  // ---- from the connection (ConnectionOperation) --------------------------------------------

  /** A later frame; throwing a ProtocolError ends the operation with it (failed). */
  frame(frame: RawFrame): void {
    if (this.#phase === 'ended') return;
    const m = parseFrame(frame);
    if (!this.#state.clientFrame(m)) return; // sent before the client learnt we ended
    switch (m.type) {
      case FrameType.Ping:
        this.#writer.send({ type: FrameType.Pong, token: m.token }, encodePong(m.token));
        return;
      case FrameType.Error:
        this.#clientGone(`the client ended the operation: ${m.code} ${m.message}`);
        this.#connection.destroy();
        return;
      case FrameType.Pong:
        return;
      default:
        this.#receiver?.push(m);
    }
  }

  // ---- the operation ------------------------------------------------------------------------

  /** The client broke the protocol (or the agent failed handling a frame). */
  failed(code: ErrorCodeName, message: string): void {
    this.#fail(new SessionError(code, message));
  }

  /** The connection ended (closed, half-closed, reset) before the operation did. */
  connectionLost(reason: string): void {
    this.#clientGone(reason);
  }

  // ---- the operation ------------------------------------------------------------------------

  #begin(request: CopyRequestMessage): void {
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
        this.#receiver = new TreeReceiver(this.#rootFd, request, { pause: () => this.#connection.pauseReading(), resume: () => this.#connection.resumeReading() });
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
      this.#resolveSettled();
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
    this.#log.info({ operation: this.#state.operation ?? undefined, ...fields, ms: Math.round(performance.now() - this.#startedAt) }, message);
  }

  /** Closes our side once everything is flushed; reading goes on, to see the client close. */
  #closeSocket(): void {
    this.#connection.finish();
  }

  /** Stops a running operation: a download's walk, an upload's writes (its temporary file removed). */
  #stop(reason: Error): void {
    this.#sender?.cancel();
    this.#receiver?.abort(reason);
  }

  /** The client left (closed, reset, or sent Error) before the end. */
  #clientGone(reason: string): void {
    if (this.#phase === 'ended') return;
    this.#finishLog('client gone: copy stopped', { reason });
    this.#stop(new SessionError('INTERNAL_ERROR', reason));
  }

  #closeRoot(): void {
    if (this.#rootFd >= 0) closeQuietly(this.#rootFd);
    this.#rootFd = -1;
  }
}
