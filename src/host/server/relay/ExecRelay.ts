import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  DEFAULT_MAX_PAYLOAD,
  DURABLE_VERSION,
  ErrorCode,
  type ErrorCodeName,
  ExecSessionState,
  type ExecRequest,
  ExecStartFrame,
  ExitKind,
  FrameDecoder,
  FrameType,
  INITIAL_STDIN_CREDIT,
  type RawFrame,
  closeCodeForError,
  encodeError,
  encodeStdinCredit,
  parseFrame,
} from '../../../wire/index.js';
import type { ExecMetrics, SessionResult } from '../ExecMetrics.js';
import type { ClientDialect, DialectName, RelayClient, RelaySession } from './ClientDialect.js';
import { CompatDialect } from './CompatDialect.js';
import { FramedDialect } from './FramedDialect.js';
import { RelayFailure, decodeAgentBytes, relayFailureOf } from './RelayFailure.js';
import { type SessionOutcome, SessionRecord } from './SessionRecord.js';
import { AgentLink } from './AgentLink.js';
import type { RelayRecorder } from '../recording/RelayRecorder.js';
import { AttachRole } from './AttachRole.js';
import { SmallMessageBudget } from './SmallMessageBudget.js';

export interface RelayContext {
  dialect: DialectName;
  /** The request from the query string, if it had one (spec §8.1); else it comes in-band. */
  queryRequest: ExecRequest | null;
  waitForAgentSeconds: number;
  /** Opens the byte stream to the instance's agent (hybrid or native vsock). */
  connectAgent(waitForAgentSeconds: number, signal: AbortSignal): Promise<Duplex>;
  /** The request arrived: may the session take an agent connection? A refusal's reason, or null. */
  admit(): string | null;
  subject: string;
  instance: string;
  /** §10.11: the token may observe other subjects' sessions on this instance (ObservePolicy). */
  observesAnyOwner?: boolean;
  remoteAddress: string;
  metrics: ExecMetrics;
  audit: Logger;
  limits: RelayLimits;
  /** Records the session when it has a terminal (--record-dir); absent: nothing is recorded. */
  recorder?: RelayRecorder;
}

export interface RelayLimits {
  maxPayload: number;
  /** Stop reading the agent while the WebSocket holds more than this many unsent bytes. */
  sendHighWater: number;
  /** How long to wait for the request when it comes in-band. */
  requestTimeoutMs: number;
  /**
   * Ping an agent silent this long after Started; end the session with PEER_UNRESPONSIVE when
   * not even a Pong comes back in as long again (a frozen VM keeps its socket open). 0: never.
   */
  agentKeepAliveMs: number;
  /** Messages under 1 KiB a client may send per second (a quarter second's worth at once); 0: no limit. */
  smallMessagesPerSecond: number;
  /**
   * How long a reached agent may take to answer ExecStart with Started (or Error); then the
   * session ends with PEER_UNRESPONSIVE, so a frozen VM never holds a new session without end.
   */
  agentStartTimeoutMs: number;
  /** §10.11: an observer whose WebSocket holds more than this many unsent bytes is cut (OBSERVER_TOO_SLOW); it never holds the agent back. */
  observerBacklogBytes: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  maxPayload: DEFAULT_MAX_PAYLOAD,
  sendHighWater: 1024 * 1024,
  requestTimeoutMs: 10_000,
  agentKeepAliveMs: 30_000,
  smallMessagesPerSecond: 20_000,
  agentStartTimeoutMs: 30_000,
  observerBacklogBytes: 4 * 1024 * 1024,
};

/**
 * Stdin payload bytes a client may get ahead of the agent beyond its credit before
 * FLOW_CONTROL (§8.1.1): "ahead" is what the server has received and the agent's
 * connection has not yet taken.
 */
export const FLOW_CONTROL_SLACK = 1024 * 1024;
/**
 * Frames other than Stdin (Ping, Signal, WindowSize…) that may wait for the agent's
 * connection. Each is a few bytes, but a flood of them must not grow the server without
 * bound while the agent is held back (§8.1.1).
 */
export const MAX_WAITING_CONTROL_FRAMES = 4096;
/**
 * Failures of the relay's own that leave a lingering session to its client (§10.5): the
 * server is stopping, or the agent does not answer. Every other one hangs the command up.
 */
