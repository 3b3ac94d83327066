import {
  ERROR_CODE_NAMES,
  ErrorCode,
  ExecStartField,
  ExitKind,
  FRAME_TYPE_NAMES,
  FrameType,
  IGNORABLE_TYPE_BIT,
  MAX_SIGNAL,
  SUPPORTED_VERSIONS,
} from './constants.js';
import { PATH_ERROR_CODES } from './copyConstants.js';
import { parseCopyFrame } from './copyCodec.js';
import type { RawFrame } from './decoder.js';
import { MalformedFrameError, UnknownFrameTypeError, UnsupportedVersionError } from './errors.js';
import type { ErrorMessage, ExecStartMessage, ExitMessage, Message } from './messages.js';
import { decodeUtf8 } from './text.js';

function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function checkNoNul(text: string, what: string): string {
  if (text.includes('\0')) throw new MalformedFrameError(`${what} contains a NUL character`);
  return text;
}

/**
 * Parses an ExecStart payload (spec §4.1). The version is read first and checked against
 * `supportedVersions` before any field, since another version may lay its fields out
 * differently.
 */
export function parseExecStart(
  payload: Uint8Array,
  supportedVersions: readonly number[] = SUPPORTED_VERSIONS,
): ExecStartMessage {
  const view = viewOf(payload);
  if (payload.length < 2) throw new MalformedFrameError('ExecStart payload is shorter than its version field');
  const version = view.getUint16(0);
  if (!supportedVersions.includes(version)) throw new UnsupportedVersionError(version, supportedVersions);

  const msg: ExecStartMessage = {
    type: FrameType.ExecStart,
    version,
    argv: [],
    env: Object.create(null) as Record<string, string>,
    cwd: '',
    user: '',
    tty: false,
    timeoutSeconds: 0,
  };
  const seen = new Set<number>();
  let at = 2;
  while (at < payload.length) {
    if (payload.length - at < 5) throw new MalformedFrameError('ExecStart ends inside a field header');
    const tag = payload[at];
    const length = view.getUint32(at + 1);
    at += 5;
    if (length > payload.length - at) {
      throw new MalformedFrameError(`ExecStart field 0x${tag.toString(16)} declares ${length} bytes past the end of the frame`);
    }
    const value = payload.subarray(at, at + length);
    at += length;
    if (tag !== ExecStartField.Arg && tag !== ExecStartField.Env) {
      if (seen.has(tag)) throw new MalformedFrameError(`ExecStart field 0x${tag.toString(16)} appears twice`);
      seen.add(tag);
    }
    switch (tag) {
      case ExecStartField.Arg:
        msg.argv.push(checkNoNul(decodeUtf8(value, 'an argument'), 'an argument'));
        break;
      case ExecStartField.Env: {
        const entry = checkNoNul(decodeUtf8(value, 'an environment entry'), 'an environment entry');
        const eq = entry.indexOf('=');
        if (eq <= 0) throw new MalformedFrameError(`environment entry ${JSON.stringify(entry)} is not NAME=value`);
        const key = entry.slice(0, eq);
        if (key in msg.env) throw new MalformedFrameError(`environment variable ${key} is given twice`);
        msg.env[key] = entry.slice(eq + 1);
        break;
      }
      case ExecStartField.Cwd:
        msg.cwd = checkNoNul(decodeUtf8(value, 'the working directory'), 'the working directory');
        break;
      case ExecStartField.User:
        msg.user = checkNoNul(decodeUtf8(value, 'the user'), 'the user');
        break;
      case ExecStartField.Tty:
        if (length !== 1 || value[0] > 1) throw new MalformedFrameError('ExecStart tty field must be one byte, 0 or 1');
        msg.tty = value[0] === 1;
        break;
      case ExecStartField.Timeout:
        if (length !== 4) throw new MalformedFrameError('ExecStart timeout field must be 4 bytes');
        msg.timeoutSeconds = viewOf(value).getUint32(0);
        break;
      case ExecStartField.Window: {
        if (length !== 4) throw new MalformedFrameError('ExecStart window field must be 4 bytes');
        const rows = viewOf(value).getUint16(0);
        const cols = viewOf(value).getUint16(2);
        if (rows === 0 || cols === 0) throw new MalformedFrameError('ExecStart window rows and cols must be at least 1');
        msg.window = { rows, cols };
        break;
      }
      default:
        if ((tag & IGNORABLE_TYPE_BIT) === 0) {
          throw new MalformedFrameError(`ExecStart field 0x${tag.toString(16).padStart(2, '0')} is unknown and not ignorable`);
        }
    }
  }
  return msg;
}

