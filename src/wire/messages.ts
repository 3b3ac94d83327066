import type { ErrorCodeName, ExitKind, FrameType } from './constants.js';
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
}

export interface ExecStartMessage extends ExecRequest {
  type: typeof FrameType.ExecStart;
  version: number;
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
  | ErrorMessage;

/** Frames the agent sends to a client. */
export type AgentMessage =
  | StartedMessage
  | StdoutMessage
  | StderrMessage
  | ExitMessage
  | ErrorMessage
  | PingMessage
  | PongMessage;

export type Message = ClientMessage | AgentMessage | StdinCreditMessage | CopyMessage | UploadDataMessage | DownloadDataMessage;
