// Encoders and parsers of the copy and stat frames (spec §12).
import { DEFAULT_MAX_PAYLOAD, FrameType, HEADER_SIZE, IGNORABLE_TYPE_BIT } from './constants.js';
import {
  COPY_PROTOCOL_VERSION,
  CopyFromField,
  CopyToField,
  DIGEST_SIZE,
  ENTRY_FIXED_SIZE,
  EntryKind,
  MAX_MODE,
  METADATA_SIZE,
  StatField,
  SUPPORTED_COPY_VERSIONS,
} from './copyConstants.js';
import type {
  CopyFromMessage,
  CopyFromRequest,
  CopyMessage,
  CopyToMessage,
  CopyToRequest,
  CountsMessage,
  EntryEndMessage,
  EntryMessage,
  FileMetadata,
  StatMessage,
  StatRequest,
  StatResultMessage,
} from './copyMessages.js';
import { checkRelativePath, hasNul, isPathComponent } from './copyPaths.js';
import { fieldFrame, frameOf } from './frameBuffer.js';
import { FrameTooLargeError, InvalidRequestError, MalformedFrameError, UnsupportedVersionError } from './errors.js';

type RequestType = typeof FrameType.CopyTo | typeof FrameType.CopyFrom | typeof FrameType.Stat;
type EntryType = typeof FrameType.UploadEntry | typeof FrameType.DownloadEntry;
type EntryEndType = typeof FrameType.UploadEntryEnd | typeof FrameType.DownloadEntryEnd;
type CountsType = typeof FrameType.UploadEnd | typeof FrameType.DownloadEnd | typeof FrameType.CopyResult | typeof FrameType.DownloadTotals;

const REQUEST_NAMES: Record<RequestType, string> = {
  [FrameType.CopyTo]: 'CopyTo',
  [FrameType.CopyFrom]: 'CopyFrom',
  [FrameType.Stat]: 'Stat',
};

/** u64 all ones: an upload's file entry of unknown size (§12.6). */
const UNKNOWN_SIZE_BITS = 0xffffffffffffffffn;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

// ---- requests: version, then tag-length-value fields, as ExecStart (§4.1) ------------------

/**
 * A request's fields by tag (§12.1): each at most once, unknown critical tags refused,
 * unknown ignorable ones skipped. The version comes first and is checked before any field.
 */
function readRequest(payload: Uint8Array, type: RequestType, known: readonly number[], supported: readonly number[]): { version: number; fields: Map<number, Uint8Array> } {
  const what = REQUEST_NAMES[type];
  if (payload.length < 2) throw new MalformedFrameError(`${what} payload is shorter than its version field`);
  const view = viewOf(payload);
  const version = view.getUint16(0);
  if (!supported.includes(version)) throw new UnsupportedVersionError(version, supported);
  const fields = new Map<number, Uint8Array>();
  let at = 2;
  while (at < payload.length) {
    if (payload.length - at < 5) throw new MalformedFrameError(`${what} ends inside a field header`);
    const tag = payload[at];
    const length = view.getUint32(at + 1);
    at += 5;
    if (length > payload.length - at) throw new MalformedFrameError(`${what} field 0x${tag.toString(16)} declares ${length} bytes past the end of the frame`);
    const value = payload.subarray(at, at + length);
    at += length;
    if (!known.includes(tag)) {
      if ((tag & IGNORABLE_TYPE_BIT) === 0) throw new MalformedFrameError(`${what} field 0x${tag.toString(16).padStart(2, '0')} is unknown and not ignorable`);
      continue;
    }
    if (fields.has(tag)) throw new MalformedFrameError(`${what} field 0x${tag.toString(16)} appears twice`);
    fields.set(tag, value);
  }
  return { version, fields };
}

function pathField(fields: Map<number, Uint8Array>, tag: number, what: string): Uint8Array {
  const value = fields.get(tag) ?? new Uint8Array(0);
  if (hasNul(value)) throw new MalformedFrameError(`${what} contains a NUL byte`);
  return value;
}

function flagField(fields: Map<number, Uint8Array>, tag: number, what: string): boolean {
  const value = fields.get(tag);
  if (value === undefined) return false;
  if (value.length !== 1 || value[0] > 1) throw new MalformedFrameError(`${what} must be one byte, 0 or 1`);
  return value[0] === 1;
}