const DETACHING_FAILURES: ReadonlySet<ErrorCodeName> = new Set(['SHUTTING_DOWN', 'PEER_UNRESPONSIVE']);

/**
 * One exec session between a WebSocket client and an agent connection (spec §8). Frames are
 * checked against the session state machine in both directions; the client's dialect,
 * chosen once, decides how they look on the WebSocket. Flow control: the agent link is
 * paused while the WebSocket's send buffer is above the high-water mark; Stdin toward the
 * agent is limited by credit (framed) or by a hard cap on what is queued (both dialects).
 */
export class ExecRelay implements RelaySession {
  readonly #client: RelayClient;
  readonly #ctx: RelayContext;
  readonly #dialect: ClientDialect;
  readonly #record: SessionRecord;
  /** Records the session's terminal (--record-dir), unless this connection only observes. */
  #recorder: RelayRecorder | undefined;
  readonly #state = new ExecSessionState();
  readonly #decoder: FrameDecoder;
  readonly #smallMessages: SmallMessageBudget;
  /** The agent's connection, and the client frames waiting for it. */
  readonly #agent: AgentLink;
  /** Writer or observer (§10.11). */
  readonly #role: AttachRole;
  #requestTimer: NodeJS.Timeout | null = null;
  #done = false;
  /** An Error frame went to the agent (the client's, or ours): the command is hung up, not detached. */
  #clientEnded = false;

