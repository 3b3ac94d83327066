import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  DEFAULT_MAX_PAYLOAD,
  ErrorCode,
  type ErrorCodeName,
  ExecSessionState,
  ExitKind,
  FrameDecoder,
  FrameType,
  INITIAL_STDIN_CREDIT,
  ProtocolError,
  type RawFrame,
  UnexpectedFrameError,
  decodeSingleFrame,
  encodeDataFrame,
  encodeError,
  encodeExecStart,
  encodePing,
  encodePong,
  encodeSignal,
  encodeStdinClose,
  encodeStdinCredit,
  encodeWindowSize,
  parseExecStart,
  parseFrame,
  type ExecRequest,
  HEADER_SIZE,
  KeepAlive,
  closeCodeForError,
  frameTypeOf,
  payloadLengthOf,
  writeHeader,
} from '../../wire/index.js';
import { ApiError } from './errors.js';
import { type ExecParams, parseJsonRequest } from './ExecRequestParams.js';
import type { ExecMetrics, SessionResult } from './ExecMetrics.js';

/** The WebSocket as the relay sees it (uWebSockets.js in the server; anything in tests). */
export interface RelayClient {
  sendBinary(bytes: Uint8Array): boolean;
  sendText(text: string): boolean;
  bufferedAmount(): number;
  /** Sends a close frame; the relay gets no more messages afterwards. */
  end(code: number, reason: string): void;
}

export type Dialect = 'framed' | 'compat';

export interface RelayContext {
  dialect: Dialect;
  /** The request from the query string, if it had one (spec §8.1); else it comes in-band. */
  queryRequest: ExecRequest | null;
  waitForAgentSeconds: number;
  /** Opens the byte stream to the instance's agent (hybrid or native vsock). */
  connectAgent(waitForAgentSeconds: number, signal: AbortSignal): Promise<Duplex>;
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
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  maxPayload: DEFAULT_MAX_PAYLOAD,
  sendHighWater: 1024 * 1024,
  requestTimeoutMs: 10_000,
  agentKeepAliveMs: 30_000,
};

/** Bytes a client may get ahead of the agent beyond its credit before FLOW_CONTROL (§8.1.1). */
export const FLOW_CONTROL_SLACK = 1024 * 1024;
/**
 * Largest Stdout/Stderr payload in one message to the client: the message (with our 5-byte
 * header and WebSocket's 4) stays under uWebSockets.js's 16 KiB cork buffer.
 */
export const CLIENT_DATA_CHUNK = 16 * 1024 - 16;
/** Credit is returned in batches of at least this many bytes, or when the agent link idles. */
const CREDIT_BATCH = 256 * 1024;

/** Whether two byte ranges hold the same bytes (views compared where they are). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

class RelayFailure extends Error {
  constructor(
    readonly code: ErrorCodeName,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One exec session between a WebSocket client and an agent connection (spec §8). Frames are
 * checked against the session state machine in both directions and relayed as received;
 * the compatible dialect translates at the edges. Flow control: the agent link is paused
 * while the WebSocket's send buffer is above the high-water mark; Stdin toward the agent is
 * limited by credit (framed) or by a hard cap on what is queued (both dialects).
 */
export class ExecRelay {
  readonly #client: RelayClient;
  readonly #ctx: RelayContext;
  readonly #state = new ExecSessionState();
  readonly #abort = new AbortController();
  readonly #started = process.hrtime.bigint();
  readonly #decoder: FrameDecoder;

  #agent: Duplex | null = null;
  #connecting = false;
  /** Frames for the agent while it is being connected. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #requestTimer: NodeJS.Timeout | null = null;
  #request: ExecRequest | null = null;
  #agentPaused = false;
  #creditPending = 0;
  #done = false;
  #pid = 0;
  #keepAlive: KeepAlive | null = null;
  /** The token of our own Ping in flight: its Pong is ours, not the client's. */
  #pingToken: Uint8Array | null = null;

  #stdinBytes = 0;
  #stdoutBytes = 0;
  #stderrBytes = 0;

  constructor(client: RelayClient, ctx: RelayContext) {
    this.#client = client;
    this.#ctx = ctx;
    this.#decoder = new FrameDecoder((frame) => this.#onAgentFrame(frame), { maxPayload: ctx.limits.maxPayload });
    ctx.metrics.active.inc();
  }

  get ended(): boolean {
    return this.#done;
  }

