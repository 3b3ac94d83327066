import {
  CopySessionState,
  ErrorCode,
  type ErrorCodeName,
  FrameDecoder,
  FrameType,
  INITIAL_STDIN_CREDIT,
  type Message,
  type RawFrame,
  closeCodeForError,
  encodePong,
  encodeStdinCredit,
  parseFrame,
} from '../../../../wire/index.js';
import { AgentLink } from '../AgentLink.js';
import type { RelayClient } from '../ClientDialect.js';
import { FLOW_CONTROL_SLACK, MAX_WAITING_CONTROL_FRAMES, type RelayContext } from '../ExecRelay.js';
import { RelayFailure, decodeAgentBytes, relayFailureOf } from '../RelayFailure.js';
import { SmallMessageBudget } from '../SmallMessageBudget.js';
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
  readonly #decoder: FrameDecoder;
  readonly #smallMessages: SmallMessageBudget;
  readonly #agent: AgentLink;
  #requestTimer: NodeJS.Timeout | null = null;
  #done = false;

  constructor(client: RelayClient, ctx: CopyRelayContext) {
    this.#client = client;
    this.#ctx = ctx;
    this.#dialect = ctx.dialect === 'framed' ? new FramedCopyDialect(this, client, { maxPayload: ctx.limits.maxPayload }) : new CompatCopyDialect(this);
    this.#decoder = new FrameDecoder((frame) => this.#onAgentFrame(frame), { maxPayload: ctx.limits.maxPayload });
    this.#smallMessages = new SmallMessageBudget(ctx.limits.smallMessagesPerSecond, 'send file data in larger messages');
    this.#record = new CopyRecord(ctx.metrics, ctx.audit, { subject: ctx.subject, instance: ctx.instance, remoteAddress: ctx.remoteAddress, dialect: ctx.dialect });
    this.#agent = new AgentLink(
      {
        bytes: (chunk) => this.#agentBytes(chunk),
        fail: (code, message) => this.#fail(code, message),
        credit: (bytes) => this.#client.sendBinary(encodeStdinCredit(bytes)),
      },
      {
        connectAgent: ctx.connectAgent,
        instance: ctx.instance,
        dataType: FrameType.UploadData,
        returnsCredit: this.#dialect.returnsCredit,
        startTimeoutMs: ctx.limits.agentStartTimeoutMs,
        keepAliveMs: ctx.limits.agentKeepAliveMs,
        // Copies have no Started: the agent is pinged while silent from the moment it is reached.
        keepAliveOnceReached: true,
        words: { start: 'answer', end: 'the copy ended', unknown: 'what was copied is unknown' },
      },
    );
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

  /** Called once the WebSocket is open: the request must come within the request timeout. */
  open(): void {
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

  clientDrain(): void {
    this.#agent.clientBuffered(this.#client.bufferedAmount(), this.#ctx.limits.sendHighWater);
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
      const failure = relayFailureOf(err);
      this.#fail(failure.code, failure.message);
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
    this.#agent.pushFrame(frame);
    this.#agent.connect(this.#ctx.waitForAgentSeconds);
  }

  clientFrame(m: Message, frame: Uint8Array): void {
    if (!this.#state.clientFrame(m)) return;
    if (m.type === FrameType.UploadData) {
      const limit = this.#dialect.returnsCredit ? INITIAL_STDIN_CREDIT + FLOW_CONTROL_SLACK : COMPAT_UPLOAD_LIMIT;
      if (this.#agent.waitingData + m.data.length > limit) {
        throw new RelayFailure(
          'FLOW_CONTROL',
          this.#dialect.returnsCredit
            ? 'file data is arriving faster than the agent takes it; honour StdinCredit (spec §8.1.1) or slow down'
            : `more than ${limit >> 20} MiB of file data wait for the instance's agent; this dialect has no flow control: copy large files in the framed dialect (hypeman-exec cp)`,
        );
      }
      this.#record.bytes += m.data.length;
      this.#agent.pushData(m.data);
      return;
    }
    if (m.type === FrameType.UploadEntry) this.#record.entries++;
    if (this.#agent.waitingFrames >= MAX_WAITING_CONTROL_FRAMES) {
      throw new RelayFailure('FLOW_CONTROL', `more than ${MAX_WAITING_CONTROL_FRAMES} frames wait for the agent, which is not reading`);
    }
    this.#agent.pushFrame(frame);
  }

  send(bytes: Uint8Array): void {
    if (!this.#client.sendBinary(bytes)) throw new RelayFailure('INTERNAL_ERROR', 'the server could not queue data for this client');
    this.#agent.clientBuffered(this.#client.bufferedAmount(), this.#ctx.limits.sendHighWater);
  }

  sendText(text: string): void {
    if (!this.#client.sendText(text)) throw new RelayFailure('INTERNAL_ERROR', 'the server could not queue data for this client');
    this.#agent.clientBuffered(this.#client.bufferedAmount(), this.#ctx.limits.sendHighWater);
  }

  // ---- agent → client ---------------------------------------------------------------------

  #agentBytes(chunk: Uint8Array): void {
    if (this.#done) return;
    this.#guard(() => {
      decodeAgentBytes(() => this.#decoder.push(chunk));
      // The frames of one read go to the client together (framed: joined into messages).
      if (!this.#done) this.#dialect.flush();
    });
  }

  #onAgentFrame(frame: RawFrame): void {
    if (this.#done) return;
    this.#agent.heard();
    const m = parseFrame(frame);
    if (!this.#state.agentFrame(m)) return;
    switch (m.type) {
      case FrameType.Error:
        this.#dialect.failure(m.code, m.message, m.path, frame.bytes);
        this.#finish('error', { error: m.code, reason: m.message }, closeCodeForError(m.wireCode), m.code);
        return;
      case FrameType.Ping:
        // The original's clients know no Ping: the relay answers for them.
        if (this.#dialect.returnsCredit) break;
        this.#agent.write(encodePong(m.token));
        return;
      case FrameType.Pong:
        if (this.#agent.ownPong(m.token)) return;
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
    // Ending our side stops the operation in the agent (an upload leaves no partial file).
    this.#agent.close();
    if (closeCode !== undefined) {
      try {
        if (result === 'ok') this.#dialect.flush(); // the last frames, CopyResult among them
      } catch {
        // The client cannot take them: it gets the close alone.
      }
      this.#client.end(closeCode, closeReason ?? '');
    }
    this.#record.end(result, outcome);
  }
}
