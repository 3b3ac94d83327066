import { createHash } from 'node:crypto';
import { read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import {
  type CopyFromRequest,
  type DownloadEntryMessage,
  EntryKind,
  FrameType,
  encodeCounts,
  encodeEntry,
  encodeEntryEnd,
} from '../../wire/index.js';
import { CopyError, copyErrorOf, shown } from './CopyError.js';
import type { CopyWriter } from './CopyWriter.js';
import { absolutePath, joinPath, splitPath } from './containerPath.js';
import { O, Resolve, closeQuietly, openIn, rootFsCalls, statAt, type FileStat } from './RootFs.js';

const readAsync = promisify(read);

/**
 * Bytes read from a file per DownloadData frame: 64 KiB, as a command's output frames. The
 * API server and the client put a frame together from the reads it spans; at 256 KiB each
 * was a fresh mmap'd buffer, and the server's relay cost 2.5 times the exec pipe's CPU.
 */
const CHUNK = 64 * 1024;
/** Files up to this size are read synchronously: one syscall, no trip through libuv's pool. */
const SMALL_FILE = 64 * 1024;
/** Directories deeper than this below the source end the copy (each level holds a descriptor). */
export const MAX_DEPTH = 512;

/**
 * File systems whose directories are sent without their contents when a copy reaches them:
 * the kernel's views (/proc, /sys…), whose files claim sizes they do not have (/proc/kcore)
 * or never end.
 */
const PSEUDO_FILESYSTEMS: ReadonlySet<number> = new Set([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x27e0eb, // cgroup
  0x63677270, // cgroup2
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x73636673, // securityfs
  0xcafe4a11, // bpf
  0x6165676c, // pstore
  0x62656570, // configfs
  0xde5e81e4, // efivarfs
  0x65735543, // fusectl
  0x1cd1, // devpts
  0x19800202, // mqueue
  0x42494e4d, // binfmt_misc
]);

const NOTHING = new Uint8Array(0);

/** Thrown inside the walk once the client is gone: nothing more is read or sent. */
class Cancelled extends Error {}

/** Something in the tree to send: how to open it, and what lstat (or stat, for a followed link) said. */
interface Item {
  /** Relative to the source: empty for the root. */
  rel: Uint8Array;
  stat: FileStat;
  /** Opens it (never following a final symlink unless it is a followed link). */
  open(flags: number): number;
  readLink(): Uint8Array;
  /** Releases what opening it needs (the root's parent directory). */
  close?(): void;
}

export interface SendResult {
  entries: number;
  bytes: number;
}

/**
 * CopyFrom (§12.4): walks the tree at a container path and sends it as a download stream,
 * depth first, a directory before its contents, names in byte order. Every path is
 * resolved inside the container root (openat2 RESOLVE_IN_ROOT); below the source, names
 * are opened one at a time relative to their directory's descriptor with O_NOFOLLOW, so a
 * symbolic link swapped in during the copy is never followed (the copy ends with
 * FILE_CHANGED, or sends the link as a link). With `follow`, links in the tree are resolved
 * again inside the root from their own path.
 */
export class TreeSender {
  readonly #rootFd: number;
  readonly #request: CopyFromRequest;
  readonly #writer: CopyWriter;
  readonly #path: Uint8Array;
  /** Device and inode of each multiply linked file sent, and its path (hard links). */
  readonly #sent = new Map<string, Uint8Array>();
  #counting = false;
  #entries = 0;
  #bytes = 0;
  #cancelled = false;

  constructor(rootFd: number, request: CopyFromRequest, writer: CopyWriter) {
    this.#rootFd = rootFd;
    this.#request = request;
    this.#writer = writer;
    this.#path = absolutePath(request.path, 'source path');
  }

  /** Stops the walk at its next step (the client is gone). */
  cancel(): void {
    this.#cancelled = true;
  }

  /** Sends the whole download, DownloadEnd last; throws CopyError (or Cancelled) when it cannot. */
  async run(): Promise<SendResult> {
    if (this.#request.totals) {
      this.#counting = true;
      await this.#item(this.#source(), 0, new Set(), -1);
      this.#counting = false;
      const totals = { entries: this.#entries, bytes: this.#bytes };
      this.#sendFrame({ type: FrameType.DownloadTotals, ...totals }, encodeCounts(FrameType.DownloadTotals, totals.entries, totals.bytes));
      this.#entries = 0;
      this.#bytes = 0;
      this.#sent.clear();
    }
    await this.#item(this.#source(), 0, new Set(), -1);
    const result = { entries: this.#entries, bytes: this.#bytes };
    this.#sendFrame({ type: FrameType.DownloadEnd, ...result }, encodeCounts(FrameType.DownloadEnd, result.entries, result.bytes));
    return result;
  }

  /** The source itself: its last link followed with `follow` (or when the path can only be a directory). */
  #source(): Item {
    const path = this.#path;
    const split = this.#request.follow ? null : splitPath(path);
    try {
      if (split === null) return this.#resolved(NOTHING, path);
      const parent = openIn(this.#rootFd, split.parent, O.O_PATH | O.O_DIRECTORY, Resolve.InRoot);
      try {
        const stat = statAt(parent, split.name);
        // The parent stays open only as long as the root needs it: a copy of one file or a directory's listing.
        const name = split.name;
        return {
          rel: NOTHING,
          stat,
          open: (flags) => rootFsCalls().fsOpenAt(parent, name, flags | O.O_NOFOLLOW, 0),
          readLink: () => rootFsCalls().fsReadLink(parent, name),
          close: () => closeQuietly(parent),
        };
      } catch (error) {
        closeQuietly(parent);
        throw error;
      }
    } catch (error) {
      throw copyErrorOf(error, path, 'copy');
    }
  }

  /** An item reached by resolving a container path inside the root, following its links. */
  #resolved(rel: Uint8Array, path: Uint8Array): Item {
    const fd = openIn(this.#rootFd, path, O.O_PATH, Resolve.InRoot);
    let stat: FileStat;
    try {
      stat = statAt(fd, null);
    } finally {
      closeQuietly(fd);
    }
    return {
      rel,
      stat,
      open: (flags) => openIn(this.#rootFd, path, flags, Resolve.InRoot),
      readLink: () => NOTHING,
    };
  }

  async #item(item: Item, depth: number, ancestors: ReadonlySet<string>, parentDev: number): Promise<void> {
    try {
      if (this.#cancelled) throw new Cancelled();
      switch (item.stat.kind) {
        case EntryKind.File:
          return await this.#file(item);
        case EntryKind.Directory:
          return await this.#directory(item, depth, ancestors, parentDev);
        case EntryKind.Symlink:
          return await this.#entry(EntryKind.Symlink, item.stat, item.rel, this.#readLink(item));
        case EntryKind.Socket:
          if (item.rel.length > 0) return; // as tar does: sockets cannot be copied
          throw new CopyError('INVALID_REQUEST', `${shown(this.#path)} is a socket; sockets cannot be copied`, this.#path);
        default:
          return await this.#entry(item.stat.kind, item.stat, item.rel, NOTHING);
      }
    } finally {
      item.close?.();
    }
  }

  async #file(item: Item): Promise<void> {
    if (this.#counting) {
      if (!this.#laterLink(item.stat, item.rel)) this.#bytes += item.stat.size;
      this.#entries++;
      return;
    }
    const fd = this.#open(item, O.O_RDONLY | O.O_NONBLOCK | O.O_NOCTTY, EntryKind.File);
    try {
      // What is sent is what was opened: its metadata from the descriptor, not from the listing.
      const stat = statAt(fd, null);
      this.#expectKind(item, stat, EntryKind.File);
      const first = this.#laterLink(stat, item.rel);
      if (first !== null) return await this.#entry(EntryKind.Hardlink, stat, item.rel, first);
      await this.#entry(EntryKind.File, stat, item.rel, NOTHING);
      await this.#data(fd, stat.size, item.rel);
    } finally {
      closeQuietly(fd);
    }
  }

  /** With `hardlinks`: the path this file was sent under before, when it has several names; else null. */
  #laterLink(stat: FileStat, rel: Uint8Array): Uint8Array | null {
    if (!this.#request.hardlinks || stat.nlink < 2) return null;
    const first = this.#sent.get(stat.identity);
    if (first !== undefined) return first;
    this.#sent.set(stat.identity, rel);
    return null;
  }

  /** Exactly `size` bytes of the file, then its digest; FILE_CHANGED if it ends sooner. */
  async #data(fd: number, size: number, rel: Uint8Array): Promise<void> {
    const hash = createHash('sha256');
    let left = size;
    while (left > 0) {
      if (this.#cancelled) throw new Cancelled();
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, left));
      let got: number;
      try {
        got = size <= SMALL_FILE ? readSync(fd, buffer, 0, buffer.length, null) : (await readAsync(fd, buffer, 0, buffer.length, null)).bytesRead;
      } catch (error) {
        throw copyErrorOf(error, this.#where(rel), 'read');
      }
      if (got === 0) throw new CopyError('FILE_CHANGED', `${shown(this.#where(rel))} shrank while it was copied (${size - left} of ${size} bytes read); retry`, this.#where(rel));
      const chunk = buffer.subarray(0, got);
      hash.update(chunk);
      left -= got;
      this.#bytes += got;
      if (!this.#writer.sendData(chunk)) await this.#writer.drained();
    }
    const sha256 = hash.digest();
    this.#sendFrame({ type: FrameType.DownloadEntryEnd, sha256 }, encodeEntryEnd(FrameType.DownloadEntryEnd, sha256));
    if (this.#writer.backedUp) await this.#writer.drained();
  }

  async #directory(item: Item, depth: number, ancestors: ReadonlySet<string>, parentDev: number): Promise<void> {
    const fd = this.#open(item, O.O_RDONLY | O.O_DIRECTORY, EntryKind.Directory);
    try {
      const stat = statAt(fd, null);
      this.#expectKind(item, stat, EntryKind.Directory);
      await this.#entry(EntryKind.Directory, stat, item.rel, NOTHING);
      if (stat.dev !== parentDev && PSEUDO_FILESYSTEMS.has(rootFsCalls().fsFsType(fd))) return;
      if (depth >= MAX_DEPTH) {
        throw new CopyError('INVALID_REQUEST', `${shown(this.#where(item.rel))} is more than ${MAX_DEPTH} directories below the source; copy a deeper directory on its own`, this.#where(item.rel));
      }
      const inside = new Set(ancestors).add(stat.identity);
      let names: Buffer[];
      try {
        names = rootFsCalls().fsReadDir(fd).sort(Buffer.compare);
      } catch (error) {
        throw copyErrorOf(error, this.#where(item.rel), 'list');
      }
      for (const name of names) {
        const child = this.#child(fd, name, joinPath(item.rel, name), inside);
        if (child !== null) await this.#item(child, depth + 1, inside, stat.dev);
      }
    } finally {
      closeQuietly(fd);
    }
  }

  /** A name in a directory being sent; null when it vanished meanwhile. */
  #child(dirFd: number, name: Uint8Array, rel: Uint8Array, ancestors: ReadonlySet<string>): Item | null {
    let stat: FileStat;
    try {
      stat = statAt(dirFd, name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw copyErrorOf(error, this.#where(rel), 'stat');
    }
    const item: Item = {
      rel,
      stat,
      open: (flags) => rootFsCalls().fsOpenAt(dirFd, name, flags | O.O_NOFOLLOW, 0),
      readLink: () => rootFsCalls().fsReadLink(dirFd, name),
    };
    if (stat.kind !== EntryKind.Symlink || !this.#request.follow) return item;
    // -L: the link's target, resolved inside the root from the link's own place. A link
    // that leads nowhere, through a /proc link, or back into a directory being sent (a
    // cycle) is sent as the link it is.
    try {
      const target = this.#resolved(rel, this.#where(rel));
      if (target.stat.kind === EntryKind.Directory && ancestors.has(target.stat.identity)) return item;
      return target;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP' || code === 'EXDEV' || code === 'ENOTDIR') return item;
      throw copyErrorOf(error, this.#where(rel), 'follow');
    }
  }

  /** A link's target; a link that is no longer one (swapped, removed) since it was listed ends the copy. */
  #readLink(item: Item): Uint8Array {
    try {
      return item.readLink();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EINVAL' || code === 'ENOENT') throw this.#changed(item, EntryKind.Symlink);
      throw copyErrorOf(error, this.#where(item.rel), 'read the link');
    }
  }

  /** Opens an item; a file that became a symlink (or vanished) since it was listed ends the copy. */
  #open(item: Item, flags: number, kind: EntryKind): number {
    try {
      return item.open(flags);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'ENOTDIR' || (code === 'ENOENT' && item.rel.length > 0)) throw this.#changed(item, kind);
      throw copyErrorOf(error, this.#where(item.rel), 'open');
    }
  }

  #expectKind(item: Item, stat: FileStat, kind: EntryKind): void {
    if (stat.kind !== kind) throw this.#changed(item, kind);
  }

  #changed(item: Item, kind: EntryKind): CopyError {
    const where = this.#where(item.rel);
    const what = kind === EntryKind.Directory ? 'directory' : kind === EntryKind.Symlink ? 'symbolic link' : 'file';
    return new CopyError('FILE_CHANGED', `${shown(where)} changed while it was copied (it is no longer the ${what} it was when listed); retry`, where);
  }

  async #entry(kind: EntryKind, stat: FileStat, rel: Uint8Array, link: Uint8Array): Promise<void> {
    this.#entries++;
    if (this.#counting) return;
    const device = kind === EntryKind.CharDevice || kind === EntryKind.BlockDevice;
    const m: DownloadEntryMessage = {
      type: FrameType.DownloadEntry,
      kind,
      mode: stat.mode,
      uid: stat.uid,
      gid: stat.gid,
      mtimeSeconds: stat.mtimeSeconds,
      mtimeNanoseconds: stat.mtimeNanoseconds,
      size: kind === EntryKind.File ? stat.size : 0,
      major: device ? stat.major : 0,
      minor: device ? stat.minor : 0,
      path: rel,
      link,
    };
    this.#sendFrame(m, encodeEntry(FrameType.DownloadEntry, m));
    if (this.#writer.backedUp) await this.#writer.drained();
  }

  #sendFrame(message: Parameters<CopyWriter['send']>[0], frame: Uint8Array): void {
    if (this.#cancelled) throw new Cancelled();
    this.#writer.send(message, frame);
  }

  /** The container path of an entry, for messages and for following its link. */
  #where(rel: Uint8Array): Uint8Array {
    return joinPath(this.#path, rel);
  }
}

export function isCancelled(error: unknown): boolean {
  return error instanceof Cancelled;
}
