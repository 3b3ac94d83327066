import { createHash, randomBytes, type Hash } from 'node:crypto';
import { writev, writevSync } from 'node:fs';
import { promisify } from 'node:util';
import {
  type CopyToRequest,
  EntryKind,
  FrameType,
  type Message,
  type UploadEntryMessage,
} from '../../wire/index.js';
import { BelowRoot } from './BelowRoot.js';
import { CopyError, copyErrorOf, shown } from './CopyError.js';
import { joinPath } from './containerPath.js';
import { type Destination, resolveDestination } from './Destination.js';
import { NODE_TYPE, O, closeQuietly, rootFsCalls, statAt } from './RootFs.js';

const writevAsync = promisify(writev);

/** Pause the connection when this many received bytes wait to be written; resume below the low mark. */
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 2 * 1024 * 1024;
/** Files of at most this size (when known) are written synchronously: one syscall, no trip through libuv's pool. */
const SMALL_FILE = 64 * 1024;

export interface ReceiveHooks {
  /** Stop reading the connection: writing is behind. */
  pause(): void;
  resume(): void;
}

export interface ReceiveResult {
  entries: number;
  bytes: number;
}

/** A file being received: its temporary name, its descriptor, its bytes not yet written. */
interface FileJob {
  entry: UploadEntryMessage;
  hash: Hash;
  chunks: Uint8Array[];
  waiting: number;
  flushQueued: boolean;
  /** Set once the temporary file exists. */
  dir: number;
  name: Uint8Array;
  temp: Uint8Array | null;
  fd: number;
  small: boolean;
}

/** A directory this upload made, whose metadata is set once everything inside it is written. */
interface MadeDirectory {
  rel: Uint8Array;
  entry: UploadEntryMessage;
}

/**
 * CopyTo (§12.3, §12.6): writes an upload stream into the container root. The root goes
 * where resolveDestination says; every other entry is made in its parent directory,
 * resolved below the root without following any symbolic link (BelowRoot), under a
 * temporary name that is renamed to the entry's name once it is complete (a file: once its
 * SHA-256 matched), so an interrupted copy never leaves a partial file under a final name.
 * File systems calls happen in the stream's order, one at a time (a queue of tasks); file
 * data is written asynchronously, and the connection is paused while too much waits.
 */
export class TreeReceiver {
  readonly result: Promise<ReceiveResult>;
  readonly #rootFd: number;
  readonly #request: CopyToRequest;
  readonly #hooks: ReceiveHooks;
  #resolve!: (result: ReceiveResult) => void;
  #reject!: (error: Error) => void;
  #queue: Promise<void> = Promise.resolve();
  #failed: Error | null = null;
  #destination: Destination | null = null;
  /** The root's own directory descriptor when the root is a directory. */
  #below: BelowRoot | null = null;
  /** The file whose frames arrive now. */
  #job: FileJob | null = null;
  /** The file whose temporary name exists (opened, not yet renamed). */
  #openJob: FileJob | null = null;
  /** The root directory's own descriptor, when this upload made it. */
  #ownRoot = -1;
  readonly #made: MadeDirectory[] = [];
  #entries = 0;
  #bytes = 0;
  #waiting = 0;
  #paused = false;

  constructor(rootFd: number, request: CopyToRequest, hooks: ReceiveHooks) {
    this.#rootFd = rootFd;
    this.#request = request;
    this.#hooks = hooks;
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A failure is reported through `result`; nobody need wait on it for the process to live.
    this.result.catch(() => undefined);
  }