  /** Called once the WebSocket is open. */
  open(): void {
    const { queryRequest } = this.#ctx;
    if (queryRequest) {
      this.#guard(() => this.#begin(encodeExecStart(queryRequest), queryRequest, this.#ctx.waitForAgentSeconds));
      return;
    }
    if (this.#ctx.dialect === 'framed') this.#connect(this.#ctx.waitForAgentSeconds);
    this.#requestTimer = setTimeout(
      () =>
        this.#fail(
          'INVALID_REQUEST',
          this.#ctx.dialect === 'framed'
            ? 'no ExecStart frame arrived; send it as the first message or put the request in the query'
            : 'no request arrived; pass ?command=… or send a JSON request as the first text message',
        ),
      this.#ctx.limits.requestTimeoutMs,
    );
  }

  /** A message from the WebSocket. `data` is only valid during this call. */
  clientMessage(data: ArrayBuffer, isBinary: boolean): void {
    if (this.#done) return;
    this.#guard(() => {
      if (this.#ctx.dialect === 'framed') this.#framedClientMessage(new Uint8Array(data), isBinary);
      else this.#compatClientMessage(new Uint8Array(data), isBinary);
    });
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
      if (err instanceof ProtocolError) this.#fail(err.code, err.message);
      else if (err instanceof RelayFailure) this.#fail(err.code, err.message);
      else if (err instanceof ApiError) this.#fail('INVALID_REQUEST', err.message);
      else this.#fail('INTERNAL_ERROR', `the server failed: ${(err as Error).message}`);
    }
  }

  // ---- client → agent -------------------------------------------------------------------

  #framedClientMessage(view: Uint8Array, isBinary: boolean): void {
    if (!isBinary) throw new RelayFailure('MALFORMED_FRAME', 'the framed dialect uses binary messages only, one frame each');
    const frame = decodeSingleFrame(view, this.#ctx.limits.maxPayload);
    if (frame === null) return;
    if (frame.type === FrameType.ExecStart) {
      if (this.#ctx.queryRequest) {
        throw new UnexpectedFrameError('the request was given in the query string; do not send ExecStart as well');
      }
      const start = parseExecStart(frame.payload);
      this.#begin(copy(frame.bytes), start, this.#ctx.waitForAgentSeconds);
      return;
    }
    if (!this.#state.clientFrame(frame.type)) return;
    parseFrame(frame);
    this.#toAgent(copy(frame.bytes), frame.type === FrameType.Stdin ? frame.payload.length : -1);
  }

  #compatClientMessage(view: Uint8Array, isBinary: boolean): void {
    if (!this.#state.execStarted) {
      if (isBinary) {
        // A client that sends stdin straight away wants the default command (spec §8.2).
        const request: ExecRequest = { argv: [], env: {}, cwd: '', user: '', tty: false, timeoutSeconds: 0 };
        this.#begin(encodeExecStart(request), request, this.#ctx.waitForAgentSeconds);
      } else {
        const params: ExecParams = parseJsonRequest(Buffer.from(view).toString('utf8'));
        const wait = Math.max(params.waitForAgentSeconds, this.#ctx.waitForAgentSeconds);
        this.#begin(encodeExecStart(params.request), params.request, wait);
        return;
      }
    }
    if (isBinary) {
      if (!this.#state.clientFrame(FrameType.Stdin)) return;
      this.#toAgent(encodeDataFrame(FrameType.Stdin, view, this.#ctx.limits.maxPayload), view.length);
      return;
    }
    const control = parseCompatControl(Buffer.from(view).toString('utf8'));
    if (!this.#state.clientFrame(control.type)) return;
    this.#toAgent(control.frame, -1);
  }

  /** The request is known: start the agent link (if not already) and send ExecStart first. */
  #begin(execStart: Uint8Array, request: ExecRequest, waitForAgentSeconds: number): void {
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    this.#requestTimer = null;
    this.#state.clientFrame(FrameType.ExecStart);
    this.#request = request;
    this.#pending.unshift(execStart);
    this.#pendingBytes += execStart.length;
    // The framed dialect may have connected while it waited for ExecStart.
    if (this.#agent) this.#flushPending();
    else this.#connect(waitForAgentSeconds);
  }

  #connect(waitForAgentSeconds: number): void {
    if (this.#connecting || this.#agent) return;
    this.#connecting = true;
    this.#ctx.connectAgent(waitForAgentSeconds, this.#abort.signal).then(
      (agent) => this.#attach(agent),
      (err: Error & { code?: unknown }) => {
        if (this.#done) return;
        if (err.code === 'INSTANCE_NOT_RUNNING') this.#fail('INSTANCE_NOT_RUNNING', err.message);
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
    agent.on('data', (chunk: Buffer) => {
      if (this.#done) return;
      this.#guard(() => {
        try {
          this.#decoder.push(chunk);
        } catch (err) {
          if (err instanceof ProtocolError) throw new RelayFailure('INTERNAL_ERROR', `the agent broke the protocol: ${err.message}`);
          throw err;
        }
      });
    });
    agent.on('end', () => this.#agentGone('the agent closed the connection before the command ended'));
    agent.on('close', () => this.#agentGone('the connection to the agent closed before the command ended'));
    agent.on('error', (err) => this.#agentGone(`the connection to the agent failed: ${err.message}`));
    // Dialers hand the stream over paused, so that nothing is read before we listen.
    agent.resume();
    if (this.#pending.length > 0) this.#flushPending();
  }

  #flushPending(): void {
    const agent = this.#agent!;
    const frames = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    agent.cork();
    for (const f of frames) this.#writeAgent(agent, f, frameTypeOf(f) === FrameType.Stdin ? payloadLengthOf(f) : -1);
    agent.uncork();
  }

  /** `stdinPayload` ≥ 0 marks a Stdin frame, for credit and accounting. */
  #toAgent(frame: Uint8Array, stdinPayload: number): void {
    if (stdinPayload >= 0) this.#stdinBytes += stdinPayload;
    const agent = this.#agent;
    const queued = agent ? agent.writableLength : this.#pendingBytes;
    if (queued + frame.length > INITIAL_STDIN_CREDIT + FLOW_CONTROL_SLACK) {
      throw new RelayFailure(
        'FLOW_CONTROL',
        'stdin is arriving faster than the command reads it; honour StdinCredit (spec §8.1.1) or slow down',
      );
    }
    if (agent && this.#state.execStarted) this.#writeAgent(agent, frame, stdinPayload);
    else {
      this.#pending.push(frame);
      this.#pendingBytes += frame.length;
    }
  }

  #writeAgent(agent: Duplex, frame: Uint8Array, stdinPayload: number): void {
    if (stdinPayload >= 0 && this.#ctx.dialect === 'framed') {
      agent.write(frame, () => this.#credit(stdinPayload));
    } else {
      agent.write(frame);
    }
  }

  #credit(bytes: number): void {
    if (this.#done) return;
    this.#creditPending += bytes;
    if (this.#creditPending >= CREDIT_BATCH || (this.#agent?.writableLength ?? 0) === 0) {
      this.#client.sendBinary(encodeStdinCredit(this.#creditPending));
      this.#creditPending = 0;
    }
  }

  // ---- agent → client -------------------------------------------------------------------

  #onAgentFrame(frame: RawFrame): void {
    if (this.#done) return;
    this.#keepAlive?.heard();
    if (!this.#state.agentFrame(frame.type)) return;
    const framed = this.#ctx.dialect === 'framed';
    switch (frame.type) {
      case FrameType.Stdout:
        this.#stdoutBytes += frame.payload.length;
        this.#sendOutput(FrameType.Stdout, frame, framed);
        break;
      case FrameType.Stderr:
        this.#stderrBytes += frame.payload.length;
        this.#sendOutput(FrameType.Stderr, frame, framed);
        break;
      case FrameType.Started: {
        const m = parseFrame(frame);
        if (m.type === FrameType.Started) this.#pid = m.pid;
        if (framed) this.#send(frame.bytes);
        this.#startKeepAlive();
        break;
      }
      case FrameType.Exit: {
        const m = parseFrame(frame);
        if (m.type !== FrameType.Exit) return;
        if (framed) this.#send(frame.bytes);
        else this.#client.sendText(JSON.stringify({ exitCode: m.code }));
        const result: SessionResult =
          m.kind === ExitKind.Exited ? 'exited' : m.kind === ExitKind.Signaled ? 'signaled' : 'timed_out';
        this.#finish(result, { exitCode: m.code, signal: m.signal || undefined }, 1000, 'exited');
        break;
      }
      case FrameType.Error: {
        const m = parseFrame(frame);
        if (m.type !== FrameType.Error) return;
        if (framed) this.#send(frame.bytes);
        else this.#client.sendText(JSON.stringify({ code: m.code, message: m.message }));
        this.#finish('error', { error: m.code, reason: m.message }, closeCodeForError(m.wireCode), m.code);
        break;
      }
      case FrameType.Ping:
        if (framed) this.#send(frame.bytes);
        else this.#agent?.write(encodePong(frame.payload));
        break;
      case FrameType.Pong:
        if (this.#pingToken && sameBytes(frame.payload, this.#pingToken)) this.#pingToken = null;
        else if (framed) this.#send(frame.bytes);
        break;
    }
  }

  /**
   * Output to the client in messages of at most CLIENT_DATA_CHUNK payload bytes: an agent frame
   * of up to 64 KiB becomes several Stdout/Stderr frames (same bytes, same order; spec §8.1).
   * uWebSockets.js sends a message of 16 KiB or more by other paths than small ones, and
   * under backpressure one of them now and then wrote a message's WebSocket header twice
   * (seen on the raw TCP stream): 3 of 36 sessions reading 512 MiB at 10 MB/s, four at a
   * time, with 64 KiB messages; none of 48 with these.
   */
  #sendOutput(type: typeof FrameType.Stdout | typeof FrameType.Stderr, frame: RawFrame, framed: boolean): void {
    const { bytes, payload } = frame;
    if (payload.length <= CLIENT_DATA_CHUNK) {
      this.#send(framed ? bytes : payload);
      return;
    }
    for (let at = 0; at < payload.length; at += CLIENT_DATA_CHUNK) {
      const end = Math.min(at + CLIENT_DATA_CHUNK, payload.length);
      if (!framed) {
        this.#send(payload.subarray(at, end));
        continue;
      }
      // Each piece's header goes in place into the 5 bytes before it: the frame's own header
      // for the first, the end of the piece just sent for the others (uWS copied that one
      // before send() returned). No payload is copied here.
      const piece = bytes.subarray(at, HEADER_SIZE + end);
      writeHeader(piece, 0, type, end - at);
      this.#send(piece);
    }
  }

  #send(bytes: Uint8Array): void {
    if (!this.#client.sendBinary(bytes)) {
      throw new RelayFailure('INTERNAL_ERROR', 'the server could not queue output for this client');
    }
    if (!this.#agentPaused && this.#client.bufferedAmount() > this.#ctx.limits.sendHighWater) {
      this.#agentPaused = true;
      this.#agent?.pause();
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

  #agentGone(reason: string): void {
    if (!this.#done) this.#fail('AGENT_UNREACHABLE', reason);
  }

  // ---- ending ---------------------------------------------------------------------------

  /** Ends the session with an Error of ours: to the client, then close 4000+code. */
  #fail(code: ErrorCodeName, message: string): void {
    if (this.#done) return;
    if (this.#ctx.dialect === 'framed') this.#client.sendBinary(encodeError(code, message));
    else this.#client.sendText(JSON.stringify({ code, message }));
    this.#finish('error', { error: code, reason: message }, closeCodeForError(ErrorCode[code]), code);
  }

  #finish(
    result: SessionResult,
    outcome: { exitCode?: number; signal?: number; error?: string; reason?: string },
    closeCode?: number,
    closeReason?: string,
  ): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    this.#keepAlive?.stop();
    this.#abort.abort();
    // Ending our side hangs up the command when it is still running (spec §9.9).
    if (this.#agent) {
      this.#agent.end();
      this.#agent.destroy();
    }
    this.#pending = [];
    if (closeCode !== undefined) this.#client.end(closeCode, closeReason ?? '');

    const seconds = Number(process.hrtime.bigint() - this.#started) / 1e9;
    const { metrics, audit } = this.#ctx;
    metrics.active.dec();
    metrics.sessions.inc({ result });
    metrics.duration.observe(seconds);
    metrics.bytes.inc({ stream: 'stdin' }, this.#stdinBytes);
    metrics.bytes.inc({ stream: 'stdout' }, this.#stdoutBytes);
    metrics.bytes.inc({ stream: 'stderr' }, this.#stderrBytes);
    audit.info(
      {
        audit: 'exec',
        subject: this.#ctx.subject,
        instance: this.#ctx.instance,
        argv: this.#request?.argv.length ? this.#request.argv : this.#request ? ['/bin/sh'] : undefined,
        tty: this.#request?.tty,
        remote: this.#ctx.remoteAddress,
        dialect: this.#ctx.dialect,
        pid: this.#pid || undefined,
        result,
        ...outcome,
        durationMs: Math.round(seconds * 1000),
        bytesIn: this.#stdinBytes,
        bytesOut: this.#stdoutBytes + this.#stderrBytes,
      },
      'exec session ended',
    );
  }
}

function copy(view: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(view);
}

/** The compatible dialect's optional control messages (spec §8.2). */
function parseCompatControl(text: string): { type: number; frame: Uint8Array } {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new RelayFailure('INVALID_REQUEST', 'text messages after the request must be JSON control messages');
  }
  const m = (typeof o === 'object' && o !== null ? o : {}) as Record<string, unknown>;
  switch (m.type) {
    case 'stdin_close':
      return { type: FrameType.StdinClose, frame: encodeStdinClose() };
    case 'resize':
      return { type: FrameType.WindowSize, frame: encodeWindowSize({ rows: Number(m.rows), cols: Number(m.cols) }) };
    case 'signal':
      return { type: FrameType.Signal, frame: encodeSignal(Number(m.signal)) };
    default:
      throw new RelayFailure(
        'INVALID_REQUEST',
        `unknown control message ${JSON.stringify(text.slice(0, 80))}; expected {"type":"stdin_close"|"resize"|"signal",…}`,
      );
  }
}
