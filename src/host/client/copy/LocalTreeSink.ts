import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  type Stats,
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { ENTRY_KIND_NAMES, EntryKind, pathComponents } from '../../../wire/index.js';
import { LocalCopyError } from '../errors.js';
import type { CopyEntry, CopySink } from './CopyStreams.js';
import { joinBytes, lastName, localErrorOf, shownPath } from './localPaths.js';

export interface LocalTreeSinkOptions {
  /**
   * The download's source path in the container: its last name is the name the root gets in
   * a destination that is a directory; ending in `/.` (or being `/`), its contents merge there.
   */
  source: string;
  /** Give entries their owners (`cp -a`), when this process may (as root). */
  owners?: boolean;
}

/** Where a file being written is: its temporary name, its descriptor. */
interface OpenFile {
  entry: CopyEntry;
  final: Buffer;
  temp: Buffer;
  fd: number;
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** mknod(1)'s type letter of each kind it makes. */
const MKNOD_TYPE: Partial<Record<number, string>> = { [EntryKind.Fifo]: 'p', [EntryKind.CharDevice]: 'c', [EntryKind.BlockDevice]: 'b' };

/**
 * An entry's mtime for Node's utimes, which takes seconds as a double and keeps whole
 * microseconds (libuv truncates): aimed at the middle of the entry's microsecond, since a
 * double near 1.8e9 is off by up to 0.12 µs, and aimed at its start it fell into the one
 * before or after (seen as a 1 µs difference in a test's round trip).
 */
function seconds(entry: CopyEntry): number {
  return entry.mtimeSeconds + (Math.floor(entry.mtimeNanoseconds / 1000) * 1000 + 500) / 1e9;
}

/**
 * A download written to this machine, as `cp` and `docker cp` place it: into `destination`
 * when that is a directory (under the source's name), else as `destination` itself. Every
 * entry is made in its parent directory only once each directory between the root and it
 * has been seen to be a real directory (made by this copy, or there already, never a
 * symbolic link): entries from a hostile container cannot land outside the destination
 * (kubectl cp's CVE-2019-1002101 and its sequels). Files and links are written under a
 * temporary name and renamed once complete.
 *
 * Its file system calls are synchronous: each takes microseconds on a local file system,
 * where a trip through libuv's thread pool for each (six for a small file) made a tree of
 * small files five times slower than `tar x`.
 */
export class LocalTreeSink implements CopySink {
  readonly #destination: Buffer;
  readonly #trailingSlash: boolean;
  readonly #name: Uint8Array;
  readonly #owners: boolean;
  #root: Buffer | null = null;
  /** Relative paths (latin1: one character per byte) known to be real directories below the root. */
  readonly #directories = new Set<string>();
  /** Directories this copy made, whose metadata is set at the end, deepest first. */
  readonly #made: Array<{ path: Buffer; entry: CopyEntry }> = [];
  #file: OpenFile | null = null;
  readonly #tempPrefix = `.hypeman-copy-${randomBytes(6).toString('hex')}-`;
  #temps = 0;

  constructor(destination: string, options: LocalTreeSinkOptions) {
    this.#destination = Buffer.from(destination);
    this.#trailingSlash = destination.endsWith('/');
    const contents = options.source === '/' || options.source.endsWith('/.');
    this.#name = contents ? new Uint8Array(0) : lastName(Buffer.from(options.source));
    this.#owners = (options.owners ?? false) && process.getuid?.() === 0;
  }

  /** Where the download's root landed (known once it began). */
  get root(): string | null {
    return this.#root === null ? null : this.#root.toString();
  }

  async entry(entry: CopyEntry): Promise<void> {
    const root = entry.path.length === 0;
    const path = root ? this.#placeRoot(entry.kind) : this.#below(entry.path);
    if (root && path === null) return; // merged into the existing destination directory
    const target = path!;
    switch (entry.kind) {
      case EntryKind.Directory:
        return this.#directory(target, entry);
      case EntryKind.File: {
        const temp = this.#tempBeside(target);
        let fd: number;
        try {
          fd = openSync(temp, CREATE, 0o600);
        } catch (error) {
          throw localErrorOf(error, target, 'create');
        }
        this.#file = { entry, final: target, temp, fd };
        return;
      }
      default:
        return this.#node(target, entry);
    }
  }

