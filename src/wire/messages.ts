import type { AttachMode, ErrorCodeName, ExitKind, FrameType, NoticeKindName, OverflowPolicy } from './constants.js';
import type { CopyMessage } from './copyMessages.js';

export interface WindowDimensions {
  rows: number;
  cols: number;
}

/** What to run (ExecStart, spec §4.1). Empty/absent fields take the agent's defaults. */
export interface ExecRequest {
  /** argv; empty means the agent's default (`/bin/sh`). */
  argv: string[];
  /** Merged over the agent's default environment. */
  env: Record<string, string>;
  /** Working directory inside the container root; empty means the user's home or `/`. */
  cwd: string;
  /** `name`, `uid`, `name:group` or `uid:gid`; empty means root. */
  user: string;
  tty: boolean;
  /** Seconds before the command is killed and exit code 124 reported; 0 means none. */
  timeoutSeconds: number;
  /** Initial terminal size (TTY sessions). */
  window?: WindowDimensions;
  /**
   * Version 2 (spec §10.2): seconds the session survives without a connection, so that a
   * client can resume it; 0 or absent: it ends with its connection, as in version 1.
   */
  lingerSeconds?: number;
  /** Version 2 (§10.3): when retained output fills its window, pause the command (default) or drop the oldest bytes. */
  overflow?: OverflowPolicy;
}

/** Version 2 (§10.6): the session a request resumes, and how much output its client has. */
export interface ResumeRequest {
  sessionId: Uint8Array;
  /** Stdout bytes the client has received (its offset in the stream). */
  stdoutBytes: number;
  stderrBytes: number;
  /** §10.11: how the connection attaches; absent: a resume by the session's writer, which closes the connection it replaces. */
  attach?: AttachRequest;
}

/** The attach field (§10.11). */
export interface AttachRequest {
  mode: AttachMode;
  /** Observe from the current point: nothing of the retained output is replayed. */
  live: boolean;
  /** Observe a session of another owner: set by the API server only when the token's claim allows it. */
  anyOwner: boolean;
}

export interface ExecStartMessage extends ExecRequest {
  type: typeof FrameType.ExecStart;
  version: number;
  /** Version 2 (§10.7): who owns the session; the API server sets it. Absent: none given. */
  owner?: string;
  /** Version 2: present when this ExecStart resumes a session instead of starting one. */
  resume?: ResumeRequest;
}

export interface DataMessage<T extends number> {
  type: T;
  /** A view into the received frame; copy it to keep it beyond the caller's buffer. */
  data: Uint8Array;
}

export type StdinMessage = DataMessage<typeof FrameType.Stdin>;
export type StdoutMessage = DataMessage<typeof FrameType.Stdout>;
export type StderrMessage = DataMessage<typeof FrameType.Stderr>;
/** A file's bytes in a copy stream (§12.7). */
export type UploadDataMessage = DataMessage<typeof FrameType.UploadData>;
export type DownloadDataMessage = DataMessage<typeof FrameType.DownloadData>;

export interface StdinCloseMessage {
  type: typeof FrameType.StdinClose;
}

export interface WindowSizeMessage extends WindowDimensions {
  type: typeof FrameType.WindowSize;
}

export interface SignalMessage {
  type: typeof FrameType.Signal;
  signal: number;
}

export interface StartedMessage {
  type: typeof FrameType.Started;
  version: number;
  /** The command's process id inside the guest; 0 when no process was started. */
  pid: number;
  /** 16 bytes identifying the session (reserved for resumption, spec §10). */
  sessionId: Uint8Array;
}

/** How a command ended (Exit, spec §4.9). */
export interface ExitStatus {
  kind: ExitKind;
  /** Shell-style code: the exit status, 128+N for signal N, 124 for a timeout. */
  code: number;
  /** The signal that ended the command, 0 if none. */
  signal: number;
  coreDumped: boolean;
  /** Payload bytes of every Stdout frame the agent sent in this session. */
  stdoutBytes: number;
  /** Payload bytes of every Stderr frame the agent sent in this session. */
  stderrBytes: number;
}

export interface ExitMessage extends ExitStatus {
  type: typeof FrameType.Exit;
}

