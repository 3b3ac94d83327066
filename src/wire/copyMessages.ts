import type { FrameType } from './constants.js';
import type { EntryKind } from './copyConstants.js';

// Paths are bytes, not text (§12.2): a Linux file name is any bytes but NUL and '/'.

/** CopyTo (§12.3): the client uploads a tree to `path`. */
export interface CopyToRequest {
  /** Absolute path in the container where the upload's root goes. */
  path: Uint8Array;
  /**
   * The root's own name (one component), or empty. Given: when `path` is a directory the
   * root goes into it under this name, as `cp` does; empty: the root is `path` itself.
   */
  name: Uint8Array;
  /** Give entries the owners they carry (`cp -a`); otherwise the agent's user owns them. */
  owners: boolean;
  /** Create the missing parent directories of the destination (the compatible dialect). */
  parents: boolean;
}

/** CopyFrom (§12.4): the agent sends the tree at `path`. */
export interface CopyFromRequest {
  path: Uint8Array;
  /** Follow symbolic links in the tree (`cp -L`), inside the container root. */
  follow: boolean;
  /** Send a file's further names as Hardlink entries rather than its data again. */
  hardlinks: boolean;
  /** Count the tree first and send DownloadTotals before the entries (for a progress bar). */
  totals: boolean;
}

/** Stat (§12.5). */
export interface StatRequest {
  path: Uint8Array;
  /** Report what a final symbolic link points to rather than the link. */
  follow: boolean;
}

export interface CopyToMessage extends CopyToRequest {
  type: typeof FrameType.CopyTo;
  version: number;
}

export interface CopyFromMessage extends CopyFromRequest {
  type: typeof FrameType.CopyFrom;
  version: number;
}

export interface StatMessage extends StatRequest {
  type: typeof FrameType.Stat;
  version: number;
}

/** The first frame of a copy operation (§12.1). */
export type CopyRequestMessage = CopyToMessage | CopyFromMessage | StatMessage;

/** The metadata block of an entry or a stat result (§12.6). */
export interface FileMetadata {
  kind: EntryKind;
  /** Permission bits (at most 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time: seconds since the epoch (may be negative) and nanoseconds (0 to 999,999,999). */
  mtimeSeconds: number;
  mtimeNanoseconds: number;
  /** File: its exact number of data bytes, or null (uploads only) when the sender does not know it; others 0. */
  size: number | null;
  /** Devices: the device number's major and minor; others 0. */
  major: number;
  minor: number;
}

/** One file of a copy stream (§12.6), from the client (upload) or the agent (download). */
export interface EntryMessage<T extends number> extends FileMetadata {
  type: T;
  /** Relative to the copy's root: empty for the root itself, else components joined by '/'. */
  path: Uint8Array;
  /** Symlink: its target, as stored; Hardlink: the path (like `path`) of an earlier entry; others empty. */
  link: Uint8Array;
}

export type UploadEntryMessage = EntryMessage<typeof FrameType.UploadEntry>;
export type DownloadEntryMessage = EntryMessage<typeof FrameType.DownloadEntry>;

/** The end of a file entry's data: the SHA-256 of its bytes (§12.7). */
export interface EntryEndMessage<T extends number> {
  type: T;
  sha256: Uint8Array;
}

/** Entries and data bytes: the end of a stream, a copy's result, or a download's totals (§12.8). */
export interface CountsMessage<T extends number> {
  type: T;
  entries: number;
  bytes: number;
}

/** What Stat found (§12.5): kind Missing when nothing is there. */
export interface StatResultMessage extends FileMetadata {
  type: typeof FrameType.StatResult;
  /** A symlink not followed: its target; else empty. */
  link: Uint8Array;
}

/** Frames of the copy operations (§12). */
export type CopyMessage =
  | CopyToMessage
  | CopyFromMessage
  | StatMessage
  | UploadEntryMessage
  | DownloadEntryMessage
  | EntryEndMessage<typeof FrameType.UploadEntryEnd>
  | EntryEndMessage<typeof FrameType.DownloadEntryEnd>
  | CountsMessage<typeof FrameType.UploadEnd>
  | CountsMessage<typeof FrameType.DownloadEnd>
  | CountsMessage<typeof FrameType.CopyResult>
  | CountsMessage<typeof FrameType.DownloadTotals>
  | StatResultMessage;
