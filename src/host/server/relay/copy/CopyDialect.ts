import type { CopyFromMessage, CopyToMessage, ErrorCodeName, Message, RawFrame, StatMessage } from '../../../../wire/index.js';
import type { DialectName } from '../ClientDialect.js';

export type CopyRequestMessage = CopyToMessage | CopyFromMessage | StatMessage;

/** What a copy dialect may ask of the relay it speaks for. */
export interface CopyRelaySession {
  /** The request is known: it goes to the agent first (connecting it). `frame` may be a view: it is copied. */
  begin(request: CopyRequestMessage, frame: Uint8Array): void;
  /** The request has arrived. */
  readonly requested: boolean;
  /**
   * A client frame after the request, checked against the state machine and forwarded (a
   * view: copied). For UploadData only the message's data is used (joined with the data
   * before it), not `frame`.
   */
  clientFrame(message: Message, frame: Uint8Array): void;
  /** A binary message for the client; holds the agent back while the client's send buffer is full. */
  send(bytes: Uint8Array): void;
  /** A text message for the client (the compatible dialect's JSON). */
  sendText(text: string): void;
}

/**
 * How one dialect of `GET /instances/{id}/cp` speaks to its client (spec §12.10): chosen
 * once per operation, as the exec relay's dialects are.
 */
export interface CopyDialect {
  readonly name: DialectName;
  /** Whether the client is told, by StdinCredit, how much of its upload the agent has taken. */
  readonly returnsCredit: boolean;
  /** What the client is told when no request arrives in time. */
  readonly requestMissing: string;
  /** A WebSocket message; `view` lives only during the call. Throws to fail the operation. */
  message(view: Uint8Array, isBinary: boolean): void;
  /** An agent frame, already checked (the operation's last one included; Error excepted). */
  agentFrame(frame: RawFrame, message: Message): void;
  /** Sends what agentFrame may have held back: called after each read from the agent, and at the end. */
  flush(): void;
  /**
   * The operation ends with an Error: the agent's (`frame` is its Error frame) or the
   * relay's own (`frame` undefined). `path`: the path it concerns, if any.
   */
  failure(code: ErrorCodeName | `ERROR_${number}`, message: string, path: Uint8Array | undefined, frame: Uint8Array | undefined): void;
}
