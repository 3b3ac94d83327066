import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DURABLE_VERSION,
  ExecSessionState,
  ExecStartFrame,
  type ExecRequest,
  type ExitStatus,
  FrameType,
  INITIAL_STDIN_CREDIT,
  KeepAlive,
  MAX_DATA_CHUNK,
  MAX_SIGNAL,
  PROTOCOL_VERSION,
  ProtocolError,
  type RawFrame,
  type ResumedMessage,
  ResumableSession,
  type SessionStart,
  SignalNumber,
  type SignalName,
  type WindowDimensions,
  encodeError,
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
  ExecClientError,
  InvalidSignalError,
  PeerUnresponsiveError,
  RemoteExecError,
  SessionAbortedError,
  SessionDetachedError,
  SessionLostError,
  TruncatedOutputError,
} from './errors.js';
import type { FrameTransport } from './FrameTransport.js';
import { WaitList } from '../../runtime/WaitList.js';
import { RESUME_ATTEMPT_TIMEOUT_MS, reconnectDelayMs, worthResuming } from './reconnectPolicy.js';

export interface ExecSessionOptions {
  /**
   * Ping the agent after this many ms without a frame, and drop the session as
   * PEER_UNRESPONSIVE when nothing comes for as long again (spec §4.10). 0: never (default).
   */
  keepAliveMs?: number;
  /**
   * Opens a new transport to the same agent. With it, a session that lingers (spec §10) and
   * loses its connection is resumed over a new one, with backoff, within its linger; without
   * it, a lost connection ends the session here (the agent keeps it for its linger).
   */
  reconnect?: (signal: AbortSignal) => Promise<FrameTransport>;
}

export interface StartedInfo {
  /** The command's process id in the guest; 0 when it could not be started (127/126). */
  pid: number;
  version: number;
  /** Hex of the 16-byte session id. */
  sessionId: string;
  /** Seconds the session survives without a connection (spec §10.2); 0: it ends with it. */
  lingerSeconds: number;
  /** The session runs under a terminal (for an attached session, as Resumed says). */
  tty: boolean;
  /** An attached session: output from the offsets asked for that the agent no longer held (acknowledged by an earlier client, or dropped). */
  stdoutLost: number;
  stderrLost: number;
  /** This client observes the session (spec §10.11): output only; what it sends is dropped. */
  observer: boolean;
}

/** Emitted for a Notice (spec §10.11): a line for the user; the session goes on. */
export interface NoticeEvent {
  /** `read-only`: this client observes, its input was dropped; `observing`: another client took the session over as its writer. */
  kind: string;
  message: string;
}

/** Emitted before each attempt to resume a session whose connection was lost. */
export interface ReconnectingEvent {
  attempt: number;
  /** Why the connection (or the last attempt) ended. */
  error: Error;
  /** Since the connection was lost. */
  downtimeMs: number;
}

/** Emitted once a lost session is resumed. */
export interface ResumedEvent {
  attempts: number;
  downtimeMs: number;
  /** Output the agent no longer held (overflow drop), skipped: a gap in the stream. */
  stdoutLost: number;
  stderrLost: number;
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
 * A lingering session's unacknowledged stdin, kept to be sent again, stays within a new
 * connection's first credit (§8.1.1): what is sent again after a resume needs no more.
 */
const STDIN_KEPT_LIMIT = INITIAL_STDIN_CREDIT;
/** §10.4: output is acknowledged this long after it stops arriving (and every quarter window). */
const ACK_DELAY_MS = 50;
/** Signals and other control frames given while reconnecting wait, up to this many. */
const MAX_WAITING_CONTROL = 64;
/**
 * A writer's attach refused SESSION_BUSY is tried again this many times, after 100, 200 and
 * 400 ms: the writer attached may be one that has just left (detached) and whose connection
 * the agent has not seen close yet.
 */
const BUSY_RETRIES = 3;

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
 *
 * A session that lingers (version 2, `lingerSeconds`, spec §10) acknowledges its output,
 * keeps the stdin the agent has not acknowledged, and, given `reconnect`, survives a lost
 * connection: it emits 'reconnecting' before each attempt, resumes over a new transport
 * within the linger, sends again what the agent had not taken, and emits 'resumed'. The
 * streams see no gap unless the agent dropped output (overflow drop), which 'resumed'
 * reports. Against an agent that speaks only version 1 it starts again without durability
 * and emits 'downgraded'.
 */
export class ExecSession extends EventEmitter {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly started: Promise<StartedInfo>;
  readonly exit: Promise<ExitStatus>;

