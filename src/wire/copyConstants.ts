// Numbers of the copy and stat operations, spec/PROTOCOL.md §12.
import { ErrorCode, type ErrorCodeName } from './constants.js';

/**
 * Versions of the copy operations (CopyTo, CopyFrom, Stat), newest first (§12.1). They are
 * the operations' own, independent of the exec protocol's version.
 */
export const SUPPORTED_COPY_VERSIONS: readonly number[] = [1];
export const COPY_PROTOCOL_VERSION = 1;

/** CopyTo fields (§12.3). Tags with the high bit set are ignorable. */
export const CopyToField = {
  Path: 0x01,
  Name: 0x02,
  Owners: 0x03,
  Parents: 0x04,
} as const;

/** CopyFrom fields (§12.4). */
export const CopyFromField = {
  Path: 0x01,
  Follow: 0x02,
  Hardlinks: 0x03,
  Totals: 0x04,
} as const;

/** Stat fields (§12.5). */
export const StatField = {
  Path: 0x01,
  Follow: 0x02,
} as const;

/** What an entry (or a stat result) is (§12.6). 0 in a StatResult: nothing is there. */
export const EntryKind = {
  Missing: 0,
  File: 1,
  Directory: 2,
  Symlink: 3,
  Hardlink: 4,
  Fifo: 5,
  CharDevice: 6,
  BlockDevice: 7,
  /** StatResult only: sockets are never copied. */
  Socket: 8,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export const ENTRY_KIND_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [EntryKind.Missing]: 'missing',
  [EntryKind.File]: 'file',
  [EntryKind.Directory]: 'directory',
  [EntryKind.Symlink]: 'symlink',
  [EntryKind.Hardlink]: 'hardlink',
  [EntryKind.Fifo]: 'fifo',
  [EntryKind.CharDevice]: 'char-device',
  [EntryKind.BlockDevice]: 'block-device',
  [EntryKind.Socket]: 'socket',
});

/** Bytes of the metadata block every Entry and StatResult starts with (§12.6). */
export const METADATA_SIZE = 41;
/** An Entry's fixed part: the metadata block and its u16 path length (§12.6). */
export const ENTRY_FIXED_SIZE = METADATA_SIZE + 2;
/** A SHA-256 digest: the payload of UploadEntryEnd and DownloadEntryEnd (§12.7). */
export const DIGEST_SIZE = 32;
/** Largest permission bits an entry may carry (setuid, setgid, sticky and rwx for all). */
export const MAX_MODE = 0o7777;
/**
 * Error codes whose details are the path the failure concerns (§5, §12.9): the request
 * errors of copying and the agent conditions it meets.
 */
export const PATH_ERROR_CODES: ReadonlySet<number> = new Set([
  ErrorCode.PATH_NOT_FOUND,
  ErrorCode.NOT_A_DIRECTORY,
  ErrorCode.IS_A_DIRECTORY,
  ErrorCode.PERMISSION_DENIED,
  ErrorCode.PATH_ESCAPES,
  ErrorCode.CHECKSUM_MISMATCH,
  ErrorCode.FILE_CHANGED,
  ErrorCode.NO_SPACE,
  ErrorCode.READ_ONLY_FILESYSTEM,
  ErrorCode.IO_ERROR,
  ErrorCode.COPY_UNAVAILABLE,
]);

/**
 * How a failed file system call is reported (§12.9), by the errno's name: the agent's
 * Error codes, and a client's own for the same failures on its side. Others: IO_ERROR.
 */
export const COPY_ERRNO_CODES: Readonly<Record<string, ErrorCodeName>> = Object.freeze({
  ENOENT: 'PATH_NOT_FOUND',
  ELOOP: 'PATH_NOT_FOUND',
  ENOTDIR: 'NOT_A_DIRECTORY',
  EISDIR: 'IS_A_DIRECTORY',
  ENOTEMPTY: 'IS_A_DIRECTORY',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  EXDEV: 'PATH_ESCAPES',
  EAGAIN: 'FILE_CHANGED',
  ENOSPC: 'NO_SPACE',
  EDQUOT: 'NO_SPACE',
  EROFS: 'READ_ONLY_FILESYSTEM',
  ENAMETOOLONG: 'INVALID_REQUEST',
  ENOSYS: 'COPY_UNAVAILABLE',
});
