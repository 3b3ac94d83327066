// Numbers fixed by spec/PROTOCOL.md. Section references are to that document.

/** Bytes in a frame header: u32 payload length, u8 type (§2). */
export const HEADER_SIZE = 5;

/** Default and largest payload a conforming sender may send (§2.3). */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Largest payload the agent puts in one Stdout/Stderr frame (§4.7). */
export const MAX_DATA_CHUNK = 64 * 1024;

/** Protocol versions this implementation speaks, newest first (§6). */
export const SUPPORTED_VERSIONS: readonly number[] = [2, 1];
/** Version 1: one session per connection (§1–§9). Requests that need nothing newer are sent in it. */
export const PROTOCOL_VERSION = 1;
/** Version 2: version 1 and durable sessions (§10): linger, resume, acknowledgements, ListSessions. */
export const DURABLE_VERSION = 2;

/** The vsock port the agent listens on (§7.1). */
export const AGENT_VSOCK_PORT = 2222;

/** WebSocket subprotocol of the framed dialect (§8). */
export const WEBSOCKET_SUBPROTOCOL = 'hypeman-exec.v1';

/** Stdin bytes a WebSocket client may send before its first StdinCredit (§8.1.1). */
export const INITIAL_STDIN_CREDIT = 4 * 1024 * 1024;

/** Types with this bit set may be skipped by a peer that does not know them (§2.2). */
export const IGNORABLE_TYPE_BIT = 0x80;

export const FrameType = {
  ExecStart: 0x01,
  Stdin: 0x02,
  StdinClose: 0x03,
  WindowSize: 0x04,
  Signal: 0x05,
  /** Copy and stat (§12): first frames of their own operations, and the client's upload stream. */
  CopyTo: 0x08,
  CopyFrom: 0x09,
  Stat: 0x0a,
  UploadEntry: 0x0b,
  UploadData: 0x0c,
  UploadEntryEnd: 0x0d,
  UploadEnd: 0x0e,
  /** Version 2: the output the client has received, per stream (§10.4). */
  OutputAck: 0x06,
  /** Version 2: a connection's first frame instead of ExecStart: which sessions the agent keeps (§10.8). */
  ListSessions: 0x07,
  Started: 0x10,
  Stdout: 0x11,
  Stderr: 0x12,
  Exit: 0x13,
  /** Copy and stat (§12): the agent's answers and its download stream. */
  StatResult: 0x18,
  DownloadEntry: 0x19,
  DownloadData: 0x1a,
  DownloadEntryEnd: 0x1b,
  DownloadEnd: 0x1c,
  CopyResult: 0x1d,
  DownloadTotals: 0x1e,
  /** Version 2: right after Started, how long the session survives without a connection (§10.2). */
  Linger: 0x14,
  /** Version 2: the first frame of a resumed session, instead of Started (§10.6). */
  Resumed: 0x15,
  /** Version 2: the Stdin the agent has taken, in total (§10.5). */
  StdinAck: 0x16,
  /** Version 2: the answer to ListSessions (§10.8). */
  SessionList: 0x17,
  Error: 0x20,
  Ping: 0x21,
  Pong: 0x22,
  /** WebSocket carrier only: the API server grants the client more Stdin bytes (§8.1.1). */
  StdinCredit: 0x81,
  /** Version 2, ignorable: something the client's user should hear, e.g. its input goes nowhere (§10.11). */
  Notice: 0x82,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(FrameType).map(([name, value]) => [value, name])),
);

/**
 * Exact payload sizes of fixed-layout frames, checked from the header before any payload
 * is read (§4). Types absent here have variable payloads.
 */
export const FIXED_PAYLOAD_SIZE: Readonly<Record<number, number>> = Object.freeze({
  [FrameType.StdinClose]: 0,
  [FrameType.WindowSize]: 4,
  [FrameType.Signal]: 1,
  [FrameType.OutputAck]: 16,
  [FrameType.Started]: 22,
  [FrameType.Exit]: 20,
  [FrameType.Linger]: 8,
  [FrameType.Resumed]: 55,
  [FrameType.StdinAck]: 8,
  [FrameType.Ping]: 8,
  [FrameType.Pong]: 8,
  [FrameType.StdinCredit]: 4,
  [FrameType.UploadEntryEnd]: 32,
  [FrameType.UploadEnd]: 16,
  [FrameType.DownloadEntryEnd]: 32,
  [FrameType.DownloadEnd]: 16,
  [FrameType.CopyResult]: 16,
  [FrameType.DownloadTotals]: 16,
});

/** Smallest payload of variable-layout frames. */
export const MIN_PAYLOAD_SIZE: Readonly<Record<number, number>> = Object.freeze({
  [FrameType.ExecStart]: 2,
  [FrameType.ListSessions]: 2,
  [FrameType.Error]: 4,
  [FrameType.CopyTo]: 2,
  [FrameType.CopyFrom]: 2,
  [FrameType.Stat]: 2,
  [FrameType.UploadEntry]: 43,
  [FrameType.DownloadEntry]: 43,
  [FrameType.StatResult]: 41,
  [FrameType.Notice]: 1,
});

/** Frame types that exist from version 2 on: a version 1 session refuses them (§10.1). */
export const VERSION_2_FRAME_TYPES: ReadonlySet<number> = new Set([
  FrameType.OutputAck,
  FrameType.ListSessions,
  FrameType.Linger,
  FrameType.Resumed,
  FrameType.StdinAck,
  FrameType.SessionList,
]);

