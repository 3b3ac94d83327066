import {
  DEFAULT_MAX_PAYLOAD,
  ErrorCode,
  type ErrorCodeName,
  ExecStartField,
  ExitKind,
  FrameType,
  HEADER_SIZE,
  MAX_SIGNAL,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
} from './constants.js';
import { encodeCopyMessage } from './copyCodec.js';
import { fieldFrame, frameOf, writeHeader } from './frameBuffer.js';
import { FrameTooLargeError, InvalidRequestError } from './errors.js';
import type { ExecRequest, ExitStatus, Message, WindowDimensions } from './messages.js';
import { encodeUtf8, truncateUtf8 } from './text.js';

export { writeHeader };

/**
 * The 5-byte header for a frame whose payload is written separately (writev): the payload
 * is never copied. Pair it with the payload in one corked write.
 */
export function encodeHeader(type: number, payloadLength: number): Uint8Array {
  if (!Number.isInteger(payloadLength) || payloadLength < 0 || payloadLength > 0xffffffff) {
    throw new RangeError(`payload length must be a 32-bit unsigned integer, got ${payloadLength}`);
  }
  const header = new Uint8Array(HEADER_SIZE);
  writeHeader(header, 0, type, payloadLength);
  return header;
}

/** Frame types whose payload is raw bytes. */
export type DataFrameType =
  | typeof FrameType.Stdin
  | typeof FrameType.Stdout
  | typeof FrameType.Stderr
  | typeof FrameType.UploadData
  | typeof FrameType.DownloadData;

/** A data frame (Stdin, Stdout, Stderr, UploadData, DownloadData) in one buffer, for carriers that need one message. */
export function encodeDataFrame(
  type: DataFrameType,
  data: Uint8Array,
  maxPayload: number = DEFAULT_MAX_PAYLOAD,
): Uint8Array {
  if (data.length > maxPayload) throw new FrameTooLargeError(data.length, maxPayload);
  const { frame } = frameOf(type, data.length);
  frame.set(data, HEADER_SIZE);
  return frame;
}

function checkString(value: string, what: string): Uint8Array {
  if (value.includes('\0')) throw new InvalidRequestError(`${what} must not contain a NUL character`);
  return encodeUtf8(value);
}

function checkWindow(window: WindowDimensions, what: string): void {
  for (const [name, v] of [
    ['rows', window.rows],
    ['cols', window.cols],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0xffff) {
      throw new InvalidRequestError(`${what} ${name} must be an integer from 1 to 65535, got ${v}`);
    }
  }
}

/**
 * ExecStart in canonical form (spec §4.1.2): fields by ascending tag, repeated fields in
 * order, fields at their default value omitted.
 */
export function encodeExecStart(
  request: Partial<ExecRequest>,
  version: number = PROTOCOL_VERSION,
  maxPayload: number = DEFAULT_MAX_PAYLOAD,
): Uint8Array {
  const fields: Array<[number, Uint8Array]> = [];
  for (const arg of request.argv ?? []) fields.push([ExecStartField.Arg, checkString(arg, 'an argument')]);
  for (const [key, value] of Object.entries(request.env ?? {})) {
    if (key.length === 0 || key.includes('=')) {
      throw new InvalidRequestError(`environment variable name ${JSON.stringify(key)} must be non-empty and contain no '='`);
    }
    fields.push([ExecStartField.Env, checkString(`${key}=${value}`, `environment variable ${key}`)]);
  }
  if (request.cwd) fields.push([ExecStartField.Cwd, checkString(request.cwd, 'the working directory')]);
  if (request.user) fields.push([ExecStartField.User, checkString(request.user, 'the user')]);
  if (request.tty) fields.push([ExecStartField.Tty, Uint8Array.of(1)]);
  const timeout = request.timeoutSeconds ?? 0;
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > 0xffffffff) {
    throw new InvalidRequestError(`timeout must be a whole number of seconds from 0 to 4294967295, got ${timeout}`);
  }
  if (timeout > 0) {
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, timeout);
    fields.push([ExecStartField.Timeout, v]);
  }
  if (request.window) {
    checkWindow(request.window, 'window');
    const v = new Uint8Array(4);
    const dv = new DataView(v.buffer);
    dv.setUint16(0, request.window.rows);
    dv.setUint16(2, request.window.cols);
    fields.push([ExecStartField.Window, v]);
  }
  return fieldFrame(FrameType.ExecStart, version, fields, maxPayload);
}

export function encodeStdinClose(): Uint8Array {
  return frameOf(FrameType.StdinClose, 0).frame;
}

export function encodeWindowSize(window: WindowDimensions): Uint8Array {
  checkWindow(window, 'window');
  const { frame, view } = frameOf(FrameType.WindowSize, 4);
  view.setUint16(HEADER_SIZE, window.rows);
  view.setUint16(HEADER_SIZE + 2, window.cols);
  return frame;
}

export function encodeSignal(signal: number): Uint8Array {
  if (!Number.isInteger(signal) || signal < 1 || signal > MAX_SIGNAL) {
    throw new InvalidRequestError(`signal must be a number from 1 to ${MAX_SIGNAL}, got ${signal}`);
  }
  const { frame } = frameOf(FrameType.Signal, 1);
  frame[HEADER_SIZE] = signal;
  return frame;
}

