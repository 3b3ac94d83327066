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
  writeHeader,
} from '../../../wire/index.js';
import type { ClientDialect, RelayClient, RelaySession } from './ClientDialect.js';
import { CLIENT_DATA_CHUNK, copy } from './clientData.js';
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

  /**
   * An agent frame of up to 64 KiB becomes Stdout/Stderr frames of at most CLIENT_DATA_CHUNK
   * payload bytes (same bytes, same order). Each piece's header goes in place into the 5
   * bytes before it: the frame's own header for the first, the end of the piece just sent
   * for the others (uWS copied that one before send() returned). No payload is copied.
   */
  output(frame: RawFrame): void {
    const { bytes, payload, type } = frame;
    if (payload.length <= CLIENT_DATA_CHUNK) {
      this.#session.send(bytes);
      return;
    }
    for (let at = 0; at < payload.length; at += CLIENT_DATA_CHUNK) {
      const end = Math.min(at + CLIENT_DATA_CHUNK, payload.length);
      const piece = bytes.subarray(at, HEADER_SIZE + end);
      writeHeader(piece, 0, type, end - at);
      this.#session.send(piece);
    }
  }

  started(frame: RawFrame): void {
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