  #transport: FrameTransport;
  /** The connection's state machine: a new one per connection. */
  #state = new ExecSessionState();
  #execStart: ExecStartFrame;
  /** Version 2: what resuming takes; null in a version 1 session. */
  #durable: ResumableSession | null;
  readonly #reconnect: ExecSessionOptions['reconnect'];
  readonly #stopReconnecting = new AbortController();
  /** The current connection may carry client frames (false while reconnecting, or attaching until Resumed). */
  #ready: boolean;
  #reconnecting = false;
  /** A resume attempt waiting for Resumed. */
  #resumeWait: { resolve: () => void; reject: (err: Error) => void } | null = null;
  #lastResumed: ResumedMessage | null = null;
  /** Connections given up (a failed resume, a refused version): what they still report is ignored. */
  readonly #retired = new WeakSet<FrameTransport>();
  #waitingControl: Array<[number, Uint8Array]> = [];
  #window: WindowDimensions | undefined;
  #tty: boolean;
  #startedInfo: Omit<StartedInfo, 'lingerSeconds'> | null = null;
  #busyRetries = 0;
  #ackTimer: NodeJS.Timeout | null = null;
  #stdinClosed = false;
  readonly #paused = new Set<Readable>();
  #resolveStarted!: (info: StartedInfo) => void;
  #rejectStarted!: (err: Error) => void;
  #resolveExit!: (status: ExitStatus) => void;
  #rejectExit!: (err: Error) => void;
  /** Bytes of each stream received, or reported lost: where the stream is. */
  #stdoutBytes = 0;
  #stderrBytes = 0;
  #ended = false;
  /** close() or detach() was called: output from now on is discarded, and reading never pauses again. */
  #leaving = false;
  readonly #waiters = new WaitList();
  #keepAlive: KeepAlive | undefined;

  /**
   * `request`: what to run, or a frame ExecStartFrame.encode made of it already (a resume
   * frame attaches to a session that lingers).
   */
  constructor(transport: FrameTransport, request: Partial<ExecRequest> | ExecStartFrame, options: ExecSessionOptions = {}) {
    super();
    this.#transport = transport;
    this.#reconnect = options.reconnect;
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
        if (!this.#ended && !this.#stdinClosed) {
          this.#stdinClosed = true;
          this.#durable?.closedStdin();
          if (this.#ready) this.#sendStdinClose();
        }
        cb();
      },
    });

