import {
  DURABLE_VERSION,
  ERROR_CODE_NAMES,
  ErrorCode,
  ExecStartField,
  ExitKind,
  FRAME_TYPE_NAMES,
  FrameType,
  IGNORABLE_TYPE_BIT,
  MAX_SIGNAL,
  Overflow,
  ResumedFlag,
  SESSION_ID_SIZE,
  SUPPORTED_VERSIONS,
} from './constants.js';
import { parseAttachField, parseNotice } from './attach.js';
import { PATH_ERROR_CODES } from './copyConstants.js';
import { parseCopyFrame } from './copyCodec.js';
import type { RawFrame } from './decoder.js';
import { MalformedFrameError, UnknownFrameTypeError, UnsupportedVersionError } from './errors.js';
import type {
  ErrorMessage,
  ExecStartMessage,
  ExitMessage,
  ListSessionsMessage,
  Message,
  ResumedMessage,
  SessionListMessage,
  SessionSummary,
} from './messages.js';
import { decodeUtf8 } from './text.js';

function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function checkNoNul(text: string, what: string): string {
  if (text.includes('\0')) throw new MalformedFrameError(`${what} contains a NUL character`);
  return text;
}

/** Fields a resuming ExecStart may not carry: the session's request was given when it started (§10.6). */
const NOT_IN_A_RESUME: readonly number[] = [
  ExecStartField.Cwd,
  ExecStartField.User,
  ExecStartField.Tty,
  ExecStartField.Timeout,
  ExecStartField.Window,
  ExecStartField.Linger,
  ExecStartField.Overflow,
];

/** ExecStart fields that exist from version 2 on (§10.1). */
const VERSION_2_FIELDS: readonly number[] = [
  ExecStartField.Linger,
  ExecStartField.Overflow,
  ExecStartField.Owner,
  ExecStartField.Resume,
  ExecStartField.ResumeOffsets,
  ExecStartField.Attach,
];

function tagName(tag: number): string {
  return `0x${tag.toString(16).padStart(2, '0')}`;
}

/**
 * Parses an ExecStart payload (spec §4.1). The version is read first and checked against
 * `supportedVersions` before any field, since another version may lay its fields out
 * differently. Version 2's fields (§10) are unknown critical tags in a version 1 request.
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
    if (version < DURABLE_VERSION && VERSION_2_FIELDS.includes(tag)) {
      throw new MalformedFrameError(`ExecStart field ${tagName(tag)} is not part of version ${version}; send it in a version ${DURABLE_VERSION} request`);
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
      case ExecStartField.Linger:
        if (length !== 4) throw new MalformedFrameError('ExecStart linger field must be 4 bytes');
        msg.lingerSeconds = viewOf(value).getUint32(0);
        break;
      case ExecStartField.Overflow:
        if (length !== 1 || value[0] > Overflow.Drop) throw new MalformedFrameError('ExecStart overflow field must be one byte, 0 (pause) or 1 (drop)');
        msg.overflow = value[0] === Overflow.Drop ? 'drop' : 'pause';
        break;
      case ExecStartField.Owner:
        msg.owner = checkNoNul(decodeUtf8(value, 'the owner'), 'the owner');
        break;
      case ExecStartField.Resume:
        if (length !== SESSION_ID_SIZE) throw new MalformedFrameError(`ExecStart resume field must be a ${SESSION_ID_SIZE}-byte session id`);
        msg.resume = { sessionId: value, stdoutBytes: 0, stderrBytes: 0 };
        break;
      case ExecStartField.ResumeOffsets:
        // Read once the loop is over: the resume field may come after it.
        if (length !== 16) throw new MalformedFrameError('ExecStart resume offsets field must be 16 bytes (u64 stdout, u64 stderr)');
        break;
      case ExecStartField.Attach:
        // Checked now, kept once the loop is over: the resume field may come after it.
        parseAttachField(value);
        break;
      default:
        if ((tag & IGNORABLE_TYPE_BIT) === 0) {
          throw new MalformedFrameError(`ExecStart field ${tagName(tag)} is unknown and not ignorable`);
        }
    }
  }
  if (seen.has(ExecStartField.Resume) || seen.has(ExecStartField.ResumeOffsets) || seen.has(ExecStartField.Attach)) checkResume(payload, msg, seen);
  return msg;
}

/** §10.6: a resume names the session and the client's offsets, and nothing of a request. */
function checkResume(payload: Uint8Array, msg: ExecStartMessage, seen: Set<number>): void {
  if (!msg.resume) throw new MalformedFrameError('ExecStart resume offsets (0x11) and attach (0x12) need the resume field (0x10) naming the session');
  const offsets = fieldValue(payload, ExecStartField.ResumeOffsets);
  if (!offsets) throw new MalformedFrameError('a resuming ExecStart (field 0x10) needs the resume offsets field (0x11)');
  const view = viewOf(offsets);
  msg.resume.stdoutBytes = safeU64(view, 0, 'resume stdout offset');
  msg.resume.stderrBytes = safeU64(view, 8, 'resume stderr offset');
  const attach = fieldValue(payload, ExecStartField.Attach);
  if (attach) msg.resume.attach = parseAttachField(attach);
  const extra = msg.argv.length > 0 ? ExecStartField.Arg : Object.keys(msg.env).length > 0 ? ExecStartField.Env : NOT_IN_A_RESUME.find((t) => seen.has(t));
  if (extra !== undefined) {
    throw new MalformedFrameError(`a resuming ExecStart carries only the owner, the session id, the offsets and how it attaches, not field ${tagName(extra)}: the session's request was given when it started`);
  }
}

