import { Readable, Writable } from 'node:stream';
import {
  ExecSessionState,
  ExecStartFrame,
  type ExecRequest,
  type ExitStatus,
  FrameType,
  KeepAlive,
  MAX_DATA_CHUNK,
  MAX_SIGNAL,
  PROTOCOL_VERSION,
  ProtocolError,
  type RawFrame,
  SignalNumber,
  type SignalName,
  type WindowDimensions,
  encodeHeader,
  encodePing,
  encodePong,
  encodeSignal,
  encodeStdinClose,
  encodeWindowSize,
  parseFrame,
} from '../../wire/index.js';
import {
  ClientProtocolError,
  ConnectionLostError,
  InvalidSignalError,
  PeerUnresponsiveError,
  RemoteExecError,
  SessionAbortedError,
  TruncatedOutputError,
} from './errors.js';
import type { FrameTransport } from './FrameTransport.js';


export interface ExecSessionOptions {
  /**
   * Ping the agent after this many ms without a frame, and drop the session as
   * PEER_UNRESPONSIVE when nothing comes for as long again (spec §4.10). 0: never (default).
   */
  keepAliveMs?: number;
}

export interface StartedInfo {
  /** The command's process id in the guest; 0 when it could not be started (127/126). */
  pid: number;
  version: number;
  /** Hex of the 16-byte session id. */
  sessionId: string;
}

/** A signal by number, or by name with or without the SIG prefix (`'INT'`, `'SIGINT'`). */
export type SignalSpec = number | SignalName | (string & {});

/** The Linux number of a signal (spec §4.5): 1 to 64, or a name such as `SIGINT` or `int`. */
export function signalNumber(spec: SignalSpec): number {
  if (typeof spec === 'number') {
    if (Number.isInteger(spec) && spec >= 1 && spec <= MAX_SIGNAL) return spec;
    throw new InvalidSignalError(String(spec));
  }
  const upper = spec.toUpperCase();
  const n = SignalNumber[(upper.startsWith('SIG') ? upper : `SIG${upper}`) as SignalName];
  if (n === undefined) throw new InvalidSignalError(spec);
  return n;
}

/**
 * The client side of one exec session (spec §3.2) over any FrameTransport.
 *
 * `stdin` is a Writable: writes become Stdin frames, `end()` is StdinClose; it honours the
 * transport's backpressure and, on the WebSocket carrier, the server's stdin credit.
 * `stdout` and `stderr` are Readables; a consumer that stops reading stops the transport
 * (and, end to end, the command): read both (or `resume()` them), or a command with much
 * output blocks, as with child_process. `exit` resolves with the full exit status once all
 * output has been pushed, after checking its byte counts against what arrived; it rejects
 * with a typed error (ExecClientError: `code`) when the session fails.
 */
export class ExecSession {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly started: Promise<StartedInfo>;
  readonly exit: Promise<ExitStatus>;

  readonly #transport: FrameTransport;
  readonly #state = new ExecSessionState();
  readonly #paused = new Set<Readable>();
  #resolveStarted!: (info: StartedInfo) => void;
  #rejectStarted!: (err: Error) => void;
  #resolveExit!: (status: ExitStatus) => void;
  #rejectExit!: (err: Error) => void;
  #stdoutBytes = 0;
  #stderrBytes = 0;
  #ended = false;
  /** close() was called: output from now on is discarded, and reading never pauses again. */
  #leaving = false;
  #waiters: Array<() => void> = [];
  #keepAlive: KeepAlive | undefined;