export function parseCopyTo(payload: Uint8Array, supported: readonly number[] = SUPPORTED_COPY_VERSIONS): CopyToMessage {
  const { version, fields } = readRequest(payload, FrameType.CopyTo, Object.values(CopyToField), supported);
  const name = pathField(fields, CopyToField.Name, 'the CopyTo name');
  if (name.length > 0 && !isPathComponent(name)) throw new MalformedFrameError('the CopyTo name must be one path component: no "/", not "." or ".."');
  return {
    type: FrameType.CopyTo,
    version,
    path: pathField(fields, CopyToField.Path, 'the CopyTo path'),
    name,
    owners: flagField(fields, CopyToField.Owners, 'the CopyTo owners field'),
    parents: flagField(fields, CopyToField.Parents, 'the CopyTo parents field'),
  };
}

export function parseCopyFrom(payload: Uint8Array, supported: readonly number[] = SUPPORTED_COPY_VERSIONS): CopyFromMessage {
  const { version, fields } = readRequest(payload, FrameType.CopyFrom, Object.values(CopyFromField), supported);
  return {
    type: FrameType.CopyFrom,
    version,
    path: pathField(fields, CopyFromField.Path, 'the CopyFrom path'),
    follow: flagField(fields, CopyFromField.Follow, 'the CopyFrom follow field'),
    hardlinks: flagField(fields, CopyFromField.Hardlinks, 'the CopyFrom hardlinks field'),
    totals: flagField(fields, CopyFromField.Totals, 'the CopyFrom totals field'),
  };
}

export function parseStat(payload: Uint8Array, supported: readonly number[] = SUPPORTED_COPY_VERSIONS): StatMessage {
  const { version, fields } = readRequest(payload, FrameType.Stat, Object.values(StatField), supported);
  return {
    type: FrameType.Stat,
    version,
    path: pathField(fields, StatField.Path, 'the Stat path'),
    follow: flagField(fields, StatField.Follow, 'the Stat follow field'),
  };
}

/** A request frame: version, then the fields given that are not at their default (canonical, as §4.1.2). */
function encodeRequest(type: RequestType, version: number, fields: Array<[number, Uint8Array | boolean]>, maxPayload: number): Uint8Array {
  const present: Array<[number, Uint8Array]> = [];
  for (const [tag, value] of fields) {
    if (value === false || (value instanceof Uint8Array && value.length === 0)) continue;
    present.push([tag, value === true ? Uint8Array.of(1) : value]);
  }
  return fieldFrame(type, version, present, maxPayload);
}

function requestPath(path: Uint8Array, what: string): Uint8Array {
  if (hasNul(path)) throw new InvalidRequestError(`${what} must not contain a NUL byte`);
  return path;
}