function safeU64(view: DataView, at: number, what: string): number {
  const v = view.getBigUint64(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedFrameError(`${what} ${v} is out of range`);
  return Number(v);
}

function parseExit(payload: Uint8Array): ExitMessage {
  const view = viewOf(payload);
  const kind = payload[0];
  const code = payload[1];
  const signal = payload[2];
  if (kind === ExitKind.Exited) {
    if (signal !== 0) throw new MalformedFrameError('an Exit of kind exited must carry signal 0');
  } else if (kind === ExitKind.Signaled) {
    if (signal < 1 || signal > MAX_SIGNAL) throw new MalformedFrameError(`Exit signal ${signal} is out of range`);
  } else if (kind === ExitKind.TimedOut) {
    // 0: the command exited on its own before the kill took effect (§9.6).
    if (signal > MAX_SIGNAL) throw new MalformedFrameError(`Exit signal ${signal} is out of range`);
  } else {
    throw new MalformedFrameError(`Exit kind ${kind} is unknown`);
  }
  return {
    type: FrameType.Exit,
    kind,
    code,
    signal,
    // Other flag bits are reserved: senders set them to 0, receivers ignore them (§4.9).
    coreDumped: (payload[3] & 1) === 1,
    stdoutBytes: safeU64(view, 4, 'Exit stdout byte count'),
    stderrBytes: safeU64(view, 12, 'Exit stderr byte count'),
  };
}

function parseError(payload: Uint8Array): ErrorMessage {
  const view = viewOf(payload);
  const wireCode = view.getUint16(0);
  const textLength = view.getUint16(2);
  if (4 + textLength > payload.length) throw new MalformedFrameError('Error message runs past the end of the frame');
  const message = decodeUtf8(payload.subarray(4, 4 + textLength), 'the Error message');
  const details = payload.subarray(4 + textLength);
  const name = ERROR_CODE_NAMES[wireCode];
  const msg: ErrorMessage = {
    type: FrameType.Error,
    code: name ?? `ERROR_${wireCode}`,
    wireCode,
    message,
  };
  if (wireCode === ErrorCode.UNSUPPORTED_VERSION) {
    if (details.length % 2 !== 0) throw new MalformedFrameError('UNSUPPORTED_VERSION details must be a list of u16 versions');
    const dv = viewOf(details);
    msg.supportedVersions = [];
    for (let i = 0; i < details.length; i += 2) msg.supportedVersions.push(dv.getUint16(i));
  } else if (PATH_ERROR_CODES.has(wireCode)) {
    msg.path = details;
  }
  return msg;
}

/**
 * Turns a frame cut by FrameDecoder into a typed message. Data payloads stay views of the
 * frame. Sizes of fixed-layout frames were already checked by the decoder.
 */
export function parseFrame(frame: RawFrame, supportedVersions?: readonly number[]): Message {
  const p = frame.payload;
  switch (frame.type) {
    case FrameType.Stdout:
      return { type: FrameType.Stdout, data: p };
    case FrameType.Stderr:
      return { type: FrameType.Stderr, data: p };
    case FrameType.Stdin:
      return { type: FrameType.Stdin, data: p };
    case FrameType.ExecStart:
      return parseExecStart(p, supportedVersions);
    case FrameType.StdinClose:
      return { type: FrameType.StdinClose };
    case FrameType.WindowSize: {
      const view = viewOf(p);
      const rows = view.getUint16(0);
      const cols = view.getUint16(2);
      if (rows === 0 || cols === 0) throw new MalformedFrameError('WindowSize rows and cols must be at least 1');
      return { type: FrameType.WindowSize, rows, cols };
    }
    case FrameType.Signal:
      if (p[0] < 1 || p[0] > MAX_SIGNAL) throw new MalformedFrameError(`signal ${p[0]} is out of range 1..${MAX_SIGNAL}`);
      return { type: FrameType.Signal, signal: p[0] };
    case FrameType.Started: {
      const view = viewOf(p);
      return { type: FrameType.Started, version: view.getUint16(0), pid: view.getUint32(2), sessionId: p.subarray(6, 22) };
    }
    case FrameType.Exit:
      return parseExit(p);
    case FrameType.Error:
      return parseError(p);
    case FrameType.Ping:
      return { type: FrameType.Ping, token: p };
    case FrameType.Pong:
      return { type: FrameType.Pong, token: p };
    case FrameType.StdinCredit:
      return { type: FrameType.StdinCredit, bytes: viewOf(p).getUint32(0) };
    case FrameType.UploadData:
      return { type: FrameType.UploadData, data: p };
    case FrameType.DownloadData:
      return { type: FrameType.DownloadData, data: p };
    default: {
      // Copy requests carry versions of their own (§12.1): `supportedVersions` is the exec protocol's.
      const copy = parseCopyFrame(frame.type, p);
      if (copy !== null) return copy;
      // The decoder only delivers known types; reaching here means a caller built a RawFrame itself.
      if (FRAME_TYPE_NAMES[frame.type] === undefined) throw new UnknownFrameTypeError(frame.type);
      throw new MalformedFrameError(`frame type 0x${frame.type.toString(16)} has no parser`);
    }
  }
}
