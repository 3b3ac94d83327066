import { MalformedFrameError } from './errors.js';

const SLASH = 0x2f;
const DOT = 0x2e;

/** Whether `bytes` holds a NUL byte (paths become C strings in the guest). */
export function hasNul(bytes: Uint8Array): boolean {
  return bytes.includes(0);
}

/** A single path component: not empty, not `.` or `..`, no `/`, no NUL. */
export function isPathComponent(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  const n = end - start;
  if (n === 0) return false;
  if (bytes[start] === DOT && (n === 1 || (n === 2 && bytes[start + 1] === DOT))) return false;
  for (let i = start; i < end; i++) if (bytes[i] === SLASH || bytes[i] === 0) return false;
  return true;
}

/**
 * An entry path (§12.6): components joined by single '/', none of them empty, `.` or `..`,
 * no NUL, no leading or trailing '/'. The empty path (the copy's root) is allowed when
 * `allowEmpty`.
 */
export function checkRelativePath(bytes: Uint8Array, what: string, allowEmpty: boolean): Uint8Array {
  if (bytes.length === 0) {
    if (allowEmpty) return bytes;
    throw new MalformedFrameError(`${what} is empty`);
  }
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== SLASH) continue;
    if (!isPathComponent(bytes, start, i)) {
      throw new MalformedFrameError(`${what} must be relative, its components not empty, "." or ".." and without NUL`);
    }
    start = i + 1;
  }
  return bytes;
}

/** The components of a checked relative path (views of `bytes`). */
export function pathComponents(bytes: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== SLASH) continue;
    if (i > start) parts.push(bytes.subarray(start, i));
    start = i + 1;
  }
  return parts;
}
