import {
  type ErrorCodeName,
  ExecStartFrame,
  FrameType,
  HEADER_SIZE,
  type RawFrame,
  UnexpectedFrameError,
  decodeSingleFrame,
  encodeError,
  frameTypeOf,
  payloadLengthOf,
  parseFrame,
} from '../../../wire/index.js';
import type { ClientDialect, RelayClient, RelaySession } from './ClientDialect.js';
import { copy } from './clientData.js';
import { RelayFailure } from './RelayFailure.js';

/**
 * The framed dialect (spec §8.1): one frame per binary message both ways. Client frames are
 * checked and forwarded as received, agent frames relayed as received; Stdin is paid for
 * with credit.
 */
export class FramedDialect implements ClientDialect {
  readonly name = 'framed';
  readonly returnsCredit = true;
  readonly requestMissing = 'no ExecStart frame arrived; send it as the first message or put the request in the query';
  readonly #session: RelaySession;
  readonly #client: RelayClient;
  readonly #maxPayload: number;
  readonly #queryRequest: boolean;
  readonly #waitForAgentSeconds: number;

  constructor(session: RelaySession, client: RelayClient, options: { maxPayload: number; queryRequest: boolean; waitForAgentSeconds: number }) {
    this.#session = session;
    this.#client = client;
    this.#maxPayload = options.maxPayload;
    this.#queryRequest = options.queryRequest;
    this.#waitForAgentSeconds = options.waitForAgentSeconds;
  }

  message(view: Uint8Array, isBinary: boolean): void {
    if (!isBinary) throw new RelayFailure('MALFORMED_FRAME', 'the framed dialect uses binary messages only, one frame each');
    // The hot path: a well-formed Stdin frame, checked from its header without building a RawFrame.
    const length = view.length - HEADER_SIZE;
    if (length >= 0 && length <= this.#maxPayload && frameTypeOf(view) === FrameType.Stdin && payloadLengthOf(view) === length) {
      if (this.#session.clientFrame(FrameType.Stdin)) this.#session.stdin(view.subarray(HEADER_SIZE));
      return;
    }
    const frame = decodeSingleFrame(view, this.#maxPayload);
    // An ignorable type this server does not know: not relayed, since it cannot be checked.
    if (frame === null) return;
    if (frame.type === FrameType.ExecStart) {
      if (this.#queryRequest) throw new UnexpectedFrameError('the request was given in the query string; do not send ExecStart as well');
      this.#session.begin(ExecStartFrame.decode(copy(frame.bytes), undefined), this.#waitForAgentSeconds);
      return;
    }
    if (!this.#session.clientFrame(frame.type)) return;
    parseFrame(frame);
    if (frame.type === FrameType.Stdin) this.#session.stdin(frame.payload);
    else this.#session.control(frame.bytes);
  }

  /** A Stdout or Stderr frame goes out as the agent sent it, one message (up to 64 KiB + 5). */
  output(frame: RawFrame): void {
    this.#session.send(frame.bytes);
  }

  started(frame: RawFrame): void {
    this.#session.send(frame.bytes);
  }

  notice(frame: RawFrame): void {
    this.#session.send(frame.bytes);
  }

  exit(frame: RawFrame): void {
    this.#session.send(frame.bytes);
  }

  agentError(frame: RawFrame): void {
    this.#client.sendBinary(frame.bytes);
  }

  failure(code: ErrorCodeName, message: string): void {
    this.#client.sendBinary(encodeError(code, message));
  }

  agentPing(frame: RawFrame): void {
    this.#session.send(frame.bytes);
  }

  agentPong(frame: RawFrame): void {
    this.#session.send(frame.bytes);
  }
}