/** ExecStart field tags (§4.1). Tags with the high bit set are ignorable. */
export const ExecStartField = {
  Arg: 0x01,
  Env: 0x02,
  Cwd: 0x03,
  User: 0x04,
  Tty: 0x05,
  Timeout: 0x06,
  Window: 0x07,
  /** Version 2: u32 seconds the session survives without a connection (§10.2). */
  Linger: 0x08,
  /** Version 2: u8, what happens when retained output fills its window (§10.3). */
  Overflow: 0x09,
  /** Version 2: text, who owns the session (§10.7). */
  Owner: 0x0a,
  /** Version 2: 16 bytes, the id of the session to resume (§10.6). */
  Resume: 0x10,
  /** Version 2: u64 stdout and u64 stderr bytes the resuming client has received (§10.6). */
  ResumeOffsets: 0x11,
  /** Version 2: u8 mode · u8 flags, how a resume attaches: writer, take-over, observer (§10.11). */
  Attach: 0x12,
} as const;
export type ExecStartField = (typeof ExecStartField)[keyof typeof ExecStartField];

/** What a lingering session's agent does when a stream's retained output fills its window (§10.3). */
export const Overflow = {
  /** Stop reading the command's output: nothing is lost (the default). */
  Pause: 0,
  /** Keep reading, drop the oldest retained bytes, count them. */
  Drop: 1,
} as const;
export type OverflowPolicy = 'pause' | 'drop';

/** Resumed's flags (§10.6). */
export const ResumedFlag = {
  StdinClosed: 1,
  Exited: 2,
  Tty: 4,
  /** §10.11: this connection observes the session (its input goes nowhere). */
  Observer: 8,
} as const;

/** The attach field's modes (§10.11). */
export const AttachModeCode = {
  /** Attach as the session's writer; refused (SESSION_BUSY) while another writer is attached. */
  Write: 0,
  /** Attach as the writer; the writer attached now, if any, becomes an observer. */
  TakeOver: 1,
  /** Attach as an observer: output only. */
  Observe: 2,
} as const;
export type AttachMode = 'write' | 'take-over' | 'observe';

/** The attach field's flags (§10.11); the other bits are reserved and must be 0. */
export const AttachFlag = {
  /** Observe from the current point, not from the offsets. */
  Live: 1,
  /** Observe whoever owns the session: set only by a trusted party (the API server, from the token's claim). */
  AnyOwner: 2,
} as const;

/** What a Notice says (§10.11). */
export const NoticeKind = {
  /** This connection observes: the Stdin, StdinClose, WindowSize and Signal it sent were dropped. */
  ReadOnly: 1,
  /** Another connection took the session over as its writer: this one observes from now on. */
  Observing: 2,
} as const;
export type NoticeKindName = 'read-only' | 'observing';

/** Bytes of a session id (Started, Resumed, the resume field). */
export const SESSION_ID_SIZE = 16;

export const ExitKind = {
  Exited: 0,
  Signaled: 1,
  TimedOut: 2,
} as const;
export type ExitKind = (typeof ExitKind)[keyof typeof ExitKind];

/** Exit code reported when the session's timeout killed the command (§4.9). */
export const TIMEOUT_EXIT_CODE = 124;

/** Error codes carried by Error frames (§5). The name is the stable code in every API. */
export const ErrorCode = {
  MALFORMED_FRAME: 1,
  FRAME_TOO_LARGE: 2,
  UNKNOWN_FRAME_TYPE: 3,
  UNEXPECTED_FRAME: 4,
  UNSUPPORTED_VERSION: 5,
  FLOW_CONTROL: 6,
  START_TIMEOUT: 7,
  INVALID_REQUEST: 16,
  CWD_NOT_FOUND: 17,
  USER_NOT_FOUND: 18,
  SPAWN_FAILED: 19,
  PATH_NOT_FOUND: 23,
  NOT_A_DIRECTORY: 24,
  IS_A_DIRECTORY: 25,
  PERMISSION_DENIED: 26,
  PATH_ESCAPES: 27,
  CHECKSUM_MISMATCH: 28,
  FILE_CHANGED: 29,
  SESSION_NOT_FOUND: 20,
  SESSION_FORBIDDEN: 21,
  SESSION_TAKEN_OVER: 22,
  SESSION_BUSY: 30,
  INTERNAL_ERROR: 32,
  SHUTTING_DOWN: 33,
  TOO_MANY_SESSIONS: 34,
  PEER_UNRESPONSIVE: 35,
  NO_SPACE: 36,
  READ_ONLY_FILESYSTEM: 37,
  IO_ERROR: 38,
  COPY_UNAVAILABLE: 39,
  OBSERVER_TOO_SLOW: 40,
  AGENT_UNREACHABLE: 48,
  INSTANCE_NOT_RUNNING: 49,
  AGENT_DISCONNECTED: 50,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;

export const ERROR_CODE_NAMES: Readonly<Record<number, ErrorCodeName>> = Object.freeze(
  Object.fromEntries(Object.entries(ErrorCode).map(([name, value]) => [value, name])) as Record<
    number,
    ErrorCodeName
  >,
);

/** Linux signal numbers carried by Signal and Exit frames (§4.5). */
export const SignalNumber = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
} as const;
export type SignalName = keyof typeof SignalNumber;

/** Largest signal number a Signal frame may carry (SIGRTMAX on Linux). */
export const MAX_SIGNAL = 64;
