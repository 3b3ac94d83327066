import {
  ExecStartFrame,
  FrameType,
  type ErrorMessage,
  type ExitMessage,
  type RawFrame,
  FrameTooLargeError,
  encodePong,
  encodeSignal,
  encodeStdinClose,
  encodeWindowSize,
} from '../../../wire/index.js';
import { emptyRequest, parseJsonRequest } from '../ExecRequestParams.js';
import type { ClientDialect, RelayClient, RelaySession } from './ClientDialect.js';
import { RelayFailure } from './RelayFailure.js';

/**
 * The original platform's dialect (spec §8.2): a JSON request (or the query), binary
 * messages of stdin, output as bare binary messages, `{"exitCode":N}` at the end, errors as
 * JSON. Translated to frames at this edge; the agent never knows.
 */
export class CompatDialect implements ClientDialect {
  readonly name = 'compat';
  readonly returnsCredit = false;
  readonly requestMissing = 'no request arrived; pass ?command=… or send a JSON request as the first text message';
  readonly #session: RelaySession;
  readonly #client: RelayClient;
  readonly #maxPayload: number;
  readonly #waitForAgentSeconds: number;

  constructor(session: RelaySession, client: RelayClient, options: { maxPayload: number; waitForAgentSeconds: number }) {
    this.#session = session;
    this.#client = client;
    this.#maxPayload = options.maxPayload;
    this.#waitForAgentSeconds = options.waitForAgentSeconds;
  }

  message(view: Uint8Array, isBinary: boolean): void {
    const session = this.#session;
    if (!session.execStarted) {
      if (!isBinary) {
        const params = parseJsonRequest(Buffer.from(view).toString('utf8'));
        session.begin(ExecStartFrame.encode(params.request), Math.max(params.waitForAgentSeconds, this.#waitForAgentSeconds));
        return;
      }
      // A client that sends stdin straight away wants the default command (spec §8.2).
      session.begin(ExecStartFrame.encode(emptyRequest()), this.#waitForAgentSeconds);
    }
    if (isBinary) {
      if (view.length > this.#maxPayload) throw new FrameTooLargeError(view.length, this.#maxPayload);
      if (session.clientFrame(FrameType.Stdin)) session.stdin(view);
      return;
    }
    const control = parseControl(Buffer.from(view).toString('utf8'));
    if (session.clientFrame(control.type)) session.control(control.frame);
  }

  output(frame: RawFrame): void {
    this.#session.send(frame.payload);
  }

  started(): void {
    // The original's clients know no Started.
  }

  notice(): void {
    // Version 1 sessions only (spec §8.2): the agent sends none.
  }

  exit(_frame: RawFrame, exit: ExitMessage): void {
    this.#client.sendText(JSON.stringify({ exitCode: exit.code }));
  }

  agentError(_frame: RawFrame, error: ErrorMessage): void {
    this.failure(error.code, error.message);
  }

  failure(code: string, message: string): void {
    this.#client.sendText(JSON.stringify({ code, message }));
  }

  /** The original's clients know no Ping: the relay answers the agent itself. */
  agentPing(frame: RawFrame): void {
    this.#session.answerAgent(encodePong(frame.payload));
  }

  agentPong(): void {
    // Nobody on this side pinged.
  }
}

/** The dialect's optional control messages (spec §8.2). */
function parseControl(text: string): { type: number; frame: Uint8Array } {
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
