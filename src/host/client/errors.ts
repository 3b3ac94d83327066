import { CodedError, type ErrorCodeName } from '../../wire/index.js';

/** A failure of an exec session seen from the client; `code` is stable. */
export class ExecClientError extends CodedError {}

/**
 * The agent or the API server ended the session with an Error frame (spec §4.9, §5).
 * `code` is the wire code's name (`CWD_NOT_FOUND`, `AGENT_UNREACHABLE`…), `ERROR_<n>` for
 * a number this client does not know.
 */
export class RemoteExecError extends ExecClientError {
  readonly wireCode: number;
  /** UNSUPPORTED_VERSION: the versions the agent speaks; reconnect with one of them. */
  readonly supportedVersions: number[] | undefined;

  constructor(code: ErrorCodeName | `ERROR_${number}`, wireCode: number, message: string, supportedVersions?: number[]) {
    super(code, message);
    this.wireCode = wireCode;
    this.supportedVersions = supportedVersions;
  }
}

/**
 * A copy operation (spec §12) ended with an Error frame from the agent or the API server:
 * `code` as RemoteExecError's (PATH_NOT_FOUND, NO_SPACE, PATH_ESCAPES…), `path` the
 * container path it concerns when the error names one (empty otherwise).
 */
export class RemoteCopyError extends RemoteExecError {
  readonly path: string;

  constructor(code: ErrorCodeName | `ERROR_${number}`, wireCode: number, message: string, path = '') {
    super(code, wireCode, message);
    this.path = path;
  }
}

/**
 * A copy failed on this side: a local file cannot be read or written (`PATH_NOT_FOUND`,
 * `PERMISSION_DENIED`, `NO_SPACE`…, the names of spec §5 for the same failures), the data
 * that came does not match its SHA-256 (`CHECKSUM_MISMATCH`), or an entry would land
 * outside the destination (`PATH_ESCAPES`). `path` is the local path concerned.
 */
export class LocalCopyError extends ExecClientError {
  readonly path: string;

  constructor(code: string, message: string, path = '', options?: ErrorOptions) {
    super(code, message, options);
    this.path = path;
  }
}

/** The caller aborted (abort(), or the signal given to execInInstance), while connecting or later. */
export class SessionAbortedError extends ExecClientError {
  constructor(reason?: unknown, phase: 'connecting' | 'running' = 'running') {
    super('ABORTED', phase === 'connecting' ? 'connecting to the API was cancelled' : 'the exec session was aborted; the command was hung up', { cause: reason });
  }
}

/** detach() left a lingering session to run without this client (spec §10.5). */
export class SessionDetachedError extends ExecClientError {
  readonly sessionId: string;

  constructor(sessionId: string, lingerSeconds: number) {
    super('DETACHED', `the session ${sessionId} was left running; resume it within ${lingerSeconds} s (attachSession, or hypeman-exec attach)`);
    this.sessionId = sessionId;
  }
}

/** The API URL cannot be used for a WebSocket. */
export class InvalidApiUrlError extends ExecClientError {
  constructor(url: string, cause: unknown) {
    super('INVALID_URL', `cannot open ${url}: ${(cause as Error).message}; give an http(s) or ws(s) URL such as http://localhost:8080`, { cause });
  }
}

/** The peer sent nothing, not even a Pong, for two keep-alive intervals (spec §4.10). */
export class PeerUnresponsiveError extends ExecClientError {
  constructor(intervalMs: number) {
    super('PEER_UNRESPONSIVE', `the agent sent nothing, not even a Pong, for ${2 * intervalMs} ms; the VM may be stuck (the session was dropped)`);
  }
}

/** Not a signal this protocol can carry. */
export class InvalidSignalError extends ExecClientError {
  constructor(spec: string) {
    super('INVALID_SIGNAL', `unknown signal ${spec}; use a name such as SIGINT or TERM, or a number from 1 to 64`);
  }
}

/** The connection ended before the command's exit status arrived. */
export class ConnectionLostError extends ExecClientError {
  constructor(detail: string, cause?: unknown) {
    super('CONNECTION_LOST', `the connection closed before the command finished: ${detail}`, { cause });
  }
}

/**
 * A lingering session's connection was lost and no new one could resume it within the
 * linger (spec §10): `lost` says why the connection went, the message also what the last
 * attempt met.
 */
export class SessionLostError extends ConnectionLostError {
  readonly lost: Error;

  constructor(lingerSeconds: number, lost: Error, last: Error) {
    super(`it could not be resumed within its linger of ${lingerSeconds} s (${lost.message}${last === lost ? '' : `; the last attempt: ${last.message}`})`, last);
    this.lost = lost;
  }
}

/** Exit reported more output bytes than arrived (spec §4.8): something was lost. */
export class TruncatedOutputError extends ExecClientError {
  constructor(stream: 'stdout' | 'stderr', expected: number, received: number) {
    super('OUTPUT_TRUNCATED', `${stream} is truncated: the agent sent ${expected} bytes, ${received} arrived`);
  }
}

/** The peer broke the protocol (a malformed or unexpected frame). */
export class ClientProtocolError extends ExecClientError {
  constructor(message: string, cause?: unknown) {
    super('PROTOCOL_ERROR', message, { cause });
  }
}

/** The API server refused a request or the WebSocket upgrade (spec §8.3). */
export class ApiRefusedError extends ExecClientError {
  readonly status: number;

  constructor(status: number, code: string, message: string) {
    super(code, message);
    this.status = status;
  }

  /** From an error response: its JSON `{"code","message"}`, or `HTTP_<status>` for a body that is not ours (a proxy's page). */
  static fromResponse(status: number, body: string): ApiRefusedError {
    let code = `HTTP_${status}`;
    let message = `the API answered HTTP ${status}`;
    try {
      const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
      if (typeof parsed.code === 'string') code = parsed.code;
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      // Not one of ours: keep the status line.
    }
    return new ApiRefusedError(status, code, message);
  }
}

/** The API server could not be reached at all. */
export class ApiUnreachableError extends ExecClientError {
  constructor(url: string, cause: unknown) {
    super('API_UNREACHABLE', `cannot reach the API at ${url}: ${(cause as Error).message ?? cause}`, { cause });
  }
}
