import {
  type ErrorCodeName,
  FrameJoiner,
  FrameType,
  type Message,
  type RawFrame,
  UnexpectedFrameError,
  encodeError,
  encodePathError,
  forEachFrame,
  parseFrame,
} from '../../../../wire/index.js';
import type { RelayClient } from '../ClientDialect.js';
import { RelayFailure } from '../RelayFailure.js';
import type { CopyDialect, CopyRelaySession } from './CopyDialect.js';

/**
 * The framed dialect of the copy endpoint (spec §12.10.1): binary messages of one or more
 * whole frames both ways (the agent's small frames of one read are joined: a tree of small
 * files is three frames a file). The first frame is CopyTo, CopyFrom or Stat; an upload's
 * file bytes are paid for with credit (StdinCredit, counting UploadData payload bytes).
 */
export class FramedCopyDialect implements CopyDialect {
  readonly name = 'framed';
  readonly returnsCredit = true;
  readonly requestMissing = 'no request arrived; send CopyTo, CopyFrom or Stat as the first message';
  readonly #session: CopyRelaySession;
  readonly #client: RelayClient;
  readonly #maxPayload: number;
  readonly #joiner: FrameJoiner;

  constructor(session: CopyRelaySession, client: RelayClient, options: { maxPayload: number }) {
    this.#session = session;
    this.#client = client;
    this.#maxPayload = options.maxPayload;
    this.#joiner = new FrameJoiner((message) => session.send(message));
  }

  message(view: Uint8Array, isBinary: boolean): void {
    if (!isBinary) throw new RelayFailure('MALFORMED_FRAME', 'the framed dialect uses binary messages only, of whole frames');
    // An ignorable type this server does not know is skipped: not relayed, since it cannot be checked.
    forEachFrame(view, this.#maxPayload, (frame) => this.#clientFrame(frame));
  }

  #clientFrame(frame: RawFrame): void {
    const m = parseFrame(frame);
    if (!this.#session.requested) {
      if (m.type === FrameType.ExecStart) throw new UnexpectedFrameError('this endpoint copies files: send CopyTo, CopyFrom or Stat; commands go to /instances/{id}/exec');
      if (m.type === FrameType.CopyTo || m.type === FrameType.CopyFrom || m.type === FrameType.Stat) {
        this.#session.begin(m, frame.bytes);
        return;
      }
    }
    this.#session.clientFrame(m, frame.bytes);
  }

  /** Agent frames as received, small ones joined. */
  agentFrame(frame: RawFrame, _m: Message): void {
    this.#joiner.frame(frame.bytes);
  }

  flush(): void {
    this.#joiner.flush();
  }

  failure(code: ErrorCodeName | `ERROR_${number}`, message: string, path: Uint8Array | undefined, frame: Uint8Array | undefined): void {
    try {
      this.#joiner.flush();
    } catch {
      // The client cannot take them (the failure may be that): the Error is still tried.
    }
    if (frame !== undefined) {
      this.#client.sendBinary(frame);
      return;
    }
    // The relay's own failures carry codes of §5 (an agent's unknown one comes with its frame).
    const known = code as ErrorCodeName;
    this.#client.sendBinary(path ? encodePathError(known, message, path) : encodeError(known, message));
  }
}
