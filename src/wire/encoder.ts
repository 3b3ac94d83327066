import {
  DEFAULT_MAX_PAYLOAD,
  DURABLE_VERSION,
  ErrorCode,
  type ErrorCodeName,
  ExecStartField,
  ExitKind,
  FrameType,
  HEADER_SIZE,
  MAX_SIGNAL,
  Overflow,
  PROTOCOL_VERSION,
  ResumedFlag,
  SESSION_ID_SIZE,
  SUPPORTED_VERSIONS,
} from './constants.js';
import { attachFieldValue, encodeNotice } from './attach.js';
import { encodeCopyMessage } from './copyCodec.js';
import { fieldFrame, frameOf, writeHeader } from './frameBuffer.js';
import { FrameTooLargeError, InvalidRequestError } from './errors.js';
import type { ExecRequest, ExitStatus, Message, ResumeRequest, ResumedMessage, SessionSummary, WindowDimensions } from './messages.js';
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

/** What an ExecStart carries: a request to run, or (version 2) a resume; the owner as the API server sets it. */
export type ExecStartContent = Partial<ExecRequest> & { owner?: string; resume?: ResumeRequest };

function u32Field(what: string, value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new InvalidRequestError(`${what} must be a whole number from 0 to 4294967295, got ${value}`);
  }
  const v = new Uint8Array(4);
  new DataView(v.buffer).setUint32(0, value);
  return v;
}

function u64Pair(a: number, b: number, what: string): Uint8Array {
  for (const n of [a, b]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidRequestError(`${what} must be whole numbers of bytes, got ${n}`);
  }
  const v = new Uint8Array(16);
  const dv = new DataView(v.buffer);
  dv.setBigUint64(0, BigInt(a));
  dv.setBigUint64(8, BigInt(b));
  return v;
}

/** Whether a request needs version 2 (§10): it lingers, chooses an overflow policy, names an owner or resumes. */
export function needsDurableVersion(content: ExecStartContent): boolean {
  return (content.lingerSeconds ?? 0) > 0 || content.overflow === 'drop' || !!content.owner || content.resume !== undefined;
}

/** The fields of a request to run (§4.1.1, §10.2, §10.3), in canonical order. */
function requestFields(request: ExecStartContent): Array<[number, Uint8Array]> {
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
  if (timeout > 0) fields.push([ExecStartField.Timeout, u32Field('timeout', timeout)]);
  if (request.window) {
    checkWindow(request.window, 'window');
    const v = new Uint8Array(4);
    const dv = new DataView(v.buffer);
    dv.setUint16(0, request.window.rows);
    dv.setUint16(2, request.window.cols);
    fields.push([ExecStartField.Window, v]);
  }
  const linger = request.lingerSeconds ?? 0;
  if (linger !== 0) fields.push([ExecStartField.Linger, u32Field('linger', linger)]);
  if (request.overflow !== undefined && request.overflow !== 'pause' && request.overflow !== 'drop') {
    throw new InvalidRequestError(`overflow must be "pause" or "drop", got ${JSON.stringify(request.overflow)}`);
  }
  if (request.overflow === 'drop') fields.push([ExecStartField.Overflow, Uint8Array.of(Overflow.Drop)]);
  return fields;
}

/** The fields of a resume (§10.6): the session and the offsets; nothing of a request. */
function resumeFields(content: ExecStartContent & { resume: ResumeRequest }): Array<[number, Uint8Array]> {
  if (requestFields({ ...content, owner: undefined, resume: undefined }).length > 0) {
    throw new InvalidRequestError('a resume carries no request (argv, env, cwd, user, tty, timeout, window, linger, overflow): the session has its own');
  }
  const { sessionId, stdoutBytes, stderrBytes } = content.resume;
  if (sessionId.length !== SESSION_ID_SIZE) throw new InvalidRequestError(`a session id is ${SESSION_ID_SIZE} bytes, got ${sessionId.length}`);
  const fields: Array<[number, Uint8Array]> = [
    [ExecStartField.Resume, sessionId],
    [ExecStartField.ResumeOffsets, u64Pair(stdoutBytes, stderrBytes, 'resume offsets')],
  ];
  if (content.resume.attach) fields.push([ExecStartField.Attach, attachFieldValue(content.resume.attach)]);
  return fields;
}

/**
 * ExecStart in canonical form (spec §4.1.2): fields by ascending tag, repeated fields in
 * order, fields at their default value omitted. The version defaults to the oldest that
 * carries the request: 2 when it lingers, drops, names an owner or resumes (§10), else 1.
 */