/** The value of the first field with `tag` in an ExecStart payload already checked by parseExecStart. */
function fieldValue(payload: Uint8Array, tag: number): Uint8Array | undefined {
  const view = viewOf(payload);
  for (let at = 2; at < payload.length; ) {
    const length = view.getUint32(at + 1);
    if (payload[at] === tag) return payload.subarray(at + 5, at + 5 + length);
    at += 5 + length;
  }
  return undefined;
}

/** ListSessions (§10.8): a version (2 or later) and an owner filter. */
export function parseListSessions(payload: Uint8Array, supportedVersions: readonly number[] = SUPPORTED_VERSIONS): ListSessionsMessage {
  const version = viewOf(payload).getUint16(0);
  const durable = supportedVersions.filter((v) => v >= DURABLE_VERSION);
  if (!durable.includes(version)) throw new UnsupportedVersionError(version, durable);
  return { type: FrameType.ListSessions, version, owner: checkNoNul(decodeUtf8(payload.subarray(2), 'the owner filter'), 'the owner filter') };
}

function parseResumed(payload: Uint8Array): ResumedMessage {
  const view = viewOf(payload);
  const flags = payload[54];
  return {
    type: FrameType.Resumed,
    version: view.getUint16(0),
    pid: view.getUint32(2),
    sessionId: payload.subarray(6, 22),
    stdinBytes: safeU64(view, 22, 'Resumed stdin byte count'),
    stdoutLost: safeU64(view, 30, 'Resumed stdout lost count'),
    stderrLost: safeU64(view, 38, 'Resumed stderr lost count'),
    lingerSeconds: view.getUint32(46),
    windowBytes: view.getUint32(50),
    // Other flag bits are reserved: senders set them to 0, receivers ignore them.
    stdinClosed: (flags & ResumedFlag.StdinClosed) !== 0,
    exited: (flags & ResumedFlag.Exited) !== 0,
    tty: (flags & ResumedFlag.Tty) !== 0,
    observer: (flags & ResumedFlag.Observer) !== 0,
  };
}

const SESSION_STATES: ReadonlySet<string> = new Set(['attached', 'detached', 'exited']);

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** One SessionList entry, checked member by member (§10.8); unknown members are dropped. */
function sessionSummary(entry: unknown): SessionSummary {
  const o = (typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? entry : null) as Record<string, unknown> | null;
  const bad = (what: string) => new MalformedFrameError(`a SessionList entry ${what}`);
  if (o === null) throw bad('is not an object');
  if (typeof o.id !== 'string' || !/^[0-9a-f]{32}$/.test(o.id)) throw bad('needs "id": 32 lowercase hex digits');
  if (!isCount(o.pid)) throw bad('needs "pid": a whole number');
  if (!Array.isArray(o.argv) || !o.argv.every((a) => typeof a === 'string')) throw bad('needs "argv": an array of strings');
  if (typeof o.owner !== 'string') throw bad('needs "owner": a string');
  if (typeof o.tty !== 'boolean') throw bad('needs "tty": true or false');
  if (!isCount(o.startedAt)) throw bad('needs "startedAt": milliseconds since the epoch');
  if (typeof o.state !== 'string' || !SESSION_STATES.has(o.state)) throw bad('needs "state": attached, detached or exited');
  if (!isCount(o.lingerSeconds)) throw bad('needs "lingerSeconds": a whole number');
  if (o.exitCode !== undefined && !isCount(o.exitCode)) throw bad('has an "exitCode" that is not a whole number');
  if (o.detachedAt !== undefined && !isCount(o.detachedAt)) throw bad('has a "detachedAt" that is not milliseconds since the epoch');
  if (o.observers !== undefined && !isCount(o.observers)) throw bad('has an "observers" that is not a whole number');
  const s: SessionSummary = {
    id: o.id,
    pid: o.pid,
    argv: o.argv as string[],
    owner: o.owner,
    tty: o.tty,
    startedAt: o.startedAt,
    state: o.state as SessionSummary['state'],
    lingerSeconds: o.lingerSeconds,
  };
  if (o.exitCode !== undefined) s.exitCode = o.exitCode as number;
  if (o.detachedAt !== undefined) s.detachedAt = o.detachedAt as number;
  if (o.observers !== undefined) s.observers = o.observers as number;
  return s;
}

/** SessionList (§10.8): a JSON array of session summaries. */
export function parseSessionList(payload: Uint8Array): SessionListMessage {
  let body: unknown;
  try {
    body = JSON.parse(decodeUtf8(payload, 'the SessionList'));
  } catch (err) {
    if (err instanceof MalformedFrameError) throw err;
    throw new MalformedFrameError('the SessionList is not JSON');
  }
  return { type: FrameType.SessionList, sessions: sessionSummaries(body) };
}

/** A SessionList's JSON, already parsed, checked (§10.8); throws MalformedFrameError. */
export function sessionSummaries(body: unknown): SessionSummary[] {
  if (!Array.isArray(body)) throw new MalformedFrameError('the SessionList must be a JSON array');
  return body.map(sessionSummary);
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
    case FrameType.OutputAck: {
      const view = viewOf(p);
      return { type: FrameType.OutputAck, stdoutBytes: safeU64(view, 0, 'OutputAck stdout count'), stderrBytes: safeU64(view, 8, 'OutputAck stderr count') };
    }
    case FrameType.ListSessions:
      return parseListSessions(p, supportedVersions);
    case FrameType.Linger: {
      const view = viewOf(p);
      return { type: FrameType.Linger, seconds: view.getUint32(0), windowBytes: view.getUint32(4) };
    }
    case FrameType.Resumed:
      return parseResumed(p);
    case FrameType.StdinAck:
      return { type: FrameType.StdinAck, bytes: safeU64(viewOf(p), 0, 'StdinAck count') };
    case FrameType.SessionList:
      return parseSessionList(p);
    case FrameType.Notice:
      return parseNotice(p);
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