  constructor(client: RelayClient, ctx: RelayContext) {
    this.#client = client;
    this.#ctx = ctx;
    const { maxPayload } = ctx.limits;
    const { waitForAgentSeconds } = ctx;
    this.#dialect =
      ctx.dialect === 'framed'
        ? new FramedDialect(this, client, { maxPayload, waitForAgentSeconds, queryRequest: ctx.queryRequest !== null })
        : new CompatDialect(this, client, { maxPayload, waitForAgentSeconds });
    this.#decoder = new FrameDecoder((frame) => this.#onAgentFrame(frame), { maxPayload });
    this.#smallMessages = new SmallMessageBudget(ctx.limits.smallMessagesPerSecond, 'join small writes into larger Stdin frames (up to 64 KiB)');
    this.#role = new AttachRole(ctx.observesAnyOwner ?? false);
    this.#agent = new AgentLink(
      {
        bytes: (chunk) => this.#agentBytes(chunk),
        fail: (code, message) => this.#fail(code, message),
        credit: (bytes) => this.#client.sendBinary(encodeStdinCredit(bytes)),
      },
      {
        connectAgent: ctx.connectAgent,
        instance: ctx.instance,
        dataType: FrameType.Stdin,
        returnsCredit: this.#dialect.returnsCredit,
        startTimeoutMs: ctx.limits.agentStartTimeoutMs,
        keepAliveMs: ctx.limits.agentKeepAliveMs,
        words: { start: 'start the command', end: 'the command ended', unknown: "the command's exit status is unknown" },
      },
    );
    this.#recorder = ctx.recorder;
    this.#record = new SessionRecord(ctx.metrics, ctx.audit, {
      subject: ctx.subject,
      instance: ctx.instance,
      remoteAddress: ctx.remoteAddress,
      dialect: ctx.dialect,
    });
  }

  get ended(): boolean {
    return this.#done;
  }

  get subject(): string {
    return this.#ctx.subject;
  }

  get instance(): string {
    return this.#ctx.instance;
  }

  /** The request has arrived (in the query, a frame or a JSON message). */
  get requested(): boolean {
    return this.#state.execStarted;
  }

  get execStarted(): boolean {
    return this.#state.execStarted;
  }

  /** Called once the WebSocket is open. */
  open(): void {
    const { queryRequest, waitForAgentSeconds } = this.#ctx;
    if (queryRequest) {
      this.#guard(() => this.begin(ExecStartFrame.encode(queryRequest), waitForAgentSeconds));
      return;
    }
    this.#requestTimer = setTimeout(() => this.#fail('START_TIMEOUT', this.#dialect.requestMissing), this.#ctx.limits.requestTimeoutMs);
  }

  /** A message from the WebSocket. `data` is only valid during this call. */
  clientMessage(data: ArrayBuffer, isBinary: boolean): void {
    if (this.#done) return;
    this.#guard(() => {
      this.#smallMessages.admit(data.byteLength);
      this.#dialect.message(new Uint8Array(data), isBinary);
    });
  }

  /** The WebSocket's send buffer drained. */
  clientDrain(): void {
    this.#guard(() => this.#clientBuffered());
  }

  /** Holds the agent back while the client's buffer is full; an observer is never waited for, but cut (§10.11). */
  #clientBuffered(): void {
    const buffered = this.#client.bufferedAmount();
    const { sendHighWater, observerBacklogBytes } = this.#ctx.limits;
    if (!this.#role.observer) return this.#agent.clientBuffered(buffered, sendHighWater);
    this.#agent.clientBuffered(buffered, Infinity);
    if (buffered > observerBacklogBytes) {
      throw new RelayFailure('OBSERVER_TOO_SLOW', `this observer fell more than ${observerBacklogBytes} bytes behind the session's output and was cut (the session goes on); attach again to watch from the current point`);
    }
  }

  /** The WebSocket closed (by either side); `code` is its close status. */
  clientClosed(code: number): void {
    if (!this.#done) this.#finish('client_closed', { reason: `the client closed the connection (${code})` });
  }

  /** The server is stopping: end the session with SHUTTING_DOWN. */
  shutdown(): void {
    this.#fail('SHUTTING_DOWN', 'the API server is shutting down; retry against another server or later');
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const failure = relayFailureOf(err);
      this.#fail(failure.code, failure.message);
    }
  }

  // ---- client → agent (RelaySession, for the dialect) -------------------------------------

  begin(request: ExecStartFrame, waitForAgentSeconds: number): void {
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    this.#requestTimer = null;
    // §10.7: the session's owner is the token's subject, whatever the client said.
    const execStart = this.#role.grant(request.version >= DURABLE_VERSION ? request.withOwner(this.#ctx.subject) : request);
    this.#state.start({ version: execStart.version, resume: execStart.resume !== undefined });
    if (execStart.resume) {
      const mode = execStart.resume.attach?.mode ?? 'resume';
      this.#record.attach(Buffer.from(execStart.resume.sessionId).toString('hex'), mode);
      // The writer's connections record the session; an observer's output is the same bytes.
      if (mode === 'observe') this.#recorder = undefined;
      this.#recorder?.resume(execStart.resume);
    } else {
      this.#record.request = execStart.request;
      this.#recorder?.request(execStart.request);
    }
    const refusal = this.#ctx.admit();
    if (refusal !== null) throw new RelayFailure('TOO_MANY_SESSIONS', refusal);
    // The first frame of the session (the state machine allows nothing before it).
    this.#agent.pushFrame(execStart.bytes);
    this.#agent.connect(waitForAgentSeconds);
  }

  clientFrame(type: number): boolean {
    if (this.#role.drops(type)) {
      const notice = this.#role.noticeOnce();
      if (notice !== null) this.send(notice);
      return false;
    }
    const relay = this.#state.clientFrame(type);
    // The client ends the session on purpose (§10.5): its Error goes to the agent, which hangs up.
    if (relay && type === FrameType.Error) this.#clientEnded = true;
    return relay;
  }

  stdin(payload: Uint8Array): void {
    this.#record.stdinBytes += payload.length;
    this.#recorder?.input(payload);
    if (this.#agent.waitingData + payload.length > INITIAL_STDIN_CREDIT + FLOW_CONTROL_SLACK) {
      throw new RelayFailure('FLOW_CONTROL', 'stdin is arriving faster than the command reads it; honour StdinCredit (spec §8.1.1) or slow down');
    }
    this.#agent.pushData(payload);
  }

  control(frame: Uint8Array): void {
    if (this.#agent.waitingFrames >= MAX_WAITING_CONTROL_FRAMES) {
      throw new RelayFailure(
        'FLOW_CONTROL',
        `more than ${MAX_WAITING_CONTROL_FRAMES} control frames (Ping, Signal, WindowSize) are waiting for the agent, which is not reading; wait for Pongs before pinging again`,
      );
    }
    this.#recorder?.control(frame);
    this.#agent.pushFrame(frame);
  }

  answerAgent(frame: Uint8Array): void {
    this.#agent.write(frame);
  }

  send(bytes: Uint8Array): void {
    if (!this.#client.sendBinary(bytes)) throw new RelayFailure('INTERNAL_ERROR', 'the server could not queue output for this client');
    this.#clientBuffered();
  }

  // ---- agent → client ---------------------------------------------------------------------

  #agentBytes(chunk: Uint8Array): void {
    if (this.#done) return;
    this.#guard(() => {
      decodeAgentBytes(() => this.#decoder.push(chunk));
    });
  }


  #onAgentFrame(frame: RawFrame): void {
    if (this.#done) return;
    this.#agent.heard();
    if (!this.#state.agentFrame(frame.type)) return;
    this.#role.agentFrame(frame);
    const dialect = this.#dialect;
    switch (frame.type) {
      case FrameType.Stdout:
        this.#record.stdoutBytes += frame.payload.length;
        this.#recorder?.output(frame.payload);
        dialect.output(frame);
        break;
      case FrameType.Stderr:
        this.#record.stderrBytes += frame.payload.length;
        dialect.output(frame);
        break;
      case FrameType.Started:
      case FrameType.Resumed: {
        const m = parseFrame(frame);
        if (m.type === FrameType.Started || m.type === FrameType.Resumed) {
          this.#record.started(m.pid, m.sessionId);
          if (m.type === FrameType.Started) this.#recorder?.started(this.#record.sessionId!, this.#record.request?.tty === true);
          else this.#recorder?.started(this.#record.sessionId!, m.tty, m.stdoutLost);
        }
        dialect.started(frame);
        this.#agent.startKeepAlive();
        break;
      }
      case FrameType.Linger:
      case FrameType.StdinAck:
      case FrameType.Notice:
        dialect.notice(frame);
        break;
      case FrameType.Exit: {
        const m = parseFrame(frame);
        if (m.type !== FrameType.Exit) return;
        dialect.exit(frame, m);
        this.#recorder?.exit(m.code);
        const result: SessionResult = m.kind === ExitKind.Exited ? 'exited' : m.kind === ExitKind.Signaled ? 'signaled' : 'timed_out';
        this.#finish(result, { exitCode: m.code, signal: m.signal || undefined }, 1000, 'exited');
        break;
      }
      case FrameType.Error: {
        const m = parseFrame(frame);
        if (m.type !== FrameType.Error) return;
        dialect.agentError(frame, m);
        this.#finish('error', { error: m.code, reason: m.message }, closeCodeForError(m.wireCode), m.code);
        break;
      }
      case FrameType.Ping:
        dialect.agentPing(frame);
        break;
      case FrameType.Pong:
        if (!this.#agent.ownPong(frame.payload)) dialect.agentPong(frame);
        break;
    }
  }

  // ---- ending -----------------------------------------------------------------------------

  /**
   * Ends the session with an Error of ours: to the client, then close 4000+code. The agent
   * hears the Error too, and hangs the command up, unless the session is to survive this
   * server (§10.5: it is stopping, or the agent does not answer): then its connection just
   * ends, and a lingering session waits for its client to resume it elsewhere.
   */
  #fail(code: ErrorCodeName, message: string): void {
    if (this.#done) return;
    this.#dialect.failure(code, message);
    if (!DETACHING_FAILURES.has(code) && !this.#clientEnded) {
      this.#clientEnded = true;
      this.#agent.pushFrame(encodeError(code, message));
    }
    this.#finish('error', { error: code, reason: message }, closeCodeForError(ErrorCode[code]), code);
  }

  #finish(result: SessionResult, outcome: SessionOutcome, closeCode?: number, closeReason?: string): void {
    if (this.#done) return;
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    // The command is hung up when it does not linger (§9.9), or detached when it does
    // (§10.5); an Error on its way to the agent goes first, so that it is hung up at once.
    this.#agent.close(this.#clientEnded);
    this.#done = true;
    if (closeCode !== undefined) this.#client.end(closeCode, closeReason ?? '');
    this.#record.end(result, outcome, this.#recorder?.end());
  }
}
