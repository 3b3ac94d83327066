import type { Duplex } from 'node:stream';
import {
  CodedError,
  CopySessionState,
  ErrorCode,
  type ErrorCodeName,
  FrameDecoder,
  FrameType,
  INITIAL_STDIN_CREDIT,
  KeepAlive,
  type Message,
  ProtocolError,
  type RawFrame,
  closeCodeForError,
  encodePing,
  encodePong,
  encodeStdinCredit,
  parseFrame,
} from '../../../../wire/index.js';
import { readSharedChunks } from '../../../dial/SharedReads.js';
import { ApiError } from '../../errors.js';
import { AgentOutbox } from '../AgentOutbox.js';
import type { RelayClient } from '../ClientDialect.js';
import type { RelayContext } from '../ExecRelay.js';
import { FLOW_CONTROL_SLACK, MAX_WAITING_CONTROL_FRAMES } from '../ExecRelay.js';
import { RelayFailure } from '../RelayFailure.js';
import { SMALL_MESSAGE_BYTES, SmallMessageBudget } from '../SmallMessageBudget.js';
import { CompatCopyDialect } from './CompatCopyDialect.js';
import type { CopyDialect, CopyRelaySession, CopyRequestMessage } from './CopyDialect.js';
import { CopyRecord, type CopyResultName } from './CopyRecord.js';
import { FramedCopyDialect } from './FramedCopyDialect.js';

/**
 * Upload bytes the compatible dialect may hold for the agent. Its clients know no credit and
 * uWebSockets.js cannot stop reading one connection, so a client faster than the agent's
 * disk meets FLOW_CONTROL here; the framed dialect's credit never lets it get this far.
 */
export const COMPAT_UPLOAD_LIMIT = 32 * 1024 * 1024;
/** Credit is returned in batches of at least this many bytes, or when the agent link idles. */
const CREDIT_BATCH = 256 * 1024;

export type CopyRelayContext = Omit<RelayContext, 'queryRequest'>;

/**
 * One copy or stat operation between a WebSocket client and an agent connection (spec
 * §12.10): the client's request and upload are checked against the operation's state
 * machine and forwarded (an upload's bytes joined into frames of up to 64 KiB); the agent's
 * frames are checked and passed to the dialect. Flow control as the exec relay's: the
 * agent is paused while the client's send buffer is full; an upload is paid for with credit
 * (framed) or capped (compatible).
 */
export class CopyRelay implements CopyRelaySession {
  readonly #client: RelayClient;
  readonly #ctx: CopyRelayContext;
  readonly #dialect: CopyDialect;
  readonly #record: CopyRecord;
  readonly #state = new CopySessionState();
  readonly #abort = new AbortController();
  readonly #decoder: FrameDecoder;
  readonly #smallMessages: SmallMessageBudget;
  readonly #outbox = new AgentOutbox(FrameType.UploadData);
  #agent: Duplex | null = null;
  #flushScheduled = false;
  /** Upload bytes handed to the agent's connection and not yet written by it. */
  #dataInFlight = 0;
  #requestTimer: NodeJS.Timeout | null = null;
  #startTimer: NodeJS.Timeout | null = null;
  #agentPaused = false;
  #creditPending = 0;
  #done = false;
  #keepAlive: KeepAlive | null = null;
  #pingToken: Uint8Array | null = null;

