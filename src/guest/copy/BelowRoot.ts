import { pathComponents } from '../../wire/index.js';
import { CopyError, copyErrorOf, shown } from './CopyError.js';
import { joinPath } from './containerPath.js';
import { O, Resolve, closeQuietly, openIn, rootFsCalls } from './RootFs.js';

/** Directories kept open for the entries that follow (most land in the directory just used). */
const CACHED = 64;
/** Resolution below an upload's root: never through a symlink, never above the root. */
const BELOW = Resolve.Beneath | Resolve.NoSymlinks;
const SLASH = 0x2f;

/**
 * The directories below an upload's root (§12.6): an entry's parent is resolved from the
 * root's descriptor with openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so no entry is ever
 * written through a symbolic link (one the container had, one swapped in meanwhile, or one
 * the upload made itself), nor above the root. Missing parents are made (0755), as tar does.
 */
export class BelowRoot {
  readonly #rootFd: number;
  readonly #rootPath: Uint8Array;
  /** Open directories by relative path (latin1: one character per byte), least recently used first. */
  readonly #open = new Map<string, number>();

  constructor(rootFd: number, rootPath: Uint8Array) {
    this.#rootFd = rootFd;
    this.#rootPath = rootPath;
  }

  /** The directory that holds `rel` (a checked entry path), and its name there. */
  parentOf(rel: Uint8Array): { fd: number; name: Uint8Array } {
    const cut = rel.lastIndexOf(SLASH);
    if (cut < 0) return { fd: this.#rootFd, name: rel };
    return { fd: this.directory(rel.subarray(0, cut)), name: rel.subarray(cut + 1) };
  }

  /** An O_PATH descriptor of the directory `rel` below the root (made if missing); owned here. */
  directory(rel: Uint8Array): number {
    const key = Buffer.from(rel.buffer, rel.byteOffset, rel.byteLength).toString('latin1');
    const cached = this.#open.get(key);
    if (cached !== undefined) {
      this.#open.delete(key);
      this.#open.set(key, cached);
      return cached;
    }
    const fd = this.#resolve(rel);
    this.#open.set(key, fd);
    if (this.#open.size > CACHED) {
      const [oldest, old] = this.#open.entries().next().value as [string, number];
      this.#open.delete(oldest);
      closeQuietly(old);
    }
    return fd;
  }

  /** Opens `rel` below the root with `flags` (e.g. a directory for its metadata); the caller closes it. */
  open(rel: Uint8Array, flags: number): number {
    if (rel.length === 0) return rootFsCalls().fsOpenAt(this.#rootFd, Uint8Array.of(0x2e), flags, 0);
    try {
      return openIn(this.#rootFd, rel, flags, BELOW);
    } catch (error) {
      throw this.#error(error, rel);
    }
  }

  /** Forgets a directory that was replaced (a later entry of the same path). */
  forget(rel: Uint8Array): void {
    const key = Buffer.from(rel.buffer, rel.byteOffset, rel.byteLength).toString('latin1');
    const fd = this.#open.get(key);
    if (fd === undefined) return;
    this.#open.delete(key);
    closeQuietly(fd);
  }

  close(): void {
    for (const fd of this.#open.values()) closeQuietly(fd);
    this.#open.clear();
  }

  #resolve(rel: Uint8Array): number {
    try {
      return openIn(this.#rootFd, rel, O.O_PATH | O.O_DIRECTORY, BELOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.#error(error, rel);
    }
    // Parents the upload did not send (a tar stream may name only files): made one by one.
    let current = rootFsCalls().fsOpenAt(this.#rootFd, Uint8Array.of(0x2e), O.O_PATH | O.O_DIRECTORY, 0);
    let prefix: Uint8Array = new Uint8Array(0);
    try {
      for (const name of pathComponents(rel)) {
        prefix = joinPath(prefix, name);
        try {
          rootFsCalls().fsMkdir(current, name, 0o755);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const next = openIn(this.#rootFd, prefix, O.O_PATH | O.O_DIRECTORY, BELOW);
        closeQuietly(current);
        current = next;
      }
      return current;
    } catch (error) {
      closeQuietly(current);
      throw this.#error(error, prefix);
    }
  }

  #error(error: unknown, rel: Uint8Array): Error {
    const where = joinPath(this.#rootPath, rel);
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      return new CopyError('PATH_ESCAPES', `${shown(where)} goes through a symbolic link; copied entries are never written through links`, where);
    }
    if ((error as NodeJS.ErrnoException).code === 'EXDEV') {
      return new CopyError('PATH_ESCAPES', `${shown(where)} would leave the destination`, where);
    }
    return copyErrorOf(error, where, 'open the directory');
  }
}
