import { isPathComponent } from '../../wire/index.js';
import { CopyError, shown } from './CopyError.js';

const SLASH = 0x2f;

/** A request's path (§12.3–12.5): absolute, as the container sees it; INVALID_REQUEST otherwise. */
export function absolutePath(path: Uint8Array, what: string): Uint8Array {
  if (path.length === 0) throw new CopyError('INVALID_REQUEST', `the ${what} is missing; give an absolute path in the container`);
  if (path[0] !== SLASH) throw new CopyError('INVALID_REQUEST', `the ${what} ${shown(path)} must be absolute (start with /)`);
  return path;
}

/**
 * A container path cut into its parent directory and its last name, where the last
 * component is a name; null when the path can only name a directory: `/`, a trailing
 * `/`, or a last component `.` or `..` (resolved whole, following links, as the kernel does).
 */
export function splitPath(path: Uint8Array): { parent: Uint8Array; name: Uint8Array } | null {
  if (path[path.length - 1] === SLASH) return null;
  const cut = path.lastIndexOf(SLASH);
  const name = path.subarray(cut + 1);
  if (!isPathComponent(name)) return null;
  return { parent: cut === 0 ? path.subarray(0, 1) : path.subarray(0, cut), name };
}

/** `a/b`, for messages and for resolving a link's place again. */
export function joinPath(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const slash = a[a.length - 1] === SLASH ? 0 : 1;
  const out = new Uint8Array(a.length + slash + b.length);
  out.set(a, 0);
  if (slash) out[a.length] = SLASH;
  out.set(b, a.length + slash);
  return out;
}