  async data(chunk: Uint8Array): Promise<void> {
    const file = this.#file!;
    try {
      for (let at = 0; at < chunk.length; ) at += writeSync(file.fd, chunk, at);
    } catch (error) {
      throw localErrorOf(error, file.final, 'write');
    }
  }

  async fileEnd(): Promise<void> {
    const file = this.#file!;
    const { entry, temp, final } = file;
    try {
      if (this.#owners) fchownSync(file.fd, entry.uid, entry.gid);
      fchmodSync(file.fd, entry.mode);
      futimesSync(file.fd, seconds(entry), seconds(entry));
      closeSync(file.fd);
    } catch (error) {
      throw localErrorOf(error, final, 'set the metadata of');
    }
    this.#file = null;
    this.#commit(temp, final);
  }

  async finish(): Promise<void> {
    for (const { path, entry } of this.#made.reverse()) {
      try {
        if (this.#owners) lchownSync(path, entry.uid, entry.gid);
        chmodSync(path, entry.mode);
        lutimesSync(path, seconds(entry), seconds(entry));
      } catch (error) {
        throw localErrorOf(error, path, 'set the metadata of');
      }
    }
  }

  async abort(): Promise<void> {
    const file = this.#file;
    this.#file = null;
    if (file === null) return;
    try {
      closeSync(file.fd);
    } catch {
      // closed already (fileEnd failed after its close)
    }
    try {
      unlinkSync(file.temp);
    } catch {
      // gone already
    }
  }

  /** The root's place (cp's rules); null when the root is a directory that merges into the destination. */
  #placeRoot(kind: EntryKind): Buffer | null {
    const destination = this.#destination;
    let found: Stats | null = null;
    try {
      found = statSync(destination);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw localErrorOf(error, destination, 'look at');
    }
    let target: Buffer;
    if (found?.isDirectory()) {
      if (this.#name.length === 0) {
        if (kind !== EntryKind.Directory) throw new LocalCopyError('IS_A_DIRECTORY', `cannot copy a ${ENTRY_KIND_NAMES[kind]} onto the directory ${shownPath(destination)}`, destination.toString());
        this.#root = destination;
        this.#directories.add('');
        return null;
      }
      target = joinBytes(destination, this.#name);
    } else if (found !== null) {
      if (kind === EntryKind.Directory) throw new LocalCopyError('NOT_A_DIRECTORY', `cannot copy a directory onto the file ${shownPath(destination)}`, destination.toString());
      target = destination;
    } else {
      if (this.#trailingSlash) throw new LocalCopyError('PATH_NOT_FOUND', `the destination directory ${shownPath(destination)} does not exist`, destination.toString());
      try {
        if (!statSync(dirname(destination.toString()) || '.').isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      } catch (error) {
        throw localErrorOf(error, dirname(destination.toString()), 'copy into');
      }
      target = destination;
    }
    if (kind === EntryKind.Directory) {
      const existing = lstatOrNull(target);
      if (existing !== null && !existing.isDirectory()) {
        throw new LocalCopyError('NOT_A_DIRECTORY', `cannot copy a directory onto ${shownPath(target)}, which is not a directory`, target.toString());
      }
    }
    this.#root = target;
    return target;
  }

  /**
   * The local path of an entry below the root, once every directory above it is known to be
   * real; the entry replaces whatever was known at its path, unless it is only `looked up`
   * (a hard link's target).
   */
  #below(rel: Uint8Array, lookedUp = false): Buffer {
    const root = this.#root!;
    const parts = pathComponents(rel);
    let prefix: Buffer = Buffer.alloc(0);
    for (const part of parts.slice(0, -1)) {
      prefix = joinBytes(prefix, part);
      const key = prefix.toString('latin1');
      if (this.#directories.has(key)) continue;
      const path = joinBytes(root, prefix);
      const found = lstatOrNull(path);
      if (found === null) {
        // A parent the download did not send (it always does; a hostile one may not): made plainly.
        try {
          mkdirSync(path, 0o755);
        } catch (error) {
          throw localErrorOf(error, path, 'make the directory');
        }
      } else if (!found.isDirectory()) {
        const what = found.isSymbolicLink() ? 'a symbolic link' : `not a directory`;
        throw new LocalCopyError('PATH_ESCAPES', `the entry ${shownPath(rel)} would be written through ${shownPath(path)}, ${what}; copied entries are never written through links`, path.toString());
      }
      this.#directories.add(key);
    }
    if (!lookedUp) this.#forget(rel);
    return joinBytes(root, rel);
  }

  #forget(rel: Uint8Array): void {
    const key = Buffer.from(rel).toString('latin1');
    for (const known of this.#directories) if (known === key || known.startsWith(`${key}/`)) this.#directories.delete(known);
  }

  #directory(path: Buffer, entry: CopyEntry): void {
    try {
      mkdirSync(path, 0o700);
      this.#made.push({ path, entry });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw localErrorOf(error, path, 'make the directory');
      const found = lstatOrNull(path);
      if (found === null || !found.isDirectory()) {
        // A file or a link where the download has a directory: replaced, as tar does.
        try {
          unlinkSync(path);
          mkdirSync(path, 0o700);
          this.#made.push({ path, entry });
        } catch (replacing) {
          throw localErrorOf(replacing, path, 'replace with a directory');
        }
      }
    }
    this.#directories.add(Buffer.from(entry.path).toString('latin1'));
  }

  /** A symlink, a hard link or a special file: made under a temporary name, then renamed. */
  #node(path: Buffer, entry: CopyEntry): void {
    const temp = this.#tempBeside(path);
    try {
      switch (entry.kind) {
        case EntryKind.Symlink:
          symlinkSync(Buffer.from(entry.link), temp);
          break;
        case EntryKind.Hardlink:
          linkSync(this.#below(entry.link, true), temp);
          break;
        default:
          // Node cannot make fifos and devices; mknod(1) is in every Linux's coreutils.
          execFileSync('mknod', ['-m', entry.mode.toString(8), temp.toString(), MKNOD_TYPE[entry.kind]!, ...(entry.kind === EntryKind.Fifo ? [] : [String(entry.major), String(entry.minor)])], { stdio: ['ignore', 'ignore', 'pipe'] });
      }
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
      if (stderr) throw new LocalCopyError('PERMISSION_DENIED', `cannot make the ${ENTRY_KIND_NAMES[entry.kind]} ${shownPath(path)} here: ${stderr}`, path.toString());
      throw localErrorOf(error, path, 'create');
    }
    try {
      if (entry.kind !== EntryKind.Hardlink) {
        if (this.#owners) lchownSync(temp, entry.uid, entry.gid);
        lutimesSync(temp, seconds(entry), seconds(entry));
      }
    } catch (error) {
      unlinkQuietly(temp);
      throw localErrorOf(error, path, 'set the metadata of');
    }
    this.#commit(temp, path);
  }

  /**
   * A name beside `path` that nothing has (it is made with O_EXCL): a file or link is made
   * there, then renamed to `path`. Random once for the copy, then counted.
   */
  #tempBeside(path: Buffer): Buffer {
    const cut = path.lastIndexOf(0x2f);
    return joinBytes(cut < 0 ? Buffer.alloc(0) : path.subarray(0, cut), Buffer.from(`${this.#tempPrefix}${this.#temps++}`));
  }

  #commit(temp: Buffer, path: Buffer): void {
    try {
      renameSync(temp, path);
    } catch (error) {
      unlinkQuietly(temp);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new LocalCopyError('IS_A_DIRECTORY', `cannot replace the directory ${shownPath(path)} with a file`, path.toString());
      }
      throw localErrorOf(error, path, 'rename into place');
    }
  }
}

function lstatOrNull(path: Buffer): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw localErrorOf(error, path, 'look at');
  }
}

function unlinkQuietly(path: Buffer): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}


