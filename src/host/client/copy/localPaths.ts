import { COPY_ERRNO_CODES } from '../../../wire/index.js';
import { LocalCopyError } from '../errors.js';

const SLASH = 0x2f;

/** A path (bytes or text) for messages: quoted, its bytes read as UTF-8. */
export function shownPath(path: Uint8Array | string): string {
  return JSON.stringify(typeof path === 'string' ? path : Buffer.from(path.buffer, path.byteOffset, path.byteLength).toString('utf8'));
}

/** `dir/name` of byte paths (file names are bytes). */
export function joinBytes(dir: Uint8Array, name: Uint8Array): Buffer {
  if (name.length === 0) return Buffer.from(dir);
  if (dir.length === 0) return Buffer.from(name);
  const slash = dir[dir.length - 1] === SLASH ? 0 : 1;
  const out = Buffer.allocUnsafe(dir.length + slash + name.length);
  out.set(dir, 0);
  if (slash) out[dir.length] = SLASH;
  out.set(name, dir.length + slash);
  return out;
}

/** The last component of a path, trailing slashes ignored ("/" has none: empty). */
export function lastName(path: Uint8Array): Uint8Array {
  let end = path.length;
  while (end > 0 && path[end - 1] === SLASH) end--;
  const start = path.lastIndexOf(SLASH, end - 1) + 1;
  return path.subarray(start, end);
}

/**
 * The LocalCopyError for a failed fs call on this machine (`doing` what to `path`), coded as
 * the agent codes the same failure (§12.9); anything that is not an errno error is passed on.
 */
export function localErrorOf(error: unknown, path: Uint8Array | string, doing: string): Error {
  if (error instanceof LocalCopyError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno !== 'string' || !/^E[A-Z0-9]+$/.test(errno)) return error as Error;
  const shown = shownPath(path);
  // Node's message is "ENOENT: no such file or directory, stat '/x'": the middle says it.
  const reason = (error as Error).message.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+ '.*'$/s, '');
  return new LocalCopyError(COPY_ERRNO_CODES[errno] ?? 'IO_ERROR', `cannot ${doing} ${shown} here: ${reason}`, JSON.parse(shown), { cause: error });
}