export interface ErrorMessage {
  type: typeof FrameType.Error;
  /** Stable name from spec §5, or `ERROR_<n>` for a number this implementation does not know. */
  code: ErrorCodeName | `ERROR_${number}`;
  wireCode: number;
  message: string;
  /** Code-specific details (UNSUPPORTED_VERSION: the supported versions). */
  supportedVersions?: number[];
  /** Copy errors' details (§12.9): the path the failure concerns, possibly empty. */
  path?: Uint8Array;
}

export interface PingMessage {
  type: typeof FrameType.Ping;
  token: Uint8Array;
}

export interface PongMessage {
  type: typeof FrameType.Pong;
  token: Uint8Array;
}

/** Version 2 (§10.4): output the client has received, per stream, in total. */
export interface OutputAckMessage {
  type: typeof FrameType.OutputAck;
  stdoutBytes: number;
  stderrBytes: number;
}

/** Version 2 (§10.8): a connection's first frame asking which sessions the agent keeps. */
export interface ListSessionsMessage {
  type: typeof FrameType.ListSessions;
  version: number;
  /** Only sessions of this owner; empty: all. */
  owner: string;
}

/** Version 2 (§10.2): the session's effective linger and retention window. */
export interface LingerMessage {
  type: typeof FrameType.Linger;
  /** Seconds the session survives without a connection; 0: it does not linger. */
  seconds: number;
  /** Output bytes the agent retains per stream until acknowledged (§10.3). */
  windowBytes: number;
}

/** Version 2 (§10.6): the first frame of a resumed session. */
export interface ResumedMessage {
  type: typeof FrameType.Resumed;
  version: number;
  pid: number;
  sessionId: Uint8Array;
  /** Stdin payload bytes the agent has taken in total: the client sends again from here. */
  stdinBytes: number;
  /** Output bytes after the client's offsets that are no longer held (overflow drop), skipped. */
  stdoutLost: number;
  stderrLost: number;
  lingerSeconds: number;
  windowBytes: number;
  stdinClosed: boolean;
  exited: boolean;
  tty: boolean;
  /** §10.11: this connection observes the session. */
  observer: boolean;
}

/** Version 2 (§10.11): something for the client's user to hear; the session goes on. */
export interface NoticeMessage {
  type: typeof FrameType.Notice;
  kind: NoticeKindName | `NOTICE_${number}`;
  message: string;
}

/** Version 2 (§10.5): Stdin payload bytes the agent has taken in total. */
export interface StdinAckMessage {
  type: typeof FrameType.StdinAck;
  bytes: number;
}

/** One session as SessionList describes it (§10.8). */
export interface SessionSummary {
  /** The session id, 32 hex digits. */
  id: string;
  pid: number;
  argv: string[];
  owner: string;
  tty: boolean;
  /** Milliseconds since the epoch. */
  startedAt: number;
  state: 'attached' | 'detached' | 'exited';
  /** The Exit's code, once the command has ended. */
  exitCode?: number;
  lingerSeconds: number;
  /** When its last connection ended (ms since the epoch), while no connection is attached. */
  detachedAt?: number;
  /** §10.11: connections observing it; absent from agents that predate observers. */
  observers?: number;
}

/** Version 2 (§10.8): the answer to ListSessions. */
export interface SessionListMessage {
  type: typeof FrameType.SessionList;
  sessions: SessionSummary[];
}

/** WebSocket carrier only (§8.1.1): the client may send `bytes` more Stdin payload bytes. */
export interface StdinCreditMessage {
  type: typeof FrameType.StdinCredit;
  bytes: number;
}

/** Frames a client (host side) sends to the agent. */
export type ClientMessage =
  | ExecStartMessage
  | StdinMessage
  | StdinCloseMessage
  | WindowSizeMessage
  | SignalMessage
  | PingMessage
  | PongMessage
  | ErrorMessage
  | OutputAckMessage
  | ListSessionsMessage;

/** Frames the agent sends to a client. */
export type AgentMessage =
  | StartedMessage
  | StdoutMessage
  | StderrMessage
  | ExitMessage
  | ErrorMessage
  | PingMessage
  | PongMessage
  | LingerMessage
  | ResumedMessage
  | StdinAckMessage
  | SessionListMessage
  | NoticeMessage;

export type Message = ClientMessage | AgentMessage | StdinCreditMessage | CopyMessage | UploadDataMessage | DownloadDataMessage;