  /** `request`: what to run, or a frame ExecStartFrame.encode made of it already. */
  constructor(transport: FrameTransport, request: Partial<ExecRequest> | ExecStartFrame, options: ExecSessionOptions = {}) {
    this.#transport = transport;
    this.started = new Promise((resolve, reject) => {
      this.#resolveStarted = resolve;
      this.#rejectStarted = reject;
    });
    this.exit = new Promise((resolve, reject) => {
      this.#resolveExit = resolve;
      this.#rejectExit = reject;
    });
    // Whoever awaits these sees the rejection; an unawaited one must not crash the process.
    this.started.catch(() => undefined);
    this.exit.catch(() => undefined);

    this.stdout = this.#outputStream();
    this.stderr = this.#outputStream();

    this.stdin = new Writable({
      highWaterMark: MAX_DATA_CHUNK,
      write: (chunk: Buffer, _enc, cb) => this.#writeStdin(chunk).then(() => cb(), cb),
      // Writes queued while one is under way come here together: small ones go out as one
      // frame, since each frame costs the peer (and a server cuts floods of tiny ones).
      writev: (chunks, cb) => this.#writeStdinChunks(chunks.map((c) => c.chunk as Buffer)).then(() => cb(), cb),
      final: (cb) => {
        if (!this.#ended && !this.#state.stdinClosed) {
          this.#state.clientFrame(FrameType.StdinClose);
          this.#transport.send(encodeStdinClose());
        }
        cb();
      },
    });

    let execStart: ExecStartFrame;
    try {
      execStart = request instanceof ExecStartFrame ? request : ExecStartFrame.encode(request, PROTOCOL_VERSION);
    } catch (err) {
      // A request the encoder refuses (NUL in argv, bad window) must not leak the connection.
      transport.destroy();
      throw err;
    }
    this.#state.start({ version: execStart.version, resume: execStart.resume !== undefined });
    transport.send(execStart.bytes);
    if (options.keepAliveMs) {
      this.#keepAlive = new KeepAlive(
        options.keepAliveMs,
        (token) => this.#sendControl(FrameType.Ping, () => encodePing(token)),
        () => this.#transport.destroy(new PeerUnresponsiveError(options.keepAliveMs!)),
        () => this.#paused.size > 0 || this.#waiters.length > 0,
      );
    }
    transport.attach({
      frame: (frame) => this.#onFrame(frame),
      close: (err) => this.#onClose(err),
      drain: () => this.#wake(),
      credit: () => this.#wake(),
    });
  }

  /** Resizes the session's terminal (TTY sessions; ignored by the agent otherwise). */
  resize(window: WindowDimensions): void {
    this.#sendControl(FrameType.WindowSize, () => encodeWindowSize(window));
  }

  /** Sends a signal to the command's process group (TTY: the foreground job). */
  signal(spec: SignalSpec): void {
    const n = signalNumber(spec);
    this.#sendControl(FrameType.Signal, () => encodeSignal(n));
  }

  /** The command's stdin reaches end of file once what was written is sent. */
  closeStdin(): void {
    this.stdin.end();
  }

  /**
   * Leaves the session gracefully: the connection is closed from this side. Before the
   * command has exited this hangs it up (SIGHUP, then SIGKILL 5 s later, spec §9.9) and
   * `exit` rejects with CONNECTION_LOST. After the exit it does nothing. Output not yet
   * pushed to `stdout`/`stderr` is discarded: the transport reads on to the peer's end (the
   * server's Close, the agent's EOF) even while nobody reads the streams; held back, it would
   * never see that end (issue 22).
   */
  close(): void {
    if (this.#ended) return;
    this.#leaving = true;
    this.#paused.clear();
    this.#transport.resumeReading();
    this.#transport.close();
  }

  /**
   * Tears the session down at once: the connection is destroyed (the command is hung up as
   * with close()), output streams end, `exit` rejects with ABORTED unless it had settled.
   */
  abort(reason?: unknown): void {
    // The transport reports its own end (onClose) with this error, which settles the session.
    if (!this.#ended) this.#transport.destroy(new SessionAbortedError(reason));
  }

  #sendControl(type: number, encode: () => Uint8Array): void {
    if (this.#ended) return;
    const frame = encode();
    if (this.#state.clientFrame(type)) this.#transport.send(frame);
  }

  async #writeStdin(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      if (this.#ended) return;
      // Wait for credit (WebSocket carrier) and for the transport to take more.
      while (!this.#ended && this.#transport.stdinCredit <= 0) await this.#sleep();
      if (this.#ended) return;
      const n = Math.min(MAX_DATA_CHUNK, chunk.length - at, this.#transport.stdinCredit);
      const piece = chunk.subarray(at, at + n);
      at += n;
      this.#state.clientFrame(FrameType.Stdin);
      if (!this.#transport.sendData(encodeHeader(FrameType.Stdin, n), piece)) await this.#sleep();
    }
  }

  /** Joins runs of small chunks into frames of up to MAX_DATA_CHUNK; a chunk that large goes as it is. */
  async #writeStdinChunks(chunks: Buffer[]): Promise<void> {
    let run: Buffer[] = [];
    let size = 0;
    const flush = async () => {
      if (run.length > 0) await this.#writeStdin(run.length === 1 ? run[0] : Buffer.concat(run, size));
      run = [];
      size = 0;
    };
    for (const chunk of chunks) {
      if (size + chunk.length > MAX_DATA_CHUNK) await flush();
      if (chunk.length >= MAX_DATA_CHUNK) await this.#writeStdin(chunk);
      else {
        run.push(chunk);
        size += chunk.length;
      }
    }
    await flush();
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** stdout or stderr: reading resumes the transport; destroying it stops holding it back. */
  #outputStream(): Readable {
    const stream: Readable = new Readable({
      read: () => this.#resumeFor(stream),
      destroy: (err, callback) => {
        this.#resumeFor(stream);
        callback(err);
      },
    });
    return stream;
  }

  #push(stream: Readable, payload: Uint8Array): void {
    // A consumer that destroyed its stream wants no more of it; the other stream goes on.
    if (stream.destroyed || this.#leaving) return;
    // The payload is a view of memory the transport gave up for us: no copy.
    if (!stream.push(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength))) {
      this.#paused.add(stream);
      this.#transport.pauseReading();
    }
  }

  #resumeFor(stream: Readable): void {
    if (this.#paused.delete(stream) && this.#paused.size === 0) this.#transport.resumeReading();
  }

  #onFrame(frame: RawFrame): void {
    if (this.#ended) return;
    this.#keepAlive?.heard();
    try {
      if (!this.#state.agentFrame(frame.type)) return;
      switch (frame.type) {
        case FrameType.Stdout:
          this.#stdoutBytes += frame.payload.length;
          this.#push(this.stdout, frame.payload);
          return;
        case FrameType.Stderr:
          this.#stderrBytes += frame.payload.length;
          this.#push(this.stderr, frame.payload);
          return;
        case FrameType.Ping: {
          const m = parseFrame(frame);
          if (m.type === FrameType.Ping) this.#transport.send(encodePong(m.token));
          return;
        }
        case FrameType.Pong:
          return;
      }
      const m = parseFrame(frame);
      if (m.type === FrameType.Started) {
        this.#resolveStarted({ pid: m.pid, version: m.version, sessionId: Buffer.from(m.sessionId).toString('hex') });
      } else if (m.type === FrameType.Exit) {
        const { type: _t, ...status } = m;
        if (status.stdoutBytes !== this.#stdoutBytes) this.#fail(new TruncatedOutputError('stdout', status.stdoutBytes, this.#stdoutBytes));
        else if (status.stderrBytes !== this.#stderrBytes) this.#fail(new TruncatedOutputError('stderr', status.stderrBytes, this.#stderrBytes));
        else this.#end(() => this.#resolveExit(status));
      } else if (m.type === FrameType.Error) {
        this.#fail(new RemoteExecError(m.code, m.wireCode, m.message, m.supportedVersions));
      }
    } catch (err) {
      this.#fail(err instanceof ProtocolError ? new ClientProtocolError(`the peer broke the protocol: ${err.message}`, err) : (err as Error));
    }
  }

  #onClose(err?: Error): void {
    if (this.#ended) return;
    this.#fail(err ?? new ConnectionLostError('the peer closed the connection without an exit status'));
  }

  #fail(err: Error): void {
    this.#rejectStarted(err);
    this.#end(() => this.#rejectExit(err));
  }

  /** Ends both output streams, settles `exit`, and lets the transport go. */
  #end(settle: () => void): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#keepAlive?.stop();
    this.stdout.push(null);
    this.stderr.push(null);
    this.#paused.clear();
    this.#wake();
    settle();
    this.#transport.close();
  }
}