  /** A frame of the upload, already checked against the state machine (§12.7). */
  push(m: Message): void {
    if (this.#failed) return;
    switch (m.type) {
      case FrameType.UploadEntry:
        if (m.kind === EntryKind.File) {
          const job: FileJob = { entry: m, hash: createHash('sha256'), chunks: [], waiting: 0, flushQueued: false, dir: -1, name: m.path, temp: null, fd: -1, small: m.size !== null && m.size <= SMALL_FILE };
          this.#job = job;
          this.#task(() => this.#openFile(job));
        } else {
          this.#task(() => this.#make(m));
        }
        return;
      case FrameType.UploadData: {
        const job = this.#job!;
        job.hash.update(m.data);
        job.chunks.push(m.data);
        job.waiting += m.data.length;
        this.#wait(m.data.length);
        if (!job.flushQueued) {
          job.flushQueued = true;
          this.#task(() => this.#flush(job));
        }
        return;
      }
      case FrameType.UploadEntryEnd: {
        const job = this.#job!;
        this.#job = null;
        const digest = job.hash.digest();
        if (!digest.equals(m.sha256)) {
          const where = this.#where(job.entry.path);
          this.#fail(new CopyError('CHECKSUM_MISMATCH', `the data of ${shown(where)} does not match its SHA-256 (sent ${Buffer.from(m.sha256).toString('hex').slice(0, 16)}…, received ${digest.toString('hex').slice(0, 16)}…); nothing was written under its name`, where));
          return;
        }
        this.#task(() => this.#closeFile(job));
        return;
      }
      case FrameType.UploadEnd:
        this.#task(() => this.#finish());
        return;
    }
  }

  /** The client is gone, or the session ends: stop, and leave no temporary file behind. */
  abort(reason: Error): void {
    this.#fail(reason);
  }

  // ---- the queue -----------------------------------------------------------------------------

  #task(run: () => void | Promise<void>): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#failed) return;
      try {
        await run();
      } catch (error) {
        this.#fail(error as Error);
      }
    });
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    // Whatever runs now sees #failed at its next step; the cleanup waits for it.
    void this.#queue.then(() => this.#cleanup()).finally(() => this.#reject(error));
    if (this.#paused) this.#hooks.resume();
  }

  #cleanup(): void {
    const job = this.#job;
    this.#job = null;
    for (const j of [job, this.#openJob]) this.#discard(j);
    this.#openJob = null;
    this.#closeAll();
  }

  #discard(job: FileJob | null): void {
    if (job === null || job.temp === null) return;
    if (job.fd >= 0) closeQuietly(job.fd);
    job.fd = -1;
    try {
      rootFsCalls().fsUnlink(job.dir, job.temp, false);
    } catch {
      // gone already
    }
    job.temp = null;
  }

  #closeAll(): void {
    this.#below?.close();
    this.#below = null;
    if (this.#destination !== null) closeQuietly(this.#destination.fd);
    this.#destination = null;
    if (this.#ownRoot >= 0) closeQuietly(this.#ownRoot);
    this.#ownRoot = -1;
  }

  #wait(bytes: number): void {
    this.#waiting += bytes;
    if (!this.#paused && this.#waiting > HIGH_WATER) {
      this.#paused = true;
      this.#hooks.pause();
    }
  }

  #written(bytes: number): void {
    this.#waiting -= bytes;
    if (this.#paused && this.#waiting < LOW_WATER) {
      this.#paused = false;
      this.#hooks.resume();
    }
  }

  // ---- entries ---------------------------------------------------------------------------------

  /** The directory and name an entry is made at: the destination for the root, its parent below the root otherwise. */
  #place(entry: UploadEntryMessage): { dir: number; name: Uint8Array } {
    if (entry.path.length > 0) {
      if (this.#below === null) throw new CopyError('INTERNAL_ERROR', 'an entry below a root that is not a directory');
      const { fd, name } = this.#below.parentOf(entry.path);
      return { dir: fd, name };
    }
    const destination = resolveDestination(this.#rootFd, this.#request, entry.kind);
    this.#destination = destination;
    if (destination.name === null) throw new CopyError('INTERNAL_ERROR', 'a file placed onto a directory');
    return { dir: destination.fd, name: destination.name };
  }

  #openFile(job: FileJob): void {
    this.#entries++;
    const { dir, name } = this.#place(job.entry);
    job.dir = dir;
    job.name = name;
    const temp = tempName();
    try {
      job.fd = rootFsCalls().fsOpenAt(dir, temp, O.O_WRONLY | O.O_CREAT | O.O_EXCL | O.O_NOFOLLOW, 0o600);
    } catch (error) {
      throw copyErrorOf(error, this.#where(job.entry.path), 'create');
    }
    job.temp = temp;
    this.#openJob = job;
  }

  async #flush(job: FileJob): Promise<void> {
    job.flushQueued = false;
    const chunks = job.chunks;
    job.chunks = [];
    const bytes = job.waiting;
    job.waiting = 0;
    try {
      let done = 0;
      while (done < bytes) {
        const rest = done === 0 ? chunks : remaining(chunks, done);
        done += job.small ? writevSync(job.fd, rest) : (await writevAsync(job.fd, rest)).bytesWritten;
        if (this.#failed) return;
      }
    } catch (error) {
      throw copyErrorOf(error, this.#where(job.entry.path), 'write');
    } finally {
      this.#written(bytes);
    }
    this.#bytes += bytes;
  }

  #closeFile(job: FileJob): void {
    const e = job.entry;
    const where = this.#where(e.path);
    try {
      const calls = rootFsCalls();
      // Owners first: chown clears setuid and setgid bits, which the mode then sets.
      if (this.#request.owners) calls.fsChown(job.fd, null, e.uid, e.gid);
      calls.fsChmod(job.fd, null, e.mode);
      calls.fsUtimes(job.fd, null, e.mtimeSeconds, e.mtimeNanoseconds);
    } catch (error) {
      throw copyErrorOf(error, where, 'set the metadata of');
    }
    closeQuietly(job.fd);
    job.fd = -1;
    this.#commit(job.dir, job.temp!, job.name, where);
    job.temp = null;
    this.#openJob = null;
  }

  /** Renames a finished temporary entry to its name; a directory there is an error, anything else is replaced. */
  #commit(dir: number, temp: Uint8Array, name: Uint8Array, where: Uint8Array): void {
    try {
      rootFsCalls().fsRename(dir, temp, dir, name, 0);
    } catch (error) {
      try {
        rootFsCalls().fsUnlink(dir, temp, false);
      } catch {
        // gone already
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new CopyError('IS_A_DIRECTORY', `cannot replace the directory ${shown(where)} with a file`, where);
      }
      throw copyErrorOf(error, where, 'rename into place');
    }
  }

  #make(e: UploadEntryMessage): void {
    this.#entries++;
    if (e.kind === EntryKind.Directory) return this.#makeDirectory(e);
    const { dir, name } = this.#place(e);
    const where = this.#where(e.path);
    const temp = tempName();
    const calls = rootFsCalls();
    try {
      switch (e.kind) {
        case EntryKind.Symlink:
          calls.fsSymlink(e.link, dir, temp);
          break;
        case EntryKind.Hardlink: {
          const target = this.#below!.parentOf(e.link);
          calls.fsLink(target.fd, target.name, dir, temp);
          break;
        }
        default:
          calls.fsMknod(dir, temp, NODE_TYPE[e.kind]! | 0o600, e.major, e.minor);
      }
    } catch (error) {
      if (e.kind === EntryKind.Hardlink) throw copyErrorOf(error, this.#where(e.link), 'link to');
      throw copyErrorOf(error, where, 'create');
    }
    try {
      if (e.kind !== EntryKind.Hardlink) {
        if (this.#request.owners) calls.fsChown(dir, temp, e.uid, e.gid);
        if (e.kind !== EntryKind.Symlink) calls.fsChmod(dir, temp, e.mode);
        calls.fsUtimes(dir, temp, e.mtimeSeconds, e.mtimeNanoseconds);
      }
    } catch (error) {
      try {
        calls.fsUnlink(dir, temp, false);
      } catch {
        // gone already
      }
      throw copyErrorOf(error, where, 'set the metadata of');
    }
    this.#commit(dir, temp, name, where);
  }

  #makeDirectory(e: UploadEntryMessage): void {
    const calls = rootFsCalls();
    const where = this.#where(e.path);
    if (e.path.length === 0) {
      const destination = resolveDestination(this.#rootFd, this.#request, EntryKind.Directory);
      this.#destination = destination;
      if (destination.name === null) {
        // Merged into a directory that exists: its own metadata stays as it is.
        this.#below = new BelowRoot(destination.fd, destination.path);
        return;
      }
      const made = this.#mkdir(destination.fd, destination.name, where);
      const fd = calls.fsOpenAt(destination.fd, destination.name, O.O_PATH | O.O_DIRECTORY | O.O_NOFOLLOW, 0);
      this.#below = new BelowRoot(fd, destination.path);
      this.#ownRoot = fd;
      if (made) this.#made.push({ rel: e.path, entry: e });
      return;
    }
    const { fd, name } = this.#below!.parentOf(e.path);
    if (this.#mkdir(fd, name, where)) this.#made.push({ rel: e.path, entry: e });
  }

  /**
   * Makes a directory; true when made, false when one was there (merged into). Anything
   * else there (a file, a symlink) is replaced, as tar replaces it.
   */
  #mkdir(dir: number, name: Uint8Array, where: Uint8Array): boolean {
    const calls = rootFsCalls();
    try {
      calls.fsMkdir(dir, name, 0o700);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw copyErrorOf(error, where, 'make the directory');
    }
    try {
      if (statAt(dir, name).kind === EntryKind.Directory) return false;
      calls.fsUnlink(dir, name, false);
      calls.fsMkdir(dir, name, 0o700);
      return true;
    } catch (error) {
      throw copyErrorOf(error, where, 'replace with a directory');
    }
  }

  /** UploadEnd: the directories this upload made get their metadata, deepest first. */
  #finish(): void {
    const calls = rootFsCalls();
    for (const { rel, entry } of this.#made.reverse()) {
      const where = this.#where(rel);
      let fd: number;
      try {
        fd = rel.length === 0 ? calls.fsOpenAt(this.#ownRoot, Uint8Array.of(0x2e), O.O_RDONLY | O.O_DIRECTORY, 0) : this.#below!.open(rel, O.O_RDONLY | O.O_DIRECTORY);
      } catch (error) {
        throw copyErrorOf(error, where, 'open the directory');
      }
      try {
        if (this.#request.owners) calls.fsChown(fd, null, entry.uid, entry.gid);
        calls.fsChmod(fd, null, entry.mode);
        calls.fsUtimes(fd, null, entry.mtimeSeconds, entry.mtimeNanoseconds);
      } catch (error) {
        throw copyErrorOf(error, where, 'set the metadata of');
      } finally {
        closeQuietly(fd);
      }
    }
    this.#closeAll();
    this.#resolve({ entries: this.#entries, bytes: this.#bytes });
  }

  /** The container path of an entry, for messages. */
  #where(rel: Uint8Array): Uint8Array {
    return joinPath(this.#destination?.path ?? this.#request.path, rel);
  }
}

/** A name no entry has: the temporary name a file or link is made under before its rename. */
function tempName(): Uint8Array {
  return Buffer.from(`.hypeman-copy-${randomBytes(8).toString('hex')}`);
}

/** The chunks from byte `offset` on (after a short write). */
function remaining(chunks: Uint8Array[], offset: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    if (offset >= c.length) {
      offset -= c.length;
      continue;
    }
    out.push(offset > 0 ? c.subarray(offset) : c);
    offset = 0;
  }
  return out;
}