    let execStart: ExecStartFrame;
    try {
      execStart = request instanceof ExecStartFrame ? request : ExecStartFrame.encode(request);
    } catch (err) {
      // A request the encoder refuses (NUL in argv, bad window) must not leak the connection.
      transport.destroy();
      throw err;
    }
    this.#execStart = execStart;
    const resume = execStart.resume;
    this.#durable = execStart.version >= DURABLE_VERSION ? new ResumableSession(resume?.sessionId) : null;
    if (resume && this.#durable) {
      this.#durable.stdoutOffset = this.#stdoutBytes = resume.stdoutBytes;
      this.#durable.stderrOffset = this.#stderrBytes = resume.stderrBytes;
    }
    this.#tty = execStart.request.tty;
    this.#window = execStart.request.window;
    // A new session's frames may follow ExecStart at once (pipelining); an attached one's wait for Resumed.
    this.#ready = resume === undefined;
    if (options.keepAliveMs) {
      this.#keepAlive = new KeepAlive(
        options.keepAliveMs,
        (token) => this.#sendControl(FrameType.Ping, () => encodePing(token)),
        () => this.#transport.destroy(new PeerUnresponsiveError(options.keepAliveMs!)),
        () => this.#reconnecting || this.#paused.size > 0 || this.#waiters.size > 0,
      );
    }
    this.#connect(transport, execStart.bytes, { version: execStart.version, resume: resume !== undefined });
  }

  /** The session's id (hex), once Started or Resumed has come. */
  get id(): string | undefined {
    const id = this.#durable?.sessionId;
    return id ? Buffer.from(id).toString('hex') : this.#startedInfo?.sessionId;
  }

  /** Seconds the agent keeps the session without a connection; 0 when it does not linger (or not known yet). */
  get lingerSeconds(): number {
    return this.#durable?.lingerSeconds ?? 0;
  }

  /** Resizes the session's terminal (TTY sessions; ignored by the agent otherwise). */
  resize(window: WindowDimensions): void {
    this.#window = window;
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
   * command has exited this hangs it up (SIGHUP, then SIGKILL 5 s later, spec §9.9; a
   * lingering one is told so with an Error frame, §10.5) and `exit` rejects with
   * CONNECTION_LOST. After the exit it does nothing. Output not yet pushed to
   * `stdout`/`stderr` is discarded: the transport reads on to the peer's end (the server's
   * Close, the agent's EOF) even while nobody reads the streams; held back, it would never
   * see that end (issue 22). An observer's close (spec §10.11) leaves the session running.
   */
  close(): void {
    if (this.#ended) return;
    this.#leaving = true;
    this.#paused.clear();
    this.#hangUp('the client closed the session');
    if (this.#reconnecting) {
      this.#fail(new ConnectionLostError('the client closed the session while it was reconnecting'));
      return;
    }
    this.#transport.resumeReading();
    this.#transport.close();
  }

  /**
   * Leaves a lingering session running (spec §10.5): the connection closes without a word,
   * and the agent keeps the command for its linger, for a resume (attachSession). `exit`
   * rejects with DETACHED. Throws NOT_LINGERING when the session does not linger: the
   * agent would hang the command up.
   */
  detach(): void {
    if (this.#ended) return;
    if (!this.#durable?.lingering) {
      throw new ExecClientError('NOT_LINGERING', 'this session does not linger (linger 0, or an agent that keeps none): leaving it would hang the command up; use close()');
    }
    this.#leaving = true;
    const transport = this.#transport;
    this.#fail(new SessionDetachedError(this.id ?? '', this.#durable.lingerSeconds));
    transport.close();
  }

  /**
   * Tears the session down at once: the connection is destroyed (the command is hung up as
   * with close()), output streams end, `exit` rejects with ABORTED unless it had settled.
   */
  abort(reason?: unknown): void {
    if (this.#ended) return;
    this.#hangUp('the client aborted the session');
    // The transport reports its own end (onClose) with this error, which settles the session.
    if (this.#reconnecting) this.#fail(new SessionAbortedError(reason));
    else this.#transport.destroy(new SessionAbortedError(reason));
  }

  /** §10.5: a lingering session is ended on purpose with an Error frame, so the agent hangs up at once. */
  #hangUp(why: string): void {
    if (this.#durable === null || !this.#ready || this.#state.ended) return;
    if (this.#state.clientFrame(FrameType.Error)) this.#transport.send(encodeError('SHUTTING_DOWN', why));
  }

  // ---- connections ----

  /** Makes `transport` the session's connection: a new state machine, the first frame, the events. */
  #connect(transport: FrameTransport, firstFrame: Uint8Array, start: SessionStart): void {
    this.#transport = transport;
    this.#state = new ExecSessionState();
    this.#state.start(start);
    transport.send(firstFrame);
    transport.attach({
      frame: (frame) => this.#onFrame(transport, frame),
      close: (err) => this.#onClose(transport, err),
      drain: () => this.#waiters.wake(),
      credit: () => this.#waiters.wake(),
    });
  }

  /**
   * The connection is gone and the session lingers: new connections, with backoff, until
   * one resumes it or the linger has passed (the agent has then hung the command up).
   */
  async #reconnectLoop(lost: Error): Promise<void> {
    this.#reconnecting = true;
    this.#ready = false;
    this.#clearAckTimer();
    const since = performance.now();
    const deadline = since + this.#durable!.lingerSeconds * 1000;
    const signal = this.#stopReconnecting.signal;
    let error = lost;
    for (let attempt = 0; !this.#ended; attempt++) {
      const delay = reconnectDelayMs(attempt);
      if (performance.now() + delay > deadline) break;
      if (delay > 0) await sleep(delay, undefined, { signal }).catch(() => undefined);
      if (this.#ended) return;
      this.emit('reconnecting', { attempt: attempt + 1, error, downtimeMs: performance.now() - since } satisfies ReconnectingEvent);
      try {
        const transport = await this.#reconnect!(signal);
        if (this.#ended) {
          transport.destroy();
          return;
        }
        const resumed = await this.#resumeOver(transport, Math.min(RESUME_ATTEMPT_TIMEOUT_MS, Math.max(1, deadline - performance.now())));
        this.#reconnecting = false;
        this.emit('resumed', { attempts: attempt + 1, downtimeMs: performance.now() - since, stdoutLost: resumed.stdoutLost, stderrLost: resumed.stderrLost } satisfies ResumedEvent);
        this.#waiters.wake();
        return;
      } catch (err) {
        if (this.#ended) return;
        if (!worthResuming(err)) return this.#fail(err as Error);
        error = err as Error;
      }
    }
    if (!this.#ended) this.#fail(new SessionLostError(this.#durable!.lingerSeconds, lost, error));
  }

  /** Resumes the session over `transport`: resolves with Resumed, rejects with why not. */
  #resumeOver(transport: FrameTransport, timeoutMs: number): Promise<ResumedMessage> {
    return new Promise<ResumedMessage>((resolve, reject) => {
      const timer = setTimeout(() => transport.destroy(new ConnectionLostError(`no Resumed within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      this.#resumeWait = {
        resolve: () => {
          clearTimeout(timer);
          this.#resumeWait = null;
          resolve(this.#lastResumed!);
        },
        reject: (err) => {
          clearTimeout(timer);
          this.#resumeWait = null;
          this.#retire(transport);
          reject(err);
        },
      };
      this.#connect(transport, this.#durable!.resumeFrame(), { version: DURABLE_VERSION, resume: true });
    });
  }

  /** Resumed (§10.6): the offsets past what was lost, stdin sent again, the terminal's size. */
  #onResumed(m: ResumedMessage): void {
    const durable = this.#durable!;
    const steps = durable.resumed(m);
    this.#stdoutBytes += m.stdoutLost;
    this.#stderrBytes += m.stderrLost;
    this.#lastResumed = m;
    this.#tty = m.tty;
    this.#ready = true;
    for (const payload of steps.stdin) {
      this.#state.clientFrame(FrameType.Stdin);
      this.#transport.sendData(encodeHeader(FrameType.Stdin, payload.length), payload);
    }
    if (steps.closeStdin) this.#sendStdinClose();
    else if (m.stdinClosed) this.#state.clientFrame(FrameType.StdinClose);
    // The terminal's size follows its writer (§10.11): an observer's would be dropped.
    if (this.#tty && this.#window && !m.observer) this.#sendControl(FrameType.WindowSize, () => encodeWindowSize(this.#window!));
    const waiting = this.#waitingControl;
    this.#waitingControl = [];
    for (const [type, frame] of waiting) if (this.#state.clientFrame(type)) this.#transport.send(frame);
    // What the resume's offsets said the client has: the agent may free it at once.
    this.#sendAck();
    if (this.#resumeWait) this.#resumeWait.resolve();
    else {
      // Attaching (attachSession): this is the session's start for us.
      this.#startedInfo = { pid: m.pid, version: m.version, sessionId: Buffer.from(m.sessionId).toString('hex'), tty: m.tty, stdoutLost: m.stdoutLost, stderrLost: m.stderrLost, observer: m.observer };
      this.#resolveStarted({ ...this.#startedInfo, lingerSeconds: m.lingerSeconds });
    }
  }

  /** A writer's attach refused SESSION_BUSY: the same attach on a new connection, a little later. */
  async #attachAgain(): Promise<void> {
    this.#retire(this.#transport);
    await sleep(100 * 2 ** this.#busyRetries++, undefined, { signal: this.#stopReconnecting.signal }).catch(() => undefined);
    try {
      const transport = await this.#reconnect!(this.#stopReconnecting.signal);
      if (this.#ended) return transport.destroy();
      this.#connect(transport, this.#execStart.bytes, { version: DURABLE_VERSION, resume: true });
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  /** The agent speaks version 1 only: the request again, without durability, on a new connection. */
  async #downgrade(supportedVersions: number[]): Promise<void> {
    const durable = this.#durable!;
    this.#durable = null;
    this.#ready = false;
    this.#retire(this.#transport);
    this.emit('downgraded', { supportedVersions });
    const { lingerSeconds: _linger, overflow: _overflow, ...request } = this.#execStart.request;
    try {
      this.#execStart = ExecStartFrame.encode(request, PROTOCOL_VERSION);
      const transport = await this.#reconnect!(this.#stopReconnecting.signal);
      if (this.#ended) return transport.destroy();
      this.#connect(transport, this.#execStart.bytes, { version: PROTOCOL_VERSION });
      this.#ready = true;
      // Nothing was taken by an agent that refused the version: all of it again.
      for (const payload of durable.unacknowledgedPayloads()) {
        this.#state.clientFrame(FrameType.Stdin);
        transport.sendData(encodeHeader(FrameType.Stdin, payload.length), payload);
      }
      if (this.#stdinClosed) this.#sendStdinClose();
      this.#waiters.wake();
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  // ---- from the client ----

  #sendControl(type: number, encode: () => Uint8Array): void {
    if (this.#ended) return;
    const frame = encode();
    if (!this.#ready) {
      // Resent after Resumed; a window size is sent again from #window anyway.
      if (type !== FrameType.WindowSize && type !== FrameType.Ping && this.#waitingControl.length < MAX_WAITING_CONTROL) this.#waitingControl.push([type, frame]);
      return;
    }
    if (this.#state.clientFrame(type)) this.#transport.send(frame);
  }

  #sendStdinClose(): void {
    if (!this.#state.stdinClosed && this.#state.clientFrame(FrameType.StdinClose)) this.#transport.send(encodeStdinClose());
  }

  /** Gives a connection up: it is closed, and what it reports afterwards is ignored. */
  #retire(transport: FrameTransport): void {
    this.#retired.add(transport);
    transport.destroy();
  }

  /** Stdin may go out now: the connection takes it, there is credit, and what is kept is within bounds. */
  #canSendStdin(): boolean {
    if (!this.#ready || this.#transport.stdinCredit <= 0) return false;
    const durable = this.#durable;
    return durable === null || durable.unacknowledgedStdin < STDIN_KEPT_LIMIT;
  }

  async #writeStdin(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      if (this.#ended) return;
      // Wait for a connection, for credit (WebSocket carrier) and for the agent's acknowledgements.
      while (!this.#ended && !this.#canSendStdin()) await this.#waiters.wait();
      // Ended, or an attached session whose stdin another client closed: nowhere to go.
      if (this.#ended || this.#state.stdinClosed) return;
      const n = Math.min(MAX_DATA_CHUNK, chunk.length - at, this.#transport.stdinCredit);
      const piece = chunk.subarray(at, at + n);
      at += n;
      this.#state.clientFrame(FrameType.Stdin);
      if (!this.#sendStdin(piece)) await this.#waiters.wait();
    }
  }

  /**
   * A Stdin frame. Version 2 keeps its payload until the agent acknowledges it: the frame's
   * own buffer where the carrier makes one per frame anyway (the WebSocket), else the
   * written buffer itself, by reference (a byte stream writes it without a copy; a copy per
   * frame cost 18 % of a local stream's throughput).
   */
  #sendStdin(piece: Uint8Array): boolean {
    const durable = this.#durable;
    if (durable !== null && this.#transport.framesInOneBuffer) return this.#transport.send(durable.stdinFrame(piece, Buffer.allocUnsafe));
    durable?.sentStdin(piece);
    return this.#transport.sendData(encodeHeader(FrameType.Stdin, piece.length), piece);
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

  // ---- output and acknowledgements ----

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

  #output(stream: typeof FrameType.Stdout | typeof FrameType.Stderr, payload: Uint8Array): void {
    if (stream === FrameType.Stdout) this.#stdoutBytes += payload.length;
    else this.#stderrBytes += payload.length;
    const durable = this.#durable;
    if (durable?.output(stream, payload.length)) this.#sendAck();
    else if (durable?.lingering) this.#ackTimer ??= setTimeout(() => this.#sendAck(), ACK_DELAY_MS);
    this.#push(stream === FrameType.Stdout ? this.stdout : this.stderr, payload);
  }

  /** OutputAck (§10.4): what arrived is safe here, the agent may forget it. */
  #sendAck(): void {
    this.#clearAckTimer();
    if (!this.#ready || this.#state.ended || !this.#durable?.lingering) return;
    const ack = this.#durable.acknowledge();
    if (ack && this.#state.clientFrame(FrameType.OutputAck)) this.#transport.send(ack);
  }

  #clearAckTimer(): void {
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
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

  // ---- from the agent ----

  #onFrame(transport: FrameTransport, frame: RawFrame): void {
    if (this.#ended || transport !== this.#transport || this.#retired.has(transport)) return;
    this.#keepAlive?.heard();
    try {
      if (!this.#state.agentFrame(frame.type)) return;
      switch (frame.type) {
        case FrameType.Stdout:
        case FrameType.Stderr:
          this.#output(frame.type, frame.payload);
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
      switch (m.type) {
        case FrameType.Started:
          this.#startedInfo = { pid: m.pid, version: m.version, sessionId: Buffer.from(m.sessionId).toString('hex'), tty: this.#tty, stdoutLost: 0, stderrLost: 0, observer: false };
          this.#durable?.started(m.sessionId);
          // Version 2: Linger follows at once and completes what started says.
          if (m.version < DURABLE_VERSION || this.#durable === null) this.#resolveStarted({ ...this.#startedInfo, lingerSeconds: 0 });
          return;
        case FrameType.Linger:
          this.#durable?.linger(m.seconds, m.windowBytes);
          if (this.#startedInfo) this.#resolveStarted({ ...this.#startedInfo, lingerSeconds: m.seconds });
          return;
        case FrameType.Resumed:
          this.#onResumed(m);
          return;
        case FrameType.StdinAck:
          this.#durable?.stdinAcknowledged(m.bytes);
          this.#waiters.wake();
          return;
        case FrameType.Notice:
          if (m.kind === 'observing') this.#durable?.observing();
          this.emit('notice', { kind: m.kind, message: m.message } satisfies NoticeEvent);
          return;
        case FrameType.Exit: {
          const { type: _t, ...status } = m;
          if (status.stdoutBytes !== this.#stdoutBytes) this.#fail(new TruncatedOutputError('stdout', status.stdoutBytes, this.#stdoutBytes));
          else if (status.stderrBytes !== this.#stderrBytes) this.#fail(new TruncatedOutputError('stderr', status.stderrBytes, this.#stderrBytes));
          else this.#end(() => this.#resolveExit(status));
          return;
        }
        case FrameType.Error: {
          const err = new RemoteExecError(m.code, m.wireCode, m.message, m.supportedVersions);
          if (this.#resumeWait) return this.#resumeWait.reject(err);
          if (this.#canDowngrade(err)) {
            void this.#downgrade(err.supportedVersions!);
            return;
          }
          if (err.code === 'SESSION_BUSY' && this.#startedInfo === null && this.#reconnect !== undefined && this.#busyRetries < BUSY_RETRIES) {
            void this.#attachAgain();
            return;
          }
          this.#fail(err);
          return;
        }
      }
    } catch (err) {
      const failure = err instanceof ProtocolError ? new ClientProtocolError(`the peer broke the protocol: ${err.message}`, err) : (err as Error);
      if (this.#resumeWait) this.#resumeWait.reject(failure);
      else this.#fail(failure);
    }
  }

  /** A version 2 request to an agent that speaks only version 1 (§6): it can start again in version 1. */
  #canDowngrade(err: RemoteExecError): boolean {
    return (
      err.code === 'UNSUPPORTED_VERSION' &&
      this.#durable !== null &&
      this.#startedInfo === null &&
      this.#execStart.resume === undefined &&
      this.#reconnect !== undefined &&
      (err.supportedVersions ?? []).includes(PROTOCOL_VERSION)
    );
  }

  #onClose(transport: FrameTransport, err?: Error): void {
    if (this.#ended || transport !== this.#transport || this.#retired.has(transport)) return;
    const lost = err ?? new ConnectionLostError('the peer closed the connection without an exit status');
    if (this.#resumeWait) return this.#resumeWait.reject(lost);
    if (this.#durable?.lingering && this.#reconnect && !this.#leaving && !this.#state.ended && worthResuming(lost)) {
      void this.#reconnectLoop(lost);
      return;
    }
    this.#fail(lost);
  }

  #fail(err: Error): void {
    this.#rejectStarted(err);
    this.#end(() => this.#rejectExit(err));
  }

  /** Ends both output streams, settles `exit`, and lets the transport go. */
  #end(settle: () => void): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopReconnecting.abort();
    this.#clearAckTimer();
    this.#keepAlive?.stop();
    this.stdout.push(null);
    this.stderr.push(null);
    this.#paused.clear();
    this.#waiters.wake();
    settle();
    this.#transport.close();
  }
}
