/**
 * A newc ("070701") cpio archive writer, the format the Linux kernel unpacks as an initramfs.
 *
 * Reproducible by construction: entries are written in byte-wise sorted path order (which
 * puts every directory before its contents), with mtime 0, uid/gid 0 and inode numbers
 * assigned from that order. Same entries in, same bytes out, whatever order they were added.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { InitrdError } from './errors.js';

/** Where a regular file's bytes come from: memory, or a file read at write time. */
export type FileSource = { readonly data: Uint8Array } | { readonly path: string };

export type CpioEntry =
  | { readonly type: 'directory'; readonly path: string; readonly mode?: number }
  | { readonly type: 'file'; readonly path: string; readonly mode?: number; readonly source: FileSource }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string }
  /** A second name for the regular file at `target` (an archive path), sharing its inode. */
  | { readonly type: 'hardlink'; readonly path: string; readonly target: string }
  | { readonly type: 'char-device'; readonly path: string; readonly mode?: number; readonly major: number; readonly minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const MAX_FILE_SIZE = 0xffffffff; // the header's size field is 8 hex digits
const TRAILER = 'TRAILER!!!';

/** One header as written, after sorting and inode assignment. */
interface PlannedEntry {
  readonly name: string;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly size: number;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
  /** Absent for entries without data (directories, devices, all but the last hard link). */
  readonly body?: FileSource;
}

export class CpioArchive {
  private readonly entries = new Map<string, CpioEntry>();
  /** Directories created only because something was added inside them. */
  private readonly implicitDirectories = new Set<string>();

  /** Adds an entry; missing parent directories are added with mode 0755. */
  add(entry: CpioEntry): this {
    const path = checkArchivePath(entry.path);
    if (entry.type === 'hardlink') checkArchivePath(entry.target);
    const existing = this.entries.get(path);
    if (existing) {
      // An explicit directory may refine one that was only implied by its contents.
      if (!(entry.type === 'directory' && existing.type === 'directory' && this.implicitDirectories.delete(path))) {
        throw new InitrdError('CPIO_DUPLICATE_PATH', `the archive already has an entry at ${path}; add each path once`);
      }
    }
    this.addParents(path);
    this.entries.set(path, { ...entry, path });
    return this;
  }

  addAll(entries: Iterable<CpioEntry>): this {
    for (const entry of entries) this.add(entry);
    return this;
  }

  get paths(): string[] {
    return sortPaths([...this.entries.keys()]);
  }

  /**
   * Resolves sizes (stat of file sources), orders the entries and assigns inodes.
   * Returns the archive's exact uncompressed length and a function that streams its bytes.
   */
  async plan(): Promise<CpioPlan> {
    const names = sortPaths([...this.entries.keys()]);
    const inodeOf = new Map<string, number>();
    names.forEach((name, index) => inodeOf.set(name, index + 1));

    // Hard links share the target's inode; the data travels with the group's last member
    // in archive order, as GNU cpio writes it (the kernel and `cpio -i` both accept that).
    const groups = new Map<string, string[]>();
    for (const name of names) {
      const entry = this.entries.get(name)!;
      if (entry.type !== 'hardlink') continue;
      const target = this.entries.get(entry.target);
      if (!target || target.type !== 'file') {
        throw new InitrdError('CPIO_BAD_HARDLINK', `hard link ${name} points at ${entry.target}, which is not a regular file in the archive`);
      }
      groups.set(entry.target, [...(groups.get(entry.target) ?? [entry.target]), name]);
    }
    const groupOf = new Map<string, string[]>();
    for (const [target, members] of groups) {
      const ordered = sortPaths(members);
      for (const member of ordered) groupOf.set(member, ordered);
      groupOf.set(target, ordered);
    }

    const subdirectories = new Map<string, number>();
    for (const name of names) {
      if (this.entries.get(name)!.type !== 'directory') continue;
      const parent = parentOf(name);
      if (parent) subdirectories.set(parent, (subdirectories.get(parent) ?? 0) + 1);
    }

    const planned: PlannedEntry[] = [];
    for (const name of names) {
      const entry = this.entries.get(name)!;
      switch (entry.type) {
        case 'directory':
          planned.push(header(name, inodeOf.get(name)!, S_IFDIR | (entry.mode ?? 0o755), 2 + (subdirectories.get(name) ?? 0)));
          break;
        case 'char-device':
          planned.push({ ...header(name, inodeOf.get(name)!, S_IFCHR | (entry.mode ?? 0o600), 1), rdevMajor: entry.major, rdevMinor: entry.minor });
          break;
        case 'symlink': {
          const data = Buffer.from(entry.target, 'utf8');
          planned.push({ ...header(name, inodeOf.get(name)!, S_IFLNK | 0o777, 1), size: data.length, body: { data } });
          break;
        }
        case 'file':
        case 'hardlink': {
          const fileName = entry.type === 'file' ? name : entry.target;
          const file = this.entries.get(fileName) as Extract<CpioEntry, { type: 'file' }>;
          const group = groupOf.get(name);
          const carriesData = !group || group[group.length - 1] === name;
          const size = carriesData ? await sourceSize(file.source, name) : 0;
          planned.push({
            ...header(name, inodeOf.get(fileName)!, S_IFREG | (file.mode ?? 0o644), group ? group.length : 1),
            size,
            ...(carriesData ? { body: file.source } : {}),
          });
          break;
        }
      }
    }
    planned.push(header(TRAILER, 0, 0, 1));

    let length = 0;
    for (const entry of planned) length += align4(110 + nameSize(entry.name)) + align4(entry.size);
    return { length, fileBytes: planned.reduce((sum, e) => sum + e.size, 0), chunks: () => writeEntries(planned) };
  }

  private addParents(path: string): void {
    const parent = parentOf(path);
    if (!parent || this.entries.has(parent)) {
      if (parent && this.entries.get(parent)!.type !== 'directory') {
        throw new InitrdError('CPIO_MISSING_PARENT', `cannot add ${path}: ${parent} is not a directory in the archive`);
      }
      return;
    }
    this.addParents(parent);
    this.entries.set(parent, { type: 'directory', path: parent });
    this.implicitDirectories.add(parent);
  }
}

export interface CpioPlan {
  /** Exact length in bytes of the uncompressed archive. */
  readonly length: number;
  /** Sum of the entries' data (file contents and symlink targets): the unpacked size. */
  readonly fileBytes: number;
  /** Streams the archive; may be called more than once. */
  chunks(): AsyncGenerator<Uint8Array>;
}

/** Archive paths are relative and normalised: `bin/sh`, never `/bin/sh`, `./bin` or `a//b`. */
export function checkArchivePath(path: string): string {
  const ok =
    path.length > 0 &&
    !path.startsWith('/') &&
    !path.includes('\0') &&
    path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
  if (!ok) {
    throw new InitrdError('CPIO_INVALID_PATH', `invalid archive path ${JSON.stringify(path)}: use a relative path without '.', '..' or empty parts, e.g. "bin/sh"`);
  }
  return path;
}

/** Byte-wise order of the UTF-8 names, so the order does not depend on the locale. */
function sortPaths(paths: string[]): string[] {
  return paths
    .map((p) => ({ p, key: Buffer.from(p, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ p }) => p);
}

function parentOf(path: string): string | undefined {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? undefined : path.slice(0, slash);
}

function header(name: string, ino: number, mode: number, nlink: number): PlannedEntry {
  return { name, ino, mode, nlink, size: 0, rdevMajor: 0, rdevMinor: 0 };
}

async function sourceSize(source: FileSource, name: string): Promise<number> {
  const size = 'data' in source ? source.data.byteLength : (await stat(source.path)).size;
  if (size > MAX_FILE_SIZE) {
    throw new InitrdError('CPIO_FILE_TOO_LARGE', `${name} is ${size} bytes; a newc archive holds files up to 4 GiB - 1`);
  }
  return size;
}

const nameSize = (name: string) => Buffer.byteLength(name, 'utf8') + 1;
const align4 = (n: number) => (n + 3) & ~3;
const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

function encodeHeader(entry: PlannedEntry): Buffer {
  const fields = [entry.ino, entry.mode, 0, 0, entry.nlink, 0, entry.size, 0, 0, entry.rdevMajor, entry.rdevMinor, nameSize(entry.name), 0];
  const bytes = Buffer.from('070701' + fields.map(hex8).join('') + entry.name + '\0', 'utf8');
  const out = Buffer.alloc(align4(bytes.length)); // header and name padded to 4 bytes
  bytes.copy(out);
  return out;
}

async function* writeEntries(entries: readonly PlannedEntry[]): AsyncGenerator<Uint8Array> {
  for (const entry of entries) {
    yield encodeHeader(entry);
    if (!entry.body) continue;
    let written = 0;
    if ('data' in entry.body) {
      written = entry.body.data.byteLength;
      yield entry.body.data;
    } else {
      for await (const chunk of createReadStream(entry.body.path, { highWaterMark: 1 << 20 })) {
        written += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    }
    if (written !== entry.size) {
      throw new InitrdError('CPIO_SOURCE_CHANGED', `${entry.name} changed size while the archive was written (${entry.size} → ${written} bytes); build again`);
    }
    const padding = align4(entry.size) - entry.size;
    if (padding > 0) yield Buffer.alloc(padding);
  }
}
