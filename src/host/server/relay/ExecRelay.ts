import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  CodedError,
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
  KeepAlive,
  ProtocolError,
  type RawFrame,
  closeCodeForError,
  encodeError,
  encodePing,
  encodeStdinCredit,
  parseFrame,
} from '../../../wire/index.js';
import { readSharedChunks } from '../../dial/SharedReads.js';
import { ApiError } from '../errors.js';
import type { ExecMetrics, SessionResult } from '../ExecMetrics.js';
import type { ClientDialect, DialectName, RelayClient, RelaySession } from './ClientDialect.js';
import { CompatDialect } from './CompatDialect.js';
import { FramedDialect } from './FramedDialect.js';
import { RelayFailure } from './RelayFailure.js';
import { type SessionOutcome, SessionRecord } from './SessionRecord.js';
import { AgentOutbox } from './AgentOutbox.js';
import { SMALL_MESSAGE_BYTES, SmallMessageBudget } from './SmallMessageBudget.js';

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
  remoteAddress: string;
  metrics: ExecMetrics;
  audit: Logger;
  limits: RelayLimits;
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
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  maxPayload: DEFAULT_MAX_PAYLOAD,
  sendHighWater: 1024 * 1024,
  requestTimeoutMs: 10_000,
  agentKeepAliveMs: 30_000,
  smallMessagesPerSecond: 20_000,
  agentStartTimeoutMs: 30_000,
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
/** How long an Error for the agent may take to be written before its connection is dropped. */
const AGENT_CLOSE_MS = 1000;
/** Credit is returned in batches of at least this many bytes, or when the agent link idles. */
const CREDIT_BATCH = 256 * 1024;