export function encodeCopyTo(request: CopyToRequest, version = COPY_PROTOCOL_VERSION, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array {
  if (request.name.length > 0 && !isPathComponent(request.name)) throw new InvalidRequestError('the name of a copy\'s root must be one path component: no "/", not "." or ".."');
  return encodeRequest(
    FrameType.CopyTo,
    version,
    [
      [CopyToField.Path, requestPath(request.path, 'the destination path')],
      [CopyToField.Name, request.name],
      [CopyToField.Owners, request.owners],
      [CopyToField.Parents, request.parents],
    ],
    maxPayload,
  );
}

export function encodeCopyFrom(request: CopyFromRequest, version = COPY_PROTOCOL_VERSION, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array {
  return encodeRequest(
    FrameType.CopyFrom,
    version,
    [
      [CopyFromField.Path, requestPath(request.path, 'the source path')],
      [CopyFromField.Follow, request.follow],
      [CopyFromField.Hardlinks, request.hardlinks],
      [CopyFromField.Totals, request.totals],
    ],
    maxPayload,
  );
}

export function encodeStat(request: StatRequest, version = COPY_PROTOCOL_VERSION, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array {
  return encodeRequest(
    FrameType.Stat,
    version,
    [
      [StatField.Path, requestPath(request.path, 'the path')],
      [StatField.Follow, request.follow],
    ],
    maxPayload,
  );
}

// ---- the metadata block, entries and stat results (§12.6) ---------------------------------

function isDevice(kind: number): boolean {
  return kind === EntryKind.CharDevice || kind === EntryKind.BlockDevice;
}

/** Reads the 41-byte metadata block; `entry`: the stricter rules of an Entry. */
function readMetadata(payload: Uint8Array, entry: boolean, unknownSizeAllowed: boolean): FileMetadata {
  const view = viewOf(payload);
  const kind = payload[0];
  const maxKind = entry ? EntryKind.BlockDevice : EntryKind.Socket;
  if (kind > maxKind || (entry && kind === EntryKind.Missing)) throw new MalformedFrameError(`entry kind ${kind} is unknown`);
  const mode = view.getUint32(1);
  if (mode > MAX_MODE) throw new MalformedFrameError(`mode 0o${mode.toString(8)} has bits beyond 0o7777`);
  const seconds = view.getBigInt64(13);
  if (seconds > MAX_SAFE || seconds < -MAX_SAFE) throw new MalformedFrameError(`mtime ${seconds} s is out of range`);
  const nanoseconds = view.getUint32(21);
  if (nanoseconds > 999_999_999) throw new MalformedFrameError(`mtime nanoseconds ${nanoseconds} must be below 1,000,000,000`);
  const rawSize = view.getBigUint64(25);
  let size: number | null;
  if (rawSize === UNKNOWN_SIZE_BITS && unknownSizeAllowed && kind === EntryKind.File) size = null;
  else if (rawSize > MAX_SAFE) throw new MalformedFrameError(`size ${rawSize} is out of range`);
  else size = Number(rawSize);
  const major = view.getUint32(33);
  const minor = view.getUint32(37);
  if (entry) {
    if (kind !== EntryKind.File && size !== 0) throw new MalformedFrameError('only file entries carry a size');
    if (!isDevice(kind) && (major !== 0 || minor !== 0)) throw new MalformedFrameError('only device entries carry a device number');
  }
  return { kind: kind as FileMetadata['kind'], mode, uid: view.getUint32(5), gid: view.getUint32(9), mtimeSeconds: Number(seconds), mtimeNanoseconds: nanoseconds, size, major, minor };
}

function writeMetadata(frame: Uint8Array, view: DataView, m: FileMetadata, unknownSizeAllowed: boolean): void {
  const at = HEADER_SIZE;
  const u32 = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what} must be a 32-bit unsigned integer, got ${v}`);
    return v;
  };
  if (m.mode > MAX_MODE || m.mode < 0) throw new RangeError(`mode 0o${m.mode.toString(8)} has bits beyond 0o7777`);
  if (!Number.isInteger(m.mtimeNanoseconds) || m.mtimeNanoseconds < 0 || m.mtimeNanoseconds > 999_999_999) throw new RangeError(`mtime nanoseconds must be from 0 to 999,999,999, got ${m.mtimeNanoseconds}`);
  frame[at] = m.kind;
  view.setUint32(at + 1, m.mode);
  view.setUint32(at + 5, u32(m.uid, 'uid'));
  view.setUint32(at + 9, u32(m.gid, 'gid'));
  view.setBigInt64(at + 13, BigInt(Math.trunc(m.mtimeSeconds)));
  view.setUint32(at + 21, m.mtimeNanoseconds);
  if (m.size === null) {
    if (!unknownSizeAllowed || m.kind !== EntryKind.File) throw new RangeError('only an upload\'s file entry may have an unknown size');
    view.setBigUint64(at + 25, UNKNOWN_SIZE_BITS);
  } else {
    if (!Number.isSafeInteger(m.size) || m.size < 0) throw new RangeError(`size must be a whole number of bytes, got ${m.size}`);
    view.setBigUint64(at + 25, BigInt(m.size));
  }
  view.setUint32(at + 33, u32(m.major, 'major'));
  view.setUint32(at + 37, u32(m.minor, 'minor'));
}

export function parseEntry<T extends EntryType>(type: T, payload: Uint8Array): EntryMessage<T> {
  const meta = readMetadata(payload, true, type === FrameType.UploadEntry);
  const pathLength = viewOf(payload).getUint16(METADATA_SIZE);
  if (ENTRY_FIXED_SIZE + pathLength > payload.length) throw new MalformedFrameError('the entry path runs past the end of the frame');
  const path = checkRelativePath(payload.subarray(ENTRY_FIXED_SIZE, ENTRY_FIXED_SIZE + pathLength), 'an entry path', true);
  const link = payload.subarray(ENTRY_FIXED_SIZE + pathLength);
  checkLink(meta.kind, link);
  if (meta.kind === EntryKind.Hardlink && path.length === 0) throw new MalformedFrameError('the root of a copy cannot be a hard link');
  return { type, ...meta, path, link };
}

function checkLink(kind: number, link: Uint8Array): void {
  if (kind === EntryKind.Symlink) {
    if (link.length === 0 || hasNul(link)) throw new MalformedFrameError('a symlink target must be non-empty and without NUL');
  } else if (kind === EntryKind.Hardlink) {
    checkRelativePath(link, 'a hard link target', false);
  } else if (link.length > 0) {
    throw new MalformedFrameError('only symlink and hard link entries carry a link');
  }
}

export function encodeEntry(type: EntryType, entry: FileMetadata & { path: Uint8Array; link: Uint8Array }, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array {
  if (entry.path.length > 0xffff) throw new RangeError(`an entry path is at most 65535 bytes, got ${entry.path.length}`);
  const length = ENTRY_FIXED_SIZE + entry.path.length + entry.link.length;
  if (length > maxPayload) throw new FrameTooLargeError(length, maxPayload);
  const { frame, view } = frameOf(type, length);
  writeMetadata(frame, view, entry, type === FrameType.UploadEntry);
  view.setUint16(HEADER_SIZE + METADATA_SIZE, entry.path.length);
  frame.set(entry.path, HEADER_SIZE + ENTRY_FIXED_SIZE);
  frame.set(entry.link, HEADER_SIZE + ENTRY_FIXED_SIZE + entry.path.length);
  return frame;
}

export function parseStatResult(payload: Uint8Array): StatResultMessage {
  const meta = readMetadata(payload, false, false);
  const link = payload.subarray(METADATA_SIZE);
  if (meta.kind === EntryKind.Symlink ? link.length === 0 || hasNul(link) : link.length > 0) {
    throw new MalformedFrameError('a StatResult carries a link target exactly when it reports a symlink');
  }
  return { type: FrameType.StatResult, ...meta, link };
}

export function encodeStatResult(result: FileMetadata & { link: Uint8Array }, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array {
  const length = METADATA_SIZE + result.link.length;
  if (length > maxPayload) throw new FrameTooLargeError(length, maxPayload);
  const { frame, view } = frameOf(FrameType.StatResult, length);
  writeMetadata(frame, view, result, false);
  frame.set(result.link, HEADER_SIZE + METADATA_SIZE);
  return frame;
}

// ---- fixed frames: digests and counts (§12.7, §12.8) ----------------------------------------

export function parseEntryEnd<T extends EntryEndType>(type: T, payload: Uint8Array): EntryEndMessage<T> {
  return { type, sha256: payload };
}

export function encodeEntryEnd(type: EntryEndType, sha256: Uint8Array): Uint8Array {
  if (sha256.length !== DIGEST_SIZE) throw new RangeError(`a SHA-256 digest is ${DIGEST_SIZE} bytes, got ${sha256.length}`);
  const { frame } = frameOf(type, DIGEST_SIZE);
  frame.set(sha256, HEADER_SIZE);
  return frame;
}

export function parseCounts<T extends CountsType>(type: T, payload: Uint8Array): CountsMessage<T> {
  const view = viewOf(payload);
  const entries = view.getBigUint64(0);
  const bytes = view.getBigUint64(8);
  if (entries > MAX_SAFE || bytes > MAX_SAFE) throw new MalformedFrameError('a count is out of range');
  return { type, entries: Number(entries), bytes: Number(bytes) };
}

export function encodeCounts(type: CountsType, entries: number, bytes: number): Uint8Array {
  for (const v of [entries, bytes]) if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`a count must be a whole number, got ${v}`);
  const { frame, view } = frameOf(type, 16);
  view.setBigUint64(HEADER_SIZE, BigInt(entries));
  view.setBigUint64(HEADER_SIZE + 8, BigInt(bytes));
  return frame;
}

/** Any copy frame's payload, parsed; null for a type that is not a copy frame. */
export function parseCopyFrame(type: number, payload: Uint8Array, supported?: readonly number[]): CopyMessage | null {
  switch (type) {
    case FrameType.CopyTo:
      return parseCopyTo(payload, supported);
    case FrameType.CopyFrom:
      return parseCopyFrom(payload, supported);
    case FrameType.Stat:
      return parseStat(payload, supported);
    case FrameType.UploadEntry:
    case FrameType.DownloadEntry:
      return parseEntry(type, payload);
    case FrameType.UploadEntryEnd:
    case FrameType.DownloadEntryEnd:
      return parseEntryEnd(type, payload);
    case FrameType.UploadEnd:
    case FrameType.DownloadEnd:
    case FrameType.CopyResult:
    case FrameType.DownloadTotals:
      return parseCounts(type, payload);
    case FrameType.StatResult:
      return parseStatResult(payload);
    default:
      return null;
  }
}

/** Any copy message as one frame buffer. */
export function encodeCopyMessage(m: CopyMessage, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array {
  switch (m.type) {
    case FrameType.CopyTo:
      return encodeCopyTo(m, m.version, maxPayload);
    case FrameType.CopyFrom:
      return encodeCopyFrom(m, m.version, maxPayload);
    case FrameType.Stat:
      return encodeStat(m, m.version, maxPayload);
    case FrameType.UploadEntry:
    case FrameType.DownloadEntry:
      return encodeEntry(m.type, m, maxPayload);
    case FrameType.UploadEntryEnd:
    case FrameType.DownloadEntryEnd:
      return encodeEntryEnd(m.type, m.sha256);
    case FrameType.UploadEnd:
    case FrameType.DownloadEnd:
    case FrameType.CopyResult:
    case FrameType.DownloadTotals:
      return encodeCounts(m.type, m.entries, m.bytes);
    case FrameType.StatResult:
      return encodeStatResult(m, maxPayload);
  }
}
