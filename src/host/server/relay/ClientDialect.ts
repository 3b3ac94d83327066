import type { ErrorCodeName, ErrorMessage, ExecStartFrame, ExitMessage, RawFrame } from '../../../wire/index.js';

/** The two dialects of `GET /instances/{id}/exec` (spec §8.1, §8.2). */
export type DialectName = 'framed' | 'compat';

/** The WebSocket as the relay sees it (uWebSockets.js in the server; anything in tests). */
export interface RelayClient {
  sendBinary(bytes: Uint8Array): boolean;
  sendText(text: string): boolean;
  bufferedAmount(): number;
  /** Sends a close frame; the relay gets no more messages afterwards. */
  end(code: number, reason: string): void;
}

/** What a dialect may ask of the session it speaks for: the relay core's side. */
export interface RelaySession {
  /** The request is known: ExecStart goes to the agent first (connecting it if need be). */
  begin(execStart: ExecStartFrame, waitForAgentSeconds: number): void;
  /** ExecStart has been given (in the query, a frame or a JSON message). */
  readonly execStarted: boolean;
  /** Checks a client frame against the state machine (spec §3.2): false means drop it. */
  clientFrame(type: number): boolean;
  /** Stdin for the agent (a view that may die after the call); checked against §8.1.1's cap. */
  stdin(payload: Uint8Array): void;
  /** Any other client frame for the agent, whole (a view that may die after the call). */
  control(frame: Uint8Array): void;
  /** A frame of the relay's own to the agent, outside the client's stream (a Pong). */
  answerAgent(frame: Uint8Array): void;
  /** Output for the client; holds the agent back while the client's send buffer is full. */
  send(bytes: Uint8Array): void;
}

/**
 * How one dialect speaks to its client: chosen once per session, so the relay core never
 * asks which dialect it serves. Agent frames reach these methods already checked against
 * the state machine; `frame` views live only during the call.
 */
export interface ClientDialect {
  readonly name: DialectName;
  /** Whether the client is told, by StdinCredit, how much Stdin the agent has taken (§8.1.1). */
  readonly returnsCredit: boolean;
  /** What the client is told when no request arrives in time. */
  readonly requestMissing: string;
  /** A WebSocket message; `view` lives only during the call. Throws to fail the session. */
  message(view: Uint8Array, isBinary: boolean): void;
  /** A Stdout or Stderr frame. */
  output(frame: RawFrame): void;
  /** Started, or (version 2) Resumed. */
  started(frame: RawFrame): void;
  /** A version 2 frame about the session (Linger, StdinAck, spec §10); only version 2 clients get them. */
  notice(frame: RawFrame): void;
  exit(frame: RawFrame, exit: ExitMessage): void;
  /** The agent ended the session with an Error frame. */
  agentError(frame: RawFrame, error: ErrorMessage): void;
  /** The relay ends the session with an Error of its own. */
  failure(code: ErrorCodeName, message: string): void;
  agentPing(frame: RawFrame): void;
  /** A Pong that answers the client's Ping (the relay's own are not passed on). */
  agentPong(frame: RawFrame): void;
}
