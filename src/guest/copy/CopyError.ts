import { COPY_ERRNO_CODES, type ErrorCodeName } from '../../wire/index.js';
import { SessionError } from '../errors.js';

const NO_PATH = new Uint8Array(0);

/**
 * A failure that ends a copy operation with an Error frame (spec §12.9): `code` from §5,
 * `path` the container path or the entry path it concerns (the frame's details).
 */
export class CopyError extends SessionError {
  readonly path: Uint8Array;

  constructor(code: ErrorCodeName, message: string, path: Uint8Array = NO_PATH) {
    super(code, message);
    this.path = path;
  }
}

/** A path for a message: its bytes as UTF-8 (invalid sequences replaced), quoted. */
export function shown(path: Uint8Array): string {
  return JSON.stringify(Buffer.from(path.buffer, path.byteOffset, path.byteLength).toString('utf8'));
}

/** What each code says after "cannot <do> <path>: " (the errno's own words where they say more). */
const REASONS: Partial<Record<ErrorCodeName, (code: string) => string>> = {
  PATH_NOT_FOUND: (code) => (code === 'ELOOP' ? 'too many levels of symbolic links' : 'no such file or directory'),
  NOT_A_DIRECTORY: () => 'a component of the path is not a directory',
  IS_A_DIRECTORY: () => 'a directory is in the way',
  PERMISSION_DENIED: (code) => `permission denied (${code})`,
  READ_ONLY_FILESYSTEM: () => 'the file system is read-only',
  NO_SPACE: (code) => `no space left on the device (${code}); free some space in the instance and retry`,
  PATH_ESCAPES: () => "the path goes through a /proc link that leads out of the container's root; such links are never followed",
  FILE_CHANGED: () => 'the path kept changing (renames) while it was resolved; retry',
  INVALID_REQUEST: () => 'a name or the path is too long',
  COPY_UNAVAILABLE: () => "the guest's kernel lacks openat2 (Linux 5.6 or later is needed to copy safely)",
};

/**
 * The CopyError for a failed syscall (`error` as Node and the native module throw them,
 * with the errno's name as `code`) while `doing` something to `path` (§12.9's mapping).
 * Errors that are not errno errors are passed through.
 */
export function copyErrorOf(error: unknown, path: Uint8Array, doing: string): Error {
  if (error instanceof CopyError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno !== 'string' || !/^E[A-Z0-9]+$/.test(errno)) return error as Error;
  const code = COPY_ERRNO_CODES[errno] ?? 'IO_ERROR';
  const reason = REASONS[code]?.(errno) ?? `${(error as Error).message} (${errno})`;
  return new CopyError(code, `cannot ${doing} ${shown(path)}: ${reason}`, code === 'INVALID_REQUEST' ? undefined : path);
}