export function encodeStarted(pid: number, sessionId: Uint8Array, version: number = PROTOCOL_VERSION): Uint8Array {
  if (sessionId.length !== 16) throw new RangeError(`a session id is 16 bytes, got ${sessionId.length}`);
  const { frame, view } = frameOf(FrameType.Started, 22);
  view.setUint16(HEADER_SIZE, version);
  view.setUint32(HEADER_SIZE + 2, pid);
  frame.set(sessionId, HEADER_SIZE + 6);
  return frame;
}

export function encodeExit(status: ExitStatus): Uint8Array {
  if (status.kind !== ExitKind.Exited && status.kind !== ExitKind.Signaled && status.kind !== ExitKind.TimedOut) {
    throw new RangeError(`unknown exit kind ${status.kind}`);
  }
  const { frame, view } = frameOf(FrameType.Exit, 20);
  frame[HEADER_SIZE] = status.kind;
  frame[HEADER_SIZE + 1] = status.code & 0xff;
  frame[HEADER_SIZE + 2] = status.signal & 0xff;
  frame[HEADER_SIZE + 3] = status.coreDumped ? 1 : 0;
  view.setBigUint64(HEADER_SIZE + 4, BigInt(status.stdoutBytes));
  view.setBigUint64(HEADER_SIZE + 12, BigInt(status.stderrBytes));
  return frame;
}

/** Longest Error message in bytes; longer messages are cut at a character boundary. */
export const MAX_ERROR_MESSAGE = 0xffff;

export function encodeError(
  code: ErrorCodeName | number,
  message: string,
  supportedVersions: readonly number[] = code === 'UNSUPPORTED_VERSION' ? SUPPORTED_VERSIONS : [],
): Uint8Array {
  const details = new Uint8Array(supportedVersions.length * 2);
  const view = new DataView(details.buffer);
  supportedVersions.forEach((v, i) => view.setUint16(i * 2, v));
  return errorFrame(code, message, details);
}

/** An Error whose details are the path it concerns (§12.9: the copy errors). */
export function encodePathError(code: ErrorCodeName | number, message: string, path: Uint8Array): Uint8Array {
  return errorFrame(code, message, path);
}

function errorFrame(code: ErrorCodeName | number, message: string, details: Uint8Array): Uint8Array {
  const wireCode = typeof code === 'number' ? code : ErrorCode[code];
  const text = truncateUtf8(encodeUtf8(message), Math.min(MAX_ERROR_MESSAGE, DEFAULT_MAX_PAYLOAD - 4 - details.length));
  const { frame, view } = frameOf(FrameType.Error, 4 + text.length + details.length);
  view.setUint16(HEADER_SIZE, wireCode);
  view.setUint16(HEADER_SIZE + 2, text.length);
  frame.set(text, HEADER_SIZE + 4);
  frame.set(details, HEADER_SIZE + 4 + text.length);
  return frame;
}

function encodeToken(type: typeof FrameType.Ping | typeof FrameType.Pong, token: Uint8Array): Uint8Array {
  if (token.length !== 8) throw new RangeError(`a ping token is 8 bytes, got ${token.length}`);
  const { frame } = frameOf(type, 8);
  frame.set(token, HEADER_SIZE);
  return frame;
}

export function encodePing(token: Uint8Array): Uint8Array {
  return encodeToken(FrameType.Ping, token);
}

export function encodePong(token: Uint8Array): Uint8Array {
  return encodeToken(FrameType.Pong, token);
}

export function encodeStdinCredit(bytes: number): Uint8Array {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > 0xffffffff) {
    throw new RangeError(`a stdin credit must be a 32-bit unsigned integer, got ${bytes}`);
  }
  const { frame, view } = frameOf(FrameType.StdinCredit, 4);
  view.setUint32(HEADER_SIZE, bytes);
  return frame;
}

/** Any message as one frame buffer (data payloads are copied: use encodeHeader to avoid it). */
export function encodeMessage(message: Message, maxPayload: number = DEFAULT_MAX_PAYLOAD): Uint8Array {
  switch (message.type) {
    case FrameType.ExecStart:
      return encodeExecStart(message, message.version, maxPayload);
    case FrameType.Stdin:
    case FrameType.Stdout:
    case FrameType.Stderr:
    case FrameType.UploadData:
    case FrameType.DownloadData:
      return encodeDataFrame(message.type, message.data, maxPayload);
    case FrameType.StdinClose:
      return encodeStdinClose();
    case FrameType.WindowSize:
      return encodeWindowSize(message);
    case FrameType.Signal:
      return encodeSignal(message.signal);
    case FrameType.Started:
      return encodeStarted(message.pid, message.sessionId, message.version);
    case FrameType.Exit:
      return encodeExit(message);
    case FrameType.Error:
      if (message.path !== undefined) return encodePathError(message.wireCode, message.message, message.path);
      return encodeError(message.wireCode, message.message, message.supportedVersions ?? []);
    case FrameType.Ping:
      return encodePing(message.token);
    case FrameType.Pong:
      return encodePong(message.token);
    case FrameType.StdinCredit:
      return encodeStdinCredit(message.bytes);
    default:
      return encodeCopyMessage(message, maxPayload);
  }
}
