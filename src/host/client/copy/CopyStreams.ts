import type { FileMetadata } from '../../../wire/index.js';

/** One file of a copy, as a source gives it and a sink takes it (spec §12.6). */
export interface CopyEntry extends FileMetadata {
  /** Relative to the copy's root: empty for the root itself, components joined by '/'. */
  path: Uint8Array;
  /** Symlink: its target; hard link: the path of an earlier entry; others empty. */
  link: Uint8Array;
}

/** An entry to upload; a file's bytes come from `data()`, in order. */
export interface SourceEntry extends CopyEntry {
  data?(): AsyncIterable<Uint8Array>;
}

/** What an upload sends: a tree on this machine, a tar stream… */
export interface CopySource {
  /**
   * The root's own name: with it, a destination that is a directory receives the root
   * under this name (`cp a dir/` makes dir/a); empty: the root is the destination itself.
   */
  readonly name: Uint8Array;
  /** The entries, the root first (path empty), a directory before what it holds. */
  entries(): AsyncIterable<SourceEntry>;
  /** The data bytes the entries will carry, when known beforehand (a progress bar's total). */
  readonly totalBytes?: number;
}

/** Where a download goes: a tree on this machine, a tar stream… Calls come in the stream's order, each after the last settled. */
export interface CopySink {
  /** An entry begins (a file's bytes follow, then fileEnd). */
  entry(entry: CopyEntry): void | Promise<void>;
  /** The file's next bytes (owned by the sink from now on). */
  data(chunk: Uint8Array): void | Promise<void>;
  /** The file's bytes are complete and their SHA-256 checked. */
  fileEnd(): void | Promise<void>;
  /** Every entry has come. */
  finish(): Promise<void>;
  /** The download failed: leave no partial file under a final name. */
  abort(error: Error): Promise<void>;
}

/** How far a copy is: what has gone (or come), and the totals when known. */
export interface CopyProgress {
  entries: number;
  bytes: number;
  totalEntries?: number;
  totalBytes?: number;
}

/** What a copy did: its entries and data bytes (an upload: as the agent wrote them). */
export interface CopyResult {
  entries: number;
  bytes: number;
}