export function encodeExecStart(
  content: ExecStartContent,
  version: number = needsDurableVersion(content) ? DURABLE_VERSION : PROTOCOL_VERSION,
  maxPayload: number = DEFAULT_MAX_PAYLOAD,
): Uint8Array {
  if (version < DURABLE_VERSION && needsDurableVersion(content)) {
    throw new InvalidRequestError(`linger, overflow drop, owner and resume need protocol version ${DURABLE_VERSION}, not ${version}`);
  }
  const fields = content.resume ? resumeFields(content as ExecStartContent & { resume: ResumeRequest }) : requestFields(content);
  if (content.owner) fields.push([ExecStartField.Owner, checkString(content.owner, 'the owner')]);
  fields.sort((a, b) => a[0] - b[0]);
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

export function encodeOutputAck(stdoutBytes: number, stderrBytes: number): Uint8Array {
  const { frame } = frameOf(FrameType.OutputAck, 16);
  frame.set(u64Pair(stdoutBytes, stderrBytes, 'acknowledged output'), HEADER_SIZE);
  return frame;
}

export function encodeListSessions(owner = '', version: number = DURABLE_VERSION): Uint8Array {
  const text = checkString(owner, 'the owner filter');
  const { frame, view } = frameOf(FrameType.ListSessions, 2 + text.length);
  view.setUint16(HEADER_SIZE, version);
  frame.set(text, HEADER_SIZE + 2);
  return frame;
}

export function encodeLinger(seconds: number, windowBytes: number): Uint8Array {
  const { frame } = frameOf(FrameType.Linger, 8);
  frame.set(u32Field('linger', seconds), HEADER_SIZE);
  frame.set(u32Field('window', windowBytes), HEADER_SIZE + 4);
  return frame;
}

export function encodeResumed(m: Omit<ResumedMessage, 'type'>): Uint8Array {
  if (m.sessionId.length !== SESSION_ID_SIZE) throw new RangeError(`a session id is ${SESSION_ID_SIZE} bytes, got ${m.sessionId.length}`);
  const { frame, view } = frameOf(FrameType.Resumed, 55);
  view.setUint16(HEADER_SIZE, m.version);
  view.setUint32(HEADER_SIZE + 2, m.pid);
  frame.set(m.sessionId, HEADER_SIZE + 6);
  view.setBigUint64(HEADER_SIZE + 22, BigInt(m.stdinBytes));
  view.setBigUint64(HEADER_SIZE + 30, BigInt(m.stdoutLost));
  view.setBigUint64(HEADER_SIZE + 38, BigInt(m.stderrLost));
  view.setUint32(HEADER_SIZE + 46, m.lingerSeconds);
  view.setUint32(HEADER_SIZE + 50, m.windowBytes);
  frame[HEADER_SIZE + 54] =
    (m.stdinClosed ? ResumedFlag.StdinClosed : 0) | (m.exited ? ResumedFlag.Exited : 0) | (m.tty ? ResumedFlag.Tty : 0) | (m.observer ? ResumedFlag.Observer : 0);
  return frame;
}

export function encodeStdinAck(bytes: number): Uint8Array {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`a stdin acknowledgement is a whole number of bytes, got ${bytes}`);
  const { frame, view } = frameOf(FrameType.StdinAck, 8);
  view.setBigUint64(HEADER_SIZE, BigInt(bytes));
  return frame;
}

export function encodeSessionList(sessions: readonly SessionSummary[], maxPayload: number = DEFAULT_MAX_PAYLOAD): Uint8Array {
  const text = encodeUtf8(JSON.stringify(sessions));
  if (text.length > maxPayload) throw new FrameTooLargeError(text.length, maxPayload);
  const { frame } = frameOf(FrameType.SessionList, text.length);
  frame.set(text, HEADER_SIZE);
  return frame;
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
    case FrameType.OutputAck:
      return encodeOutputAck(message.stdoutBytes, message.stderrBytes);
    case FrameType.ListSessions:
      return encodeListSessions(message.owner, message.version);
    case FrameType.Linger:
      return encodeLinger(message.seconds, message.windowBytes);
    case FrameType.Resumed:
      return encodeResumed(message);
    case FrameType.StdinAck:
      return encodeStdinAck(message.bytes);
    case FrameType.SessionList:
      return encodeSessionList(message.sessions, maxPayload);
    case FrameType.Notice:
      return encodeNotice(message.kind, message.message);
    default:
      return encodeCopyMessage(message, maxPayload);
  }
}
