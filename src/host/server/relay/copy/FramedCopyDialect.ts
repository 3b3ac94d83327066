import {
  type ErrorCodeName,
  FrameType,
  type Message,
  type RawFrame,
  UnexpectedFrameError,
  decodeSingleFrame,
  encodeError,
  encodePathError,
  parseFrame,
} from '../../../../wire/index.js';
import type { RelayClient } from '../ClientDialect.js';
import { RelayFailure } from '../RelayFailure.js';
import type { CopyDialect, CopyRelaySession } from './CopyDialect.js';

/**
 * The framed dialect of the copy endpoint (spec §12.10): one frame per binary message both
 * ways, as on /exec. The first frame is CopyTo, CopyFrom or Stat; an upload's file bytes are
 * paid for with credit (StdinCredit, counting UploadData payload bytes).
 */
export class FramedCopyDialect implements CopyDialect {
  readonly name = 'framed';
  readonly returnsCredit = true;
  readonly requestMissing = 'no request arrived; send CopyTo, CopyFrom or Stat as the first message';
  readonly #session: CopyRelaySession;
  readonly #client: RelayClient;
  readonly #maxPayload: number;

  constructor(session: CopyRelaySession, client: RelayClient, options: { maxPayload: number }) {
    this.#session = session;
    this.#client = client;
    this.#maxPayload = options.maxPayload;
  }

  message(view: Uint8Array, isBinary: boolean): void {
    if (!isBinary) throw new RelayFailure('MALFORMED_FRAME', 'the framed dialect uses binary messages only, one frame each');
    const frame = decodeSingleFrame(view, this.#maxPayload);
    // An ignorable type this server does not know: not relayed, since it cannot be checked.
    if (frame === null) return;
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

  /** Agent frames as received, one per message. */
  agentFrame(frame: RawFrame, _m: Message): void {
    this.#session.send(frame.bytes);
  }

  failure(code: ErrorCodeName | `ERROR_${number}`, message: string, path: Uint8Array | undefined, frame: Uint8Array | undefined): void {
    if (frame !== undefined) {
      this.#client.sendBinary(frame);
      return;
    }
    // The relay's own failures carry codes of §5 (an agent's unknown one comes with its frame).
    const known = code as ErrorCodeName;
    this.#client.sendBinary(path ? encodePathError(known, message, path) : encodeError(known, message));
  }
}