  constructor(client: RelayClient, ctx: CopyRelayContext) {
    this.#client = client;
    this.#ctx = ctx;
    this.#dialect = ctx.dialect === 'framed' ? new FramedCopyDialect(this, client, { maxPayload: ctx.limits.maxPayload }) : new CompatCopyDialect(this, client);
    this.#decoder = new FrameDecoder((frame) => this.#onAgentFrame(frame), { maxPayload: ctx.limits.maxPayload });
    this.#smallMessages = new SmallMessageBudget(ctx.limits.smallMessagesPerSecond);
    this.#record = new CopyRecord(ctx.metrics, ctx.audit, { subject: ctx.subject, instance: ctx.instance, remoteAddress: ctx.remoteAddress, dialect: ctx.dialect });
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

  get requested(): boolean {
    return this.#state.operation !== null;
  }

  open(): void {
    this.#requestTimer = setTimeout(() => this.#fail('START_TIMEOUT', this.#dialect.requestMissing), this.#ctx.limits.requestTimeoutMs);
  }

  clientMessage(data: ArrayBuffer, isBinary: boolean): void {
    if (this.#done) return;
    if (!this.#smallMessages.take(data.byteLength)) {
      this.#fail('FLOW_CONTROL', `more than ${this.#smallMessages.perSecond} messages under ${SMALL_MESSAGE_BYTES} bytes a second; send file data in larger messages`);
      return;
    }
    this.#guard(() => this.#dialect.message(new Uint8Array(data), isBinary));
  }

  clientDrain(): void {
    if (this.#agentPaused && this.#client.bufferedAmount() < this.#ctx.limits.sendHighWater / 2) {
      this.#agentPaused = false;
      this.#agent?.resume();
    }
  }

  clientClosed(code: number): void {
    if (!this.#done) this.#finish('client_closed', { reason: `the client closed the connection (${code})` });
  }

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

  // ---- client → agent (CopyRelaySession, for the dialect) ----------------------------------

  begin(request: CopyRequestMessage, frame: Uint8Array): void {
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    this.#requestTimer = null;
    this.#state.clientFrame(request);
    this.#record.operation = this.#state.operation;
    this.#record.path = Buffer.from(request.path).toString('utf8');
    const refusal = this.#ctx.admit();
    if (refusal !== null) throw new RelayFailure('TOO_MANY_SESSIONS', refusal);
    this.#outbox.pushFrame(frame);
    this.#connect();
    this.#scheduleFlush();
  }

  clientFrame(m: Message, frame: Uint8Array): void {
    if (!this.#state.clientFrame(m)) return;
    if (m.type === FrameType.UploadData) {
      const limit = this.#dialect.returnsCredit ? INITIAL_STDIN_CREDIT + FLOW_CONTROL_SLACK : COMPAT_UPLOAD_LIMIT;
      if (this.#outbox.stdinBytes + this.#dataInFlight + m.data.length > limit) {
        throw new RelayFailure('FLOW_CONTROL', this.#dialect.returnsCredit ? 'file data is arriving faster than the agent takes it; honour StdinCredit (spec §8.1.1) or slow down' : `more than ${limit >> 20} MiB of file data wait for the instance's agent; this dialect has no flow control: use the framed dialect (hypeman-exec cp) for large files`);
      }
      this.#record.bytes += m.data.length;
      this.#outbox.pushStdin(m.data);
    } else {
      if (m.type === FrameType.UploadEntry) this.#record.entries++;
      if (this.#outbox.controlFrames >= MAX_WAITING_CONTROL_FRAMES) {
        throw new RelayFailure('FLOW_CONTROL', `more than ${MAX_WAITING_CONTROL_FRAMES} frames wait for the agent, which is not reading`);
      }
      this.#outbox.pushFrame(frame);
    }
    this.#scheduleFlush();
  }

  send(bytes: Uint8Array): void {
    if (!this.#client.sendBinary(bytes)) throw new RelayFailure('INTERNAL_ERROR', 'the server could not queue data for this client');
    this.#holdAgentIfFull();
  }

  sendText(text: string): void {
    if (!this.#client.sendText(text)) throw new RelayFailure('INTERNAL_ERROR', 'the server could not queue data for this client');
    this.#holdAgentIfFull();
  }

  #holdAgentIfFull(): void {
    if (!this.#agentPaused && this.#client.bufferedAmount() > this.#ctx.limits.sendHighWater) {
      this.#agentPaused = true;
      this.#agent?.pause();
    }
  }

  // ---- the agent link ---------------------------------------------------------------------

  #connect(): void {
    this.#ctx.connectAgent(this.#ctx.waitForAgentSeconds, this.#abort.signal).then(
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
    // Every chunk is consumed before the handler returns (uWS copies what it sends), so a
    // stream read into the shared buffer needs no buffer of its own.
    const onChunk = (chunk: Uint8Array) => this.#agentBytes(chunk);
    if (!readSharedChunks(agent, onChunk)) agent.on('data', onChunk);
    agent.on('end', () => this.#agentGone('the agent closed the connection before the copy ended'));
    agent.on('close', () => this.#agentGone('the connection to the agent closed before the copy ended'));
    agent.on('error', (err) => this.#agentGone(`the connection to the agent failed: ${err.message}`));
    agent.on('drain', () => this.#flush());
    agent.resume();
    this.#flush();
    const startMs = this.#ctx.limits.agentStartTimeoutMs;
    this.#startTimer = setTimeout(
      () => this.#fail('PEER_UNRESPONSIVE', `the agent of instance ${this.#ctx.instance} accepted the connection but did not answer within ${startMs / 1000} s; the VM may be frozen or overloaded`),
      startMs,
    );
    this.#startKeepAlive();
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

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#agent === null) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const agent = this.#agent;
    if (this.#done || agent === null || this.#outbox.empty || agent.writableNeedDrain) return;
    agent.cork();
    for (const batch of this.#outbox.take()) {
      const { stdinBytes } = batch;
      this.#dataInFlight += stdinBytes;
      agent.write(batch.bytes, () => this.#taken(stdinBytes));
    }
    agent.uncork();
  }

  #taken(bytes: number): void {
    this.#dataInFlight -= bytes;
    if (bytes === 0 || !this.#dialect.returnsCredit || this.#done) return;
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
    const m = parseFrame(frame);
    if (!this.#state.agentFrame(m)) return;
    if (this.#startTimer) clearTimeout(this.#startTimer);
    this.#startTimer = null;
    switch (m.type) {
      case FrameType.Error:
        this.#dialect.failure(m.code, m.message, m.path, frame.bytes);
        this.#finish('error', { error: m.code, reason: m.message }, closeCodeForError(m.wireCode), m.code);
        return;
      case FrameType.Ping:
        // The original's clients know no Ping: the relay answers for them.
        if (this.#dialect.returnsCredit) this.send(frame.bytes);
        else this.#agent?.write(encodePong(m.token));
        return;
      case FrameType.Pong:
        if (this.#pingToken && Buffer.from(frame.payload).equals(this.#pingToken)) {
          this.#pingToken = null;
          return;
        }
        break;
      case FrameType.DownloadEntry:
        this.#record.entries++;
        break;
      case FrameType.DownloadData:
        this.#record.bytes += m.data.length;
        break;
      case FrameType.CopyResult:
        this.#record.entries = m.entries;
        this.#record.bytes = m.bytes;
        break;
    }
    this.#dialect.agentFrame(frame, m);
    if (this.#state.ended) this.#finish('ok', {}, 1000, 'done');
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
      () => this.#fail('PEER_UNRESPONSIVE', `the agent of instance ${this.#ctx.instance} stopped answering (no Pong within ${interval / 1000} s); the VM may be frozen`),
      // Silence is ours while we hold the agent back or our writes to it are queued.
      () => this.#agentPaused || (this.#agent?.writableLength ?? 0) > 0,
    );
  }

  #agentGone(reason: string): void {
    if (!this.#done) this.#fail('AGENT_DISCONNECTED', `${reason}; what was copied is unknown`);
  }

  // ---- ending -----------------------------------------------------------------------------

  #fail(code: ErrorCodeName, message: string): void {
    if (this.#done) return;
    this.#dialect.failure(code, message, undefined, undefined);
    this.#finish('error', { error: code, reason: message }, closeCodeForError(ErrorCode[code]), code);
  }

  #finish(result: CopyResultName, outcome: { error?: string; reason?: string }, closeCode?: number, closeReason?: string): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    if (this.#startTimer) clearTimeout(this.#startTimer);
    this.#keepAlive?.stop();
    this.#abort.abort();
    // Ending our side stops the operation in the agent (an upload leaves no partial file).
    if (this.#agent) {
      this.#agent.end();
      this.#agent.destroy();
    }
    if (closeCode !== undefined) this.#client.end(closeCode, closeReason ?? '');
    this.#record.end(result, outcome);
  }
}
