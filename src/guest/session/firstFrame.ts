import {
  type CopyRequestMessage,
  type ErrorCodeName,
  type ExecStartMessage,
  FRAME_TYPE_NAMES,
  FrameType,
  type ListSessionsMessage,
  type RawFrame,
  UnexpectedFrameError,
  parseExecStart,
  parseFrame,
  parseListSessions,
} from '../../wire/index.js';
import type { AgentConnection } from './AgentConnection.js';

/** What a connection carries once its first frame has said what (an exec session, a listing…). */
export interface ConnectionOperation {
  /** A later frame of the connection; throwing a ProtocolError ends it with that error. */
  frame(frame: RawFrame): void;
  /** The client broke the protocol (or the agent failed): end with an Error of this code. */
  failed(code: ErrorCodeName, message: string): void;
  /** The connection ended (closed, half-closed, reset) before this side ended it. */
  connectionLost(reason: string): void;
}

/** The agent's operations, one per kind of first frame. */
export interface Operations {
  /** ExecStart: run a command (§4.1). */
  exec(request: ExecStartMessage, connection: AgentConnection): ConnectionOperation;
  /** ExecStart with the resume field: attach to a session that lingers (§10.6). */
  resume(request: ExecStartMessage, connection: AgentConnection): ConnectionOperation;
  /** ListSessions: the sessions the agent keeps (§10.8). */
  list(request: ListSessionsMessage, connection: AgentConnection): ConnectionOperation;
  /** CopyTo, CopyFrom or Stat: a copy operation (§12). */
  copy(request: CopyRequestMessage, connection: AgentConnection): ConnectionOperation;
}

/** Nothing more to do on a connection that was answered: later frames are read and dropped. */
export const ANSWERED: ConnectionOperation = {
  frame: () => undefined,
  failed: () => undefined,
  connectionLost: () => undefined,
};

/**
 * Picks the operation a connection carries from its first frame: the one place that knows
 * every kind of first frame (§3.2, §10.8). Throws a ProtocolError for a frame that cannot
 * come first.
 */
export function dispatchFirstFrame(frame: RawFrame, connection: AgentConnection, operations: Operations): ConnectionOperation {
  switch (frame.type) {
    case FrameType.ExecStart: {
      const request = parseExecStart(frame.payload);
      return request.resume ? operations.resume(request, connection) : operations.exec(request, connection);
    }
    case FrameType.ListSessions:
      return operations.list(parseListSessions(frame.payload), connection);
    case FrameType.CopyTo:
    case FrameType.CopyFrom:
    case FrameType.Stat:
      // Copy requests carry versions of their own (§12.1), checked by their parser.
      return operations.copy(parseFrame(frame) as CopyRequestMessage, connection);
    case FrameType.Error:
      // A client that gives up before it asked for anything (§3.2): nothing to end but the connection.
      connection.finish();
      return ANSWERED;
    default:
      throw new UnexpectedFrameError(`the first frame of a connection must be ExecStart, ListSessions, CopyTo, CopyFrom or Stat, not ${FRAME_TYPE_NAMES[frame.type]}`);
  }
}
