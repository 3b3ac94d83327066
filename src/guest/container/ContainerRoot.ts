import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Symbolic links followed while resolving one path, as Linux's own limit (ELOOP). */
const MAX_SYMLINKS = 40;
/** A file unchanged for this long is read again only when its status changes. */
const SETTLED_MS = 1_000;

/**
 * Paths inside the container's root file system, as the command will see them after the
 * helper's chroot. The agent reads a few files there itself (/etc/passwd, /etc/group); an
 * absolute symbolic link in the image (`/etc/passwd -> /usr/share/...`) must resolve inside
 * the root, not in the agent's own file system, so links are followed here by hand, with
 * `..` stopping at the root.
 *
 * Synchronously: a session's start waits for these files, and a few metadata calls on the
 * guest's own disk cost microseconds where each asynchronous step costs a trip through
 * libuv's thread pool (ten of them for two files, a third of a `true` session's agent time
 * when measured). A file whose status is unchanged is not read again.
 */
export class ContainerRoot {
  readonly path: string;
  readonly #files = new Map<string, { signature: string; text: string }>();

  constructor(path: string) {
    this.path = path;
  }

  /** The agent-side path of `inner` (absolute, as seen inside the root), links resolved. */
  resolve(inner: string): string {
    if (this.path === '/') return inner;
    const pending = inner.split('/').filter((p) => p !== '' && p !== '.');
    const resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '..') {
        resolved.pop();
        continue;
      }
      const candidate = join(this.path, ...resolved, part);
      let isLink: boolean;
      try {
        isLink = lstatSync(candidate).isSymbolicLink();
      } catch {
        // Missing: the rest cannot resolve further; reading it will fail with ENOENT.
        return join(this.path, ...resolved, part, ...pending);
      }
      if (!isLink) {
        resolved.push(part);
        continue;
      }
      if (++links > MAX_SYMLINKS) throw Object.assign(new Error(`too many symbolic links resolving ${inner} in ${this.path}`), { code: 'ELOOP' });
      const target = readlinkSync(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
    }
    return join(this.path, ...resolved);
  }

  /** A text file inside the root, or null when it does not exist; read again only when its status changed. */
  readTextFile(inner: string): string | null {
    try {
      const path = this.resolve(inner);
      const st = statSync(path, { bigint: true });
      const signature = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      const cached = this.#files.get(path);
      if (cached?.signature === signature) return cached.text;
      const text = readFileSync(path, 'utf8');
      // A file changed within the file system's timestamp granularity (a jiffy on older
      // kernels) could change again with the same status: kept only once it has settled.
      const changed = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
      if (BigInt(Date.now() - SETTLED_MS) * 1_000_000n > changed) this.#files.set(path, { signature, text });
      else this.#files.delete(path);
      return text;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw error;
    }
  }
}
