import { createHash, type Hash } from 'node:crypto';
import {
  type CopyFromMessage,
  type CopyToMessage,
  type DownloadEntryMessage,
  EntryKind,
  type ErrorCodeName,
  FrameType,
  type Message,
  type RawFrame,
  type UploadEntryMessage,
  encodeCopyFrom,
  encodeCopyTo,
  encodeCounts,
  encodeEntry,
  encodeEntryEnd,
} from '../../../../wire/index.js';
import { RelayFailure } from '../RelayFailure.js';
import type { CopyDialect, CopyRelaySession } from './CopyDialect.js';

/** The original platform's CpRequest (its cmd/api/api/cp.go), as its clients send it. */
interface CpRequest {
  direction: 'to' | 'from';
  guest_path: string;
  is_dir: boolean;
  mode: number;
  follow_links: boolean;
  uid: number;
  gid: number;
}

const NOTHING = new Uint8Array(0);

/** Reads a CpRequest as Go's encoding/json would into the original's struct: unknown keys ignored, wrong types refused. */
function parseCpRequest(text: string): CpRequest {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (error) {
    throw new RelayFailure('INVALID_REQUEST', `invalid JSON: ${(error as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new RelayFailure('INVALID_REQUEST', 'invalid JSON: the request must be an object');
  const m = o as Record<string, unknown>;
  const field = <T>(key: string, type: 'string' | 'boolean' | 'number', fallback: T): T => {
    const v = m[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== type || (type === 'number' && (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff))) {
      throw new RelayFailure('INVALID_REQUEST', `invalid JSON: ${key} must be ${type === 'number' ? 'an unsigned 32-bit integer' : `a ${type}`}`);
    }
    return v as T;
  };
  const direction = field<string>('direction', 'string', '');
  if (direction !== 'to' && direction !== 'from') throw new RelayFailure('INVALID_REQUEST', `invalid direction: ${direction} (must be 'to' or 'from')`);
  return {
    direction,
    guest_path: field('guest_path', 'string', ''),
    is_dir: field('is_dir', 'boolean', false),
    mode: field('mode', 'number', 0),
    follow_links: field('follow_links', 'boolean', false),
    uid: field('uid', 'number', 0),
    gid: field('gid', 'number', 0),
  };
}

/** Go's filepath.Base, which the original's agent names a download's root with. */
function goBase(path: string): string {
  if (path === '') return '.';
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Go's path.Join of the root's base and an entry's path, as the original's headers carry it. */
function goJoin(base: string, rel: string): string {
  if (rel === '') return base;
  const joined = `${base}/${rel}`.replace(/\/+/g, '/');
  return joined;
}

/**
 * The original platform's copy dialect (spec §12.10.2), for its clients, unchanged: a JSON
 * CpRequest first; "to" then takes binary messages of one file's bytes (or nothing, for a
 * directory) and `{"type":"end"}`, and answers `{"type":"result",…}`; "from" answers each
 * file with `{"type":"header",…}`, binary data and `{"type":"end","final":…}`, or
 * `{"type":"error",…}`. Translated to the copy frames here; the agent never knows.
 */
export class CompatCopyDialect implements CopyDialect {
  readonly name = 'compat';
  readonly returnsCredit = false;
  readonly requestMissing = 'no request arrived; send the JSON CpRequest as the first text message';
  readonly #session: CopyRelaySession;
  #direction: 'to' | 'from' | null = null;
  /** "to": the one entry uploaded, its bytes' hash, their count. */
  #upload: { kind: EntryKind; hash: Hash; bytes: number; ended: boolean } | null = null;
  /** "from": the name the root's headers start with, and whether an entry's end marker is held (its `final` unknown yet). */
  #base = '';
  #endHeld = false;

  constructor(session: CopyRelaySession) {
    this.#session = session;
  }

  message(view: Uint8Array, isBinary: boolean): void {
    if (this.#direction === null) {
      if (isBinary) throw new RelayFailure('INVALID_REQUEST', 'first message must be JSON text');
      return this.#begin(parseCpRequest(Buffer.from(view).toString('utf8')));
    }
    // "from" takes nothing more from its client; "to" takes the file's bytes and the end.
    const upload = this.#upload;
    if (this.#direction !== 'to' || upload === null || upload.ended) return;
    if (isBinary) {
      if (upload.kind !== EntryKind.File) return;
      upload.hash.update(view);
      upload.bytes += view.length;
      this.#session.clientFrame({ type: FrameType.UploadData, data: view }, view);
      return;
    }
    let end = false;
    try {
      end = (JSON.parse(Buffer.from(view).toString('utf8')) as { type?: unknown } | null)?.type === 'end';
    } catch {
      // The original ignores text it cannot read.
    }
    if (!end) return;
    upload.ended = true;
    if (upload.kind === EntryKind.File) {
      const sha256 = upload.hash.digest();
      this.#session.clientFrame({ type: FrameType.UploadEntryEnd, sha256 }, encodeEntryEnd(FrameType.UploadEntryEnd, sha256));
    }
    this.#session.clientFrame({ type: FrameType.UploadEnd, entries: 1, bytes: upload.bytes }, encodeCounts(FrameType.UploadEnd, 1, upload.bytes));
  }

  #begin(r: CpRequest): void {
    this.#direction = r.direction;
    const path = Buffer.from(r.guest_path);
    if (r.direction === 'from') {
      this.#base = goBase(r.guest_path);
      const m: CopyFromMessage = { type: FrameType.CopyFrom, version: 1, path, follow: r.follow_links, hardlinks: false, totals: false };
      this.#session.begin(m, encodeCopyFrom(m));
      return;
    }
    // As the original's agent: owners only when both are given, parents made, no mtime kept (now).
    const owners = r.uid > 0 && r.gid > 0;
    const m: CopyToMessage = { type: FrameType.CopyTo, version: 1, path, name: NOTHING, owners, parents: true };
    this.#session.begin(m, encodeCopyTo(m));
    const kind = r.is_dir ? EntryKind.Directory : EntryKind.File;
    const now = Date.now();
    const entry: UploadEntryMessage = {
      type: FrameType.UploadEntry,
      kind,
      mode: (r.mode || (r.is_dir ? 0o755 : 0o644)) & 0o7777,
      uid: r.uid,
      gid: r.gid,
      mtimeSeconds: Math.floor(now / 1000),
      mtimeNanoseconds: (now % 1000) * 1e6,
      size: r.is_dir ? 0 : null,
      major: 0,
      minor: 0,
      path: NOTHING,
      link: NOTHING,
    };
    this.#upload = { kind, hash: createHash('sha256'), bytes: 0, ended: false };
    this.#session.clientFrame(entry, encodeEntry(FrameType.UploadEntry, entry));
  }

  /** Nothing is held back: each agent frame becomes its message as it comes. */
  flush(): void {}

  agentFrame(frame: RawFrame, m: Message): void {
    switch (m.type) {
      case FrameType.CopyResult:
        this.#text({ type: 'result', success: true, bytes_written: m.bytes || undefined });
        return;
      case FrameType.DownloadEntry:
        return this.#header(m);
      case FrameType.DownloadData:
        this.#session.send(frame.payload);
        return;
      case FrameType.DownloadEnd:
        this.#releaseEnd(true);
        return;
      case FrameType.Ping:
      case FrameType.Pong:
        return;
    }
  }

  /** A download's entry as the original's header; kinds it never sent (fifos, devices, links kept as hard links) are left out. */
  #header(m: DownloadEntryMessage): void {
    if (m.kind !== EntryKind.File && m.kind !== EntryKind.Directory && m.kind !== EntryKind.Symlink) return;
    this.#releaseEnd(false);
    const symlink = m.kind === EntryKind.Symlink;
    this.#text({
      type: 'header',
      path: goJoin(this.#base, Buffer.from(m.path).toString('utf8')),
      // Go's FileMode.Perm(): the permission bits only.
      mode: m.mode & 0o777,
      is_dir: m.kind === EntryKind.Directory,
      is_symlink: symlink || undefined,
      link_target: symlink ? Buffer.from(m.link).toString('utf8') : undefined,
      // A link's size, as lstat gives it: the length of its target.
      size: symlink ? m.link.length : (m.size ?? 0),
      mtime: m.mtimeSeconds,
      uid: m.uid || undefined,
      gid: m.gid || undefined,
    });
    this.#endHeld = true;
  }

  /** Each entry's end marker waits for what follows it: only the last one is `final`. */
  #releaseEnd(final: boolean): void {
    if (!this.#endHeld && !final) return;
    this.#endHeld = false;
    this.#text({ type: 'end', final });
  }

  failure(code: ErrorCodeName | `ERROR_${number}`, message: string, path: Uint8Array | undefined, frame: Uint8Array | undefined): void {
    // An upload's failure in the agent is the original's unsuccessful result; anything else its error.
    if (this.#direction === 'to' && frame !== undefined) {
      this.#text({ type: 'result', success: false, error: message });
      return;
    }
    this.#text({ type: 'error', message, path: path && path.length > 0 ? Buffer.from(path).toString('utf8') : undefined });
  }

  #text(o: Record<string, unknown>): void {
    this.#session.sendText(JSON.stringify(o));
  }
}
