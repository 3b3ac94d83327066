import { type BigIntStats, closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { EntryKind } from '../../../wire/index.js';
import type { CopySource, SourceEntry } from './CopyStreams.js';
import { joinBytes, lastName, localErrorOf } from './localPaths.js';

/** Bytes read from a local file per UploadData frame. */
const CHUNK = 256 * 1024;
const NOTHING = new Uint8Array(0);

export interface LocalTreeOptions {
  /** Follow symbolic links in the tree (`cp -L`); the root's own link is always followed. */
  followLinks?: boolean;
}

/** The entry kind of a local file's type; null for a socket (never copied). */
function kindOf(s: BigIntStats): EntryKind | null {
  if (s.isFile()) return EntryKind.File;
  if (s.isDirectory()) return EntryKind.Directory;
  if (s.isSymbolicLink()) return EntryKind.Symlink;
  if (s.isFIFO()) return EntryKind.Fifo;
  if (s.isCharacterDevice()) return EntryKind.CharDevice;
  if (s.isBlockDevice()) return EntryKind.BlockDevice;
  return null;
}

/**
 * A file or tree on this machine as an upload (spec §12.6): depth first, a directory before
 * its contents, names in byte order (names are bytes: no UTF-8 is assumed), modes, owners,
 * mtimes to the nanosecond, a file's further names as hard links. As `cp` and `docker cp`,
 * a source ending in `/.` (or `.` itself) sends a directory's contents: the root has no name.
 */
export class LocalTreeSource implements CopySource {
  readonly name: Uint8Array;
  readonly totalBytes: number;
  readonly #path: Buffer;
  readonly #follow: boolean;

  private constructor(path: Buffer, name: Uint8Array, totalBytes: number, follow: boolean) {
    this.#path = path;
    this.name = name;
    this.totalBytes = totalBytes;
    this.#follow = follow;
  }

  /** Looks at the source (it must exist) and counts its bytes for the progress bar. */
  static open(path: string, options: LocalTreeOptions = {}): LocalTreeSource {
    const bytes = Buffer.from(path);
    const contents = path === '.' || path.endsWith('/.');
    const name = contents ? NOTHING : lastName(Buffer.from(resolvePath(path)));
    const follow = options.followLinks ?? false;
    let total = 0;
    for (const { entry } of walk(bytes, NOTHING, rootStat(bytes), follow)) if (entry.kind === EntryKind.File) total += entry.size ?? 0;
    return new LocalTreeSource(bytes, name, total, follow);
  }

  async *entries(): AsyncIterable<SourceEntry> {
    for (const { entry, file } of walk(this.#path, NOTHING, rootStat(this.#path), this.#follow)) {
      if (file !== null) entry.data = () => readFile(file, entry.size ?? 0);
      yield entry;
    }
  }
}

/** The source itself: its own link followed, as `cp` does with the path it is given. */
function rootStat(path: Buffer): BigIntStats {
  try {
    return statSync(path, { bigint: true });
  } catch (error) {
    throw localErrorOf(error, path, 'read');
  }
}

/** Linux's dev_t: major and minor numbers. */
function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n)),
  };
}

/** Nanoseconds since the epoch as whole seconds (rounded down) and nanoseconds. */
function splitTime(ns: bigint): { seconds: number; nanoseconds: number } {
  const nanoseconds = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return { seconds: Number((ns - nanoseconds) / 1_000_000_000n), nanoseconds: Number(nanoseconds) };
}

/**
 * The entries of `path` (at `rel` in the copy), in order, each with the local file to read
 * for a file (null for a hard link or anything else).
 */
function* walk(
  path: Buffer,
  rel: Uint8Array,
  stat: BigIntStats,
  follow: boolean,
  ancestors: ReadonlySet<string> = new Set(),
  seen = new Map<string, Uint8Array>(),
): Generator<{ entry: SourceEntry; file: Buffer | null }> {
  const kind = kindOf(stat);
  if (kind === null) return;
  const device = kind === EntryKind.CharDevice || kind === EntryKind.BlockDevice ? deviceNumbers(stat.rdev) : { major: 0, minor: 0 };
  const time = splitTime(stat.mtimeNs);
  const entry: SourceEntry = {
    kind,
    mode: Number(stat.mode & 0o7777n),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    mtimeSeconds: time.seconds,
    mtimeNanoseconds: time.nanoseconds,
    size: kind === EntryKind.File ? Number(stat.size) : 0,
    ...device,
    path: rel,
    link: NOTHING,
  };
  if (kind === EntryKind.File && stat.nlink > 1n) {
    const identity = `${stat.dev}:${stat.ino}`;
    const first = seen.get(identity);
    if (first !== undefined) {
      yield { entry: { ...entry, kind: EntryKind.Hardlink, size: 0, link: first }, file: null };
      return;
    }
    seen.set(identity, rel);
  }
  if (kind === EntryKind.Symlink) {
    try {
      entry.link = readlinkSync(path, { encoding: 'buffer' });
    } catch (error) {
      throw localErrorOf(error, path, 'read the link');
    }
  }
  yield { entry, file: kind === EntryKind.File ? path : null };
  if (kind !== EntryKind.Directory) return;
  const inside = new Set(ancestors).add(`${stat.dev}:${stat.ino}`);
  let names: Buffer[];
  try {
    names = readdirSync(path, { encoding: 'buffer' }).sort(Buffer.compare);
  } catch (error) {
    throw localErrorOf(error, path, 'list');
  }
  for (const name of names) {
    const child = joinBytes(path, name);
    let childStat: BigIntStats;
    try {
      childStat = lstatSync(child, { bigint: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone meanwhile
      throw localErrorOf(error, child, 'read');
    }
    if (follow && childStat.isSymbolicLink()) {
      // -L: the target, unless it is missing or a directory being walked (a cycle): then the link itself.
      try {
        const target = statSync(child, { bigint: true });
        if (!(target.isDirectory() && inside.has(`${target.dev}:${target.ino}`))) childStat = target;
      } catch {
        // a dangling link is sent as the link it is
      }
    }
    yield* walk(child, joinBytes(rel, name), childStat, follow, inside, seen);
  }
}

/**
 * A local file's bytes, in chunks; at most `size` of them (the entry's size: a growing file
 * is cut there). Read synchronously, as the tree is walked: a trip through libuv's thread
 * pool for each of open, read and close cost a small file more than reading it.
 */
async function* readFile(path: Buffer, size: number): AsyncIterable<Uint8Array> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw localErrorOf(error, path, 'open');
  }
  try {
    let left = size;
    while (left > 0) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, left));
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch (error) {
        throw localErrorOf(error, path, 'read');
      }
      if (n === 0) return;
      left -= n;
      yield buffer.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}