/** Whether two byte ranges hold the same bytes (views compared where they are). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

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
  readonly #state = new ExecSessionState();
  readonly #abort = new AbortController();
  readonly #decoder: FrameDecoder;
  readonly #smallMessages: SmallMessageBudget;

  #agent: Duplex | null = null;
  #connecting = false;
  /** Client frames not yet handed to the agent's connection (it is connecting, or full). */
  readonly #outbox = new AgentOutbox();
  #flushScheduled = false;
  /** Stdin payload bytes handed to the agent's connection and not yet written by it. */
  #stdinInFlight = 0;
  #requestTimer: NodeJS.Timeout | null = null;
  #startTimer: NodeJS.Timeout | null = null;
  #agentPaused = false;
  #creditPending = 0;
  #done = false;
  /** An Error frame went to the agent (the client's, or ours): the command is hung up, not detached. */
  #clientEnded = false;
  #keepAlive: KeepAlive | null = null;
  /** The token of our own Ping in flight: its Pong is ours, not the client's. */
  #pingToken: Uint8Array | null = null;

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
    this.#smallMessages = new SmallMessageBudget(ctx.limits.smallMessagesPerSecond);
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
    if (!this.#smallMessages.take(data.byteLength)) {
      this.#fail(
        'FLOW_CONTROL',
        `more than ${this.#smallMessages.perSecond} messages under ${SMALL_MESSAGE_BYTES} bytes a second; join small writes into larger Stdin frames (up to 64 KiB)`,
      );
      return;
    }
    this.#guard(() => this.#dialect.message(new Uint8Array(data), isBinary));
  }

  /** The WebSocket's send buffer drained. */
  clientDrain(): void {
    if (this.#agentPaused && this.#client.bufferedAmount() < this.#ctx.limits.sendHighWater / 2) {
      this.#agentPaused = false;
      this.#agent?.resume();
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
      if (err instanceof ProtocolError || err instanceof RelayFailure) this.#fail(err.code, err.message);
      else if (err instanceof ApiError) this.#fail('INVALID_REQUEST', err.message);
      else this.#fail('INTERNAL_ERROR', `the server failed: ${(err as Error).message}`);
    }
  }

  // ---- client → agent (RelaySession, for the dialect) -------------------------------------

  begin(request: ExecStartFrame, waitForAgentSeconds: number): void {
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    this.#requestTimer = null;
    // §10.7: the session's owner is the token's subject, whatever the client said.
    const execStart = request.version >= DURABLE_VERSION ? request.withOwner(this.#ctx.subject) : request;
    this.#state.start({ version: execStart.version, resume: execStart.resume !== undefined });
    if (execStart.resume) this.#record.attach(Buffer.from(execStart.resume.sessionId).toString('hex'));
    else this.#record.request = execStart.request;
    const refusal = this.#ctx.admit();
    if (refusal !== null) throw new RelayFailure('TOO_MANY_SESSIONS', refusal);
    // The first frame of the session (the state machine allows nothing before it).
    this.#outbox.pushFrame(execStart.bytes);
    this.#connect(waitForAgentSeconds);
    this.#scheduleFlush();
  }

  clientFrame(type: number): boolean {
    const relay = this.#state.clientFrame(type);
    // The client ends the session on purpose (§10.5): its Error goes to the agent, which hangs up.
    if (relay && type === FrameType.Error) this.#clientEnded = true;
    return relay;
  }

  stdin(payload: Uint8Array): void {
    this.#record.stdinBytes += payload.length;
    if (this.#outbox.stdinBytes + this.#stdinInFlight + payload.length > INITIAL_STDIN_CREDIT + FLOW_CONTROL_SLACK) {
      throw new RelayFailure('FLOW_CONTROL', 'stdin is arriving faster than the command reads it; honour StdinCredit (spec §8.1.1) or slow down');
    }
    this.#outbox.pushStdin(payload);
    this.#scheduleFlush();
  }

  control(frame: Uint8Array): void {
    if (this.#outbox.controlFrames >= MAX_WAITING_CONTROL_FRAMES) {
      throw new RelayFailure(
        'FLOW_CONTROL',
        `more than ${MAX_WAITING_CONTROL_FRAMES} control frames (Ping, Signal, WindowSize) are waiting for the agent, which is not reading; wait for Pongs before pinging again`,
      );
    }
    this.#outbox.pushFrame(frame);
    this.#scheduleFlush();
  }

  answerAgent(frame: Uint8Array): void {
    this.#agent?.write(frame);
  }

  send(bytes: Uint8Array): void {
    if (!this.#client.sendBinary(bytes)) throw new RelayFailure('INTERNAL_ERROR', 'the server could not queue output for this client');
    if (!this.#agentPaused && this.#client.bufferedAmount() > this.#ctx.limits.sendHighWater) {
      this.#agentPaused = true;
      this.#agent?.pause();
    }
  }

  // ---- the agent link ---------------------------------------------------------------------

  #connect(waitForAgentSeconds: number): void {
    if (this.#connecting || this.#agent) return;
    this.#connecting = true;
    this.#ctx.connectAgent(waitForAgentSeconds, this.#abort.signal).then(
      (agent) => this.#attach(agent),
      (err: Error) => {
        if (this.#done) return;
        if (err instanceof CodedError && err.code === 'INSTANCE_NOT_RUNNING') this.#fail('INSTANCE_NOT_RUNNING', err.message);
        else this.#fail('AGENT_UNREACHABLE', `cannot reach the agent of instance ${this.#ctx.instance}: ${err.message}`);
      },
    );
  }

  #attach(agent: Duplex): void {
    if (this.#done) {
      agent.destroy();
      return;
    }
    this.#agent = agent;
    agent.on('end', () => this.#agentGone('the agent closed the connection before the command ended'));
    agent.on('close', () => this.#agentGone('the connection to the agent closed before the command ended'));
    agent.on('error', (err) => this.#agentGone(`the connection to the agent failed: ${err.message}`));
    agent.on('drain', () => this.#flush());
    // Every chunk is consumed before this returns (uWS copies what it sends), so a stream
    // read into the shared buffer needs no buffer of its own.
    const onChunk = (chunk: Uint8Array) => this.#agentBytes(chunk);
    if (!readSharedChunks(agent, onChunk)) agent.on('data', onChunk);
    // Dialers hand the stream over paused, so that nothing is read before we listen.
    agent.resume();
    this.#flush();
    const startMs = this.#ctx.limits.agentStartTimeoutMs;
    this.#startTimer = setTimeout(
      () =>
        this.#fail(
          'PEER_UNRESPONSIVE',
          `the agent of instance ${this.#ctx.instance} accepted the connection but did not start the command within ${startMs / 1000} s; the VM may be frozen or overloaded`,
        ),
      startMs,
    );
  }

  #agentBytes(chunk: Uint8Array): void {
    if (this.#done) return;
    this.#guard(() => {
      try {
        this.#decoder.push(chunk);
      } catch (err) {
        if (err instanceof ProtocolError) throw new RelayFailure('INTERNAL_ERROR', `the agent broke the protocol: ${err.message}`);
        throw err;
      }
    });
  }

  #clearStartTimer(): void {
    if (this.#startTimer) clearTimeout(this.#startTimer);
    this.#startTimer = null;
  }

  /**
   * Once per turn of the event loop, after uWebSockets.js has delivered every message of
   * its read: the frames gathered meanwhile go out in a few writes instead of one each.
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#agent === null) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Hands what waits to the agent's connection, unless it is full (then its 'drain' calls again). */
  #flush(): void {
    const agent = this.#agent;
    if (this.#done || agent === null || this.#outbox.empty || agent.writableNeedDrain) return;
    agent.cork();
    for (const batch of this.#outbox.take()) {
      const { stdinBytes } = batch;
      this.#stdinInFlight += stdinBytes;
      agent.write(batch.bytes, () => this.#taken(stdinBytes));
    }
    agent.uncork();
  }

  /** The agent's connection wrote a batch: its Stdin is no longer ahead of the agent. */
  #taken(stdinBytes: number): void {
    this.#stdinInFlight -= stdinBytes;
    if (stdinBytes > 0 && this.#dialect.returnsCredit) this.#credit(stdinBytes);
  }

  #credit(bytes: number): void {
    if (this.#done) return;
    this.#creditPending += bytes;
    if (this.#creditPending >= CREDIT_BATCH || (this.#agent?.writableLength ?? 0) === 0) {
      this.#client.sendBinary(encodeStdinCredit(this.#creditPending));
      this.#creditPending = 0;
    }
  }

  // ---- agent → client ---------------------------------------------------------------------

  #onAgentFrame(frame: RawFrame): void {
    if (this.#done) return;
    this.#keepAlive?.heard();
    if (!this.#state.agentFrame(frame.type)) return;
    this.#clearStartTimer();
    const dialect = this.#dialect;
    switch (frame.type) {
      case FrameType.Stdout:
        this.#record.stdoutBytes += frame.payload.length;
        dialect.output(frame);
        break;
      case FrameType.Stderr:
        this.#record.stderrBytes += frame.payload.length;
        dialect.output(frame);
        break;
      case FrameType.Started:
      case FrameType.Resumed: {
        const m = parseFrame(frame);
        if (m.type === FrameType.Started || m.type === FrameType.Resumed) this.#record.started(m.pid, m.sessionId);
        dialect.started(frame);
        this.#startKeepAlive();
        break;
      }
      case FrameType.Linger:
      case FrameType.StdinAck:
        dialect.notice(frame);
        break;
      case FrameType.Exit: {
        const m = parseFrame(frame);
        if (m.type !== FrameType.Exit) return;
        dialect.exit(frame, m);
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
        if (this.#pingToken && sameBytes(frame.payload, this.#pingToken)) this.#pingToken = null;
        else dialect.agentPong(frame);
        break;
    }
  }

  #startKeepAlive(): void {
    const interval = this.#ctx.limits.agentKeepAliveMs;
    if (interval <= 0 || this.#keepAlive) return;
    this.#keepAlive = new KeepAlive(
      interval,
      (token) => {
        this.#pingToken = token;
        this.#agent?.write(encodePing(token));
      },
      () =>
        this.#fail(
          'PEER_UNRESPONSIVE',
          `the agent of instance ${this.#ctx.instance} stopped answering (no Pong within ${interval / 1000} s); the VM may be frozen`,
        ),
      // Silence is ours while we hold the agent back or our writes to it are queued.
      () => this.#agentPaused || (this.#agent?.writableLength ?? 0) > 0,
    );
  }

  /** The agent's connection ended before Exit or Error: the agent died, or its VM stopped. */
  #agentGone(reason: string): void {
    if (!this.#done) this.#fail('AGENT_DISCONNECTED', `${reason}; the command's exit status is unknown`);
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
      this.#outbox.pushFrame(encodeError(code, message));
    }
    this.#finish('error', { error: code, reason: message }, closeCodeForError(ErrorCode[code]), code);
  }

  #finish(result: SessionResult, outcome: SessionOutcome, closeCode?: number, closeReason?: string): void {
    if (this.#done) return;
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    this.#clearStartTimer();
    this.#keepAlive?.stop();
    this.#abort.abort();
    this.#closeAgent();
    this.#done = true;
    if (closeCode !== undefined) this.#client.end(closeCode, closeReason ?? '');
    this.#record.end(result, outcome);
  }

  /**
   * Ends the agent's connection: the command is hung up when it does not linger (§9.9), or
   * detached when it does (§10.5). An Error on its way to the agent (the client's, or ours)
   * is written first, whatever the connection's backlog, and the connection closed once it
   * is out (at most AGENT_CLOSE_MS later), so that the command is hung up at once.
   */
  #closeAgent(): void {
    const agent = this.#agent;
    if (agent === null) return;
    // A connection the agent already ended (AGENT_DISCONNECTED) takes nothing more.
    if (this.#clientEnded && agent.writable) for (const batch of this.#outbox.take()) agent.write(batch.bytes);
    if (this.#clientEnded && agent.writable && agent.writableLength > 0) {
      agent.end();
      const timer = setTimeout(() => agent.destroy(), AGENT_CLOSE_MS);
      agent.once('finish', () => {
        clearTimeout(timer);
        agent.destroy();
      });
      return;
    }
    agent.end();
    agent.destroy();
  }
}
